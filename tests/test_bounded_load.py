# SPDX-License-Identifier: Apache-2.0
"""fastroute.BoundedLoad: request-time consistent hashing with bounded loads
(docs/algorithms.md §5.3) over every keyed kind, standalone or over a HealthView."""
import math
import pickle
import random
import threading
from fractions import Fraction

import pytest

import fastroute
from fastroute import BoundedLoad, HashRing, HealthView, JumpHash, Maglev, Rendezvous
from fastroute.placement import Ketama

NODES = ["a", "b", "c", "d"]
KINDS = [
    lambda nodes: HashRing(nodes),
    lambda nodes: Maglev(nodes),
    lambda nodes: JumpHash(nodes),
    lambda nodes: Rendezvous(nodes),
    lambda nodes: Ketama(nodes),
]
KIND_IDS = ["ring", "maglev", "jump", "rendezvous", "ketama"]


def run_threads(worker, count):
    """Runs worker(seed) on `count` threads at once and waits for all."""
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def key_with(placement, order):
    """A key whose failover order starts with `order` (found by search, checked by the placement)."""
    for i in range(100_000):
        k = f"k{i}"
        if list(placement.replicas(k, len(order))) == list(order):
            return k
    raise AssertionError(f"no key with failover order {order}")


def test_hand_computed_small_case():
    # n = 4, c = 1.25: capacity(T) = ceil(1.25 * (T + 1) / 4): T=0..2 -> 1, T=3..5 -> 2, T=6 -> 3.
    ring = HashRing(NODES)
    bl = BoundedLoad(ring, balance_factor=1.25)
    k = key_with(ring, ring.replicas("seed", 4))
    order = list(ring.replicas(k, 4))
    taken = [bl.acquire(k) for _ in range(7)]
    # T=0: cap 1, primary empty -> primary. T=1: cap 1, primary full -> 2nd. T=2: cap 1 -> 3rd.
    # T=3: cap 2 -> primary (1 < 2). T=4: cap 2 -> 2nd. T=5: cap 2 -> 3rd. T=6: cap 3 -> primary.
    assert taken == [order[0], order[1], order[2], order[0], order[1], order[2], order[0]]
    assert bl.in_flight() == {order[0]: 3, order[1]: 2, order[2]: 2, order[3]: 0}
    assert bl.capacity(order[0]) == math.ceil(Fraction(5, 4) * 8 / 4) == 3


def test_factor_one_spreads_evenly():
    # c = 1: capacity ceil((T+1)/n) forces a perfectly even spread, 3 rounds of 4.
    ring = Rendezvous(NODES)
    bl = BoundedLoad(ring, balance_factor=1)
    for _ in range(12):
        bl.acquire("same-key")
    assert bl.in_flight() == dict.fromkeys(NODES, 3)


def test_key_stays_home_while_there_is_room():
    ring = HashRing(NODES)
    bl = BoundedLoad(ring, balance_factor=2)
    keys = [f"card-{i}" for i in range(200)]
    # One request in flight per key at a time: loads stay tiny, so every key stays home.
    for k in keys:
        node = bl.acquire(k)
        assert node == ring.get_node(k)
        bl.release(node)
    assert bl.in_flight() == dict.fromkeys(NODES, 0)


def test_release_lets_the_key_come_home():
    ring = HashRing(NODES)
    bl = BoundedLoad(ring, balance_factor=1.25)
    k = "card-1"
    home = ring.get_node(k)
    first = bl.acquire(k)
    second = bl.acquire(k)
    assert first == home and second != home
    bl.release(first)
    bl.release(second)
    assert bl.pick(k) == home


def test_decimal_factor_is_exact():
    # 1.1 * 10 is 11.000000000000002 in floating point; the rule uses 11/10 exactly.
    ring = HashRing(["only"] + [f"n{i}" for i in range(9)])
    bl = BoundedLoad(ring, balance_factor=1.1)
    assert bl.balance_factor == Fraction(11, 10)
    for _ in range(9):
        bl.acquire("k")
    # T = 9: ceil(1.1 * 10 / 10) = ceil(1.1) = 2; exactly, ceil(11 * 10 / 100) = 2.
    assert bl.capacity(ring.get_node("k")) == 2


def test_weighted_capacities():
    ring = HashRing(["big", "small"], [3, 1])
    bl = BoundedLoad(ring, balance_factor=1)
    for _ in range(3):
        bl.acquire("x")
    # T = 3: big ceil(4 * 3/4) = 3, small ceil(4 * 1/4) = 1.
    assert bl.capacity("big") == 3 and bl.capacity("small") == 1


