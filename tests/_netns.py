# SPDX-License-Identifier: Apache-2.0
"""A network namespace joined to the root namespace by a veth pair, for partition tests
(issue 17 §3): processes run inside with `prefix + argv`; `cut()` takes the namespace's
end of the pair down (its packets go nowhere, nothing leaves the machine), `heal()`
brings it back. Needs root (CAP_NET_ADMIN), as on the CI machine."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from ._zookeeper import ZOOKEEPER_JAR, ZooKeeperServer


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Namespace:
    def __init__(self, tag: str):
        assert os.geteuid() == 0, "the partition test needs root for ip netns / veth (the CI machine has it)"
        n = os.getpid() % 200 + 20
        self.name, self.host_if, self.ns_if = f"fr-{tag}-{os.getpid()}", f"frh{os.getpid()}", f"frn{os.getpid()}"
        self.host_ip, self.ns_ip = f"10.231.{n}.1", f"10.231.{n}.2"
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _ip("link", "set", self.ns_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            self.run("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            self.run("ip", "link", "set", self.ns_if, "up")
            self.run("ip", "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def run(self, *argv: str) -> None:
        subprocess.run([*self.prefix, *argv], check=True, capture_output=True, text=True)

    def cut(self) -> None:
        self.run("ip", "link", "set", self.ns_if, "down")

    def heal(self) -> None:
        self.run("ip", "link", "set", self.ns_if, "up")

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class ZooKeeperOn(ZooKeeperServer):
    """A standalone ZooKeeper serving clients on `address` (the veth's root end) instead of
    127.0.0.1; processes in both namespaces reach it there."""

    def __init__(self, workdir: Path, address: str):
        self.address = address
        super().__init__(workdir)

    def _configure(self, port: int) -> None:
        super()._configure(port)
        cfg = self.dir / "zoo.cfg"
        cfg.write_text(cfg.read_text().replace("clientPortAddress=127.0.0.1", f"clientPortAddress={self.address}"))

    @property
    def hosts(self) -> str:
        return f"{self.address}:{self.port}"

    def _ruok(self) -> bool:
        try:
            with socket.create_connection((self.address, self.port), timeout=0.5) as s:
                s.sendall(b"srvr")
                return b"Mode:" in s.recv(4096)
        except OSError:
            return False

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.dir / "zk.log", "ab")
        self.proc = subprocess.Popen([self.java, "-Xmx192m", "-cp", f"/etc/zookeeper/conf:{ZOOKEEPER_JAR}",
                                      "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.dir / "zoo.cfg")],
                                     stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ZOO_LOG_DIR": str(self.dir)})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"ZooKeeper exited: {self.log_tail()}"
            if self._ruok():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ZooKeeper not serving on {self.hosts} within {timeout} s: {self.log_tail()}")
