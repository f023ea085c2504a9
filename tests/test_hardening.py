# SPDX-License-Identifier: Apache-2.0
"""Regression tests for issue 11 (adversarial hardening pass): one test (or
parametrised group) per numbered defect; each failed on main before the fix."""
import math
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

import fastroute as fr
from fastroute import balancers as B
from fastroute.compat import envoy
from fastroute.compat.uhashring import HashRing as UHashRing


def run_python(code: str, *, timeout: float = 120, memory_limit: int | None = None) -> subprocess.CompletedProcess:
    prelude = ""
    if memory_limit:
        prelude = ("import resource\n"
                   f"resource.setrlimit(resource.RLIMIT_AS, ({memory_limit}, {memory_limit}))\n")
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


# ---------------------------------------------------------------- 1. size limits before allocating
def test_1_share_weights_are_checked_against_max_ring_size_before_allocating():
    proc = run_python("""
        import fastroute as fr
        try:
            fr.HashRing(["a", "b"], [70000, 70000], mode="normalized", weights_are_shares=True)
        except ValueError as exc:
            print("REFUSED", exc)
    """, memory_limit=3 << 30)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REFUSED" in proc.stdout and "max_ring_size" in proc.stdout


def test_1_max_ring_size_bounds_the_point_count():
    with pytest.raises(ValueError, match="max_ring_size"):
        fr.HashRing(["a", "b"], [1, 1], mode="normalized", weights_are_shares=True, max_ring_size=1024)
    ring = fr.HashRing(["a", "b"], [0.5, 0.5], mode="normalized", weights_are_shares=True, max_ring_size=1024)
    assert ring.points <= 1024


# ---------------------------------------------------------------- 2./3. threads= cap, one shared pool
@pytest.mark.parametrize("threads", [2**63, 2**64, fr.MAX_THREADS + 1 if hasattr(fr, "MAX_THREADS") else 257])
def test_2_threads_above_the_cap_are_refused(threads):
    with pytest.raises(ValueError, match="threads"):
        fr.JumpHash(["a", "b"]).route(["x", "y"], threads=threads)


def test_2_cap_is_documented():
    assert fr.MAX_THREADS >= 1
    assert str(fr.MAX_THREADS) in fr.HashRing.route.__doc__


