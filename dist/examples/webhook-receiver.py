#!/usr/bin/env python3
"""A minimal receiver for raftsnap's webhook notifications (docs/monitoring.md).

Listens on 127.0.0.1:9812, accepts POSTs bearing `Authorization: Bearer $TOKEN`
(RECEIVER_TOKEN in its environment), and appends each event, one JSON object a
line, to events.jsonl; a failing run is also printed. Standard library only.

    RECEIVER_TOKEN=$(openssl rand -hex 16) ./webhook-receiver.py
"""
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

TOKEN = os.environ.get("RECEIVER_TOKEN", "")
LOG = os.environ.get("RECEIVER_LOG", "events.jsonl")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        auth = self.headers.get("Authorization", "")
        if not TOKEN or not hmac.compare_digest(auth, "Bearer " + TOKEN):
            self.send_response(401)
            self.end_headers()
            return
        length = min(int(self.headers.get("Content-Length", "0")), 1 << 20)
        try:
            event = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with open(LOG, "a") as f:
            f.write(json.dumps(event) + "\n")
        if event.get("severity") == "error":
            print(f"{event.get('time')} {event.get('event')}: {event.get('message')}", file=sys.stderr)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if not TOKEN:
        sys.exit("set RECEIVER_TOKEN")
    HTTPServer(("127.0.0.1", 9812), Handler).serve_forever()
