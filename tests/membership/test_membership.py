# SPDX-License-Identifier: Apache-2.0
"""Static and file membership, snapshots and live followers (no server needed)."""
from __future__ import annotations

import threading

import pytest

import fastroute
from fastroute.membership import (Coordinator, CoordinatorUnavailable, FencingChecker, FileMembership, LiveBalancer,
                                  Member, MembershipError, NoPrimaryError, ShardLayout, ShardRouter, Snapshot,
                                  StaleTokenError, StaticMembership, Subscription, ZooKeeperCoordinator,
                                  follow_router)

CLUSTER = """algorithm = "rendezvous"
[[nodes]]
name = "a"
weight = 2
address = "10.0.0.1:8443"
[[nodes]]
name = "b"
[nodes.metadata]
zone = "z1"
[[nodes]]
name = "c"
backup = true
[[nodes]]
name = "d"
down = true
"""

KEYS = [f"card-{i}" for i in range(2000)]


def test_member_validation_names_the_argument():
    with pytest.raises(ValueError, match="weight"):
        Member("a", float("nan"))
    with pytest.raises(ValueError, match="weight"):
        Member("a", -1)
    with pytest.raises(ValueError, match="name"):
        Member("")
    # Any name a placement can hash, '/' included (nginx 'server unix:/...'); only backends
    # that make a key of the name refuse it (tests/membership/test_coordination_backends.py).
    assert Member("unix:/run/a.sock").name == "unix:/run/a.sock"
    with pytest.raises(ValueError, match="state"):
        Member("a", state="sleeping")
    with pytest.raises(TypeError, match="metadata"):
        Member("a", metadata={"k": object()})
    with pytest.raises(ValueError, match="duplicate"):
        StaticMembership(["a", "a"])


def test_snapshot_is_immutable_and_fingerprint_ignores_epoch_and_staleness():
    s = Snapshot((Member("a", 2, metadata={"zone": "z"}), Member("b")), 7, "x")
    with pytest.raises(AttributeError):
        s.epoch = 8
    with pytest.raises(TypeError):
        s.members[0].metadata["zone"] = "other"
    same = Snapshot((Member("a", 2, metadata={"zone": "z"}), Member("b")), 9, "y", stale=True)
    assert s.fingerprint() == same.fingerprint()
    assert s.fingerprint() != Snapshot((Member("a", 3, metadata={"zone": "z"}), Member("b")), 7).fingerprint()
    assert s.nodes == ("a", "b") and s.weights == (2.0, 1.0) and dict(s.states) == {"a": "up", "b": "up"}


def test_static_membership_versions_and_subscribers_see_every_change_in_order():
    m = StaticMembership({"a": 1, "b": 1})
    seen = []
    sub = m.subscribe(lambda s: seen.append((s.epoch, s.nodes, s.weights)))
    m.add("c", 3)
    m.set_weight("a", 5)
    m.set_state("b", "draining")
    m.remove("c")
    sub.close()
    m.add("e")
    assert seen == [
        (1, ("a", "b"), (1.0, 1.0)),
        (2, ("a", "b", "c"), (1.0, 1.0, 3.0)),
        (3, ("a", "b", "c"), (5.0, 1.0, 3.0)),
        (4, ("a", "b", "c"), (5.0, 1.0, 3.0)),
        (5, ("a", "b"), (5.0, 1.0)),
    ]
    assert m.snapshot().epoch == 6 and m.snapshot().states["b"] == "draining"
    with pytest.raises(KeyError, match="zz"):
        m.remove("zz")
    with pytest.raises(ValueError, match="already"):
        m.add("a")
    assert m.snapshot().epoch == 6  # rejected edits publish nothing


def test_failing_subscriber_does_not_stop_delivery():
    m = StaticMembership(["a"])
    got = []

    def broken(_):
        raise RuntimeError("subscriber bug")
    m.subscribe(broken)
    m.subscribe(lambda s: got.append(s.epoch))
    m.add("b")
    assert got == [1, 2]


