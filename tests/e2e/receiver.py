"""A real HTTP receiver for the end-to-end tests: webhook deliveries and OTLP/HTTP trace exports.

    python receiver.py PORT FILE

Appends every POST it gets to FILE as one JSON line {path, headers, body} (body as text) and answers
200, or the status named by a `.status` file beside FILE (tests make it fail on purpose). It is a
test tool only: nothing in Rungate's runtime path is Python.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, FILE = int(sys.argv[1]), sys.argv[2]
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        with LOCK, open(FILE, "a") as out:
            out.write(json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "body": body.decode("utf-8", "replace")}) + "\n")
        status = 200
        if os.path.exists(FILE + ".status"):
            with open(FILE + ".status") as override:
                status = int(override.read().strip() or 200)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


ThreadingHTTPServer.allow_reuse_address = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