def test_haproxy_rule_matches_chash_server_is_eligible():
    # lb_chash.c: tot = ((served + 1) * factor + 99) / 100; per = tot / W; rem = tot % W;
    # slots = w * per + ((cum + w) * rem) / W - (cum * rem) / W, at least 1.
    ring = HashRing(["s1", "s2", "s3"], [1, 2, 3])
    bl = BoundedLoad(ring, balance_factor=1.5, rule="haproxy")
    for _ in range(5):
        bl.acquire("k")
    # served = 5: tot = (6 * 150 + 99) // 100 = 9; W = 6: per = 1, rem = 3.
    # s1 (cum 0, w 1): 1 + 3*1//6 - 0 = 1; s2 (cum 1, w 2): 2 + 9//6 - 3//6 = 3; s3 (cum 3, w 3): 3 + 18//6 - 9//6 = 5.
    assert [bl.capacity(s) for s in ("s1", "s2", "s3")] == [1, 3, 5]
    with pytest.raises(ValueError, match=r"placement.weights\[0\].*integer"):
        BoundedLoad(HashRing(["a", "b"], [1.5, 1]), rule="haproxy")


@pytest.mark.parametrize("make", KINDS, ids=KIND_IDS)
def test_every_kind_walks_its_replica_order(make):
    p = make(NODES)
    bl = BoundedLoad(p, balance_factor=1)
    order = list(p.replicas("walk", 4))
    assert [bl.acquire("walk") for _ in range(4)] == order


@pytest.mark.parametrize("rule", ["mirrokni", "haproxy"])
@pytest.mark.parametrize("c", [1.0, 1.25, 2.0])
def test_bound_holds_at_every_instant_under_threads(rule, c):
    """Eight threads take and hold leases (loads only grow): after every
    acquisition the maximum in-flight count is at most ceil(c * average)
    (weighted: ceil(c * T * w_i / W) per node), with keys all hashing near one node."""
    nodes = [f"n{i}" for i in range(5)]
    ring = HashRing(nodes)
    bl = BoundedLoad(ring, balance_factor=c, rule=rule)
    hot = [f"hot-{i}" for i in range(400) if ring.get_node(f"hot-{i}") == "n0"][:40]
    violations, held = [], []
    guard = threading.Lock()
    start = threading.Barrier(8)

    def worker(seed):
        rng = random.Random(seed)
        start.wait()
        for _ in range(60):
            lease = bl.lease(rng.choice(hot))
            lease.__enter__()
            with guard:
                held.append(lease)
                loads = bl.in_flight()
                total = sum(loads.values())
                bound = math.ceil(Fraction(repr(c)) * total / len(nodes))
                if max(loads.values()) > bound:
                    violations.append((dict(loads), total, bound))

    run_threads(worker, 8)
    assert not violations, violations[:3]
    assert sum(bl.in_flight().values()) == 480
    for lease in held:
        lease.__exit__(None, None, None)
    assert bl.in_flight() == dict.fromkeys(nodes, 0)


def test_mixed_acquire_release_under_threads_keeps_the_per_request_bound():
    """With releases in between, each acquisition lands on a node whose load
    right after is at most ceil(c * T_after / n)."""
    nodes = [f"n{i}" for i in range(4)]
    ring = Maglev(nodes)
    c = Fraction(5, 4)
    bl = BoundedLoad(ring, balance_factor=1.25)
    bad = []
    guard = threading.Lock()  # makes each acquisition and its snapshot one step

    def worker(seed):
        rng = random.Random(seed)
        mine = []
        for _ in range(300):
            if mine and rng.random() < 0.45:
                with guard:
                    bl.release(mine.pop(rng.randrange(len(mine))))
                continue
            with guard:
                node = bl.acquire(rng.choice(["hot", "hot", "other"]))
                loads = bl.in_flight()
            mine.append(node)
            if loads[node] > math.ceil(c * sum(loads.values()) / len(nodes)):
                bad.append(loads)
        for node in mine:
            with guard:
                bl.release(node)

    run_threads(worker, 8)
    assert not bad, bad[:3]
    assert bl.in_flight() == dict.fromkeys(nodes, 0)


def test_over_a_health_view_skips_unavailable_nodes_and_uses_its_counts():
    view = HealthView(NODES)
    ring = HashRing(NODES)
    bl = BoundedLoad(ring, balance_factor=1, view=view)
    order = list(ring.replicas("k", 4))
    view.set_state(order[0], "down")
    # Three available nodes, c = 1: capacity ceil((T+1)/3) -> the three available ones in turn.
    taken = [bl.acquire("k") for _ in range(3)]
    assert taken == order[1:]
    assert view.in_flight(order[1]) == 1
    # Another balancer's request on order[1] counts too: T = 4 -> capacity 2, order[1] is at 2.
    view.acquire(order[1])
    assert bl.pick("k") == order[2]
    view.set_state(order[0], "up")
    assert bl.pick("k") == order[0]
    for node in taken:
        bl.release(node, ok=True, latency_s=0.001)
    view.abandon(order[1])
    assert view.in_flight() == dict.fromkeys(NODES, 0)


