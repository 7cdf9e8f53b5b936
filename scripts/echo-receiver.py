#!/usr/bin/env python3
"""A webhook receiver for trying hookrelay out: prints every request and answers 200.

    python3 scripts/echo-receiver.py [PORT]        (default 9000, on 127.0.0.1)

Set FAIL=1 in the environment to answer 503 instead, to watch retries.
"""
import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        print(f"--- {self.command} {self.path}")
        for name, value in self.headers.items():
            print(f"{name}: {value}")
        print()
        print(body.decode("utf-8", "replace"), flush=True)
        status = 503 if os.environ.get("FAIL") else 200
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
print(f"listening on http://127.0.0.1:{port}", flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
