#!/bin/sh
# .rpm only (the .deb has its own, dist/packaging/deb/).
# Stops and disables the service when the package is removed, not when it
# is upgraded (deb: "remove"; rpm: $1 = 0).
set -e
if [ -d /run/systemd/system ] && { [ "$1" = remove ] || [ "$1" = 0 ]; }; then
	systemctl disable --now raftsnap.service || true
fi
exit 0
