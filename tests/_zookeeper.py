# SPDX-License-Identifier: Apache-2.0
"""A real ZooKeeper on 127.0.0.1 for integration tests (docs/cluster.md §2 recipe,
fast-expiry profile). No fallbacks: if it cannot start, the test fails."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
TICK_S = 0.5  # tickTime=500: sessions expire within timeout + one tick (ExpiryQueue buckets)
PORT_ATTEMPTS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(port: int, word: bytes = b"ruok", timeout: float = 0.5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word)
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


class PortClash(RuntimeError):
    """The chosen port was taken between picking it and the server binding it."""


class ZooKeeperServer:
    """Standalone server; `stop()`/`start()` keep the data dir, like a restart."""

    def __init__(self, workdir: Path, port: int | None = None):
        java = shutil.which("java")
        assert java, "java not found: run scripts/ensure-system-deps.sh (Debian default-jre-headless)"
        assert ZOOKEEPER_JAR.exists(), f"{ZOOKEEPER_JAR} missing: run scripts/ensure-system-deps.sh (Debian zookeeper)"
        self.java, self.dir = java, Path(workdir)
        self.port_fixed = port is not None  # a caller-chosen port is kept; a free one is re-picked on a clash
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self._configure(port or free_port())
        self.proc: subprocess.Popen | None = None

    def _configure(self, port: int) -> None:
        self.port = port
        (self.dir / "zoo.cfg").write_text(
            f"tickTime={int(TICK_S * 1000)}\ndataDir={self.dir / 'data'}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,mntr,conf\n"
            "minSessionTimeout=1000\nmaxSessionTimeout=60000\n")

    def timing(self) -> dict:
        """tickTime and session timeout bounds as the running server reports them
        (`conf`), in seconds: what session-expiry bounds must be derived from."""
        conf = dict(line.split("=", 1) for line in four_letter(self.port, b"conf").decode().splitlines() if "=" in line)
        return {"tick_s": int(conf["tickTime"]) / 1000, "min_session_s": int(conf["minSessionTimeout"]) / 1000,
                "max_session_s": int(conf["maxSessionTimeout"]) / 1000}

    def negotiated_session_s(self, requested_s: float) -> float:
        """ZooKeeper clamps a client's requested timeout to [min, max]SessionTimeout."""
        t = self.timing()
        return min(max(requested_s, t["min_session_s"]), t["max_session_s"])

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Starts the server; a free port taken by someone else meanwhile is re-picked."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                return self._start_once(timeout)
            except PortClash:
                if self.port_fixed or attempt == PORT_ATTEMPTS - 1:
                    raise
                self._configure(free_port())

    def _start_once(self, timeout: float) -> None:
        classpath = f"/etc/zookeeper/conf:{ZOOKEEPER_JAR}"
        log = open(self.dir / "zk.log", "ab")
        self.proc = subprocess.Popen([self.java, "-Xmx256m", "-cp", classpath,
                                      "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.dir / "zoo.cfg")],
                                     stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ZOO_LOG_DIR": str(self.dir)})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                error = PortClash if "Address already in use" in tail else RuntimeError
                raise error(f"ZooKeeper exited with {self.proc.returncode}: {tail}")
            try:
                # `ruok` answers before sessions are served; `srvr` reports Mode: once serving
                if four_letter(self.port) == b"imok" and b"Mode:" in four_letter(self.port, b"srvr"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ZooKeeper did not answer ruok on {self.hosts} within {timeout} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        path = self.dir / "zk.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
