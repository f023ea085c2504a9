# SPDX-License-Identifier: Apache-2.0
"""Balancers: exact pick sequences against the event-driven reference
(tests/reference/balancers.py, written from the upstream specifications) under
random weights, outcomes, health policies and a fake clock; nginx vectors;
weighted-random distribution; bad input."""
import random

import numpy as np
import pytest

import fastroute as fr
from tests.reference import balancers as ref

NGINX = {"kind": "nginx", "max_fails": 2, "fail_timeout": 5.0}
ENVOY = {"kind": "envoy", "consecutive_failures": 3, "interval": 4.0, "base_ejection_time": 6.0,
         "max_ejection_time": 20.0, "max_ejection_percent": 50.0}
HAPROXY = {"kind": "haproxy", "rise": 2, "fall": 2, "error_limit": 3, "on_error": "fail-check"}
# Second settings: ejections refused by the percentage, backoff at its cap, mark-down.
ENVOY_TIGHT = {"kind": "envoy", "consecutive_failures": 2, "interval": 2.0, "base_ejection_time": 3.0,
               "max_ejection_time": 7.0, "max_ejection_percent": 20.0}
HAPROXY_MARK_DOWN = {"kind": "haproxy", "rise": 3, "fall": 4, "error_limit": 2, "on_error": "mark-down"}
POLICIES = {"default": None, "none": "none", "nginx": NGINX, "envoy": ENVOY, "haproxy": HAPROXY, "envoy_tight": ENVOY_TIGHT,
            "haproxy_mark_down": HAPROXY_MARK_DOWN}


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def build(kind, names, weights, backups, policy, panic, clock, seed, events):
    """The engine's balancer and the event-driven reference for the same setup."""
    kw = dict(backups=[n for n, b in zip(names, backups) if b], health=policy, panic_threshold=panic,
              clock=clock, on_state_change=lambda e, n: events.append((e, n)))
    sim = dict(backups=list(backups), policy=policy, panic_threshold=panic, seed=seed, start=clock.t)
    ones = [1] * len(names)
    if kind == "rr":
        return fr.RoundRobin(names, **kw), ref.Simulation("rr", ones, **sim)
    if kind == "swrr":
        return fr.SmoothWeightedRoundRobin(names, weights, **kw), ref.Simulation("swrr", weights, **sim)
    if kind == "random":
        return fr.Random(names, seed=seed, **kw), ref.Simulation("random", ones, **sim)
    if kind == "wrandom":
        return fr.WeightedRandom(names, weights, seed=seed, **kw), ref.Simulation("wrandom", weights, **sim)
    if kind == "leastconn":
        return fr.LeastConnections(names, weights, **kw), ref.Simulation("leastconn", weights, **sim)
    if kind == "leastreq":
        return (fr.LeastRequest(names, weights, choice_count=3, seed=seed, **kw),
                ref.Simulation("leastreq", weights, choice_count=3, **sim))
    if kind == "leastreq_equal":
        return fr.LeastRequest(names, seed=seed, **kw), ref.Simulation("leastreq", ones, **sim)
    if kind == "ewma":
        return fr.PeakEWMA(names, decay_s=3.0, seed=seed, **kw), ref.Simulation("ewma", ones, decay_s=3.0, **sim)
    raise AssertionError(kind)


KINDS = ["rr", "swrr", "random", "wrandom", "leastconn", "leastreq", "leastreq_equal", "ewma"]


