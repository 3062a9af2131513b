#!/bin/sh
# Checks a release tarball: it unpacks into one directory holding the
# binary, LICENSE, the copyright file, README.md, the man pages and
# BUILD-INFO.txt, and the inflater BUILD-INFO.txt names is the one the
# binary reports (`raftsnap version`), a stripped static binary needing no
# library.
# Usage: dist/check-tarball.sh FILE.tar.gz (for this machine's architecture)
set -eu
tarball=${1:?usage: check-tarball.sh FILE.tar.gz}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tarball" -C "$tmp"
dir=$tmp/$(basename "$tarball" .tar.gz)
fail=0
for f in raftsnap LICENSE copyright README.md BUILD-INFO.txt man/raftsnap.1.gz man/raftsnap.yml.5.gz systemd/raftsnap.service systemd/raftsnap.env; do
	[ -e "$dir/$f" ] || { echo "check-tarball: $f missing" >&2; fail=1; }
done
said=$(sed -n 's/^gzip inflater: \([^:]*\):.*/\1/p' "$dir/BUILD-INFO.txt")
runs=$("$dir/raftsnap" version --socket "$tmp/none" 2>/dev/null | sed -n 's/^  gzip inflate: //p')
echo "BUILD-INFO.txt: $said; raftsnap version: $runs"
if [ -z "$said" ] || [ "$said" != "$runs" ]; then
	echo "check-tarball: BUILD-INFO.txt says the inflater is '$said', the binary says '$runs'" >&2
	fail=1
fi
if readelf -S -W "$dir/raftsnap" | grep -Eq ' \.(symtab|z?debug_[a-z]+) '; then
	echo "check-tarball: the tarball's binary is not stripped" >&2
	fail=1
fi
if readelf -d "$dir/raftsnap" 2>/dev/null | grep -q NEEDED; then
	echo "check-tarball: the tarball's binary needs shared libraries:" >&2
	readelf -d "$dir/raftsnap" | grep NEEDED >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "check-tarball: $tarball OK"
exit "$fail"
