"""A fastreg platform for wechatpy to talk to: `fastreg serve` started on a free port (and its
proxy for WeChat's hosts on another) with a temporary SQLite database, the way a team runs it in
CI.

The binary is `$FASTREG_BIN` (the cargo test that runs this suite sets it to the binary it built).
"""

import json
import os
import re
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

ADMIN = "compat-admin-token"


class Platform:
    """A running `fastreg serve` and its sandbox API (the one thing wechatpy does not speak),
    with its proxy for WeChat's hosts (`proxy`, an http:// URL) and the CA to trust (`ca`, a
    PEM file)."""

    def __init__(self, base, proxy, ca):
        self.base = base
        self.proxy = proxy
        self.ca = ca

    def sandbox(self, method, path, body=None):
        req = urllib.request.Request(
            f"{self.base}/sandbox/v1{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None


@pytest.fixture(scope="session")
def platform():
    binary = os.environ.get("FASTREG_BIN")
    if not binary:
        pytest.fail("FASTREG_BIN is not set: point it at a built fastreg binary")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [binary, "serve", "--addr", "127.0.0.1:0", "--proxy-addr", "127.0.0.1:0",
             "--db", f"sqlite://{tmp}/compat.db", "--admin-token", ADMIN],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            base = proxy = ca = None
            deadline = time.time() + 30
            while time.time() < deadline and not (base and proxy):
                line = proc.stdout.readline()
                if not line:
                    break
                m = re.search(r"^fastreg platform listening on (http://\S+)", line)
                if m:
                    base = m.group(1)
                m = re.search(r"^proxy for .* listening on (http://\S+) \(CA: ([^;]+);", line)
                if m:
                    proxy, ca = m.group(1), m.group(2)
            if base is None or proxy is None:
                pytest.fail("fastreg serve did not print its address and its proxy's")
            # Drain the rest of its output so that it never blocks on a full pipe.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            yield Platform(base, proxy, ca)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


class PushInbox:
    """The component's event URL: every push, handed to a callback (wechatpy's parse_message)."""

    def __init__(self):
        self.handler = None
        self.messages = []
        self.errors = []
        self.cond = threading.Condition()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                try:
                    msg = inbox.handler(body, q["msg_signature"], q["timestamp"], q["nonce"])
                    with inbox.cond:
                        inbox.messages.append(msg)
                        inbox.cond.notify_all()
                    reply, status = b"success", 200
                except Exception as e:  # the test reads errors; WeChat sees a failure
                    with inbox.cond:
                        inbox.errors.append(repr(e))
                        inbox.cond.notify_all()
                    reply, status = b"fail", 500
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wechat/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, msg_type, timeout=10):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for m in self.messages:
                    if m.type == msg_type:
                        return m
                assert not self.errors, f"a push was refused: {self.errors}"
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"no {msg_type} push within {timeout} s")
                self.cond.wait(left)


@pytest.fixture
def inbox():
    box = PushInbox()
    yield box
    box.server.shutdown()