def drive(sel, event, names):
    """Applies one timeline event to the engine's balancer; returns the pick (None: NoHealthyNode)."""
    if isinstance(event, (ref.Pick, ref.Acquire)):
        try:
            return names.index(sel.pick() if isinstance(event, ref.Pick) else sel.acquire())
        except fr.NoHealthyNode:
            return None
    if isinstance(event, ref.Release):
        sel.release(names[event.node], ok=event.ok, latency_s=event.latency)
    elif isinstance(event, ref.Report):
        sel.report(names[event.node], ok=event.ok)
    elif isinstance(event, ref.Check):
        sel.report_check(names[event.node], event.ok)
    elif isinstance(event, ref.Admin):
        sel.set_state(names[event.node], event.state)
    return None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("policy_name", sorted(POLICIES))
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_exact_sequences_against_reference(kind, policy_name, seed):
    policy = POLICIES[policy_name]
    rng = random.Random(seed * 1000 + KINDS.index(kind))
    n = rng.randrange(2, 9)
    names = [f"n{i}" for i in range(n)]
    weights = [rng.randrange(1, 9) for _ in range(n)]
    backups = [False] * n
    if n > 3 and rng.random() < 0.5:
        backups[-1] = True
    panic = rng.choice([0.0, 0.0, 0.5])
    clock, events = Clock(), []
    sel, sim = build(kind, names, weights, backups, policy, panic, clock, seed, events)
    held = []
    for step in range(1500):
        op = rng.random()
        if op < 0.35:
            event = ref.Pick()
        elif op < 0.6:
            event = ref.Acquire()
        elif op < 0.8 and held:
            event = ref.Release(held.pop(rng.randrange(len(held))), rng.random() < 0.7,
                                rng.choice([None, rng.random() * 0.2]))
        elif op < 0.9:
            event = ref.Report(rng.randrange(n), rng.random() < 0.5)
        elif op < 0.93 and policy_name.startswith("haproxy"):
            event = ref.Check(rng.randrange(n), rng.random() < 0.5)
        elif op < 0.95:
            event = ref.Admin(rng.randrange(n), rng.choice(["up", "up", "down", "draining"]))
        else:
            event = ref.Advance(rng.choice([0.5, 1.0, 3.0, 7.0]))
        if isinstance(event, ref.Advance):
            clock.t += event.seconds
        want = sim.apply(event)
        got = drive(sel, event, names)
        assert got == want, (step, event)
        if isinstance(event, ref.Acquire) and got is not None:
            held.append(got)
    assert sel.active() == {names[i]: sim.active[i] for i in range(n)}
    expected_events = [(e, names[i] if i is not None else None) for e, i in sim.health.events]
    assert events == expected_events


def test_nginx_vectors():
    # docs/algorithms.md §8.1: {5,1,1} -> a a b a c a a.
    sel = fr.SmoothWeightedRoundRobin(["a", "b", "c"], [5, 1, 1])
    assert "".join(sel.pick() for _ in range(14)) == "aabacaa" * 2
    weights = [1, 2, 3, 5, 1, 8, 2]
    sel = fr.SmoothWeightedRoundRobin([f"n{i}" for i in range(7)], weights)
    picks = sel.pick_many(200).tolist()
    # By hand: current = weights -> n5 (8) wins, pays 22; then n3 (10), then n2 (9).
    assert picks[:3] == [5, 3, 2]
    sim = ref.Simulation("swrr", weights, policy={"kind": "nginx"})
    assert picks == sim.run([ref.Pick()] * 200)
    assert np.bincount(picks[:198], minlength=7).tolist() == [w * 9 for w in weights]


def test_nginx_effective_weight_drops_and_recovers():
    clock = Clock()
    sel = fr.SmoothWeightedRoundRobin(["a", "b"], [4, 4], health=fr.NginxHealth(max_fails=4, fail_timeout=10),
                                      clock=clock)
    sel.report("a", ok=False)
    assert sel.effective_weights == (3, 4)  # weight/max_fails = 1 per failure
    sel.pick()
    assert sel.effective_weights == (4, 4)  # +1 per selection round


def test_weighted_random_chi_square():
    weights = [1, 2, 3, 4, 10]
    sel = fr.WeightedRandom([f"n{i}" for i in range(5)], weights, seed=12345)
    n = 200_000
    counts = np.bincount(sel.pick_many(n), minlength=5)
    expected = np.array(weights) / sum(weights) * n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 18.47  # p = 0.001 at 4 degrees of freedom


