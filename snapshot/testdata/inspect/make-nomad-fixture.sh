#!/bin/bash
set -e
# Regenerates the fixture in the current directory (run it from here) with
# the binary built into ~/.cache/raftsnap-tools; ports are picked free on
# 127.0.0.1 and the data directory is removed afterwards.
N=~/.cache/raftsnap-tools/nomad-1.11.3
ports=$(./free-ports.sh 3)
set -- $ports
D=$(mktemp -d)
cat > $D/server.hcl <<HCL
data_dir  = "$D/data"
bind_addr = "127.0.0.1"
name      = "fixture-server"
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
ports {
  http = $1
  rpc  = $2
  serf = $3
}
server {
  enabled          = true
  bootstrap_expect = 1
}
HCL
$N agent -config=$D/server.hcl > /dev/null 2>&1 &
echo $! > $D/pid
export NOMAD_ADDR=http://127.0.0.1:$1
for i in $(seq 120); do $N operator raft list-peers >/dev/null 2>&1 && break; sleep 0.5; done
$N namespace apply -description "fixture namespace" apps
$N var put -namespace apps app/config name=raftsnap replicas=3
$N var put nomad/jobs/example token=not-a-secret
sleep 1
$N operator snapshot save ./nomad.snap
$N operator snapshot inspect -json ./nomad.snap > ./nomad.snap.vendor-inspect.json
kill $(cat $D/pid); wait $(cat $D/pid) || true
rm -rf $D
