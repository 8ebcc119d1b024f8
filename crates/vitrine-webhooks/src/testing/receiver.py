"""A webhook receiver for vitrine's tests: verifies every delivery's signature with the
`standardwebhooks` package (PyPI; not vitrine's code) and appends what it got to a JSON
lines log, before answering.

    receiver.py PORT DIR

DIR/secret holds the endpoint's secret (read at each request, so a test can set it after
registering the endpoint, or change it); DIR/status, when present, holds the status to
answer instead (a failing receiver); DIR/received.jsonl gets one line per request:
{"id", "verified", "payload" | "error"}. A verified delivery is answered 200 "ok".
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

PORT = int(sys.argv[1])
DIR = sys.argv[2]
LOCK = threading.Lock()


def read(name):
    try:
        with open(os.path.join(DIR, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        forced = read("status")
        if forced:
            status = int(forced)
            record = {"id": headers.get("webhook-id"), "verified": False, "error": "forced"}
        else:
            try:
                payload = Webhook(read("secret") or "").verify(body, headers)
                record = {"id": headers.get("webhook-id"), "verified": True, "payload": payload}
                status = 200
            except Exception as e:  # any failure to verify is the receiver's refusal
                record = {"id": headers.get("webhook-id"), "verified": False, "error": str(e)}
                status = 401
        with LOCK:
            with open(os.path.join(DIR, "received.jsonl"), "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


ThreadingHTTPServer.allow_reuse_address = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
