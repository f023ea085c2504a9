# SPDX-License-Identifier: Apache-2.0
"""etcd-only behaviour against real etcd 3.4 servers on 127.0.0.1 (docs/cluster.md §10):
bad settings and servers, lease expiry, the CLI, and a 3-node cluster losing its leader
under load. The behaviour shared with ZooKeeper is in test_coordination_backends.py."""
from __future__ import annotations

import http.server
import json
import queue
import subprocess
import sys
import threading
import time

import pytest

from fastroute.membership import (CoordinatorUnavailable, EtcdCoordinator, EtcdMembership, FencingChecker, Member,
                                  MembershipError)

from .._etcd import EtcdServer, free_port
from .._zookeeper import ZooKeeperServer

pytestmark = pytest.mark.integration

TTL = 2


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    server = EtcdServer(tmp_path_factory.mktemp("etcd"))
    server.start()
    yield server
    server.stop()


# -- bad input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoints", ["", "nohost", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:x", 5])
def test_malformed_endpoints_name_the_setting(endpoints):
    with pytest.raises(ValueError, match="endpoints"):
        EtcdCoordinator(endpoints)


@pytest.mark.parametrize("kwargs, setting", [
    ({"lease_ttl": 0}, "lease_ttl"), ({"lease_ttl": 1.5}, "lease_ttl"), ({"lease_ttl": float("nan")}, "lease_ttl"),
    ({"lease_ttl": True}, "lease_ttl"), ({"lease_ttl": 3, "keepalive_interval": 3}, "keepalive_interval"),
    ({"lease_ttl": 3, "keepalive_interval": -1}, "keepalive_interval"), ({"request_timeout": 0}, "request_timeout"),
    ({"prefix": "fastroute"}, "prefix")])
def test_bad_settings_name_the_setting(kwargs, setting):
    with pytest.raises(ValueError, match=setting):
        EtcdCoordinator("127.0.0.1:1", **kwargs)


@pytest.mark.parametrize("cluster", ["a/b", "", "x\x00y"])
def test_a_cluster_name_that_cannot_be_a_key_segment_is_refused(cluster):
    with pytest.raises(ValueError, match="cluster"):
        EtcdCoordinator("127.0.0.1:1", cluster)


def test_an_unreachable_endpoint_is_a_clear_error():
    port = free_port()
    started = time.monotonic()
    with pytest.raises(CoordinatorUnavailable, match=f"127.0.0.1:{port}.*cannot connect"):
        EtcdCoordinator(f"127.0.0.1:{port}", connect_timeout=0.5)
    assert time.monotonic() - started < 5  # gives up after connect_timeout, no hang


class _NotEtcd(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_server_that_is_not_etcd_is_named(tmp_path):
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotEtcd)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        with pytest.raises(MembershipError, match=f"endpoints: 127.0.0.1:{web.server_port} is not an etcd v3 server"):
            EtcdCoordinator(f"127.0.0.1:{web.server_port}", connect_timeout=2)
    finally:
        web.shutdown()
    zk = ZooKeeperServer(tmp_path / "zk")
    zk.start()
    try:
        with pytest.raises(MembershipError, match="is not an etcd v3 server"):
            EtcdCoordinator(zk.hosts, connect_timeout=2)
    finally:
        zk.stop()


def test_a_lease_ttl_below_the_servers_minimum_is_refused(tmp_path):
    # election timeout 1000 ms: etcd's minimum TTL is ceil(1.5 x 1 s) = 2 s; it would
    # silently grant 2 s for 1 s, so the coordinator refuses instead
    server = EtcdServer(tmp_path / "slow", election_ms=1000)
    server.start()
    try:
        with pytest.raises(ValueError, match="lease_ttl: the etcd server granted 2 s for 1 s"):
            EtcdCoordinator(server.endpoint, lease_ttl=1)
        with EtcdCoordinator(server.endpoint, lease_ttl=2) as coord:
            assert coord.lease_valid_for() > 0
    finally:
        server.stop()


def test_member_names_that_cannot_be_keys_are_refused(etcd):
    with EtcdCoordinator(etcd.endpoint, "names", lease_ttl=TTL) as coord:
        with pytest.raises(ValueError, match="name: at most 1024 UTF-8 bytes"):
            coord.register(Member("n" * 1025))
        with pytest.raises(ValueError, match="name: must be valid UTF-8"):
            coord.register(Member("bad\udc80"))
        with pytest.raises(ValueError, match="group"):
            coord.campaign("a/b", "me", lambda token: None)
        with pytest.raises(ValueError, match="name"):
            coord.lock("")
        with pytest.raises(ValueError, match="timeout: expected seconds >= 0"):
            coord.lock("x", timeout=-1)


