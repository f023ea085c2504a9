# SPDX-License-Identifier: Apache-2.0
"""Slow start (docs/request_path.md §4), health-aware keyed placements (§6),
retry budget and circuit breakers (§5). Expected values are worked out by hand
(comments) or come from the placement's own replica order, never from the
code under test."""
import asyncio

import numpy as np
import pytest

import fastroute as fr


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _bring_back(view, clock, node, at):
    view.set_state(node, "down")
    view.state(node)          # a refresh sees it unavailable
    clock.t = at
    view.set_state(node, "up")
    view.state(node)          # the refresh that sees it come back starts the ramp


@pytest.mark.parametrize("aggression, at, factor", [
    (1.0, 200.0, 0.1),     # max(0.1, 0 ** 1) = min_weight_percent
    (1.0, 201.0, 0.1),     # (1/10) ** 1 = 0.1
    (1.0, 205.0, 0.5),     # (5/10) ** 1
    (2.0, 202.5, 0.5),     # (2.5/10) ** (1/2) = 0.5
    (2.0, 200.1, 0.1),     # (0.01) ** 0.5 = 0.1: the floor and the curve meet
    (1.0, 210.0, 1.0),     # window over
])
def test_envoy_slow_start_factor(aggression, at, factor):
    clock = Clock()
    view = fr.HealthView(["a", "b"], clock=clock,
                         slow_start=fr.SlowStart(window_s=10.0, aggression=aggression, min_weight_percent=10.0))
    _bring_back(view, clock, "a", 200.0)
    clock.t = at
    assert view.status("a")["slow_start_factor"] == pytest.approx(factor, rel=1e-12)
    assert view.status("b")["slow_start_factor"] == 1.0  # not applied at process start


@pytest.mark.parametrize("at, factor", [
    (200.3, 1 / 16),    # elapsed 0 s: (16*0 + 8) // 8 = 1
    (202.0, 5 / 16),    # elapsed 2 s: (32 + 8) // 8 = 5
    (207.9, 15 / 16),   # elapsed 7 s: (112 + 8) // 8 = 15
    (208.0, 1.0),       # elapsed 8 s = slowstart: full weight
])
def test_haproxy_slowstart_factor(at, factor):
    clock = Clock()
    view = fr.HealthView(["a", "b"], clock=clock, slow_start=fr.HAProxySlowStart(8.0))
    _bring_back(view, clock, "a", 200.3)
    clock.t = at
    assert view.status("a")["slow_start_factor"] == factor


def test_slow_start_weights_a_returning_node():
    # HAProxy slowstart 8 s, 2 s after coming back: factor 5/16, so SWRR weights 16, 16
    # become 5, 16; one SWRR cycle of 21 picks gives each node exactly its weight.
    clock = Clock()
    view = fr.HealthView(["a", "b"], clock=clock, slow_start=fr.HAProxySlowStart(8.0))
    _bring_back(view, clock, "a", 200.0)
    clock.t = 202.0
    sel = fr.SmoothWeightedRoundRobin(weights=[16, 16], upstream=view)
    picks = [sel.pick() for _ in range(21)]
    assert picks.count("a") == 5
    assert sel.effective_weights == (5, 16)
    clock.t = 208.0
    picks = [sel.pick() for _ in range(32)]
    assert picks.count("a") == 16


def test_slow_start_bad_settings():
    with pytest.raises(ValueError, match="window_s"):
        fr.HealthView(["a"], slow_start=fr.SlowStart(window_s=0))
    with pytest.raises(ValueError, match="aggression"):
        fr.HealthView(["a"], slow_start=fr.SlowStart(window_s=1, aggression=0))
    with pytest.raises(ValueError, match="min_weight_percent"):
        fr.HealthView(["a"], slow_start=fr.SlowStart(window_s=1, min_weight_percent=101))
    with pytest.raises(ValueError, match="slowstart_s"):
        fr.HealthView(["a"], slow_start=fr.HAProxySlowStart(float("inf")))


NODES = [f"node{i}" for i in range(5)]
KEYS = [f"card-token-{i}" for i in range(400)]


@pytest.mark.parametrize("make", [lambda: fr.HashRing(NODES), lambda: fr.Maglev(NODES, table_size=251),
                                  lambda: fr.Rendezvous(NODES), lambda: fr.JumpHash(NODES)])
