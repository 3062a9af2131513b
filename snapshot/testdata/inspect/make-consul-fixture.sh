#!/bin/bash
set -e
# Regenerates the fixture in the current directory (run it from here) with
# the binary built into ~/.cache/raftsnap-tools; ports are picked free on
# 127.0.0.1 and the data directory is removed afterwards.
C=~/.cache/raftsnap-tools/consul-1.22.7
ports=$(./free-ports.sh 7)
set -- $ports
HTTP=$1
D=$(mktemp -d)
$C agent -dev -bind=127.0.0.1 -client=127.0.0.1 -http-port=$HTTP -dns-port=$2 -serf-lan-port=$3 -serf-wan-port=$4 -server-port=$5 -grpc-port=$6 -grpc-tls-port=$7 -node=fixture-node -hcl 'performance { raft_multiplier = 1 }' -data-dir=$D > /dev/null 2>&1 &
echo $! > $D/pid
export CONSUL_HTTP_ADDR=127.0.0.1:$HTTP
for i in $(seq 60); do $C operator raft list-peers >/dev/null 2>&1 && break; sleep 0.5; done
$C kv put app/config/name raftsnap
$C kv put app/config/replicas 3
$C kv put app/feature/flags '{"inspect":true}'
$C kv put app/blob "$(head -c 3000 /dev/urandom | base64 -w0)"
$C kv put other/key value
$C kv delete other/key
$C snapshot save ./consul.snap
$C snapshot inspect -format=json ./consul.snap > ./consul.snap.vendor-inspect.json
kill $(cat $D/pid); wait $(cat $D/pid) || true
rm -rf $D
