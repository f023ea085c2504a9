# SPDX-License-Identifier: Apache-2.0
"""HAProxyLeastConn, HAProxyFirst and HAProxyRandom (docs/algorithms.md §8.6)
against the event-driven references in tests/reference/haproxy_lb.py; the
random balancer's ring lookup against the Rust chash table, its pick
distribution by χ²; load_haproxy's mapping; bad input."""
import math
import random
import warnings

import numpy as np
import pytest

import fastroute as fr
from tests._internals import ring_points
from tests.reference import haproxy_lb as ref


def chi2_critical(dof, z=3.090):
    """Wilson–Hilferty: the χ² value with upper tail p = 0.001 (z = 3.090)."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


def chi2(counts, probabilities):
    n = sum(counts)
    return sum((c - n * p) ** 2 / (n * p) for c, p in zip(counts, probabilities) if p > 0)


def name_or_none(call):
    """The node `call` picks, None when nothing can serve (HAProxy would queue)."""
    try:
        return call()
    except fr.NoHealthyNode:
        return None


def drive(sel, model, servers, rng, steps, allow_state=True):
    """Random acquire / release / pick / up-down steps on both; returns the picks."""
    names = [s.name for s in servers]
    by_name = dict(zip(names, servers))
    held, picks = [], []
    for _ in range(steps):
        action = rng.random()
        if action < 0.45:
            expected = model.pick()
            got = name_or_none(sel.acquire)
            assert got == (expected.name if expected else None), (picks[-20:], [s.served for s in servers])
            if expected is not None:
                model.take(expected)
                held.append(got)
            picks.append(got)
        elif action < 0.8 and held:
            name = held.pop(rng.randrange(len(held)))
            sel.release(name)
            model.drop(by_name[name])
        elif action < 0.95:
            expected = model.pick()
            got = name_or_none(sel.pick)
            assert got == (expected.name if expected else None)
            if expected is not None:  # a request that came and went
                model.take(expected)
                model.drop(expected)
            picks.append(got)
        elif allow_state:
            name = rng.choice(names)
            up = sel.state(name) != "up"
            sel.set_state(name, "up" if up else "down")
            model.set_up(by_name[name], up)
    return picks


def random_servers(rng, backups=False):
    n = rng.randrange(1, 9)
    ids = rng.sample(range(1, 40), n)
    return [ref.Server(f"s{i}", rng.choice([1, 1, 2, 3, 7, 256]), rng.choice([0, 0, 1, 2, 3]), ids[i],
                       backup=backups and i > 0 and rng.random() < 0.3) for i in range(n)]


def build(cls, servers, **kw):
    return cls([s.name for s in servers], [s.eweight // 16 for s in servers],
               maxconn=[s.maxconn for s in servers], backups=[s.name for s in servers if s.backup],
               health="none", **kw)


@pytest.mark.parametrize("seed", range(12))
def test_leastconn_matches_reference(seed):
    rng = random.Random(seed)
    servers = random_servers(rng, backups=seed % 2 == 1)
    sel = build(fr.HAProxyLeastConn, servers)
    picks = drive(sel, ref.LeastConn(servers), servers, rng, 3000)
    assert len(set(picks)) > 1 or len(servers) == 1


@pytest.mark.parametrize("seed", range(12))
def test_first_matches_reference(seed):
    rng = random.Random(100 + seed)
    servers = random_servers(rng, backups=seed % 2 == 1)
    sel = build(fr.HAProxyFirst, servers, server_ids=[s.puid for s in servers])
    drive(sel, ref.First(servers), servers, rng, 3000)


def test_leastconn_release_order_decides_ties():
    # Regression (the view's load stamps): two servers freed in the order b, a are
    # re-queued in that order, so b is picked before a among the idle servers.
    sel = fr.HAProxyLeastConn(["a", "b", "c"], health="none")
    held = [sel.acquire() for _ in range(3)]
    assert held == ["a", "b", "c"]
    sel.release("b")
    sel.release("a")
    assert [sel.acquire(), sel.acquire()] == ["b", "a"]


def test_leastconn_plus_one_before_compare():
    # Keys (inflight + 1) * 4096 / eweight, by hand: light (weight 1, eweight 16) with one
    # connection is 2 * 4096 / 16 = 512; heavy (weight 3, eweight 48) with n is (n + 1) * 85.33:
    # 170, 256, 341, 426 stay below 512, and at n = 5 it is 512 too: the tie goes to light,
    # queued earlier. Without the +1 (n * 4096 / eweight) light would be 256 and take the 5th.
    sel = fr.HAProxyLeastConn(["light", "heavy"], [1, 3], health="none")
    got = [sel.acquire() for _ in range(7)]
    assert got == ["light"] + ["heavy"] * 5 + ["light"]


def test_first_follows_ids_and_maxconn():
    sel = fr.HAProxyFirst(["a", "b", "c"], maxconn={"b": 2, "c": 1}, server_ids=[30, 10, 20], health="none")
    assert [sel.acquire() for _ in range(5)] == ["b", "b", "c", "a", "a"]
    sel.release("b")
    assert sel.pick() == "b"
    assert sel.maxconn == (0, 2, 1)


def test_backup_rule_is_first_usable_backup():
    for cls in (fr.HAProxyLeastConn, fr.HAProxyFirst, fr.HAProxyRandom):
        sel = cls(["p", "b1", "b2"], backups=["b2", "b1"], health="none")
        sel.set_state("p", "down")
        assert {sel.acquire() for _ in range(5)} == {"b1"}, cls


def random_values(n, seed):
    return np.random.default_rng(seed).integers(0, 2**32, n, dtype=np.uint64)


@pytest.mark.parametrize("seed", range(4))
def test_random_ring_lookup_matches_rust_chash(seed):
    rng = random.Random(seed)
    n = rng.randrange(1, 10)
    names = [f"s{i}" for i in range(n)]
    weights = [rng.randrange(0 if i else 1, 5) for i in range(n)]
    ids = rng.sample(range(1, 5000), n)
    sel = fr.HAProxyRandom(names, weights, server_ids=ids, health="none")
    pointed = [i for i in range(n) if weights[i]]
    table = fr.placement.HAProxyConsistentHash([names[i] for i in pointed], [weights[i] for i in pointed],
                                               server_ids=[ids[i] for i in pointed])
    points = ring_points(table)[0].astype(np.uint64)
    edges = np.unique(np.concatenate([points, (points + 1) % 2**32, (points - 1) % 2**32,
                                      (points // 2 + np.roll(points, -1) // 2) % 2**32,
                                      np.array([0, 2**32 - 1], dtype=np.uint64)]))
    values = np.concatenate([random_values(100_000, seed), edges])
    expected = np.asarray(pointed)[table.route_hashed(values)]
    assert (sel._ring_owners(values) == expected).all()
    # Servers taken down leave the tree: the lookup is the Rust table over the rest.
    down = [i for i in pointed[1:] if rng.random() < 0.5]
    for i in down:
        sel.set_state(names[i], "down")
    rest = [i for i in pointed if i not in down]
    table = fr.placement.HAProxyConsistentHash([names[i] for i in rest], [weights[i] for i in rest],
                                               server_ids=[ids[i] for i in rest])
    assert (sel._ring_owners(values) == np.asarray(rest)[table.route_hashed(values)]).all()


def ring_shares(names, weights, ids):
    table = fr.placement.HAProxyConsistentHash(names, weights, server_ids=ids)
    points, owners = ring_points(table)
    points = [int(p) for p in points]
    shares = [0.0] * len(names)
    # Each arc between consecutive points splits at its middle (ties to the point before).
    for k, p in enumerate(points):
        q = points[(k + 1) % len(points)]
        gap = (q - p) % 2**32 if len(points) > 1 else 2**32
        h = p + gap // 2  # last value owned by p's side
        assert ref.chash_lookup(points, owners, [True] * len(names), h % 2**32) == owners[k]
        assert ref.chash_lookup(points, owners, [True] * len(names), (h + 1) % 2**32) == owners[(k + 1) % len(points)]
        shares[owners[k]] += gap // 2  # p + 1 .. p + gap // 2
        shares[owners[(k + 1) % len(points)]] += gap - gap // 2  # the rest, q itself included
    total = sum(shares)
    return [s / total for s in shares]


@pytest.mark.parametrize("draws", [1, 2, 3])
def test_random_distribution_chi_square(draws):
    names, weights, ids = ["a", "b", "c", "d"], [1, 2, 1, 3], [1, 2, 3, 4]
    sel = fr.HAProxyRandom(names, weights, draws=draws, seed=draws, health="none")
    shares = ring_shares(names, weights, ids)
    # Idle servers: every draw ties, the last draw wins, so picks follow the ring shares.
    counts = np.bincount(sel.pick_many(200_000), minlength=4)
    assert chi2(counts, shares) < chi2_critical(3)
    # Requests held open: a, b, c, d serve 3, 1, 0, 2.
    held = {"a": 3, "b": 1, "c": 0, "d": 2}
    for name, count in held.items():
        for _ in range(count):
            sel.upstream.acquire(name)
    served = [held[n] for n in names]
    expected = ref.random_draws_distribution(shares, served, [w * 16 for w in weights], draws)
    counts = np.bincount(sel.pick_many(200_000), minlength=4)
    assert chi2(counts, expected) < chi2_critical(3)
    if draws > 1:  # the load really moved the picks away from the ring shares
        assert chi2(counts, shares) > 10 * chi2_critical(3)


def test_random_full_server_means_none():
    sel = fr.HAProxyRandom(["a"], maxconn=[1], seed=3, health="none")
    assert sel.acquire() == "a"
    with pytest.raises(fr.NoHealthyNode):
        sel.pick()


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(maxconn=[1, -1]), ValueError, r"maxconn\['b'\]"),
    (dict(maxconn={1, 2}), TypeError, "unordered"),
    (dict(maxconn=[1]), ValueError, "one per node"),
    (dict(maxconn={"z": 1}), ValueError, "not among the nodes"),
    (dict(maxconn="12"), TypeError, "maxconn"),
])
def test_bad_maxconn(kwargs, error, match):
    for cls in (fr.HAProxyLeastConn, fr.HAProxyFirst, fr.HAProxyRandom):
        with pytest.raises(error, match=match):
            cls(["a", "b"], **kwargs)


def test_bad_ids_draws_weights():
    with pytest.raises(ValueError, match="distinct"):
        fr.HAProxyFirst(["a", "b"], server_ids=[3, 3])
    with pytest.raises(ValueError, match=r"server_ids\['a'\]"):
        fr.HAProxyRandom(["a", "b"], server_ids=[0, 3])
    for draws in (0, 1025):
        with pytest.raises(ValueError, match="draws"):
            fr.HAProxyRandom(["a"], draws=draws)
    with pytest.raises(TypeError, match="draws"):
        fr.HAProxyRandom(["a"], draws=2.0)
    with pytest.raises(ValueError, match="weights"):
        fr.HAProxyLeastConn(["a"], [257])


HAPROXY_TEXT = """backend be
    balance {balance}
    server a 10.0.0.1:80 weight 2 maxconn 3 id 7
    server b 10.0.0.2:80 maxconn 1 id 2
    server c 10.0.0.3:80 weight 3
    server d 10.0.0.4:80 backup
