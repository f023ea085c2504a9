# SPDX-License-Identifier: Apache-2.0
"""Issue 11 item 15: a member process paused (SIGSTOP) longer than its session
timeout must re-register once resumed (SIGCONT) — its own expired znode's
deletion is not an operator eviction. Against the real ZooKeeper on 127.0.0.1.

The race is timing dependent, so the test repeats: FASTROUTE_ZK_PAUSE_RUNS
(default 2 in the suite; the issue's acceptance run used 20)."""
from __future__ import annotations

import os
import signal
import time

import pytest

from fastroute.membership import ZooKeeperCoordinator, ZooKeeperMembership

from .test_zookeeper_cluster import Proc, zookeeper  # noqa: F401 - the module-scoped server fixture

pytestmark = pytest.mark.integration

SESSION_S = 2.0
PAUSE_S = 5.0
RUNS = int(os.environ.get("FASTROUTE_ZK_PAUSE_RUNS", "2"))


@pytest.mark.parametrize("run", range(RUNS))
def test_zookeeper_member_paused_past_its_session_timeout_re_registers(zookeeper, cluster, procs, run):  # noqa: F811
    with ZooKeeperCoordinator(zookeeper.hosts, cluster, session_timeout=SESSION_S) as router_side, \
            ZooKeeperMembership(router_side) as membership:
        member = Proc("member", zookeeper.hosts, cluster, "--name", "m", "--session-timeout", str(SESSION_S))
        procs.append(member)
        old_session = member.wait(lambda e: e.get("event") == "ready", timeout=30)["session"]
        membership.wait_for(lambda s: "m" in s, timeout=10)

        member.proc.send_signal(signal.SIGSTOP)
        try:
            membership.wait_for(lambda s: "m" not in s, timeout=SESSION_S + 5)  # the session expired
            time.sleep(max(0.0, PAUSE_S - SESSION_S))
        finally:
            member.proc.send_signal(signal.SIGCONT)

        membership.wait_for(lambda s: "m" in s and not s.stale, timeout=3 * SESSION_S + 10)
        _, stat = router_side.client.get(router_side.member_path("m"))
        assert stat.ephemeralOwner != old_session  # registered again, on the member's new session
        time.sleep(1.0)  # and it stays registered (no late "eviction")
        assert "m" in membership.snapshot()
        assert member.proc.poll() is None