def test_keys_fail_over_in_replica_order_and_come_back(make):
    placement = make()
    view = fr.HealthView(NODES, health="none")
    hp = view.placement(placement)
    before = [hp.get_node(k) for k in KEYS]
    assert before == [placement.get_node(k) for k in KEYS]
    view.set_state("node2", "down")
    view.set_state("node4", "maint")
    down = {"node2", "node4"}
    # Expected: the first node of the key's own replica order that is not down.
    expected = [next(n for n in placement.replicas(k, 5) if n not in down) for k in KEYS]
    assert [hp.get_node(k) for k in KEYS] == expected
    moved = [k for k, b, e in zip(KEYS, before, expected) if b != e]
    assert moved and all(placement.get_node(k) in down for k in moved)  # the others stay put
    names = placement.nodes
    assert [names[i] for i in hp.route(KEYS)] == expected
    assert [names[i] for i in hp.route(np.array(KEYS))] == expected
    view.set_state("node2", "up")
    view.set_state("node4", "up")
    assert [hp.get_node(k) for k in KEYS] == before
    assert [names[i] for i in hp.route(KEYS)] == before


def test_placement_failover_follows_passive_health_and_all_down_raises():
    clock = Clock()
    view = fr.HealthView(["a", "b", "c"], health={"kind": "envoy", "consecutive_failures": 1,
                                                  "max_ejection_percent": 100.0}, clock=clock)
    ring = fr.HashRing(["a", "b", "c"])
    hp = fr.HealthAware(ring, view)
    key = KEYS[0]
    primary, second, third = ring.replicas(key, 3)
    view.report(primary, ok=False)
    assert hp.get_node(key) == second
    view.report(second, ok=False)
    view.report(third, ok=False)
    with pytest.raises(fr.NoHealthyNode):
        hp.get_node(key)
    with pytest.raises(fr.NoHealthyNode):
        hp.route([key])
    clock.t += 30.0  # Envoy base ejection time: all back
    assert hp.get_node(key) == primary


def test_key_lease_reports_to_the_view_and_cancellation_reports_nothing():
    view = fr.HealthView(["a", "b", "c"], health={"kind": "envoy", "consecutive_failures": 1}, clock=Clock())
    hp = view.placement(fr.HashRing(["a", "b", "c"]))
    key = KEYS[1]
    primary = hp.get_node(key)

    async def cancelled():
        async with hp.lease(key) as node:
            assert view.in_flight(node) == 1
            raise asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled())
    assert view.state(primary) == "up" and view.in_flight(primary) == 0
    with pytest.raises(OSError):
        with hp.lease(key):
            raise OSError("reset")
    assert view.state(primary) == "ejected" and view.in_flight(primary) == 0
    assert hp.get_node(key) != primary


def test_health_aware_argument_checks():
    view = fr.HealthView(["a", "b"])
    with pytest.raises(ValueError, match="not in the view"):
        view.placement(fr.HashRing(["a", "z"]))
    with pytest.raises(TypeError, match="placement"):
        view.placement(["a", "b"])
    with pytest.raises(TypeError, match="view"):
        fr.HealthAware(fr.HashRing(["a", "b"]), object())


def test_retry_budget_ratio_minimum_and_ttl():
    # Reserve: 10/s × 10 s = 100 retries; each request adds 0.2.
    clock = Clock()
    budget = fr.RetryBudget(clock=clock)
    assert all(budget.try_retry() for _ in range(100))
    assert not budget.can_retry() and not budget.try_retry()
    for _ in range(10):
        budget.record_request()  # + 2.0
    assert budget.try_retry() and budget.try_retry() and not budget.try_retry()
    clock.t += 10.0  # one TTL later every deposit and withdrawal has expired
    assert budget.balance == 100.0


def test_retry_budget_partial_expiry_and_bad_settings():
    clock = Clock()
    budget = fr.RetryBudget(ratio=0.5, min_per_second=0, ttl_s=10.0, clock=clock)
    assert not budget.can_retry()  # no reserve, no requests
    for _ in range(4):
        budget.record_request()    # 2.0 at t=100
    clock.t = 105.0
    for _ in range(2):
        budget.record_request()    # 1.0 at t=105
    assert budget.balance == 3.0
    clock.t = 110.0                # the t=100 slice has expired
    assert budget.balance == 1.0
    with pytest.raises(ValueError, match="ttl_s"):
        fr.RetryBudget(ttl_s=0.5)
    with pytest.raises(ValueError, match="ratio"):
        fr.RetryBudget(ratio=float("nan"))
    with pytest.raises(TypeError, match="min_per_second"):
        fr.RetryBudget(min_per_second="10")


def test_circuit_breaker_limits():
    breaker = fr.CircuitBreaker(max_requests=3, max_pending_requests=1, max_retries=1, max_requests_per_node=2)
    assert breaker.try_acquire("a") and breaker.try_acquire("a")
    assert not breaker.try_acquire("a")          # per node: 2
    assert breaker.try_acquire("b", retry=True)
    assert not breaker.try_acquire("c")          # upstream: 3
    breaker.release("a")
    assert not breaker.try_acquire("c", retry=True)  # retries: 1
    assert breaker.try_acquire("c")
    assert breaker.overflows == 3
    assert breaker.try_enqueue() and not breaker.try_enqueue()
    breaker.dequeue()
    with pytest.raises(ValueError, match="dequeue"):
        breaker.dequeue()
    with pytest.raises(ValueError, match="release"):
        breaker.release("z")
    assert (breaker.active, breaker.retries, breaker.in_flight("a")) == (3, 1, 1)
    with pytest.raises(ValueError, match="max_requests"):
        fr.CircuitBreaker(max_requests=-1)