"""


@pytest.mark.parametrize("balance, cls", [("leastconn", fr.HAProxyLeastConn), ("first", fr.HAProxyFirst),
                                          ("random", fr.HAProxyRandom), ("random(5)", fr.HAProxyRandom)])
def test_load_haproxy_maps_stateful_balancers(balance, cls):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "closest balancer" warning any more
        sel = fr.load_haproxy(HAPROXY_TEXT.format(balance=balance), "be")
    assert type(sel).__name__ == cls.__name__ and isinstance(sel, cls)
    assert sel.maxconn == (3, 1, 0, 0) and sel.weights == (2, 1, 3, 1) and sel.backups == ("d",)
    if balance == "first":  # ids: b is 2, c takes the lowest free id (1), a is 7
        assert [sel.acquire() for _ in range(3)] == ["c", "c", "c"]
        sel.set_state("c", "down")
        assert [sel.acquire() for _ in range(4)] == ["b", "a", "a", "a"]
    if balance == "leastconn":
        assert [sel.acquire() for _ in range(4)] == ["a", "b", "c", "c"]


def test_load_haproxy_random_draws():
    with pytest.raises(ValueError, match="number of draws"):
        fr.load_haproxy(HAPROXY_TEXT.format(balance="random(0)"), "be")
    with pytest.raises(ValueError, match="number of draws"):
        fr.load_haproxy(HAPROXY_TEXT.format(balance="random(x)"), "be")


def test_load_haproxy_connection_limits():
    text = ("backend be\n    balance {}\n    server a 10.0.0.1:80 maxconn 2 maxqueue 3\n"
            "    server b 10.0.0.2:80 minconn 4\n    server c 10.0.0.3:80 maxqueue 5\n")
    # leastconn skips a server at maxconn + maxqueue (served + queued); minconn alone becomes maxconn
    assert fr.load_haproxy(text.format("leastconn"), "be").maxconn == (5, 4, 0)
    assert fr.load_haproxy(text.format("first"), "be").maxconn == (2, 4, 0)
    dynamic = "backend be\n    balance first\n    server a 10.0.0.1:80 maxconn 8 minconn 2\n"
    with pytest.warns(fr.config.UnsupportedDirectiveWarning, match="minconn other than maxconn"):
        fr.load_haproxy(dynamic, "be")
    with pytest.raises(ValueError, match="maxconn with slowstart"):
        fr.load_haproxy(dynamic.replace("minconn 2", "slowstart 10s"), "be", strict=True)
