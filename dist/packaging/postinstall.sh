#!/bin/sh
# .rpm post-installation (the .deb has its own, dist/packaging/deb/).
# Creates the raftsnap user and its directories from the packaged sysusers.d
# and tmpfiles.d files (which also hands /etc/raftsnap, packaged 0750
# root:root, to the raftsnap group), and tells systemd about the unit. The service is not
# enabled here: the operator edits /etc/raftsnap/raftsnap.yml first, then
# runs `systemctl enable --now raftsnap`. On an upgrade a running daemon is
# restarted so that it runs the new binary.
set -e

if command -v systemd-sysusers >/dev/null 2>&1 && [ -f /usr/lib/sysusers.d/raftsnap.conf ]; then
	systemd-sysusers raftsnap.conf
fi
if command -v systemd-tmpfiles >/dev/null 2>&1 && [ -f /usr/lib/tmpfiles.d/raftsnap.conf ]; then
	systemd-tmpfiles --create raftsnap.conf ||
		echo "raftsnap: systemd-tmpfiles --create raftsnap.conf failed: check /etc/raftsnap (0750 root:raftsnap) and /var/lib/raftsnap (0700 raftsnap)" >&2
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	# deb: "configure <old-version>" on upgrade; rpm: $1 >= 2 on upgrade.
	if { [ "$1" = configure ] && [ -n "$2" ]; } || { [ "$1" -ge 2 ] 2>/dev/null; }; then
		systemctl try-restart raftsnap.service || true
	fi
fi
exit 0
