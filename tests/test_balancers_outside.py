# SPDX-License-Identifier: Apache-2.0
"""Balancer sequences checked against hand-worked examples from the upstream
rules, not against any model: Envoy LEAST_REQUEST (power of d choices and the
weighted EDF, docs/algorithms.md §8.3), Finagle PeakEwma (§16.1), and Envoy
outlier-detection details the event-driven reference found the engine missing
(outlier_detection_impl.cc: the ejection ends with time, the counter resets at
unejection and after a refused ejection, the backoff stops one step past the cap)."""
import math

import pytest

import fastroute as fr

# splitmix64 seed 0: the published outputs (Vigna's splitmix64.c, checked in
# tests/test_rng_outside.py) continue 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4,
# 0x06c45d188009454f, 0xf88bb8a8724c81ec, ...; Lemire's bounded draw over 3
# nodes is floor(x * 3 / 2**64), which gives 2, 1 | 0, 2 | 0, 0 | 0, 2 | 0, 2 | 1, 2.
SEED0_DRAWS_OVER_3 = [2, 1, 0, 2, 0, 0, 0, 2, 0, 2, 1, 2]


class Clock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


def test_least_request_power_of_two_choices_by_hand():
    # Envoy N_CHOICES: keep the first draw, replace it only by strictly fewer active.
    # draws (c, b): tie -> c | (a, c): a | (a, a): a | (a2, c1): c replaces a |
    # (a2, c2): tie -> a | (b0, c2): b.
    lr = fr.LeastRequest(["a", "b", "c"], choice_count=2, seed=0)
    assert [lr.acquire() for _ in range(6)] == ["c", "a", "a", "c", "a", "b"]
    assert lr.active() == {"a": 3, "b": 1, "c": 2}


def test_least_request_choice_count_one_is_uniform_random_by_hand():
    lr = fr.LeastRequest(["a", "b", "c"], choice_count=1, seed=0)
    assert [lr.acquire() for _ in range(12)] == ["abc"[d] for d in SEED0_DRAWS_OVER_3]


def test_least_request_weighted_edf_by_hand():
    # EdfScheduler: deadline = time + 1/weight, ties to the earlier insertion; start a 1, b 0.5.
    lr = fr.LeastRequest({"a": 1, "b": 2})
    assert "".join(lr.pick() for _ in range(8)) == "babbabba"


def test_least_request_weighted_active_bias_by_hand():
    # weight / (active + 1), taken when the entry is re-added (before this request counts):
    # b@.5 -> b 1.0 | a@1 (tie, older) -> a 2 | b@1 (1 active: w 1) -> b 2 | a@2 (older) -> a 4 |
    # b@2 (2 active: w 2/3) -> b 3.5 | b@3.5 (3 active) -> b 5.5 | a@4 -> a 7 |
    # b@5.5 (4 active: w 0.4, the Envoy docs' example) -> b 8 | a@7 | b@8.
    lr = fr.LeastRequest({"a": 1, "b": 2}, active_request_bias=1.0)
    assert "".join(lr.acquire() for _ in range(10)) == "bababbabab"


def test_least_request_bias_zero_is_weighted_round_robin_by_hand():
    lr = fr.LeastRequest({"a": 1, "b": 2}, active_request_bias=0.0)
    assert "".join(lr.acquire() for _ in range(8)) == "babbabba"  # in-flight counts ignored


def test_peak_ewma_load_is_cost_times_pending_plus_one_by_hand():
    # Two nodes: P2C always compares both. Loads a: 1·(p+1), b: 2.5·(p+1):
    # 1 < 2.5 a | 2 < 2.5 a | 3 > 2.5 b | 3 < 5 a | 4 < 5 a.
    clock = Clock()
    ew = fr.PeakEWMA(["a", "b"], seed=5, clock=clock)
    ew.report("a", latency_s=1.0)
    ew.report("b", latency_s=2.5)
    assert [ew.acquire() for _ in range(5)] == ["a", "a", "b", "a", "a"]


def test_peak_ewma_penalty_for_a_node_with_no_latency_and_pending_requests():
    # Finagle: cost 0 with pending requests loads Penalty + pending, above any real cost.
    ew = fr.PeakEWMA(["a", "b"], seed=9, clock=Clock())
    ew.report("b", latency_s=5.0)
    assert [ew.acquire() for _ in range(4)] == ["a", "b", "b", "b"]


