# SPDX-License-Identifier: Apache-2.0
"""One health and load view per upstream (issue 14, docs/request_path.md §1-§2):
balancers over one HealthView share every report, in-flight count and state
change; agent words, weight percentages, active checks under any policy.
Expected values are worked out by hand in the comments."""
import threading

import pytest

import fastroute as fr


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_one_report_updates_the_shared_view_once():
    # Default policy: Envoy consecutive failures (5). Reports through two balancers add
    # up in one counter: 3 + 1 failures leave "a" up, the fifth ejects it for both.
    view = fr.HealthView(["a", "b", "c"], clock=Clock())
    reads = fr.LeastRequest(upstream=view, seed=1)
    writes = fr.SmoothWeightedRoundRobin(weights=[5, 1, 1], upstream=view)
    for _ in range(3):
        reads.report("a", ok=False)
    writes.report("a", ok=False)
    assert view.state("a") == "up"
    writes.report("a", ok=False)
    assert view.state("a") == reads.state("a") == writes.state("a") == "ejected"
    assert "a" not in {reads.pick() for _ in range(50)} | {writes.pick() for _ in range(50)}


def test_in_flight_is_shared_between_balancers():
    view = fr.HealthView(["a", "b"], health="none")
    first = fr.LeastConnections(upstream=view)
    second = fr.LeastConnections(upstream=view)
    node = first.acquire()
    assert second.active() == {node: 1, ({"a", "b"} - {node}).pop(): 0}
    other = second.acquire()
    assert other != node  # least connections sees the other balancer's request
    first.release(node)
    second.release(other)
    assert view.in_flight() == {"a": 0, "b": 0}


def test_nginx_penalty_applies_to_each_balancer_weight_once():
    # nginx lowers the effective weight by weight // max_fails per failure:
    # weights 4,2,2 with max_fails 2 -> a: 4 - 2 = 2; weights 1,1,1 -> 1 // 2 = 0, stays 1.
    view = fr.HealthView(["a", "b", "c"], health={"kind": "nginx", "max_fails": 2}, clock=Clock())
    heavy = fr.SmoothWeightedRoundRobin(weights=[4, 2, 2], upstream=view)
    light = fr.SmoothWeightedRoundRobin(upstream=view)
    view.report("a", ok=False)
    assert heavy.effective_weights == (2, 2, 2)
    assert light.effective_weights == (1, 1, 1)
    view.report("a", ok=False)  # max_fails reached: failed for fail_timeout
    assert view.state("a") == "ejected"
    assert heavy.effective_weights == (0, 2, 2)


def test_active_checks_work_under_every_policy():
    view = fr.HealthView(["a", "b"], health="envoy", rise=2, fall=3, clock=Clock())
    sel = fr.RoundRobin(upstream=view)
    events = []
    for ok in (False, False):
        sel.report_check("a", ok)
    assert view.status("a")["check_fail_run"] == 2 and view.state("a") == "up"
    view.report_check("a", False)
    assert view.state("a") == "ejected" and view.status("a")["check"] == "down"
    assert [sel.pick() for _ in range(3)] == ["b"] * 3
    view.report_check("a", True)
    assert view.state("a") == "ejected"
    view.report_check("a", True)
    assert view.state("a") == "up" and events == []


def test_check_events_and_initially_down():
    events = []
    view = fr.HealthView(["a", "b", "c"], rise=1, initially_down=True,
                         on_state_change=lambda e, n: events.append((e, n)))
    assert view.eligible() == ()
    view.report_check("b", True)
    assert view.eligible() == ("b",)
    assert events == [("restored", "b")]


@pytest.mark.parametrize("word, state, serves", [
    ("drain", "draining", False), ("maint", "maintenance", False), ("down", "down", False),
    ("fail", "down", False), ("stopped", "down", False), ("up", "up", True), ("ready", "up", True),
])
def test_agent_words(word, state, serves):
    view = fr.HealthView(["a", "b"])
    view.set_state("a", word, source="agent")
    assert view.state("a") == state
    assert view.available("a") is serves
    assert view.status("a")["agent"] == ("down" if word in ("down", "fail", "stopped") else "up")


def test_agent_down_and_admin_state_are_separate():
    # HAProxy: the agent's "up" does not end an operator's maintenance, "ready" does;
    # an operator's "up" does not end the agent's "down", the agent's "up" does.
    view = fr.HealthView(["a", "b"])
    view.set_state("a", "maintenance")
    view.set_state("a", "up", source="agent")
    assert view.state("a") == "maintenance"
    view.set_state("a", "ready", source="agent")
    assert view.state("a") == "up"
    view.set_state("a", "stopped", source="agent")
    view.set_state("a", "up")
    assert view.state("a") == "down"
    view.set_state("a", "up", source="agent")
    assert view.state("a") == "up"