def test_view_carries_a_budget_and_a_breaker():
    view = fr.HealthView(["a"])
    assert isinstance(view.retry_budget, fr.RetryBudget) and view.retry_budget.ratio == 0.2
    assert isinstance(view.breaker, fr.CircuitBreaker) and view.breaker.max_retries == 3
    with pytest.raises(TypeError, match="breaker"):
        fr.HealthView(["a"], breaker=5)


def test_placement_lookups_during_flapping_never_raise():
    import threading

    view = fr.HealthView(NODES, health="none")
    hp = view.placement(fr.HashRing(NODES))
    placement = hp.placement
    stop = threading.Event()
    errors = []

    def flap():
        while not stop.is_set():
            view.set_state("node3", "down")
            view.set_state("node3", "up")

    def look():
        try:
            for _ in range(300):
                got = [hp.get_node(k) for k in KEYS[:50]]
                # node3 is the only node that ever goes away: every other key stays put.
                for k, node in zip(KEYS[:50], got):
                    primary = placement.get_node(k)
                    assert node == primary or (primary == "node3" and node == placement.replicas(k, 2)[1])
                hp.route(KEYS)
        except Exception as exc:  # reported below
            errors.append(exc)

    flapper = threading.Thread(target=flap)
    lookers = [threading.Thread(target=look) for _ in range(2)]
    flapper.start()
    for t in lookers:
        t.start()
    for t in lookers:
        t.join()
    stop.set()
    flapper.join()
    assert errors == []


def test_slow_start_after_a_passive_ejection_ends():
    # Envoy consecutive_failures=1, base ejection 30 s: ejected at t=100, back at t=130;
    # window 10 s, aggression 1: factor 0.1 (the floor) at 130, 0.5 at 135, 1 at 140.
    clock = Clock()
    view = fr.HealthView(["a", "b", "c"], clock=clock, slow_start=fr.SlowStart(window_s=10.0),
                         health={"kind": "envoy", "consecutive_failures": 1})
    view.report("a", ok=False)
    assert view.state("a") == "ejected"
    clock.t = 130.0
    assert view.state("a") == "up" and view.status("a")["slow_start_factor"] == 0.1
    clock.t = 135.0
    assert view.status("a")["slow_start_factor"] == 0.5
    clock.t = 140.0
    assert view.status("a")["slow_start_factor"] == 1.0


def test_lease_explicit_success_with_latency():
    clock = Clock()
    view = fr.HealthView(["a", "b"], clock=clock)
    sel = fr.RoundRobin(upstream=view)
    lease = sel.lease()
    with lease as node:
        lease.succeed(latency_s=0.125)
        clock.t += 5.0  # after the explicit outcome nothing more is measured
    assert view.latency_estimate(node) == 0.125
    lease = sel.lease()
    with pytest.raises(ValueError, match="latency_s"):
        with lease as other:
            lease.succeed(latency_s=-1.0)  # refused before anything is recorded
    # The refused value left the block as an ordinary exception: released as a failure.
    assert view.in_flight() == {"a": 0, "b": 0}
    assert view.latency_estimate(other) == 0.0


def test_route_arrow_keys_with_nulls_keeps_null_index():
    import pyarrow as pa  # a test dependency (pyproject [test])
    view = fr.HealthView(NODES, health="none")
    ring = fr.HashRing(NODES)
    hp = view.placement(ring)
    keys = KEYS[:40]
    view.set_state("node0", "down")
    arrow = pa.array(keys[:20] + [None] + keys[20:])
    got = hp.route(arrow, null_index=0)
    expected = [ring.nodes.index(next(n for n in ring.replicas(k, 5) if n != "node0")) for k in keys]
    assert got.tolist() == expected[:20] + [0] + expected[20:]


def test_failover_is_the_same_in_every_process():
    import json
    import os
    import subprocess
    import sys

    script = ("import fastroute as fr, json; nodes=[f'node{i}' for i in range(5)]; "
              "v=fr.HealthView(nodes, health='none'); hp=v.placement(fr.HashRing(nodes)); "
              "v.set_state('node1', 'down'); v.set_state('node3', 'drain');"
              "print(json.dumps([hp.get_node(f'card-token-{i}') for i in range(300)]))")
    runs = []
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout))
    assert runs[0] == runs[1] == runs[2]
    assert "node1" not in runs[0] and "node3" not in runs[0] and len(set(runs[0])) == 3