# -- lease expiry -----------------------------------------------------------------------------------------
def test_an_expired_lease_re_registers_the_member_and_re_runs_the_election(etcd):
    with EtcdCoordinator(etcd.endpoint, "expiry", lease_ttl=TTL) as member_side, \
            EtcdCoordinator(etcd.endpoint, "expiry", lease_ttl=TTL) as operator, \
            EtcdMembership(operator) as membership:
        reg = member_side.register(Member("m", 2, "m:1", metadata={"zone": "z1"}))
        leadership: queue.Queue = queue.Queue()
        campaign = member_side.campaign("g", "m", leadership.put)
        first = leadership.get(timeout=10)
        assert first is not None and first.valid
        with operator.change_membership(timeout=5) as change:  # an operator's change survives expiry
            change.set_weight("m", 4)
        before = membership.wait_for(lambda s: "m" in s and s.member("m").weight == 4)
        deadline = time.monotonic() + 5
        while reg.member.weight != 4:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        old_lease = member_side.lease_id
        operator.gateway.post("lease/revoke", {"ID": str(old_lease)})  # as the server does on expiry
        assert leadership.get(timeout=10) is None and not first.valid
        again = leadership.get(timeout=10)
        assert again is not None and again.value > first.value
        assert member_side.lease_id != old_lease
        snap = membership.wait_for(lambda s: "m" in s and s.epoch > before.epoch, timeout=10)
        assert snap.member("m") == Member("m", 4, "m:1", metadata={"zone": "z1"})
        assert not reg.evicted.is_set()
        campaign.close()


def test_a_watch_resumes_from_its_revision_after_the_stream_breaks(etcd):
    with EtcdCoordinator(etcd.endpoint, "resume", lease_ttl=TTL) as writer, \
            EtcdCoordinator(etcd.endpoint, "resume", lease_ttl=TTL) as reader, EtcdMembership(reader) as membership:
        seen = []
        membership.subscribe(lambda s: seen.append(s.nodes))
        regs = []
        for i in range(20):
            regs.append(writer.register(Member(f"n{i}")))
            if i % 4 == 0:
                membership._watch.kick()  # break the stream mid-way: the next one resumes at next_revision
        final = membership.wait_for(lambda s: len(s) == 20, timeout=10)
        assert final.nodes == tuple(f"n{i}" for i in range(20))
        lengths = [len(nodes) for nodes in seen]
        assert lengths == sorted(lengths) and lengths[-1] == 20  # in order, none skipped then re-added


# -- CLI ----------------------------------------------------------------------------------------------------
def fastroute_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastroute.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_cli_cluster_status_join_set_leave_with_etcd(etcd):
    common = ["--etcd", etcd.endpoint, "--cluster", "cli", "--session-timeout", str(TTL)]
    join = subprocess.Popen([sys.executable, "-m", "fastroute.cli", "cluster", "join", *common, "--name", "n1",
                             "--weight", "2", "--address", "10.0.0.1:8443", "--meta", "zone=z1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "joined" in join.stdout.readline()
        status = fastroute_cli("cluster", "status", *common, "--json")
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        assert doc["members"] == [{"name": "n1", "weight": 2.0, "address": "10.0.0.1:8443", "state": "up",
                                   "metadata": {"zone": "z1"}}]
        changed = fastroute_cli("cluster", "set", *common, "--name", "n1", "--weight", "5", "--state", "draining")
        assert changed.returncode == 0, changed.stderr
        doc = json.loads(fastroute_cli("cluster", "status", *common, "--json").stdout)
        assert (doc["members"][0]["weight"], doc["members"][0]["state"]) == (5.0, "draining")
        human = fastroute_cli("cluster", "status", *common)
        assert human.returncode == 0 and "n1" in human.stdout and "zone=z1" in human.stdout
        leave = fastroute_cli("cluster", "leave", *common, "--name", "n1")
        assert leave.returncode == 0 and "removed 'n1'" in leave.stdout, leave.stderr
        out, _ = join.communicate(timeout=10)
        assert join.returncode == 0 and "removed by an operator" in out
        again = fastroute_cli("cluster", "leave", *common, "--name", "n1")
        assert again.returncode == 1 and "no member" in again.stderr
    finally:
        if join.poll() is None:
            join.kill()
            join.wait()
    both = fastroute_cli("cluster", "status", "--etcd", etcd.endpoint, "--zk", "127.0.0.1:1")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    down = fastroute_cli("cluster", "status", "--etcd", f"127.0.0.1:{free_port()}", "--connect-timeout", "0.5")
    assert down.returncode == 1 and "cannot connect" in down.stderr and "Traceback" not in down.stderr


def test_fencing_checker_refuses_a_token_whose_holder_knows_it_is_lost(etcd):
    with EtcdCoordinator(etcd.endpoint, "fenced", lease_ttl=TTL) as coord:
        storage = FencingChecker()
        lock = coord.lock("x", timeout=5)
        token = lock.acquire()
        storage.check("x", token)
        lock.release()
        assert token.lost.is_set() and not token.valid
        from fastroute.membership import LockLostError
        with pytest.raises(LockLostError, match="no longer held"):
            storage.check("x", token)


def test_a_release_while_the_server_is_away_does_not_leave_the_lock_blocked(tmp_path):
    """Regression: a contender key whose delete failed stayed on the holder's live lease and
    blocked every later holder (seen when a 3-node cluster lost its leader under load)."""
    server = EtcdServer(tmp_path / "etcd")
    server.start()
    try:
        with EtcdCoordinator(server.endpoint, "orphan", lease_ttl=5) as a:
            lock = a.lock("x", timeout=5)
            lock.acquire()
            server.stop()
            lock.release()  # the delete fails: the server is down
            server.start()
            with EtcdCoordinator(server.endpoint, "orphan", lease_ttl=5) as b:
                with b.lock("x", timeout=8) as token:  # a's keep-alive removes the orphan key
                    assert token.valid
                assert a.lease_valid_for() > 0  # a's lease lived on throughout
    finally:
        server.stop()
