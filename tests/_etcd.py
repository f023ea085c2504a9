# SPDX-License-Identifier: Apache-2.0
"""A real etcd (Debian `etcd-server`, 3.4) on 127.0.0.1 for integration tests, single
server or a 3-node cluster, each with a temporary data dir (docs/cluster.md §4 recipe).

Fast profile: heartbeat 50 ms, election timeout 500 ms, so the server's minimum lease
TTL is ceil(1.5 × 500 ms) = 750 ms (etcd `minTTL`, rounded up to whole seconds: 1 s).
No fallbacks: if etcd cannot start, the test fails."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

HEARTBEAT_MS = 50
ELECTION_MS = 500
PORT_ATTEMPTS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortClash(RuntimeError):
    """A chosen port was taken between picking it and etcd binding it."""


def _health(port: int, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout) as resp:
            return json.loads(resp.read()).get("health") == "true"
    except (OSError, ValueError):
        return False


class EtcdServer:
    """One etcd member. `stop()`/`start()` keep the data dir, like a restart."""

    def __init__(self, workdir: Path, name: str = "n0", *, client_port: int | None = None,
                 peer_port: int | None = None, election_ms: int = ELECTION_MS):
        etcd = shutil.which("etcd")
        assert etcd, "etcd not found: run scripts/ensure-system-deps.sh (Debian etcd-server)"
        self.etcd, self.dir, self.name = etcd, Path(workdir), name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.initial_cluster = f"{name}=http://127.0.0.1:{self.peer_port}"
        self.initial_state = "new"
        self.cluster_token = f"fastroute-{self.dir.name}"
        self.election_ms = election_ms
        self.extra_client_ips: list[str] = []  # also listen there (a veth end for partition tests)
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def command(self) -> list[str]:
        u = "http://127.0.0.1"
        return [self.etcd, "--name", self.name, "--data-dir", str(self.data_dir),
                "--listen-client-urls", ",".join([f"{u}:{self.client_port}"]
                                                 + [f"http://{ip}:{self.client_port}" for ip in self.extra_client_ips]),
                "--advertise-client-urls", f"{u}:{self.client_port}",
                "--listen-peer-urls", f"{u}:{self.peer_port}", "--initial-advertise-peer-urls", f"{u}:{self.peer_port}",
                "--initial-cluster", self.initial_cluster, "--initial-cluster-state", self.initial_state,
                "--initial-cluster-token", self.cluster_token,
                "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(self.election_ms),
                "--listen-metrics-urls", "", "--log-level", "warn", "--logger", "zap"]

    def launch(self) -> None:
        log = open(self.dir / "etcd.log", "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                tail = self.log_tail()
                error = PortClash if "address already in use" in tail else RuntimeError
                raise error(f"etcd {self.name} exited with {self.proc and self.proc.returncode}: {tail}")
            if _health(self.client_port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"etcd {self.name} not healthy on {self.endpoint} within {timeout} s: {self.log_tail()}")

    def start(self, timeout: float = 30.0) -> None:
        """Starts a single-node etcd; ports taken by someone else meanwhile are re-picked
        (only before the first successful start: a restart keeps its ports)."""
        for attempt in range(PORT_ATTEMPTS):
            self.launch()
            try:
                return self.wait_healthy(timeout)
            except PortClash:
                self.stop()
                if self.data_dir.exists() or attempt == PORT_ATTEMPTS - 1:
                    raise
                self.client_port, self.peer_port = free_port(), free_port()
                self.initial_cluster = f"{self.name}=http://127.0.0.1:{self.peer_port}"
            except BaseException:
                self.stop()
                raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self) -> dict:
        """`/v3/maintenance/status` of this member (leader id, raft term, version)."""
        req = urllib.request.Request(f"http://{self.endpoint}/v3/maintenance/status", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=2) as resp:
            return json.loads(resp.read())

    def log_tail(self, lines: int = 20) -> str:
        path = self.dir / "etcd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


class EtcdCluster:
    """Three (or `size`) etcd members on loopback; `endpoints` is the client list."""

    def __init__(self, workdir: Path, size: int = 3):
        self.members = [EtcdServer(Path(workdir) / f"n{i}", f"n{i}") for i in range(size)]
        initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}" for m in self.members)
        for m in self.members:
            m.initial_cluster = initial
            m.cluster_token = f"fastroute-{Path(workdir).name}"

    @property
    def endpoints(self) -> str:
        return ",".join(m.endpoint for m in self.members)

    hosts = endpoints  # the connect-string name the ZooKeeper helpers use

    def start(self, timeout: float = 60.0) -> None:
        for m in self.members:
            m.launch()  # together: the first members wait for a quorum
        try:
            for m in self.members:
                m.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def leader(self) -> EtcdServer:
        """The member the running members agree leads (raft member ids)."""
        deadline = time.monotonic() + 15
        while True:
            for m in self.members:
                if not m.running:
                    continue
                try:
                    st = m.status()
                except OSError:
                    continue
                if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                    return m
            if time.monotonic() > deadline:
                raise RuntimeError("etcd cluster: no leader within 15 s")
            time.sleep(0.05)

    def restart(self, member: EtcdServer, timeout: float = 30.0) -> None:
        member.initial_state = "existing"
        member.launch()
        member.wait_healthy(timeout)

    def stop(self) -> None:
        for m in self.members:
            m.stop()
