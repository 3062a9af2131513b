#!/bin/sh
# .rpm only (the .deb has its own, dist/packaging/deb/).
# Lets systemd forget the removed unit. Snapshots under /var/lib/raftsnap
# and the configuration are kept: they are the operator's data.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
