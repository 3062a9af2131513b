#!/bin/bash
# Prints N free TCP ports on 127.0.0.1 (N is the first argument), for the
# make-*-fixture.sh scripts.
python3 -c 'import socket, sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