def test_weight_percent_scales_weighted_balancers():
    # SWRR weights 1, 3 (b at 300 %): b a b b (strict maximum, ties to the first node):
    # cur a1 b3 -> b (b -1); a2 b2 -> a (a -2); a-1 b5 -> b (b 1); a0 b4 -> b (b 0).
    view = fr.HealthView(["a", "b"])
    sel = fr.SmoothWeightedRoundRobin(upstream=view)
    view.set_weight_percent("b", 300)
    assert "".join(sel.pick() for _ in range(8)) == "babbbabb"
    view.set_weight_percent("b", 0)  # HAProxy weight 0: no new requests
    assert view.state("b") == "draining"
    assert {sel.pick() for _ in range(4)} == {"a"}


@pytest.mark.parametrize("pct, error", [(-1, ValueError), (25601, ValueError), (float("nan"), ValueError),
                                        (True, TypeError), ("75%", TypeError)])
def test_weight_percent_bad_input(pct, error):
    view = fr.HealthView(["a", "b"])
    with pytest.raises(error, match="pct"):
        view.set_weight_percent("a", pct)
    assert view.status("a")["weight_percent"] == 100.0


def test_bad_states_and_sources():
    view = fr.HealthView(["a"])
    with pytest.raises(ValueError, match="state"):
        view.set_state("a", "sleeping")
    with pytest.raises(ValueError, match="state"):
        view.set_state("a", "maintenance", source="agent")  # agent word is "maint"
    with pytest.raises(ValueError, match="source"):
        view.set_state("a", "up", source="operator")
    with pytest.raises(ValueError, match="node"):
        view.report_check("4111111111111111", True)


def test_card_numbers_in_node_errors_are_masked():
    view = fr.HealthView(["a"])
    with pytest.raises(ValueError) as info:
        view.report("4111111111111111", ok=False)
    assert "4111111111111111" not in str(info.value) and "411111" in str(info.value)


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(health="nginx"), TypeError, "health"),
    (dict(backups=["a"]), TypeError, "backups"),
    (dict(panic_threshold=0.5), TypeError, "panic_threshold"),
    (dict(clock=lambda: 1.0), TypeError, "clock"),
    (dict(nodes=["b", "a"]), ValueError, "nodes"),
])
def test_balancer_over_a_view_refuses_view_arguments(kwargs, error, fragment):
    view = fr.HealthView(["a", "b"])
    with pytest.raises(error, match=fragment):
        fr.RoundRobin(upstream=view, **kwargs)


def test_upstream_argument_checks():
    with pytest.raises(TypeError, match="upstream"):
        fr.RoundRobin(upstream="a,b")
    with pytest.raises(TypeError, match="nodes"):
        fr.RoundRobin()
    view = fr.HealthView(["a", "b"], latency_decay_s=5.0)
    with pytest.raises(ValueError, match="decay_s"):
        fr.PeakEWMA(upstream=view, decay_s=10.0)
    assert fr.PeakEWMA(upstream=view).latency_estimate("a") == 0.0
    with pytest.raises(ValueError, match="rise"):
        fr.HealthView(["a"], rise=0)
    with pytest.raises(TypeError, match="slow_start"):
        fr.HealthView(["a"], slow_start=10)
    with pytest.raises(TypeError):
        fr.HealthView({"a", "b"})  # a set has no order
    with pytest.raises(TypeError, match="pickled"):
        import pickle
        pickle.dumps(view)


def test_peak_ewma_reads_the_views_latency():
    clock = Clock()
    view = fr.HealthView(["fast", "slow"], clock=clock)
    sel = fr.PeakEWMA(upstream=view, seed=7)
    other = fr.RoundRobin(upstream=view)
    for _ in range(10):
        other.report("fast", latency_s=0.01)  # reported through another balancer
        other.report("slow", latency_s=0.5)
        clock.t += 0.1
    assert view.latency_estimate("slow") == sel.latency_estimate("slow") > 0.45
    assert [sel.pick() for _ in range(20)] == ["fast"] * 20


def test_many_threads_many_balancers_one_view():
    view = fr.HealthView([f"n{i}" for i in range(6)], health="none")
    balancers = [fr.LeastRequest(upstream=view, seed=s) for s in range(3)] + [fr.SmoothWeightedRoundRobin(
        weights=[1, 2, 3, 1, 2, 3], upstream=view)]
    errors = []

    def work(sel):
        try:
            for k in range(3000):
                with sel.lease():
                    if k % 500 == 0:
                        view.set_weight_percent("n1", 50 + k % 100)
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in balancers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert view.in_flight() == {f"n{i}": 0 for i in range(6)}
