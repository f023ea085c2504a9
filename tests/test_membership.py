# SPDX-License-Identifier: Apache-2.0
"""Static and file membership, snapshots and live followers (no server needed)."""
from __future__ import annotations

import threading

import pytest

import fastroute
from fastroute.membership import (FencingChecker, FileMembership, LiveBalancer, Member, MembershipError, Snapshot,
                                  StaleTokenError, StaticMembership, follow_router)

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
    with pytest.raises(ValueError, match="name"):
        Member("a/b")
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
                'algorithm = "ring"\n[[nodes\n'):                              # truncated write
        path.write_text(bad)
        assert m.reload() is False
        assert m.snapshot() is good
        assert isinstance(m.last_error, ValueError)
    assert len(errors) == 3
    assert "weight" in str(errors[0]) and "wieght" in str(errors[1]) and "TOML" in str(errors[2])
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
    m = StaticMembership([f"n{i}" for i in range(8)])
    router = fastroute.Router(fastroute.Maglev(["x"], table_size=1009))
    follow_router(m, router)
    errors, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                p = router.placement
                idx = p.route(KEYS[:64])
                assert all(0 <= i < len(p.nodes) for i in idx.tolist())
                router.get_node("k")
            except Exception as exc:  # pragma: no cover - the failure being tested for
                errors.append(exc)
    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(200):
        if i % 2:
            m.add(f"extra{i}")
        else:
            m.set_weight(f"n{i % 8}", 1 + i % 5)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(router.nodes) == 8 + 100


def test_live_balancer_follows_membership():
    m = StaticMembership({"a": 5, "b": 1, "c": 1})
    lb = LiveBalancer(m)
    assert [lb.pick() for _ in range(7)] == list("aabacaa")  # nginx SWRR 5,1,1 (ALGORITHMS.md §8)
    m.set_state("a", "down")
    picks = {lb.pick() for _ in range(20)}
    assert picks == {"b", "c"}
    m.update([Member("a", state="down"), Member("b", state="down")])  # nothing serves: keep balancer
    assert {lb.pick() for _ in range(4)} == {"b", "c"}
    assert isinstance(lb.follower.last_error, MembershipError)


def test_fencing_checker_rejects_older_tokens():
    checker = FencingChecker()
    assert checker.check("shard-1", 5) == 5
    checker.check("shard-1", 5)  # the same holder may write again
    checker.check("shard-1", 9)
    with pytest.raises(StaleTokenError, match="5"):
        checker.check("shard-1", 5)
    checker.check("shard-2", 1)  # resources are independent
    assert checker.highest("shard-1") == 9