def test_file_membership_reads_the_cluster_format(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    with FileMembership(path, poll_interval=None) as m:
        s = m.snapshot()
        assert s.nodes == ("a", "b", "c", "d")
        assert dict(s.states) == {"a": "up", "b": "up", "c": "backup", "d": "down"}
        assert s.member("a").address == "10.0.0.1:8443" and s.member("a").weight == 2.0
        assert dict(s.member("b").metadata) == {"zone": "z1"}
        assert s.algorithm == "rendezvous" and [x.name for x in s.serving] == ["a", "b"]
        assert s.epoch == 1


def test_file_membership_bad_edit_keeps_last_good_snapshot_and_reports(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    m = FileMembership(path, poll_interval=None)
    errors = []
    m.subscribe(lambda s: None, on_error=errors.append)
    good = m.snapshot()
    for bad in ('algorithm = "ring"\n[[nodes]]\nname = "a"\nweight = -3\n',   # negative weight
                'algorithm = "ring"\n[[nodes]]\nname = "a"\nwieght = 3\n',    # typo'd key
                'algorithm = "ring"\n[[nodes\n',                               # truncated write
                'algorithm = "ring"\n[params]\npoints_per_weight = -1\n[[nodes]]\nname = "a"\n',  # bad params
                'algorithm = "rnig"\n[[nodes]]\nname = "a"\n'):                 # unknown algorithm
        path.write_text(bad)
        assert m.reload() is False
        assert m.snapshot() is good
        assert isinstance(m.last_error, ValueError)
    assert len(errors) == 5
    assert "weight" in str(errors[0]) and "wieght" in str(errors[1]) and "TOML" in str(errors[2])
    assert "points_per_weight" in str(errors[3]) and "rnig" in str(errors[4])
    path.unlink()
    assert m.reload() is False and m.snapshot() is good and "cannot read" in str(m.last_error)
    path.write_text(CLUSTER.replace("weight = 2", "weight = 4"))
    assert m.reload() is True
    assert m.snapshot().epoch == 2 and m.snapshot().member("a").weight == 4.0 and m.last_error is None
    assert m.reload() is True and m.snapshot().epoch == 2  # unchanged content: no new snapshot


def test_file_membership_first_load_must_succeed(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text('algorithm = "ring"\n')
    with pytest.raises(ValueError, match="nodes"):
        FileMembership(path, poll_interval=None)
    with pytest.raises(ValueError, match="poll_interval"):
        FileMembership(path, poll_interval=0)


def test_file_membership_poller_picks_up_edits(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    with FileMembership(path, poll_interval=0.02) as m:
        path.write_text(CLUSTER.replace('name = "b"', 'name = "b2"'))
        snap = m.wait_for(lambda s: "b2" in s, timeout=5)
        assert snap.epoch == 2 and "b" not in snap


def test_router_follows_file_membership_with_the_file_algorithm(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    m = FileMembership(path, poll_interval=None)
    router = fastroute.Router(fastroute.JumpHash(["x"]))
    follower = follow_router(m, router)
    expected = fastroute.Rendezvous(["a", "b"], [2, 1])
    assert router.placement == expected
    assert [router.get_node(k) for k in KEYS] == [expected.get_node(k) for k in KEYS]
    path.write_text(CLUSTER.replace("backup = true", "backup = false"))
    m.reload()
    assert router.placement == fastroute.Rendezvous(["a", "b", "c"], [2, 1, 1])
    assert follower.applied.epoch == 2
    path.write_text(CLUSTER.replace('name = "a"\nweight = 2', 'name = "a"\nweight = 2\ndown = true')
                    .replace('name = "b"\n', 'name = "b"\ndown = true\n'))
    m.reload()  # only the backup remains: it serves
    assert router.nodes == ("c",)


def test_router_keeps_last_table_when_nothing_serves():
    m = StaticMembership(["a", "b"])
    router = fastroute.Router(fastroute.JumpHash(["a"]))
    follower = follow_router(m, router)
    table = router.placement
    assert table.nodes == ("a", "b")
    m.set_state("a", "down")
    assert router.nodes == ("b",)
    m.update([Member("a", state="down"), Member("b", state="down")])
    assert router.nodes == ("b",)  # the last buildable snapshot (a down, b up) stays
    assert isinstance(follower.last_error, MembershipError)
    assert follower.applied.epoch == 2 and m.snapshot().epoch == 3


def test_router_keeps_class_and_options_when_snapshot_has_no_algorithm():
    m = StaticMembership({"a": 1, "b": 3})
    router = fastroute.Router(fastroute.HashRing(["x"], points_per_weight=40, lookup="nearest"))
    follow_router(m, router)
    assert router.placement == fastroute.HashRing(["a", "b"], [1, 3], points_per_weight=40, lookup="nearest")


def test_lookups_during_membership_churn_never_fail():
    from tests._overlap import read_during_changes

    m = StaticMembership([f"n{i}" for i in range(8)])
    router = fastroute.Router(fastroute.Maglev(["x"], table_size=1009))
    follow_router(m, router)

    def read():
        p = router.placement
        idx = p.route(KEYS[:64])
        assert all(0 <= i < len(p.nodes) for i in idx.tolist())
        router.get_node("k")

    def change(step):  # add a node, remove it, reweight: the table is rebuilt each time
        if step % 3 == 0:
            m.add(f"extra{step}")
        elif step % 3 == 1:
            m.remove(f"extra{step - 1}")
        else:
            m.set_weight(f"n{step % 8}", 1 + step % 5)

    read_during_changes(router, read, change)
    assert router.nodes == m.snapshot().nodes  # the last change is the one routed on


def test_live_balancer_follows_membership():
    m = StaticMembership({"a": 5, "b": 1, "c": 1})
    lb = LiveBalancer(m)
    assert [lb.pick() for _ in range(7)] == list("aabacaa")  # nginx SWRR 5,1,1 (docs/algorithms.md §8)
    before = lb.balancer
    m.set_state("a", "down")
    assert {lb.pick() for _ in range(20)} == {"b", "c"}
    m.set_state("b", "draining")
    assert {lb.pick() for _ in range(20)} == {"c"}
    assert lb.balancer is before  # state-only changes keep the running balancer (health, in-flight)
    assert (before.state("a"), before.state("b")) == ("down", "draining")
    m.update([Member("a", 1), Member("b", 1), Member("c", 1, state="backup")])  # new nodes/weights: rebuilt
    assert lb.balancer is not before
    assert {lb.pick() for _ in range(20)} == {"a", "b"}
    m.update([Member("a", 1, state="down"), Member("b", 1, state="down"), Member("c", 1, state="backup")])
    assert {lb.pick() for _ in range(5)} == {"c"}  # the backup serves when no primary can
    m.set_state("c", "down")
    with pytest.raises(fastroute.NoHealthyNode):  # the membership says nothing serves
        lb.pick()
    m.update([])  # no member at all: keep the last balancer, report
    assert isinstance(lb.follower.last_error, MembershipError)
    assert lb.nodes == ("a", "b", "c")


def test_live_balancer_builds_any_balancer_class_with_options():
    m = StaticMembership({"a": 1.5, "b": 0.5})
    lb = LiveBalancer(m, fastroute.WeightedRandom, seed=7)
    picks = [lb.pick() for _ in range(4000)]
    assert 0.7 < picks.count("a") / len(picks) < 0.8  # P(a) = 1.5 / 2
    rr = LiveBalancer(m, fastroute.RoundRobin)  # takes no weights
    assert [rr.pick() for _ in range(4)] == ["a", "b", "a", "b"]
    with pytest.raises(MembershipError, match="integer weights"):
        LiveBalancer(m)  # SWRR needs nginx integer weights
    with pytest.raises(TypeError, match="balancer"):
        LiveBalancer(m, "SmoothWeightedRoundRobin")


def test_fencing_checker_rejects_older_tokens():
    checker = FencingChecker()
    assert checker.check("shard-1", 5) == 5
    checker.check("shard-1", 5)  # the same holder may write again
    checker.check("shard-1", 9)
    with pytest.raises(StaleTokenError, match="5"):
        checker.check("shard-1", 5)
    checker.check("shard-2", 1)  # resources are independent
    with pytest.raises(TypeError, match="token"):
        checker.check("shard-2", 1.5)
    with pytest.raises(TypeError, match="token"):
        checker.check("shard-2", True)
    with pytest.raises(ValueError, match="token"):
        checker.check("shard-2", -1)
    assert checker.highest("shard-1") == 9


class FakeCoordinator(Coordinator):
    """An in-memory Coordinator: shows the shard code needs nothing ZooKeeper-specific."""

    def __init__(self):
        self.watchers: dict[str, list] = {}

    def lock(self, name, *, timeout=None, identifier=""):  # pragma: no cover - unused here
        raise NotImplementedError

    def register(self, member):  # pragma: no cover
        raise NotImplementedError

    def campaign(self, group, candidate, on_change):  # pragma: no cover
        raise NotImplementedError

    def watch_leader(self, group, callback):
        self.watchers.setdefault(group, []).append(callback)
        callback(None, None)
        return Subscription(lambda: None)

    def elect(self, shard, who, token):
        for cb in self.watchers[f"primary-{shard}"]:
            cb(who, token)

    def close(self):
        pass


def test_shard_router_routes_writes_to_the_elected_live_primary_and_reads_to_replicas():
    m = StaticMembership([Member("a", address="a:1"), Member("b", address="b:1"), Member("c", address="c:1")])
    coord = FakeCoordinator()
    layout = ShardLayout.of(8, replication=2)
    shards = ShardRouter(m, coord, layout)
    key = "acct-7"
    shard = shards.shard_of(key)
    assert shard == fastroute.JumpHash(list(layout.shards)).get_node(key)
    replicas = shards.replicas(key)
    assert replicas == fastroute.Rendezvous(["a", "b", "c"]).replicas(shard, 2)
    with pytest.raises(NoPrimaryError, match="no primary"):
        shards.route_write(key)
    coord.elect(shard, replicas[0], 100)
    route = shards.route_write(key)
    assert (route.shard, route.node, route.token.value, route.address) == (shard, replicas[0], 100, f"{replicas[0]}:1")
    assert {shards.route_read(key) for _ in range(6)} == set(replicas)
    m.remove(replicas[0])  # the primary's member vanished before a new election
    with pytest.raises(NoPrimaryError, match="not a live member"):
        shards.route_write(key)
    assert replicas[0] not in {shards.route_read(key) for _ in range(6)}
    coord.elect(shard, shards.replicas(key)[0], 205)
    assert shards.route_write(key).token.value == 205
    with pytest.raises(StaleTokenError):
        shards.check_write(shard, 100)
    shards.check_write(shard, 205)
    shards.close()
    rr = ShardRouter(m, coord, layout, read_balancer=fastroute.RoundRobin)
    first, second = rr.replicas(key)
    assert [rr.route_read(key) for _ in range(4)] == [first, second, first, second]
    rr.read_balancer_for(key).set_state(first, "down")  # health from outside / outcome reports
    assert {rr.route_read(key) for _ in range(4)} == {second}
    rr.close()


def test_shard_layout_validation():
    with pytest.raises(ValueError, match="shards"):
        ShardLayout.of(0)
    with pytest.raises(ValueError, match="replication"):
        ShardLayout.of(4, replication=0)
    with pytest.raises(ValueError, match="algorithm"):
        ShardLayout.of(4, algorithm="nope")
    with pytest.raises(ValueError, match="duplicate"):
        ShardLayout.of(["s1", "s1"])
    assert ShardLayout.of(["x", "y"]).shards == ("x", "y")


def test_zookeeper_objects_validate_arguments_before_connecting():
    with pytest.raises(ValueError, match="hosts"):
        ZooKeeperCoordinator("")
    with pytest.raises(ValueError, match="cluster"):
        ZooKeeperCoordinator("127.0.0.1:1", "a/b")
    with pytest.raises(ValueError, match="session_timeout"):
        ZooKeeperCoordinator("127.0.0.1:1", session_timeout=0)
    with pytest.raises(ValueError, match="root"):
        ZooKeeperCoordinator("127.0.0.1:1", root="fastroute")


@pytest.mark.timeout(30)  # explicit bound: a hang fails here, not at the suite default
def test_unreachable_zookeeper_is_a_clear_error_not_a_hang():
    import socket
    import time

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(CoordinatorUnavailable, match="cannot connect"):
        ZooKeeperCoordinator(f"127.0.0.1:{port}", connect_timeout=0.5)
    elapsed = time.monotonic() - started
    print(f"unreachable ZooKeeper reported after {elapsed:.2f} s (connect_timeout 0.5 s)")
    assert elapsed < 10, f"{elapsed:.1f} s for a 0.5 s connect timeout: retrying instead of giving up"


def test_importing_fastroute_does_not_import_kazoo():
    import subprocess
    import sys

    code = "import sys, fastroute; fastroute.ZooKeeperMembership; assert 'kazoo' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_concurrent_edits_publish_strictly_increasing_epochs():
    m = StaticMembership([f"n{i}" for i in range(4)])
    epochs = []
    m.subscribe(lambda s: epochs.append(s.epoch))

    def editor(i):
        for j in range(100):
            m.set_weight(f"n{i}", 1 + j % 7)
    threads = [threading.Thread(target=editor, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert epochs == list(range(1, 402))


def test_wait_for_times_out_with_the_current_snapshot_in_the_message():
    m = StaticMembership(["a"])
    with pytest.raises(TimeoutError, match="epoch=1"):
        m.wait_for(lambda s: "b" in s, timeout=0.05)
    threading.Timer(0.05, lambda: m.add("b")).start()
    assert m.wait_for(lambda s: "b" in s, timeout=5).epoch == 2