def test_envoy_ejection_timeline():
    clock, events = Clock(), []
    sel = fr.RoundRobin([f"h{i}" for i in range(4)], health=fr.EnvoyOutlier(consecutive_failures=2,
                        base_ejection_time=30, max_ejection_time=50, max_ejection_percent=50, interval=10),
                        clock=clock, on_state_change=lambda e, n: events.append((clock.t, e, n)))
    for _ in range(2):
        sel.report("h1", ok=False)
    assert sel.state("h1") == "ejected" and "h1" not in sel.eligible()
    clock.t += 29.9
    assert sel.state("h1") == "ejected"
    clock.t += 0.1
    assert sel.state("h1") == "up"
    for _ in range(2):
        sel.report("h1", ok=False)  # second ejection: 2 x 30 s, capped at 50 s
    clock.t += 49.9
    assert sel.state("h1") == "ejected"
    clock.t += 0.1
    assert sel.eligible() == ("h0", "h1", "h2", "h3")
    assert events == [(100.0, "ejected", "h1"), (130.0, "restored", "h1"), (130.0, "ejected", "h1"),
                      (180.0, "restored", "h1")]
    # max_ejection_percent 50 % of 4: two ejected at most.
    for name in ("h0", "h2", "h3"):
        sel.report(name, ok=False)
        sel.report(name, ok=False)
    assert sum(sel.state(h) == "ejected" for h in ("h0", "h1", "h2", "h3")) == 2


def test_haproxy_rise_fall_and_error_limit():
    clock = Clock()
    sel = fr.RoundRobin(["s1", "s2"], health=fr.HAProxyHealth(rise=2, fall=3, error_limit=2, on_error="mark-down"),
                        clock=clock)
    sel.report_check("s1", False)
    sel.report_check("s1", False)
    assert sel.state("s1") == "up"
    sel.report_check("s1", False)
    assert sel.state("s1") == "ejected"
    sel.report_check("s1", True)
    assert sel.state("s1") == "ejected"
    sel.report_check("s1", True)
    assert sel.state("s1") == "up"
    sel.report("s2", ok=False)
    sel.report("s2", ok=False)  # error_limit reached: mark-down
    assert sel.state("s2") == "ejected"
    assert sel.pick() == "s1"


def test_nginx_fail_timeout_window():
    clock = Clock()
    sel = fr.SmoothWeightedRoundRobin(["a", "b"], health="nginx", clock=clock)  # max_fails 1, 10 s
    sel.report("a", ok=False)
    assert [sel.pick() for _ in range(4)] == ["b"] * 4
    clock.t += 10.0
    assert sel.state("a") == "ejected"  # now - checked <= fail_timeout
    clock.t += 0.5
    assert "a" in [sel.pick() for _ in range(3)]


@pytest.mark.parametrize("cls", [fr.SmoothWeightedRoundRobin, fr.LeastConnections])
def test_nginx_backup_takes_over_from_a_single_failed_primary(cls):
    # ngx_http_upstream_init_round_robin clears peers->single when backups exist, so a
    # lone primary is failure-accounted and its backup serves; alone it never fails.
    clock = Clock()
    sel = cls(["p", "b"], backups=["b"], health="nginx", clock=clock)
    sel.report("p", ok=False)
    assert sel.state("p") == "ejected"
    assert [sel.pick() for _ in range(3)] == ["b"] * 3
    clock.t += 10.5
    assert sel.pick() == "p"  # the probe after fail_timeout
    alone = cls(["p"], health="nginx", clock=clock)
    alone.report("p", ok=False)
    assert alone.state("p") == "up" and alone.pick() == "p"


def test_backups_and_panic():
    clock = Clock()
    sel = fr.RoundRobin(["p1", "p2", "b1"], backups=["b1"], health="haproxy", clock=clock)
    assert set(sel.pick() for _ in range(6)) == {"p1", "p2"}
    sel.set_state("p1", "down")
    sel.set_state("p2", "draining")
    assert [sel.pick() for _ in range(3)] == ["b1"] * 3
    sel.set_state("b1", "down")
    with pytest.raises(fr.NoHealthyNode):
        sel.pick()
    events = []
    panic = fr.RoundRobin(["a", "b", "c", "d"], health=fr.HAProxyHealth(fall=1), panic_threshold=0.5,
                          clock=clock, on_state_change=lambda e, n: events.append((e, n)))
    panic.report_check("a", False)
    panic.report_check("b", False)
    assert set(panic.pick() for _ in range(4)) == {"c", "d"}  # 50 % healthy: not below the threshold
    panic.report_check("c", False)
    assert set(panic.pick() for _ in range(8)) == {"a", "b", "c", "d"} and panic.in_panic
    panic.report_check("c", True)
    panic.report_check("c", True)
    panic.pick()
    assert not panic.in_panic
    assert [e for e in events if e[0].startswith("panic")] == [("panic_entered", None), ("panic_left", None)]


