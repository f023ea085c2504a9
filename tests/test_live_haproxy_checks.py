# SPDX-License-Identifier: Apache-2.0
"""Live comparison with HAProxy (Debian's 2.6): HAProxy and fastroute's checker,
both built from the same config (`check inter 200 rise 2 fall 3` plus an
`agent-check`), watch the same backends while the test flips them. The
UP / DOWN / DRAIN transitions fastroute records must be HAProxy's (read from
its stats socket, `show stat`), each within one `inter` of HAProxy's."""
import socket
import threading
import time

import pytest

from fastroute.checks import ThreadCheckRunner
from fastroute.config import haproxy_checks
from tests._checkservers import Agent, Backend
from tests._haproxy import HAPROXY, HAProxy
from tests._nginx import start_on_free_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTER = 0.2
SLACK = 0.1  # stats polling (20 ms) and scheduling on a shared 2-core machine


def _config(stats, proxy_port, backends, agents):
    servers = "".join(
        f"    server {b.name} 127.0.0.1:{b.port} check inter 200 rise 2 fall 3 "
        f"agent-check agent-port {a.port} agent-inter 200\n" for b, a in zip(backends, agents))
    return (f"global\n    maxconn 200\n    stats socket {stats} mode 600 level admin\n"
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n"
            "    timeout check 500ms\n"
            f"frontend fe\n    bind 127.0.0.1:{proxy_port}\n    default_backend up\n"
            "backend up\n    balance roundrobin\n    option httpchk GET /health\n" + servers)


def _show_stat(path) -> dict:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(str(path))
    s.sendall(b"show stat\n")
    data = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    lines = data.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    col, name_col = header.index("status"), header.index("svname")
    return {row[name_col]: row[col] for row in (line.split(",") for line in lines[1:] if line)
            if row[0] == "up" and row[name_col] not in ("FRONTEND", "BACKEND")}


def _normalise(status: str) -> str:
    # "UP 1/3" is still up (failing), "DOWN 1/2" still down (rising): HAProxy's own states
    for prefix, state in (("UP", "up"), ("DOWN", "down"), ("DRAIN", "drain"), ("MAINT", "maint"), ("NOLB", "drain")):
        if status.startswith(prefix):
            return state
    return status


@pytest.mark.skipif(not HAPROXY, reason="haproxy not installed (scripts/ensure-system-deps.sh installs it)")
def test_transitions_agree_with_haproxy():
    backends = [Backend("a"), Backend("b")]
    agents = [Agent("ready"), Agent("ready")]
    haproxy = None
    runner = None
    try:
        holder = {}

        def start(ports):
            import tempfile
            from pathlib import Path

            stats = Path(tempfile.mkdtemp(prefix="fastroute-hastats-")) / "admin.sock"
            text = _config(stats, ports[0], backends, agents)
            holder.update(stats=stats, text=text)
            return HAProxy(text, ports[0])

        haproxy = start_on_free_ports(1, start)
        stats = holder["stats"]
        ha_seen: list = []
        stop = threading.Event()
        last = {}

        def poll():
            while not stop.is_set():
                try:
                    now = time.monotonic()
                    for node, status in _show_stat(stats).items():
                        state = _normalise(status)
                        if last.get(node) != state:
                            if node in last:
                                ha_seen.append((now, node, state))
                            last[node] = state
                except OSError:
                    pass
                time.sleep(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        checker = haproxy_checks(holder["text"], "up", clock=time.monotonic)
        runner = ThreadCheckRunner(checker).start()

        def until(predicate, timeout=8.0):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if predicate():
                    return True
                time.sleep(0.01)
            return False

        settled = lambda: all(checker.health(n) == 4 for n in "ab") and last == {"a": "up", "b": "up"}  # noqa: E731
        assert until(settled), (last, [checker.health(n) for n in "ab"])
        backends[0].status = 503  # a: fall 3 -> DOWN
        assert until(lambda: checker.state("a") == "down" and last.get("a") == "down")
        time.sleep(INTER)
        backends[0].status = 200  # a: rise 2 -> UP
        assert until(lambda: checker.state("a") == "up" and last.get("a") == "up")
        agents[1].reply = "drain"  # b: agent -> DRAIN
        assert until(lambda: checker.state("b") == "drain" and last.get("b") == "drain")
        agents[1].reply = "ready"
        assert until(lambda: checker.state("b") == "up" and last.get("b") == "up")
        time.sleep(INTER)
        stop.set()
        poller.join()
        ours = [(t.at, t.node, t.state) for t in checker.transitions]
        for node in "ab":
            mine = [(t, s) for t, n, s in ours if n == node]
            theirs = [(t, s) for t, n, s in ha_seen if n == node]
            assert [s for _, s in mine] == [s for _, s in theirs], (node, mine, theirs)
            for (t1, s), (t2, _) in zip(mine, theirs):
                print(f"{node} {s}: fastroute - haproxy = {t1 - t2:+.3f} s")
                assert abs(t1 - t2) <= INTER + SLACK, (node, s, round(t1 - t2, 3))
        assert [s for _, n, s in ours if n == "a"] == ["down", "up"]
        assert [s for _, n, s in ours if n == "b"] == ["drain", "up"]
    finally:
        if runner is not None:
            runner.stop()
        if haproxy is not None:
            haproxy.stop()
        for x in backends + agents:
            x.stop()
