# SPDX-License-Identifier: Apache-2.0
"""A 3-node ZooKeeper ensemble on 127.0.0.1 random ports (QuorumPeerMain, one data dir and
`myid` per server, the fast-expiry tick of tests/_zookeeper.py). No fallbacks."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ._zookeeper import TICK_S, ZOOKEEPER_JAR, four_letter, free_port


class EnsembleServer:
    def __init__(self, workdir: Path, myid: int):
        self.dir, self.myid = Path(workdir), myid
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        (self.dir / "data" / "myid").write_text(f"{myid}\n")
        self.port, self.quorum_port, self.election_port = free_port(), free_port(), free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def configure(self, peers: list["EnsembleServer"]) -> None:
        servers = "".join(f"server.{p.myid}=127.0.0.1:{p.quorum_port}:{p.election_port}\n" for p in peers)
        (self.dir / "zoo.cfg").write_text(
            f"tickTime={int(TICK_S * 1000)}\ninitLimit=10\nsyncLimit=5\ndataDir={self.dir / 'data'}\n"
            f"clientPort={self.port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr,stat,mntr,conf\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n"
            + servers)

    def launch(self) -> None:
        java = shutil.which("java")
        assert java, "java not found: run scripts/ensure-system-deps.sh"
        log = open(self.dir / "zk.log", "ab")
        self.proc = subprocess.Popen([java, "-Xmx192m", "-cp", f"/etc/zookeeper/conf:{ZOOKEEPER_JAR}",
                                      "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.dir / "zoo.cfg")],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "ZOO_LOG_DIR": str(self.dir)})
        log.close()

    def mode(self) -> str | None:
        try:
            for line in four_letter(self.port, b"srvr").decode().splitlines():
                if line.startswith("Mode:"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return None

    def wait_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.running, f"ZooKeeper {self.myid} exited: {self.log_tail()}"
            if self.mode() in ("leader", "follower"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"ZooKeeper {self.myid} not serving within {timeout} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, lines: int = 15) -> str:
        path = self.dir / "zk.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


class ZooKeeperEnsemble:
    def __init__(self, workdir: Path, size: int = 3):
        self.members = [EnsembleServer(Path(workdir) / f"zk{i + 1}", i + 1) for i in range(size)]
        for m in self.members:
            m.configure(self.members)

    @property
    def hosts(self) -> str:
        return ",".join(m.hosts for m in self.members)

    def start(self, timeout: float = 60.0) -> None:
        for m in self.members:
            m.launch()
        try:
            for m in self.members:
                m.wait_serving(timeout)
        except BaseException:
            self.stop()
            raise

    def leader(self) -> EnsembleServer:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for m in self.members:
                if m.running and m.mode() == "leader":
                    return m
            time.sleep(0.1)
        raise RuntimeError("ZooKeeper ensemble: no leader within 30 s")

    def restart(self, member: EnsembleServer) -> None:
        member.launch()
        member.wait_serving()

    def stop(self) -> None:
        for m in self.members:
            m.stop()