def test_lease_counts_and_reports():
    clock = Clock()
    sel = fr.LeastConnections(["a", "b"], health="nginx", clock=clock)
    with sel.lease() as node:
        assert sel.active(node) == 1
    assert sel.active() == {"a": 0, "b": 0}
    with pytest.raises(KeyError):
        with sel.lease():
            raise KeyError("boom")
    assert sel.state("a") == "ejected" or sel.state("b") == "ejected"  # the failure counted (max_fails 1)


def test_peak_ewma_prefers_the_fast_node():
    clock = Clock()
    sel = fr.PeakEWMA(["fast", "slow"], decay_s=10.0, seed=7, clock=clock)
    for _ in range(20):
        for name, rtt in (("fast", 0.01), ("slow", 0.5)):
            sel.report(name, latency_s=rtt)
        clock.t += 0.1
    picks = [sel.pick() for _ in range(200)]
    assert picks.count("fast") > 190  # P2C over 2 nodes compares both every time
    assert sel.latency_estimate("slow") == pytest.approx(0.5, rel=0.05)


def test_bad_input_leaves_state_unchanged():
    sel = fr.LeastConnections(["a", "b"])
    with pytest.raises(ValueError, match="without a matching acquire"):
        sel.release("a")
    with pytest.raises(ValueError, match="unknown node 'zz'"):
        sel.release("zz")
    node = sel.acquire()
    with pytest.raises(ValueError, match="latency_s"):
        sel.release(node, latency_s=-1)
    with pytest.raises(ValueError, match="latency_s"):
        sel.release(node, latency_s=float("nan"))
    assert sel.active(node) == 1  # the rejected releases changed nothing
    sel.release(node)
    with pytest.raises(ValueError, match="state"):
        sel.set_state("a", "sleeping")
    with pytest.raises(ValueError, match="report_check"):
        sel.report_check("a", True)


@pytest.mark.parametrize(
    "factory, error, fragment",
    [
        (lambda: fr.SmoothWeightedRoundRobin(["a", "b"], [1.5, 1]), TypeError, "weights[0]"),
        (lambda: fr.SmoothWeightedRoundRobin(["a", "b"], [-1, 1]), ValueError, "weights[0]"),
        (lambda: fr.WeightedRandom(["a", "b"], [float("nan"), 1]), ValueError, "weights[0]"),
        (lambda: fr.WeightedRandom(["a", "b"], [0, 0]), ValueError, "at least one"),
        (lambda: fr.RoundRobin([]), ValueError, "nodes"),
        (lambda: fr.RoundRobin(["a", "a"]), ValueError, "duplicate"),
        (lambda: fr.RoundRobin(["a"], backups=["b"]), ValueError, "backups"),
        (lambda: fr.RoundRobin(["a"], backups=["a"]), ValueError, "primary"),
        (lambda: fr.RoundRobin(["a"], panic_threshold=2), ValueError, "panic_threshold"),
        (lambda: fr.RoundRobin(["a"], health="istio"), ValueError, "unknown policy"),
        (lambda: fr.RoundRobin(["a"], health={"kind": "nginx", "max_fail": 3}), TypeError, "unknown nginx knob"),
        (lambda: fr.health_policy("envoy", consecutive_5xx=5), TypeError, "valid knobs"),
        (lambda: fr.health_policy("haproxy", on_error="explode"), ValueError, "on_error"),
        (lambda: fr.health_policy("nginx", fail_timeout=-1), ValueError, "fail_timeout"),
        (lambda: fr.LeastRequest(["a"], choice_count=0), ValueError, "choice_count"),
        (lambda: fr.PeakEWMA(["a"], decay_s=0), ValueError, "decay_s"),
        (lambda: fr.Random(["a"], seed=-1), ValueError, "seed"),
        (lambda: fr.RoundRobin(["a"], clock=5), TypeError, "clock"),
    ],
)
def test_bad_constructor_arguments(factory, error, fragment):
    with pytest.raises(error) as info:
        factory()
    assert fragment in str(info.value)


