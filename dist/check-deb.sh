#!/bin/sh
# Lists a raftsnap .deb with dpkg-deb and fails unless every path an
# operator relies on is in it with the right mode, the configuration is a
# conffile, and the binary inside runs. Usage: dist/check-deb.sh FILE.deb
set -eu
deb=${1:?usage: check-deb.sh FILE.deb}
command -v dpkg-deb >/dev/null || { echo "check-deb: dpkg-deb not found (apt-get install dpkg)" >&2; exit 1; }

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
expect -rw-r--r-- etc/raftsnap/raftsnap.yml
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
if ! grep -qx /etc/raftsnap/raftsnap.yml "$tmp/control/conffiles"; then
	echo "check-deb: /etc/raftsnap/raftsnap.yml is not a conffile" >&2
	fail=1
fi
for script in postinst prerm postrm; do
	[ -x "$tmp/control/$script" ] || { echo "check-deb: no $script script" >&2; fail=1; }
done

# The packaged binary runs and the packaged example configuration loads.
dpkg-deb -x "$deb" "$tmp/root"
if [ "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture 2>/dev/null || echo none)" ]; then
	"$tmp/root/usr/bin/raftsnap" version --socket "$tmp/none" 2>/dev/null | grep -q '^raftsnap ' || { echo "check-deb: raftsnap version failed" >&2; fail=1; }
	"$tmp/root/usr/bin/raftsnap" configcheck --config "$tmp/root/etc/raftsnap/raftsnap.yml" || { echo "check-deb: packaged config does not load" >&2; fail=1; }
fi
[ "$fail" = 0 ] && echo "check-deb: $deb OK"
exit "$fail"
