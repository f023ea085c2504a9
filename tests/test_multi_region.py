# SPDX-License-Identifier: Apache-2.0
"""Issue 18: localities, Envoy priority levels, panic, degraded endpoints,
zone-aware and locality-weighted balancing (docs/multi_region.md).

Expected shares are copied from Envoy's documentation tables
(docs/root/intro/arch_overview/upstream/load_balancing/{priority,degraded,
panic_threshold}.rst; envoyproxy.io "Priority levels", "Degraded endpoints",
"Panic threshold") and from the comment example in Envoy's
source/common/upstream/load_balancer_impl.cc; sampled distributions get a χ² test."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

import fastroute
from fastroute import HealthView, Locality, LocalityBalancer, NoHealthyNode
from fastroute._locality import envoy_priority_loads, envoy_zone_routing
from fastroute.membership import Member
from tests.reference import envoy_priority as ref


def chi2_critical(df: int) -> float:
    """χ² quantile at p = 0.001 (Wilson–Hilferty; within 1 % for df >= 1)."""
    z = 3.090232
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi2(counts, shares) -> tuple[float, int]:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    stat, df = 0.0, -1
    for c, s in zip(counts, shares):
        if s == 0:
            assert c == 0, "a zero-share bucket was picked"
            continue
        e = s * total
        stat += (c - e) ** 2 / e
        df += 1
    return stat, max(df, 1)


def loads(healthy, hosts, degraded=None, panic_threshold=50):
    degraded = degraded or [0] * len(hosts)
    return envoy_priority_loads(healthy, degraded, hosts, 140, panic_threshold)


def level_loads(healthy, hosts):
    """The priority-level page describes the load split alone: panic off (its own page)."""
    return loads(healthy, hosts, panic_threshold=0)


# ---- Envoy "Priority levels" tables (100 hosts per level, so a percent is a count) ----
PRIORITY_TWO_LEVELS = [  # P=0 healthy, traffic P=0, traffic P=1 (P=1 100 % healthy)
    (100, 100, 0), (72, 100, 0), (71, 99, 1), (50, 70, 30), (25, 35, 65), (0, 0, 100)]
PRIORITY_NORMALIZED = [  # P=0 healthy, P=1 healthy, traffic P=0, traffic P=1
    (100, 100, 100, 0), (72, 72, 100, 0), (71, 71, 99, 1), (50, 50, 70, 30), (25, 100, 35, 65), (25, 25, 50, 50)]
PRIORITY_THREE_LEVELS = [  # healthy P=0, P=1, P=2, traffic P=0, P=1, P=2
    (100, 100, 100, 100, 0, 0), (72, 72, 100, 100, 0, 0), (71, 71, 100, 99, 1, 0), (50, 50, 100, 70, 30, 0),
    (25, 100, 100, 35, 65, 0), (25, 25, 100, 35, 35, 30), (25, 25, 20, 36, 36, 28)]
# The last row rounds each share to nearest (35.7 → 36); Envoy's code floors each share and gives
# the remainder to the first healthy level (distributeLoad + recalculatePerPriorityState):
# 35 + 2, 35, 28. docs/multi_region.md §2.3.
PRIORITY_PAGE_ERRATA = {(25, 25, 20): (37, 35, 28)}


@pytest.mark.parametrize("p0, to_p0, to_p1", PRIORITY_TWO_LEVELS)
def test_priority_table_two_levels(p0, to_p0, to_p1):
    assert level_loads([p0, 100], [100, 100])[2] == (to_p0, to_p1)


@pytest.mark.parametrize("p0, p1, to_p0, to_p1", PRIORITY_NORMALIZED)
def test_priority_table_normalized_total_health(p0, p1, to_p0, to_p1):
    assert level_loads([p0, p1], [100, 100])[2] == (to_p0, to_p1)


@pytest.mark.parametrize("row", PRIORITY_THREE_LEVELS)
def test_priority_table_three_levels(row):
    got = level_loads(list(row[:3]), [100, 100, 100])[2]
    if row[:3] in PRIORITY_PAGE_ERRATA:
        assert got == PRIORITY_PAGE_ERRATA[row[:3]] != row[3:]
    else:
        assert got == row[3:]


def test_priority_prose_examples():
    # "when 50% of P=0 endpoints are healthy, they will receive 50 * 1.4 = 70% of the traffic";
    # "health of {20, 30} (normalized total health of 50) would be normalized, and result in
    # priority loads of {40%, 60%}" — with 140 hosts per level the health score is the healthy count.
    assert level_loads([50, 100], [100, 100])[0] == (70, 100)
    assert level_loads([20, 30], [140, 140])[0] == (20, 30)
    assert level_loads([20, 30], [140, 140])[2] == (40, 60)


# ---- "Degraded endpoints": P=0 healthy/degraded/unhealthy → traffic to healthy, degraded ----
DEGRADED = [((100, 0, 0), 100, 0), ((71, 0, 29), 100, 0), ((71, 29, 0), 99, 1), ((25, 65, 10), 35, 65),
            ((5, 0, 95), 100, 0)]


@pytest.mark.parametrize("split, to_healthy, to_degraded", DEGRADED)
def test_degraded_table(split, to_healthy, to_degraded):
    h, d, _ = split
    _, _, hload, dload, _ = envoy_priority_loads([h], [d], [100])
    assert (hload[0], dload[0]) == (to_healthy, to_degraded)


# ---- "Panic threshold" (default 50 %) ----
# P=1 100 % healthy: normalized total health always 100 %, no panic.
PANIC_P1_HEALTHY = [(72, 100, 0), (71, 99, 1), (50, 70, 30), (25, 35, 65), (0, 0, 100)]
# P=0 healthy, P=1 healthy, traffic P=0, P=0 panic, traffic P=1, P=1 panic, normalized total health
PANIC_BOTH = [(72, 72, 100, False, 0, False, 100), (71, 71, 99, False, 1, False, 100),
              (50, 60, 50, False, 50, False, 100), (25, 100, 25, False, 75, False, 100),
              (25, 25, 50, True, 50, True, 70), (5, 65, 7, True, 93, False, 98)]
# Rows whose traffic columns disagree with Envoy's own algorithm and with the priority-level
# page's tables (e.g. 25 % / 100 % is 35 / 65 there): docs/multi_region.md §2.3. Envoy's code
# gives these numbers; the panic flags and normalized health in those rows do match.
PANIC_PAGE_ERRATA = {(50, 60): (70, 30), (25, 100): (35, 65), (5, 65): (8, 92)}


@pytest.mark.parametrize("p0, to_p0, to_p1", PANIC_P1_HEALTHY)
def test_panic_table_p1_healthy(p0, to_p0, to_p1):
    health, _, hload, _, panic = loads([p0, 100], [100, 100])
    assert hload == (to_p0, to_p1) and panic == (False, False) and min(100, sum(health)) == 100


@pytest.mark.parametrize("row", PANIC_BOTH)
def test_panic_table_both_levels(row):
    p0, p1, to_p0, panic0, to_p1, panic1, normalized = row
    health, _, hload, _, panic = loads([p0, p1], [100, 100])
    assert panic == (panic0, panic1)
    assert min(100, sum(health)) == normalized
    if (p0, p1) in PANIC_PAGE_ERRATA:
        assert hload == PANIC_PAGE_ERRATA[(p0, p1)] != (to_p0, to_p1)
    else:
        assert hload == (to_p0, to_p1)


def test_all_levels_down():
    # Every host down, panic threshold > 0: total panic, load by host count (Envoy
    # recalculateLoadInTotalPanic), rounding to the first non-empty level.
    assert loads([0, 0, 0], [1, 1, 1])[2:] == ((34, 33, 33), (0, 0, 0), (True, True, True))
    assert loads([0, 0], [3, 1])[2] == (75, 25)
    # Panic threshold 0: no panic, 100 % to P=0 (nothing will serve: "no healthy upstream").
    assert envoy_priority_loads([0, 0], [0, 0], [4, 4], 140, 0)[2:] == ((100, 0), (0, 0), (False, False))


def test_kernel_matches_reference():
    rng = random.Random(18)
    for _ in range(3000):
        levels = rng.randint(1, 5)
        hosts = [rng.randint(0, 12) for _ in range(levels)]
        if not any(hosts):
            hosts[0] = 1
        healthy = [rng.randint(0, n) for n in hosts]
        degraded = [rng.randint(0, n - h) for n, h in zip(hosts, healthy)]
        factor = rng.choice([100, 140, 200])
        threshold = rng.choice([0, 50, 80])
        assert envoy_priority_loads(healthy, degraded, hosts, factor, threshold) == \
            ref.priority_loads(healthy, degraded, hosts, factor, threshold), (healthy, degraded, hosts)
        got = envoy_priority_loads(healthy, degraded, hosts, factor, threshold)
        assert sum(got[2]) + sum(got[3]) == 100


# ---- zone-aware routing (Envoy regenerateLocalityRoutingStructures) ----
def test_zone_routing_source_example():
    # load_balancer_impl.cc comment: local 40/40/20 %, upstream 25/50/25 % → route 62.5 % locally,
    # residual capacity 0, 10 %, 5 % (cumulative 0, 10 %, 15 %), in basis points.
    assert envoy_zone_routing([40, 40, 20], [25, 50, 25]) == (2, 6250, (0, 1000, 1500))
    assert ref.zone_routing([40, 40, 20], [25, 50, 25]) == (2, 6250, (0, 1000, 1500))


def test_zone_routing_rules():
    assert envoy_zone_routing([1, 1], [4, 2])[0] == 1           # upstream local share ≥ local share: direct
    assert envoy_zone_routing([1, 1], [2, 2], 6)[0] == 0         # 4 healthy < min_cluster_size 6
    assert envoy_zone_routing([1, 1], [3, 3], 6)[0] == 1
    assert envoy_zone_routing([1, 1], [0, 9])[0] == 0            # no healthy host in the local zone
    assert envoy_zone_routing([1], [9])[0] == 0                   # one locality
    rng = random.Random(6)
    for _ in range(500):
        k = rng.randint(1, 6)
        local = [rng.randint(0, 20) for _ in range(k)]
        up = [rng.randint(0, 20) for _ in range(k)]
        assert envoy_zone_routing(local, up, 6) == ref.zone_routing(local, up, 6)


# ---- LocalityBalancer ----
def members(spec):
    """spec: list of (name, 'region/zone', priority)."""
    return [Member(n, metadata={"locality": loc, "priority": p}) for n, loc, p in spec]


TWO_LEVELS = members([(f"a{i}", "eu/eu-1a", 0) for i in range(10)] + [(f"b{i}", "us/us-1a", 1) for i in range(10)])


def counts_by(picks, key):
    out = {}
    for p in picks:
        out[key(p)] = out.get(key(p), 0) + 1
    return out


@pytest.mark.parametrize("kind", sorted(fastroute.locality.BALANCERS))
def test_every_balancer_spills_70_30(kind):
    lb = LocalityBalancer(TWO_LEVELS, kind, seed=7)
    for i in range(5):
        lb.set_state(f"a{i}", "down")
    assert lb.loads()["healthy_load"] == (70, 30)
    picks = [lb.pick() for _ in range(20000)]
    assert all(p not in {f"a{i}" for i in range(5)} for p in picks)
    c = counts_by(picks, lambda p: p[0])
    stat, df = chi2([c.get("a", 0), c.get("b", 0)], [0.7, 0.3])
    assert stat < chi2_critical(df), (kind, c)


def test_locality_weighted_shares():
    ms = members([("x0", "r1/z1", 0), ("x1", "r1/z1", 0), ("y0", "r1/z2", 0), ("y1", "r1/z2", 0),
                  ("z0", "r2/z3", 0), ("z1", "r2/z3", 0)])
    lb = LocalityBalancer(ms, "round_robin", locality_weights={"r1/z1": 1, "r1/z2": 2, "r2/z3": 1}, seed=3)
    lb.set_state("y0", "down")  # z2 at 50 %: effective weight 2 × min(1, 1.4 × 0.5) = 1.4
    assert lb.loads()["locality_healthy_weight"] == (1.0, 2 * (1.4 * 0.5), 1.0)
    picks = [lb.pick() for _ in range(30000)]
    c = counts_by(picks, lambda p: p[0])
    shares = [1 / 3.4, 1.4 / 3.4, 1 / 3.4]
    stat, df = chi2([c["x"], c["y"], c["z"]], shares)
    assert stat < chi2_critical(df), c
    assert "y0" not in picks


def test_degraded_members_take_the_remainder():
    ms = [Member(f"h{i}", metadata={"zone": "z", "region": "r"}) for i in range(100)]
    lb = LocalityBalancer(ms, "random", seed=11)
    for i in range(25, 90):      # 25 % healthy, 65 % degraded, 10 % unhealthy (Envoy's table row)
        lb.set_degraded(f"h{i}")
    for i in range(90, 100):
        lb.set_state(f"h{i}", "down")
    st = lb.loads()
    assert (st["healthy_load"], st["degraded_load"]) == ((35,), (65,))
    picks = [lb.pick() for _ in range(20000)]
    healthy = sum(1 for p in picks if int(p[1:]) < 25)
    degraded = sum(1 for p in picks if 25 <= int(p[1:]) < 90)
    assert healthy + degraded == len(picks)
    stat, df = chi2([healthy, degraded], [0.35, 0.65])
    assert stat < chi2_critical(df)


def test_panic_level_routes_over_all_its_members():
    # P=0 5 % healthy, P=1 65 %: P=0 in panic (picks any P=0 member), load 8 / 92.
    ms = members([(f"a{i:02d}", "r/a", 0) for i in range(20)] + [(f"b{i:02d}", "r/b", 1) for i in range(20)])
    lb = LocalityBalancer(ms, "round_robin", seed=1)
    for i in range(1, 20):
        lb.view.report_check(f"a{i:02d}", False)
        for _ in range(3):
            lb.view.report_check(f"a{i:02d}", False)
    for i in range(13, 20):
        for _ in range(3):
            lb.view.report_check(f"b{i:02d}", False)
    st = lb.loads()
    assert st["panic"] == (True, False)
    assert st["healthy_load"] == ref.priority_loads([1, 13], [0, 0], [20, 20])[2]
    picks = [lb.pick() for _ in range(5000)]
    a = {p for p in picks if p[0] == "a"}
    assert len(a) == 20  # panic: unhealthy P=0 members serve too
    assert all(int(p[1:]) < 13 for p in picks if p[0] == "b")


def test_all_down_with_panic_threshold_zero_raises():
    lb = LocalityBalancer(members([("a", "r/z", 0), ("b", "r/z", 1)]), panic_threshold=0)
    lb.set_state("a", "down")
    lb.set_state("b", "down")
    with pytest.raises(NoHealthyNode):
        lb.pick()


def test_zone_aware_shares():
    # Upstream P=0: 2 hosts in the local zone, 6 + 2 elsewhere; the calling cluster has
    # 4 / 4 / 2 hosts there: local 2500 bp vs 4000 bp → 6250 locally; residual 0, 2000, 0.
    ms = members([(f"l{i}", "r/local", 0) for i in range(2)] + [(f"m{i}", "r/m", 0) for i in range(6)]
                 + [(f"n{i}", "r/n", 0) for i in range(2)])
    lb = LocalityBalancer(ms, "least_request", local_zone="r/local", local_cluster={"r/local": 4, "r/m": 4, "r/n": 2},
                          seed=5)
    st = lb.loads()
    assert (st["zone_state"], st["local_percent_to_route"]) == ref.zone_routing([4, 4, 2], [2, 6, 2])[:2]
    assert st["residual_capacity"] == ref.zone_routing([4, 4, 2], [2, 6, 2])[2]
    shares = ref.zone_shares(*ref.zone_routing([4, 4, 2], [2, 6, 2]))
    picks = [lb.pick() for _ in range(30000)]
    c = counts_by(picks, lambda p: p[0])
    stat, df = chi2([c.get("l", 0), c.get("m", 0), c.get("n", 0)], shares)
    assert stat < chi2_critical(df), (c, shares)


def test_zone_aware_below_min_cluster_size_is_plain():
    ms = members([("l0", "r/local", 0), ("m0", "r/m", 0), ("m1", "r/m", 0), ("m2", "r/m", 0)])
    lb = LocalityBalancer(ms, "round_robin", local_zone="r/local", local_cluster={"r/local": 9, "r/m": 1})
    assert lb.loads()["zone_state"] == 0
    picks = [lb.pick() for _ in range(400)]
    assert counts_by(picks, lambda p: p) == {"l0": 100, "m0": 100, "m1": 100, "m2": 100}


def test_zone_aware_routing_enabled_zero_is_plain():
    ms = members([(f"l{i}", "r/local", 0) for i in range(3)] + [(f"m{i}", "r/m", 0) for i in range(3)])
    on = LocalityBalancer(ms, "round_robin", local_zone="r/local", local_cluster={"r/local": 1, "r/m": 1})
    off = LocalityBalancer(ms, "round_robin", local_zone="r/local", local_cluster={"r/local": 1, "r/m": 1},
                           routing_enabled=0)
    assert on.loads()["zone_state"] == 1  # equal shares: direct
    assert {on.pick()[0] for _ in range(60)} == {"l"}
    assert {off.pick()[0] for _ in range(60)} == {"l", "m"}


def test_zone_going_dark_shifts_within_one_refresh():
    ms = members([(f"{z}{i}", f"r/{z}", 0) for z in "abc" for i in range(3)])
    lb = LocalityBalancer(ms, "least_request", locality_weights={"r/a": 1, "r/b": 1, "r/c": 1}, seed=2)
    assert {lb.pick()[0] for _ in range(300)} == {"a", "b", "c"}
    for i in range(3):
        lb.set_state(f"b{i}", "down")
    picks = [lb.pick() for _ in range(3000)]  # the very next pick already avoids zone b
    assert {p[0] for p in picks} == {"a", "c"}
    for i in range(3):
        lb.set_state(f"b{i}", "up")
    assert "b" in {lb.pick()[0] for _ in range(300)}


def test_shared_view_with_other_balancers():
    view = HealthView([m.name for m in TWO_LEVELS])
    lb = LocalityBalancer(TWO_LEVELS, "p2c", view=view)
    plain = fastroute.LeastRequest(upstream=view)
    for i in range(10):
        view.set_state(f"a{i}", "down")
    assert {lb.pick()[0] for _ in range(100)} == {"b"}
    assert {plain.pick()[0] for _ in range(100)} == {"b"}
    node = lb.acquire()
    assert view.in_flight(node) == 1
    lb.release(node, True, 0.01)
    assert view.in_flight(node) == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="local_zone"):
        LocalityBalancer(TWO_LEVELS, local_zone="nowhere/x", local_cluster={"nowhere/x": 1})
    with pytest.raises(ValueError, match="local_cluster"):
        LocalityBalancer(TWO_LEVELS, local_zone="eu/eu-1a", local_cluster={"eu/eu-1a": 1, "us/us-1a": 1})
    with pytest.raises(ValueError, match="locality_weights: no weight"):
        LocalityBalancer(TWO_LEVELS, locality_weights={"eu/eu-1a": 1})
    with pytest.raises(ValueError, match="balancer"):
        LocalityBalancer(TWO_LEVELS, "fastest")
    with pytest.raises(TypeError, match="members"):
        LocalityBalancer({"a", "b"})
    with pytest.raises(ValueError, match="overprovisioning_factor"):
        LocalityBalancer(TWO_LEVELS, overprovisioning_factor=1.405)
    with pytest.raises(ValueError, match="panic_threshold"):
        LocalityBalancer(TWO_LEVELS, panic_threshold=150)
    with pytest.raises(ValueError, match="backups"):
        LocalityBalancer(TWO_LEVELS, view=HealthView([m.name for m in TWO_LEVELS], backups=["b0"]))
    with pytest.raises(ValueError, match="panic_threshold must be 0"):
        LocalityBalancer(TWO_LEVELS, view=HealthView([m.name for m in TWO_LEVELS], panic_threshold=0.5))
    with pytest.raises(ValueError, match="priority"):
        LocalityBalancer([Member("a", metadata={"priority": -1})])
    with pytest.raises(TypeError):
        pickle_me = LocalityBalancer(TWO_LEVELS)
        import pickle
        pickle.dumps(pickle_me)


# ---- localities from metadata ----
def test_locality_parse_and_metadata():
    assert Locality.parse("eu-west/eu-west-1a") == Locality("eu-west", "eu-west-1a")
    assert str(Locality("eu", "eu-1a", "rack7")) == "eu/eu-1a/rack7"
    loc = fastroute.locality_of(Member("n", metadata={"region": "eu", "zone": "eu-1a"}))
    assert loc == Locality("eu", "eu-1a") and loc.level("region") == ("eu",) and loc.level("zone") == ("eu", "eu-1a")
    assert fastroute.locality_of(Member("n")) == Locality()
    with pytest.raises(ValueError, match="disagrees"):
        fastroute.locality_of(Member("n", metadata={"locality": "eu/a", "zone": "b", "region": "eu"}))
    assert Locality(zone="z").level("zone") == ("", "z")  # old cluster files: zone metadata alone
    with pytest.raises(ValueError, match="needs a zone"):
        Locality("r", sub_zone="s")
    with pytest.raises(ValueError, match="locality"):
        Locality.parse("a//b")


def test_seeded_picks_repeat():
    def run():
        lb = LocalityBalancer(TWO_LEVELS, "random", locality_weights={"eu/eu-1a": 1, "us/us-1a": 1}, seed=99)
        for i in range(6):
            lb.set_state(f"a{i}", "down")
        return [lb.pick() for _ in range(500)]
    first = run()
    assert first == run() and len(set(first)) > 5