def test_balancers_refuse_pickling():
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(fr.RoundRobin(["a"]))


INTEGER_WEIGHTED = {"SmoothWeightedRoundRobin", "LeastConnections", "HAProxyRoundRobin", "HAProxyLeastConn",
                    "HAProxyFirst", "HAProxyRandom"}


BALANCER_CLASSES = [c for _, c in sorted(vars(fr.balancers).items())
                    if isinstance(c, type) and c.__module__ == "fastroute.balancers" and hasattr(c, "pick")]


@pytest.mark.parametrize("cls", BALANCER_CLASSES, ids=lambda c: c.__name__)
def test_each_balancer_declares_whether_it_needs_integer_weights(cls):
    assert len(BALANCER_CLASSES) >= 8  # the collection itself must not come up empty
    assert cls.integer_weights is (cls.__name__ in INTEGER_WEIGHTED)


@pytest.mark.parametrize("kind", ["SmoothWeightedRoundRobin", "LeastConnections", "HAProxyRoundRobin"])
def test_membership_follower_refuses_fractional_weights_for_integer_balancers(kind):
    # Regression: follow.py matched class names and missed HAProxyRoundRobin (its own int check
    # then raised a TypeError instead of this rule).
    from fastroute.membership.follow import build_balancer

    cls = getattr(fr, kind)
    with pytest.raises(ValueError, match=f"weights: {kind} needs integer weights"):
        build_balancer(cls, ["a", "b"], [1.5, 1.0])
    assert build_balancer(cls, ["a", "b"], [2.0, 1.0]).weights == (2, 1)


STANDALONE = {
    "RoundRobin": lambda nodes, **kw: fr.RoundRobin(nodes, **kw),
    "SmoothWeightedRoundRobin": lambda nodes, **kw: fr.SmoothWeightedRoundRobin(nodes, **kw),
    "Random": lambda nodes, **kw: fr.Random(nodes, seed=1, **kw),
    "WeightedRandom": lambda nodes, **kw: fr.WeightedRandom(nodes, seed=1, **kw),
    "LeastConnections": lambda nodes, **kw: fr.LeastConnections(nodes, **kw),
    "LeastRequest": lambda nodes, **kw: fr.LeastRequest(nodes, seed=1, **kw),
    "PeakEWMA": lambda nodes, **kw: fr.PeakEWMA(nodes, seed=1, **kw),
    "HAProxyRoundRobin": lambda nodes, **kw: fr.HAProxyRoundRobin(nodes, **kw),
    "HAProxyLeastConn": lambda nodes, **kw: fr.HAProxyLeastConn(nodes, **kw),
    "HAProxyFirst": lambda nodes, **kw: fr.HAProxyFirst(nodes, **kw),
    "HAProxyRandom": lambda nodes, **kw: fr.HAProxyRandom(nodes, seed=1, **kw),
}


@pytest.mark.parametrize("name", sorted(STANDALONE))
def test_every_standalone_balancer_defaults_to_envoy_outlier_detection(name):
    """docs/request_path.md §2: one default for every balancer, the same as a
    HealthView's: 5 consecutive failures eject for 30 s, at most 10 % (one
    node always ejectable); "none" turns passive health off."""
    nodes = ["a", "b", "c"]
    clock = Clock()
    sel = STANDALONE[name](nodes, clock=clock)
    view = fr.HealthView(nodes, clock=clock)
    for _ in range(4):
        sel.report("a", ok=False)
        view.report("a", ok=False)
    assert sel.state("a") == view.state("a") == "up"  # nginx's default would have ejected after one
    sel.report("a", ok=False)
    view.report("a", ok=False)
    assert sel.state("a") == view.state("a") == "ejected"
    for _ in range(5):
        sel.report("b", ok=False)  # a second ejection would exceed max_ejection_percent
    assert sel.state("b") == "up"
    clock.t += 30.0
    assert sel.state("a") == "up"
    off = STANDALONE[name](nodes, health="none", clock=clock)
    for _ in range(20):
        off.report("a", ok=False)
    assert off.state("a") == "up"
