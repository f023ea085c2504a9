# SPDX-License-Identifier: Apache-2.0
"""Small HTTP backends for live tests that a test steers: each binds port 0 on
127.0.0.1 (the port is read back, so nothing can take it first), logs every
request it receives in one shared arrival log, and on command answers 200,
fails (closes the connection without answering — nginx counts that as an
error whatever proxy_next_upstream_tries says), answers 500, or holds the
request open until told to answer it."""
from __future__ import annotations

import collections
import http.client
import socketserver
import threading
import time

OK, FAIL, ERROR_500, HOLD = "ok", "fail", "500", "hold"


class ArrivalLog:
    def __init__(self):
        self.names: list[str] = []
        self.changed = threading.Condition()

    def append(self, name: str) -> None:
        with self.changed:
            self.names.append(name)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[str]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.names) >= count, timeout):
                raise AssertionError(f"only {len(self.names)} of {count} requests reached a backend in {timeout} s")
            return list(self.names)


class Backend:
    def __init__(self, name: str, log: ArrivalLog, port: int = 0):
        """port: 0 picks a free one; a given port revives a stopped backend on its old port."""
        self.name, self.log, self.mode = name, log, OK
        self.held: collections.deque[threading.Event] = collections.deque()
        self.lock = threading.Lock()
        backend = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                request = b""
                while not request.endswith(b"\r\n\r\n"):
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                backend.serve(self.wfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            # SO_REUSEADDR on every backend (also its accepted sockets): a revived one rebinds its old port
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def serve(self, wfile) -> None:
        with self.lock:
            mode = self.mode
            release = threading.Event()
            if mode == HOLD:
                self.held.append(release)
        self.log.append(self.name)  # after queueing, so a test that saw the arrival can release it
        if mode == FAIL:
            return  # close without a response
        if mode == HOLD and not release.wait(30):
            return
        status = b"500 Internal Server Error" if mode == ERROR_500 else b"200 OK"
        body = self.name.encode()
        wfile.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n" + body)

    def answer_oldest(self) -> None:
        with self.lock:
            self.held.popleft().set()

    def stop(self) -> None:
        with self.lock:
            for release in self.held:
                release.set()
        self.server.shutdown()
        self.server.server_close()


class Backends:
    def __init__(self, names):
        self.log = ArrivalLog()
        self.by_name = {n: Backend(n, self.log) for n in names}

    def __getitem__(self, name) -> Backend:
        return self.by_name[name]

    @property
    def ports(self) -> list[int]:
        return [b.port for b in self.by_name.values()]

    def set_mode(self, name: str, mode: str) -> None:
        with self[name].lock:
            self[name].mode = mode

    def stop(self) -> None:
        for b in self.by_name.values():
            b.stop()


def http_get_status(port: int) -> int:
    """One GET / on a fresh connection to 127.0.0.1:port; the status code."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def settle(seconds: float) -> None:
    """Lets a proxy's fail_timeout window pass (the schedule keeps clear of second boundaries)."""
    time.sleep(seconds)
