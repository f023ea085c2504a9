# SPDX-License-Identifier: Apache-2.0
"""A real ZooKeeper on 127.0.0.1 for integration tests (CLUSTER.md §2 recipe,
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


class ZooKeeperServer:
    """Standalone server; `stop()`/`start()` keep the data dir, like a restart."""

    def __init__(self, workdir: Path, port: int | None = None):
        java = shutil.which("java")
        assert java, "java not found: run scripts/ensure-system-deps.sh (Debian default-jre-headless)"
        assert ZOOKEEPER_JAR.exists(), f"{ZOOKEEPER_JAR} missing: run scripts/ensure-system-deps.sh (Debian zookeeper)"
        self.java, self.dir, self.port = java, Path(workdir), port or free_port()
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        (self.dir / "zoo.cfg").write_text(
            f"tickTime={int(TICK_S * 1000)}\ndataDir={self.dir / 'data'}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,mntr\n"
            "minSessionTimeout=1000\nmaxSessionTimeout=60000\n")
        self.proc: subprocess.Popen | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        classpath = f"/etc/zookeeper/conf:{ZOOKEEPER_JAR}"
        log = open(self.dir / "zk.log", "ab")
        self.proc = subprocess.Popen([self.java, "-Xmx256m", "-cp", classpath,
                                      "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.dir / "zoo.cfg")],
                                     stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ZOO_LOG_DIR": str(self.dir)})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.proc.returncode}: {self.log_tail()}")
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
