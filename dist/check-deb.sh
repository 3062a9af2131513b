#!/bin/sh
# Checks a raftsnap .deb without installing it: every path an operator
# relies on is in it with the right mode, the configuration files are
# conffiles, the binary is stripped, links ISA-L and the package depends on
# libisal2, the binary inside runs and says it inflates with ISA-L, the
# packaged configuration loads, and lintian finds no error or warning that
# dist/packaging/lintian-overrides does not explain.
# Usage: dist/check-deb.sh FILE.deb
# (dist/debtest installs it for real.)
set -eu
deb=${1:?usage: check-deb.sh FILE.deb}
for tool in dpkg-deb lintian readelf; do
	command -v $tool >/dev/null || { echo "check-deb: $tool not found (apt-get install dpkg lintian binutils; .ci/run does)" >&2; exit 1; }
done

listing=$(dpkg-deb -c "$deb")
echo "$listing"
fail=0
expect() { # MODE PATH
	if ! echo "$listing" | awk -v m="$1" -v p="./$2" '$1 == m && $6 == p { found = 1 } END { exit !found }'; then
		echo "check-deb: missing $1 $2" >&2
		fail=1
	fi
}
expect -rwxr-xr-x usr/bin/raftsnap
expect drwxr-x--- etc/raftsnap/
expect -rw-r--r-- etc/raftsnap/raftsnap.yml
expect -rw------- etc/raftsnap/raftsnap.env
expect -rw-r--r-- usr/share/doc/raftsnap/copyright
expect -rw-r--r-- usr/share/doc/raftsnap/changelog.Debian.gz
expect -rw-r--r-- usr/share/lintian/overrides/raftsnap
expect -rw-r--r-- usr/share/man/man5/raftsnap.yml.5.gz
expect -rw-r--r-- usr/share/man/man1/raftsnap.1.gz
expect -rw-r--r-- usr/share/man/man1/raftsnap-daemon.1.gz
expect -rw-r--r-- usr/share/man/man1/raftsnap-snapshot-restore.1.gz
expect -rw-r--r-- usr/share/bash-completion/completions/raftsnap
expect -rw-r--r-- usr/share/zsh/vendor-completions/_raftsnap
expect -rw-r--r-- usr/share/fish/vendor_completions.d/raftsnap.fish
expect -rw-r--r-- usr/share/doc/raftsnap/grafana/raftsnap.json
expect -rw-r--r-- usr/share/doc/raftsnap/prometheus/raftsnap-alerts.yml
expect -rw-r--r-- usr/share/doc/raftsnap/examples/vault.yml
expect -rw-r--r-- usr/lib/systemd/system/raftsnap.service
expect -rw-r--r-- usr/lib/sysusers.d/raftsnap.conf
expect -rw-r--r-- usr/lib/tmpfiles.d/raftsnap.conf

if ! dpkg-deb -f "$deb" Package Version Architecture; then fail=1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -e "$deb" "$tmp/control"
for conffile in /etc/raftsnap/raftsnap.yml /etc/raftsnap/raftsnap.env; do
	if ! grep -qx "$conffile" "$tmp/control/conffiles"; then
		echo "check-deb: $conffile is not a conffile" >&2
		fail=1
	fi
done
depends=$(dpkg-deb -f "$deb" Depends)
case "$depends" in
*libisal2*libc6* | *libc6*libisal2*) ;;
*) echo "check-deb: Depends: $depends; the ISA-L build needs libisal2 and libc6" >&2; fail=1 ;;
esac
for script in postinst prerm postrm; do
	[ -x "$tmp/control/$script" ] || { echo "check-deb: no $script script" >&2; fail=1; }
done

# The binary is stripped (no symbol table, no DWARF) and links ISA-L.
dpkg-deb -x "$deb" "$tmp/root"
bin=$tmp/root/usr/bin/raftsnap
sections=$(readelf -S -W "$bin")
if echo "$sections" | grep -Eq ' \.(symtab|debug_[a-z]+|zdebug_[a-z]+) '; then
	echo "check-deb: usr/bin/raftsnap is not stripped:" >&2
	echo "$sections" | grep -E ' \.(symtab|z?debug_[a-z]+) ' >&2
	fail=1
fi
if ! readelf -d "$bin" | grep -q 'NEEDED.*\[libisal\.so\.2\]'; then
	echo "check-deb: usr/bin/raftsnap does not link libisal.so.2" >&2
	fail=1
fi

# The packaged binary runs, inflates with ISA-L, and the packaged example
# configuration loads.
if [ "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture 2>/dev/null || echo none)" ]; then
	version=$("$bin" version --socket "$tmp/none" 2>/dev/null) || { echo "check-deb: raftsnap version failed" >&2; fail=1; }
	echo "$version"
	echo "$version" | grep -q '^raftsnap ' || { echo "check-deb: raftsnap version printed no version" >&2; fail=1; }
	echo "$version" | grep -Eq '^  gzip inflate: ISA-L igzip [0-9.]+ \(cgo\)$' || { echo "check-deb: the packaged raftsnap does not inflate with ISA-L" >&2; fail=1; }
	"$bin" configcheck --config "$tmp/root/etc/raftsnap/raftsnap.yml" || { echo "check-deb: packaged config does not load" >&2; fail=1; }
fi

# lintian, with the package's own overrides (shipped in it). Info tags are
# shown but do not fail.
if ! lintian --fail-on error,warning --display-info "$deb"; then
	echo "check-deb: lintian reports errors or warnings" >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "check-deb: $deb OK"
exit "$fail"
