# SPDX-License-Identifier: Apache-2.0
"""Tiny real servers on 127.0.0.1 for the active-check tests: an HTTP server
whose status, body and delay the test changes, an agent that answers a set
line, and a listener that accepts and never answers."""
from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Backend:
    """HTTP/1.1 backend; `status`, `body`, `delay`, `chunked` may change at any time.
    Answers keep-alive requests (httpx reuses connections); `requests` counts them."""

    def __init__(self, name: str = "b"):
        self.name = name
        self.status = 200
        self.body = name.encode()
        self.delay = 0.0
        self.chunked = False
        self.body_delay = 0.0  # seconds between the response head and its body
        self.requests = 0
        self.app_requests = 0  # requests other than GET /health
        #: statuses GET /health answers, one per check, in order; then `status`
        self.health_script: list[int] = []
        self.last_request = b""
        self._conns: set = set()
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def setup(self):
                super().setup()
                with owner._lock:
                    owner._conns.add(self.connection)

            def finish(self):
                with owner._lock:
                    owner._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def handle(self):
                try:
                    self._serve()
                except OSError:
                    pass  # killed mid-request

            def _serve(self):
                while True:
                    head = bytearray()
                    while not head.endswith(b"\r\n\r\n"):
                        c = self.rfile.readline(65536)
                        if not c:
                            return
                        head += c
                    health = head.startswith(b"GET /health ")
                    with owner._lock:
                        owner.requests += 1
                        if not health:
                            owner.app_requests += 1
                        owner.last_request = bytes(head)
                        scripted = owner.health_script.pop(0) if health and owner.health_script else None
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    if length:
                        self.rfile.read(length)
                    if owner.delay:
                        time.sleep(owner.delay)
                    body, status = owner.body, owner.status if scripted is None else scripted
                    close = b"connection: close" in head.lower()
                    if owner.chunked:
                        framing = b"Transfer-Encoding: chunked\r\n"
                        payload = b"".join(b"%x\r\n%s\r\n" % (1, body[i:i + 1]) for i in range(len(body))) + b"0\r\n\r\n"
                    else:
                        framing = b"Content-Length: %d\r\n" % len(body)
                        payload = body
                    head_out = b"HTTP/1.1 %d X\r\n%sX-Backend: %s\r\n%s\r\n" % (
                        status, framing, owner.name.encode(), b"Connection: close\r\n" if close else b"")
                    if owner.body_delay:
                        self.wfile.write(head_out)
                        self.wfile.flush()
                        time.sleep(owner.body_delay)
                        head_out = b""
                    self.wfile.write(head_out + payload)
                    self.wfile.flush()
                    if close:
                        return

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # a killed process drops its open connections too
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    kill = stop


class Agent:
    """HAProxy agent: answers `reply` (a line) to every connection and closes."""

    def __init__(self, reply: str = "up"):
        self.reply = reply
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.sendall(owner.reply.encode() + b"\n")

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class Silent:
    """Accepts connections and never answers (a hung backend)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def stop(self) -> None:
        self.sock.close()


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextmanager
def running_backends(*names: str) -> Iterator[list[Backend]]:
    """One Backend per name, stopped on exit."""
    backends = [Backend(n) for n in names]
    try:
        yield backends
    finally:
        for b in backends:
            b.stop()


def backend_urls(backends: list[Backend]) -> dict[str, str]:
    return {b.name: b.url for b in backends}