def test_lease_reports_to_the_view_and_cancellation_reports_nothing():
    view = HealthView(NODES, health="none")
    bl = BoundedLoad(HashRing(NODES), view=view)
    with bl.lease("k") as node:
        assert view.in_flight(node) == 1
    assert view.in_flight(node) == 0
    lease = bl.lease("k")
    node = lease.__enter__()
    lease.cancel()
    lease.cancel()
    assert view.in_flight(node) == 0
    with pytest.raises(RuntimeError, match="already used"):
        lease.__enter__()


def test_no_available_node():
    view = HealthView(["a", "b"])
    bl = BoundedLoad(HashRing(["a", "b"]), view=view)
    view.set_state("a", "down")
    view.set_state("b", "down")
    with pytest.raises(fastroute.NoHealthyNode):
        bl.pick("k")


def test_bad_arguments_name_themselves():
    ring = HashRing(NODES)
    for bad, err, text in [(0.99, ValueError, "balance_factor"), (float("nan"), ValueError, "balance_factor"),
                           ("1.25", TypeError, "balance_factor"), (True, TypeError, "balance_factor"),
                           (1e10, ValueError, "balance_factor")]:
        with pytest.raises(err, match=text):
            BoundedLoad(ring, balance_factor=bad)
    with pytest.raises(ValueError, match="rule"):
        BoundedLoad(ring, rule="envoy-ish")
    with pytest.raises(TypeError, match="view"):
        BoundedLoad(ring, view=object())
    with pytest.raises(TypeError, match="placement"):
        BoundedLoad(["a", "b"])
    with pytest.raises(ValueError, match="view"):
        BoundedLoad(ring, view=HealthView(["a", "b"]))
    bl = BoundedLoad(ring)
    with pytest.raises(ValueError, match="node"):
        bl.release("a")
    with pytest.raises(KeyError, match="node"):
        bl.in_flight("zz")
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(bl)


def test_config_loaders_keyed_selectors():
    # nginx has no balance factor; its keyed selectors still take BoundedLoad (down servers skipped).
    sel = fastroute.load_nginx("upstream u { hash $k consistent; server a:1; server b:1 down; server c:1; }", "u")
    bl = BoundedLoad(sel, balance_factor=1)
    got = [bl.acquire("x") for _ in range(4)]
    assert got[0] == sel.get_node("x") and "b:1" not in got
    assert list(sel.replicas("x", 3)) == [n for n in got[:2]]


def test_envoy_generator_is_std_mt19937():
    # C++ [rand.predef]: the 10000th output of a default-constructed std::mt19937 (seed 5489) is 4123659995.
    from tests._internals import bounded_mt19937

    gen = bounded_mt19937(5489)
    outputs = [gen.next() for _ in range(10000)]
    assert outputs[-1] == 4123659995
    assert bounded_mt19937(5489 + 2**32).next() == outputs[0]  # the seed keeps its low 32 bits, as in C++


def _envoy_walk(seed: int, n: int) -> list[int]:
    """Envoy's incremental Fisher-Yates over 0..n-1 (thread_aware_lb_impl.cc), from the C++ check-valued generator."""
    import numpy as np

    rs = np.random.RandomState(seed & 0xFFFFFFFF)
    idx, out = list(range(n)), []
    for i in range(n):
        k, x = n - i, n - i
        while x >= k:
            x = int(rs.randint(0, 2**32, dtype="uint32")) // (2**32 // k)
        idx[i], idx[i + x] = idx[i + x], idx[i]
        out.append(idx[i])
    return out


def test_envoy_rule_hand_computed():
    ring = HashRing(NODES)
    bl = BoundedLoad(ring, balance_factor=1.25, rule="envoy")
    key = "card-7"
    home = ring.get_index(key)
    # T=0: total_slots = ceil(1.25) = 2, slots = ceil(2 / 4) = 1, 0 <= 1 -> home.
    # T=1: total_slots = ceil(2.5) = 3, slots = ceil(0.75) = 1, 1 <= 1 -> home again (Envoy's <=).
    # T=2: total_slots = ceil(3.75) = 4, slots = 1, 2 > 1 -> the first other host of the seeded walk.
    walk = [i for i in _envoy_walk(fastroute.hash_key(key), 4) if i != home]
    got = [bl.acquire(key) for _ in range(3)]
    assert got == [NODES[home], NODES[home], NODES[walk[0]]]
    # T=3: total_slots = 5, slots = ceil(1.25) = 2: home has 2 <= 2 -> home.
    assert bl.acquire(key) == NODES[home]


def test_envoy_rule_bound_is_one_over_mirrokni():
    ring = Maglev([f"n{i}" for i in range(5)])
    bl = BoundedLoad(ring, balance_factor=1.5, rule="envoy")
    for t in range(200):
        node = bl.acquire(f"k{t % 3}")
        loads = bl.in_flight()
        total = sum(loads.values())
        # Envoy admits host_active <= slots, so a host may reach slots + 1 right after.
        assert loads[node] <= max(math.ceil(math.ceil(Fraction(3, 2) * total) / 5), 1) + 1