def test_3_distinct_thread_counts_do_not_leave_a_pool_each():
    proc = run_python("""
        import os
        import numpy as np
        import fastroute as fr
        ring = fr.HashRing(["a", "b", "c"])
        keys = np.arange(200_000, dtype=np.uint64)
        ring.route(keys)
        before = len(os.listdir("/proc/self/task"))
        for t in range(1, 41):
            ring.route(keys, threads=t)
        print(len(os.listdir("/proc/self/task")) - before)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # One shared pool of at most twice the largest count (it grows by doubling), plus
    # a few threads of a replaced pool still exiting; a pool per count made 1 + 2 + ... + 40.
    assert int(proc.stdout.split()[-1]) <= 2 * 40 + 8


# ---------------------------------------------------------------- 4. nginx plain hash with a down server
NGINX_DOWN = "upstream u { hash $k; server a; server b down; server c; }"


def test_4_plain_hash_with_down_server_routes_any_key_collection():
    sel = fr.load_nginx(NGINX_DOWN, "u")
    ints = list(range(50))
    expected = [sel.get_index(k) for k in ints]
    assert 1 not in expected
    assert sel.route(k for k in ints).tolist() == expected
    assert sel.route(np.array(ints, dtype=np.int64)).tolist() == expected
    assert sel.route(pa.array(ints, type=pa.int64())).tolist() == expected
    strs = [f"card-{i}" for i in range(50)]
    assert sel.route(pa.array(strs)).tolist() == [sel.get_index(k) for k in strs]


# ---------------------------------------------------------------- 5. bounded loads with a pointless node
def test_5_assign_bounded_never_returns_minus_one():
    ring = fr.HashRing({"a": 1, "b": 0.001})
    keys = [f"k{i}" for i in range(2000)]
    out = ring.assign_bounded(keys, c=1.0001)
    assert out.min() >= 0
    assert set(out.tolist()) <= {0}


# ---------------------------------------------------------------- 6. int addresses in lists
def test_6_ip_hash_int_addresses_in_lists():
    ip = fr.IPHash(["a", "b", "c"])
    addrs = [3232235777, 167772161, 0, 2**32 - 1]
    assert ip.route(addrs).tolist() == [ip.get_index(a) for a in addrs]
    assert ip.route(addrs).tolist() == ip.route(np.array(addrs, dtype=np.uint64)).tolist()
    assert ip.route_replicas(addrs, 2).tolist() == [[ip.get_index(a), *[
        ip.nodes.index(n) for n in ip.replicas(a, 2)[1:]]] for a in addrs]
    assert ip.route(["10.0.0.1", 167772161]).tolist() == [ip.get_index("10.0.0.1")] * 2
    with pytest.raises(ValueError, match=r"keys\[0\]"):
        ip.route([2**32])
    sel = fr.load_nginx("upstream u { ip_hash; server a; server b; server c; }", "u")
    assert sel.route(addrs).tolist() == [sel.get_index(a) for a in addrs]


# ---------------------------------------------------------------- 7. HAProxy empty key, one rule
HAPROXY_PARAM = ("backend be\n    balance url_param id\n    hash-type consistent\n"
                 "    server s1 127.0.0.1:1\n    server s2 127.0.0.1:2\n")


@pytest.mark.parametrize("keys", [
    ["x", ""], np.array(["x", ""]), np.array([b"x", b""]), pa.array(["x", ""]), pa.array([b"x", b""]),
])
def test_7_haproxy_empty_key_is_rejected_from_every_input(keys):
    sel = fr.load_haproxy(HAPROXY_PARAM, "be")
    with pytest.raises(ValueError, match="empty key"):
        sel.route(keys)
    with pytest.raises(ValueError, match="empty"):
        sel.get_node("")


# ---------------------------------------------------------------- 8. draining nodes in panic mode
def test_8_draining_nodes_take_no_requests_in_panic():
    rr = B.RoundRobin(["a", "b"], panic_threshold=0.5)
    rr.set_state("a", "draining")
    rr.set_state("b", "down")
    with pytest.raises(fr.NoHealthyNode):
        rr.pick()


def test_8_draining_nodes_take_no_requests_in_panic_with_envoy_ejections():
    t = [0.0]
    health = fr.health_policy("envoy", consecutive_failures=1, max_ejection_percent=100)
    sel = B.RoundRobin(["a", "b", "c", "d"], panic_threshold=0.9, health=health, clock=lambda: t[0])
    sel.set_state("a", "draining")
    for n in ("b", "c"):
        sel.report(n, ok=False)
    picks = {sel.pick() for _ in range(40)}
    assert sel.in_panic
    assert "a" not in picks and picks


# ---------------------------------------------------------------- 9. weighted LeastRequest after recovery
def test_9_weighted_least_request_does_not_burst_onto_a_recovered_node():
    lr = B.LeastRequest({"a": 1, "b": 2}, seed=1)
    lr.set_state("a", "down")
    lr.pick_many(10_000)
    lr.set_state("a", "up")
    picks = lr.pick_many(3000)
    share_a = float(np.mean(picks == 0))
    assert abs(share_a - 1 / 3) < 0.02
    assert int(np.sum(picks[:30] == 0)) <= 12


# ---------------------------------------------------------------- 10. no silent drop of state events
def test_10_every_state_change_event_is_delivered():
    t = [0.0]
    events = []
    names = [f"n{i}" for i in range(500)]
    health = fr.health_policy("envoy", consecutive_failures=1, max_ejection_percent=100, base_ejection_time=1.0)
    sel = B.RoundRobin(names, health=health, clock=lambda: t[0], on_state_change=lambda e, n: events.append((e, n)))
    for n in names:
        sel.report(n, ok=False)
    assert sum(e == "ejected" for e, _ in events) == 500
    t[0] = 5.0
    sel.eligible()
    assert sum(e == "restored" for e, _ in events) == 500
    assert sel.events_dropped == 0


# ---------------------------------------------------------------- 11. lease() never leaks the in-flight count
class FailingClock:
    def __init__(self, fail_on):
        self.calls = 0
        self.fail_on = fail_on

    def __call__(self):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError("clock broke")
        return float(self.calls)


@pytest.mark.parametrize("fail_on", [{1}, {2}, {2, 3}])
def test_11_lease_releases_when_the_clock_raises(fail_on):
    sel = B.LeastConnections(["a", "b"], clock=FailingClock(fail_on))
    with pytest.raises(RuntimeError, match="clock broke"):
        with sel.lease():
            pass
    assert sel.active() == {"a": 0, "b": 0}


def test_11_lease_releases_when_the_clock_returns_nan():
    sel = B.LeastConnections(["a", "b"], clock=lambda: math.nan)
    with pytest.raises(ValueError, match="clock"):
        with sel.lease():
            pass
    assert sel.active() == {"a": 0, "b": 0}


# ---------------------------------------------------------------- 12. overflowing weight sums
def shares(indices, n):
    return np.bincount(np.asarray(indices), minlength=n) / len(indices)


def test_12_maglev_with_overflowing_sum():
    m = fr.Maglev(["a", "b"], [1.7e308, 1.7e307])
    s = shares(m.route_hashed(np.arange(m.table_size, dtype=np.uint64)), 2)
    assert abs(s[0] - 10 / 11) < 0.01


def test_12_rendezvous_with_subnormal_weights():
    r = fr.Rendezvous(["a", "b", "c"], [5e-324] * 3)
    s = shares(r.route(np.arange(60_000, dtype=np.uint64)), 3)
    assert np.all(np.abs(s - 1 / 3) < 0.015), s


def test_12_rendezvous_scaling_keeps_ordinary_results():
    keys = np.arange(5000, dtype=np.uint64)
    a = fr.Rendezvous(["a", "b", "c"], [1.0, 2.0, 3.0]).route(keys)
    b = fr.Rendezvous(["a", "b", "c"], [2.0**-600, 2.0**-599, 3 * 2.0**-600]).route(keys)
    assert a.tolist() == b.tolist()


@pytest.mark.parametrize("cls", [B.WeightedRandom, B.LeastRequest])
def test_12_float_balancers_with_overflowing_sum(cls):
    sel = cls(["a", "b"], [1.7e308, 1.7e307], seed=3)
    s = shares(sel.pick_many(22_000), 2)
    assert abs(s[0] - 10 / 11) < 0.01, s


@pytest.mark.parametrize("cls", [B.WeightedRandom, B.LeastRequest])
def test_12_float_balancers_with_subnormal_weights(cls):
    sel = cls(["a", "b"], [5e-324, 1e-323], seed=3)
    s = shares(sel.pick_many(30_000), 2)
    assert abs(s[0] - 1 / 3) < 0.02, s


def test_12_normalized_ring_with_overflowing_sum():
    ring = fr.HashRing(["a", "b"], [1e308, 1e308], mode="normalized")
    s = shares(ring.route(np.arange(40_000, dtype=np.uint64)), 2)
    assert abs(s[0] - 0.5) < 0.05


def test_12_bounded_capacities_with_overflowing_sum():
    ring = fr.HashRing(["a", "b"], [1.7e308, 1.7e308], points_per_weight=1e-306)
    out = ring.assign_bounded([f"k{i}" for i in range(1000)], c=1.1)
    assert out.min() >= 0 and np.bincount(out).max() <= 550


# ---------------------------------------------------------------- 13. unordered collections
SET_NODES = {"node-a", "node-b", "node-c", "node-d"}


@pytest.mark.parametrize("make", [
    lambda: fr.JumpHash(SET_NODES), lambda: fr.HashRing(SET_NODES), lambda: fr.Maglev(frozenset(SET_NODES)),
    lambda: fr.Rendezvous(SET_NODES), lambda: fr.IPHash(SET_NODES), lambda: B.RoundRobin(SET_NODES),
    lambda: B.SmoothWeightedRoundRobin(SET_NODES), lambda: B.WeightedRandom(SET_NODES),
    lambda: B.LeastRequest(SET_NODES), lambda: B.PeakEWMA(SET_NODES), lambda: B.LeastConnections(SET_NODES),
    lambda: B.Random(SET_NODES), lambda: B.HAProxyRoundRobin(SET_NODES), lambda: envoy.RingHash(SET_NODES),
    lambda: envoy.Maglev(SET_NODES), lambda: fr.Router(fr.JumpHash(SET_NODES)),
    lambda: fr.HashRing(["a", "b"], {1.0, 2.0}), lambda: fr.JumpHash(["a", "b"]).route({"k1", "k2"}),
    lambda: fr.hash_keys({"k1", "k2"}), lambda: fr.HashRing(["a", "b"]).route_replicas({"k1", "k2"}, 2),
])
def test_13_unordered_collections_are_refused(make):
    with pytest.raises(TypeError, match="unordered"):
        make()


def test_13_dict_keys_are_ordered_and_accepted():
    assert fr.JumpHash({"a": 1, "b": 1}.keys()).nodes == ("a", "b")


# ---------------------------------------------------------------- 14. with_weight / with_node validate always
@pytest.mark.parametrize("weight", [5, -5, math.nan, "x"])
def test_14_jump_with_weight_refuses_what_it_cannot_honour(weight):
    with pytest.raises((TypeError, ValueError), match="weight"):
        fr.JumpHash(["a", "b"]).with_weight("a", weight)


@pytest.mark.parametrize("weight", ["x", 2, -1, math.inf])
def test_14_jump_with_node_validates_the_weight(weight):
    with pytest.raises((TypeError, ValueError), match="weight"):
        fr.JumpHash(["a", "b"]).with_node("c", weight)


def test_14_jump_equal_weight_is_fine():
    assert fr.JumpHash(["a", "b"]).with_node("c").nodes == ("a", "b", "c")
    assert fr.JumpHash(["a", "b"]).with_weight("a", 1).nodes == ("a", "b")


@pytest.mark.parametrize("cls", [fr.HashRing, fr.Maglev, fr.Rendezvous, fr.IPHash])
def test_14_other_kinds_validate_with_node_weight(cls):
    with pytest.raises((TypeError, ValueError), match="weight"):
        cls(["a", "b"]).with_node("c", "x")
    with pytest.raises((TypeError, ValueError), match="weight"):
        cls(["a", "b"]).with_weight("a", -1)


# ---------------------------------------------------------------- 17. errors name the argument / line
def haproxy(server_lines, balance="balance url_param id\n    hash-type consistent"):
    return "backend be\n    " + balance + "\n" + "".join(f"    {s}\n" for s in server_lines)


ERRORS = [
    ("weights 10**400", lambda: fr.HashRing(["a", "b"], [10**400, 1]), r"weights\[0\]"),
    ("threads 2**64", lambda: fr.HashRing(["a"]).route(["k"], threads=2**64), "threads"),
    ("pick_many 2**63", lambda: B.RoundRobin(["a", "b"]).pick_many(2**63), r"\bn\b"),
    ("pick_many 1.5", lambda: B.RoundRobin(["a", "b"]).pick_many(1.5), r"\bn\b"),
    ("choice_count 2**63", lambda: B.LeastRequest(["a", "b"], choice_count=2**63), "choice_count"),
    ("max_fails 2**70", lambda: B.RoundRobin(["a", "b"], health=fr.NginxHealth(max_fails=2**70)), "max_fails"),
    ("nginx max_fails", lambda: fr.load_nginx(f"upstream u {{ server a max_fails={2**70}; server b; }}", "u"),
     "line 1"),
    ("latency_s 10**400", lambda: B.PeakEWMA(["a", "b"]).report("a", latency_s=10**400), "latency_s"),
    ("haproxy id", lambda: fr.load_haproxy(haproxy(["server s1 127.0.0.1:1 id 1099511627776",
                                                    "server s2 127.0.0.1:2"]), "be"), "line 4"),
    ("uhashring vnodes", lambda: UHashRing(["a", "b"], vnodes=2**70), "vnodes"),
    ("envoy locality weight", lambda: envoy.RingHash(["a", "b"], localities=["x", "y"],
                                                     locality_weights={"x": 10**400, "y": 1}), "locality_weights"),
    ("surrogate node", lambda: fr.HashRing(["a", "b\ud800"]), r"nodes\[1\].*UTF-8"),
    ("surrogate node balancer", lambda: B.RoundRobin(["a", "b\ud800"]), r"nodes\[1\].*UTF-8"),
    ("0-d weights", lambda: fr.HashRing(["a", "b"], np.array(5.0)), "weights"),
    ("nginx weight=x", lambda: fr.load_nginx("upstream u { server a weight=x; server b; }", "u"), "line 1"),
    ("nginx weight huge", lambda: fr.load_nginx("upstream u {\n hash $k consistent;\n server a weight=10000000;\n"
                                                " server b;\n}", "u"), "line 3.*weight"),
    ("haproxy port xx", lambda: fr.load_haproxy(haproxy(["server s1 127.0.0.1:xx hash-key addr-port",
                                                         "server s2 127.0.0.1:2 hash-key addr-port"]), "be"),
     "line 4"),
    ("haproxy version=5", lambda: fr.load_haproxy(haproxy(["server s1 127.0.0.1:1"]), "be", version=5), "version"),
    ("haproxy uri int key", lambda: fr.load_haproxy(haproxy(["server s1 127.0.0.1:1", "server s2 127.0.0.1:2"],
                                                            "balance uri"), "be").get_node(5), "key"),
]


@pytest.mark.parametrize("what, call, pattern", ERRORS, ids=[e[0] for e in ERRORS])
def test_17_errors_name_the_argument_and_rule(what, call, pattern):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert type(info.value) not in (UnicodeEncodeError, OverflowError)
    import re
    assert re.search(pattern, str(info.value)), str(info.value)


def test_17_backups_none_means_no_backups():
    assert B.RoundRobin(["a", "b"], backups=None).backups == ()


# ---------------------------------------------------------------- 18. bad input accepted silently
@pytest.mark.parametrize("ok", ["no", 1.5, None])
def test_18_report_ok_must_be_a_bool(ok):
    sel = B.RoundRobin(["a", "b"], health="envoy")
    with pytest.raises(TypeError, match="ok"):
        sel.report("a", ok=ok)


def test_18_release_ok_must_be_a_bool():
    sel = B.LeastConnections(["a", "b"])
    node = sel.acquire()
    with pytest.raises(TypeError, match="ok"):
        sel.release(node, ok="no")


@pytest.mark.parametrize("latency", ["1", True, b"1"])
def test_18_latency_must_be_a_number(latency):
    with pytest.raises(TypeError, match="latency_s"):
        B.PeakEWMA(["a", "b"]).report("a", latency_s=latency)


@pytest.mark.parametrize("reading, health", [(math.nan, "nginx"), (math.inf, "envoy"), (-math.inf, "nginx"),
                                             ("soon", "envoy")])
def test_18_clock_readings_must_be_finite(reading, health):
    sel = B.RoundRobin(["a", "b", "c"], health=health, clock=lambda: reading)
    with pytest.raises((TypeError, ValueError), match="clock"):
        for _ in range(10):
            sel.report("a", ok=False)
            sel.pick()


def test_18_masked_arrays_honour_the_mask():
    ring = fr.HashRing(["a", "b", "c"])
    keys = np.ma.array([1, 2, 3], mask=[False, True, False])
    with pytest.raises(ValueError, match="masked"):
        ring.route(keys)
    out = ring.route(keys, null_index=2)
    assert out.tolist() == [ring.get_index(1), 2, ring.get_index(3)]


def test_18_crc32_has_no_seed():
    with pytest.raises(ValueError, match="seed"):
        fr.hash_keys(["a"], hash="crc32", seed=5)
    with pytest.raises(ValueError, match="seed"):
        fr.hash_key("a", hash="crc32", seed=5)
    assert fr.hash_keys(["a"], hash="crc32", seed=0).tolist() == [fr.hash_key("a", "crc32")]


def test_18_haproxy_duplicate_server_ids():
    with pytest.raises(ValueError, match="line 5.*id"):
        fr.load_haproxy(haproxy(["server s1 127.0.0.1:1 id 3", "server s2 127.0.0.1:2 id 3"]), "be")


# ---------------------------------------------------------------- 16. FileMembership and non-atomic writers
def cluster_toml(count: int, weight: int) -> str:
    return 'algorithm = "rendezvous"\n' + "".join(
        f'[[nodes]]\nname = "node-{i:03d}"\nweight = {weight}\naddress = "10.0.{i // 250}.{i % 250}:8443"\n'
        for i in range(count))


def test_16_file_membership_never_publishes_a_cut_prefix(tmp_path):
    import threading
    import time

    path = tmp_path / "cluster.toml"
    path.write_text(cluster_toml(300, 1))
    seen = []
    with fr.FileMembership(path, poll_interval=0.01) as members:
        members.subscribe(lambda snap: seen.append((len(snap.nodes), set(snap.weights))))
        for weight in (2, 3):
            text = cluster_toml(300, weight).encode()

            def write_in_chunks():
                with open(path, "wb") as f:  # truncate, then 256-byte chunks: not atomic
                    for k in range(0, len(text), 256):
                        f.write(text[k:k + 256])
                        f.flush()
                        time.sleep(0.003)

            writer = threading.Thread(target=write_in_chunks)
            writer.start()
            writer.join()
            members.wait_for(lambda s, w=weight: set(s.weights) == {float(w)}, timeout=10)
    assert seen and all(count == 300 for count, _ in seen), seen
    assert [w for _, w in seen] == [{1.0}, {2.0}, {3.0}]