def test_peak_ewma_jumps_to_peaks_and_decays_by_hand():
    clock = Clock()
    ew = fr.PeakEWMA(["a", "b"], decay_s=10.0, seed=1, clock=clock)
    ew.report("a", latency_s=1.0)
    ew.report("a", latency_s=9.0)  # above the cost: jump straight to the peak
    assert ew.latency_estimate("a") == 9.0
    ew.report("a", latency_s=1.0)  # same instant: w = exp(0) = 1 keeps the cost
    assert ew.latency_estimate("a") == 9.0
    clock.t += 10.0
    ew.report("a", latency_s=2.0)  # cost·e^-1 + 2·(1 - e^-1)
    assert ew.latency_estimate("a") == pytest.approx(9.0 / math.e + 2.0 * (1 - 1 / math.e), rel=1e-12)


def envoy(**knobs):
    base = dict(consecutive_failures=2, base_ejection_time=10.0, max_ejection_time=20.0,
                max_ejection_percent=100.0, interval=10.0)
    base.update(knobs)
    return fr.EnvoyOutlier(**base)


def test_envoy_failures_after_the_ejection_ended_count_without_a_pick():
    # The ejection ends when its time is up (checkHostForUneject), not when something looks.
    clock, events = Clock(), []
    sel = fr.RoundRobin(["h0", "h1", "h2"], health=envoy(), clock=clock,
                        on_state_change=lambda e, n: events.append((clock.t, e, n)))
    sel.report("h1", ok=False)
    sel.report("h1", ok=False)
    clock.t += 10.0
    sel.report("h1", ok=False)
    sel.report("h1", ok=False)
    assert sel.state("h1") == "ejected"
    assert events == [(100.0, "ejected", "h1"), (110.0, "restored", "h1"), (110.0, "ejected", "h1")]


def test_envoy_unejection_resets_the_consecutive_failure_counter():
    # "Reset the consecutive failure counters to avoid re-ejection on very few new errors".
    clock = Clock()
    sel = fr.RoundRobin(["h0", "h1", "h2"], health=envoy(), clock=clock)
    sel.report("h1", ok=False)
    sel.report("h1", ok=False)
    sel.report("h1", ok=False)  # while ejected
    clock.t += 10.0
    assert sel.state("h1") == "up"
    sel.report("h1", ok=False)  # one new failure of the two needed
    assert sel.state("h1") == "up"


def test_envoy_refused_ejection_resets_the_counter():
    # max_ejection_percent refuses the ejection; the detector has acted, so the run starts over.
    clock = Clock()
    sel = fr.RoundRobin(["h0", "h1", "h2", "h3"], health=envoy(max_ejection_percent=25.0, base_ejection_time=30.0,
                                                               max_ejection_time=30.0), clock=clock)
    for node in ("h0", "h0", "h1", "h1"):  # h0 ejected, h1 refused (2 of 4 > 25 %)
        sel.report(node, ok=False)
    assert [sel.state(h) for h in ("h0", "h1")] == ["ejected", "up"]
    clock.t += 30.0
    assert sel.state("h0") == "up"
    sel.report("h1", ok=False)
    assert sel.state("h1") == "up"
    sel.report("h1", ok=False)
    assert sel.state("h1") == "ejected"


def test_envoy_backoff_stops_one_step_past_the_cap_and_decays_from_there():
    # ejectHost grows the backoff only while base·backoff < max + base: base 10, max 20
    # stops it at 3 after any number of ejections; 30 s healthy (3 intervals) takes it
    # to 0, so the next ejection lasts 10 s (not 20 s, as an uncapped count of 5 would give).
    clock = Clock()
    sel = fr.RoundRobin(["h0", "h1"], health=envoy(consecutive_failures=1), clock=clock)
    for _ in range(5):
        sel.report("h0", ok=False)
        assert sel.state("h0") == "ejected"
        clock.t += 20.0
        assert sel.state("h0") == "up"
    clock.t += 30.0
    sel.report("h0", ok=False)
    clock.t += 10.0
    assert sel.state("h0") == "up"
