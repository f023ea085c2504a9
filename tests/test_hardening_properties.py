# SPDX-License-Identifier: Apache-2.0
"""Hypothesis properties keeping issue 11's defect classes in the search space:
size limits, overflowing weight sums, unordered inputs, bad argument types."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastroute as fr
from fastroute import balancers as B

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=6),
                 min_size=1, max_size=6, unique=True)
HASHES = np.arange(0, 2**64 - 1, 2**64 // 4099, dtype=np.uint64)


def weights_for(n):
    return st.lists(st.floats(min_value=0.0, max_value=1e300, allow_nan=False, allow_infinity=False),
                    min_size=n, max_size=n).filter(lambda w: any(x > 0 for x in w))


# ---------------------------------------------------------------- size limits
@SETTINGS
@given(shares=st.lists(st.floats(min_value=0.0, max_value=1e6, allow_nan=False), min_size=1, max_size=5)
       .filter(lambda w: any(x > 0 for x in w)),
       max_ring_size=st.integers(1, 4096))
def test_share_weighted_rings_stay_within_max_ring_size(shares, max_ring_size):
    names = [f"n{i}" for i in range(len(shares))]
    try:
        ring = fr.HashRing(names, shares, mode="normalized", weights_are_shares=True, min_ring_size=1,
                           max_ring_size=max_ring_size)
    except ValueError as exc:
        assert "max_ring_size" in str(exc) or "weights" in str(exc)
        return
    assert ring.points <= max_ring_size + len(names)


@SETTINGS
@given(threads=st.one_of(st.integers(), st.floats(), st.none(), st.booleans(), st.text(max_size=3)))
def test_threads_accepted_only_within_the_cap(threads):
    ring = fr.JumpHash(["a", "b"])
    valid = threads is None or (type(threads) is int and 1 <= threads <= fr.MAX_THREADS)
    if valid:
        assert ring.route(["x"], threads=threads).tolist() == [ring.get_index("x")]
    else:
        with pytest.raises(ValueError, match="threads"):
            ring.route(["x"], threads=threads)


# ---------------------------------------------------------------- overflowing sums: power-of-two scale invariance
def scaled(weights, k):
    return [math.ldexp(w, k) for w in weights]


@SETTINGS
@given(data=st.data(), names=NAMES, k=st.sampled_from([-1070, -900, -500, 0, 300, 900]))
def test_placements_are_invariant_under_power_of_two_weight_scaling(data, names, k):
    base = data.draw(st.lists(st.integers(1, 1000), min_size=len(names), max_size=len(names))).copy()
    big = scaled(base, k)
    if not all(math.isfinite(w) and w > 0 for w in big) or any(w < 2.0**-1022 for w in big):
        return  # outside the normal range the scale is no longer exact
    for make in (lambda w: fr.Rendezvous(names, w), lambda w: fr.Maglev(names, w, table_size=4099),
                 lambda w: fr.HashRing(names, w, mode="normalized", min_ring_size=64, max_ring_size=2048)):
        assert make(base).route_hashed(HASHES).tolist() == make(big).route_hashed(HASHES).tolist()


@SETTINGS
@given(data=st.data(), k=st.sampled_from([-1070, -600, 600, 1000]), seed=st.integers(0, 2**64 - 1))
def test_float_balancers_are_invariant_under_power_of_two_weight_scaling(data, k, seed):
    base = data.draw(st.lists(st.integers(1, 50), min_size=2, max_size=5))
    big = scaled(base, k)
    if not all(math.isfinite(w) and w >= 2.0**-1022 for w in big):
        return
    names = [f"n{i}" for i in range(len(base))]
    for cls in (B.WeightedRandom, B.LeastRequest):
        assert cls(names, base, seed=seed).pick_many(300).tolist() == cls(names, big, seed=seed).pick_many(300).tolist()


@SETTINGS
@given(weights=weights_for(3))
def test_finite_weights_never_give_a_wrong_table(weights):
    names = ["a", "b", "c"]
    m = fr.Maglev(names, weights, table_size=1009)
    counts = np.bincount(m.route_hashed(np.arange(1009, dtype=np.uint64)), minlength=3)
    total = math.fsum(w / max(weights) for w in weights)
    for i, w in enumerate(weights):
        share = (w / max(weights)) / total
        if w == 0:
            assert counts[i] == 0
        else:
            assert abs(counts[i] / 1009 - share) < 0.05 + 2 / 1009


# ---------------------------------------------------------------- unordered inputs
CONSTRUCTORS = [fr.HashRing, fr.Maglev, fr.JumpHash, fr.Rendezvous, fr.IPHash, B.RoundRobin, B.WeightedRandom,
                B.SmoothWeightedRoundRobin, B.LeastConnections, B.LeastRequest, B.PeakEWMA, B.Random,
                B.HAProxyRoundRobin, B.HAProxyLeastConn, B.HAProxyFirst, B.HAProxyRandom]


@SETTINGS
@given(names=st.sets(st.text("abcdef", min_size=1, max_size=4), min_size=1, max_size=6),
       cls=st.sampled_from(CONSTRUCTORS), frozen=st.booleans())
def test_unordered_node_collections_are_refused_everywhere(names, cls, frozen):
    with pytest.raises(TypeError, match="unordered"):
        cls(frozenset(names) if frozen else names)


@SETTINGS
@given(keys=st.sets(st.integers(0, 100), min_size=1, max_size=5))
def test_unordered_key_collections_are_refused(keys):
    ring = fr.HashRing(["a", "b"])
    for call in (ring.route, lambda k: ring.route_replicas(k, 2), fr.hash_keys):
        with pytest.raises(TypeError, match="unordered"):
            call(keys)


# ---------------------------------------------------------------- bad types for every argument
JUNK = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
                 st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4), st.binary(max_size=4),
                 st.sets(st.integers(0, 3), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
                 st.just(np.array(5.0)), st.just(object()))
ALLOWED = (TypeError, ValueError, KeyError, fr.NoHealthyNode)


def placement_calls(junk):
    ring = fr.HashRing(["a", "b", "c"])
    return {
        "weights": lambda: fr.HashRing(["a", "b"], junk),
        "points_per_weight": lambda: fr.HashRing(["a", "b"], points_per_weight=junk),
        "min_ring_size": lambda: fr.HashRing(["a", "b"], mode="normalized", min_ring_size=junk),
        "max_ring_size": lambda: fr.HashRing(["a", "b"], mode="normalized", max_ring_size=junk),
        "table_size": lambda: fr.Maglev(["a", "b"], table_size=junk),
        "hash": lambda: fr.Rendezvous(["a", "b"], hash=junk),
        "threads": lambda: ring.route(["k"], threads=junk),
        "null_index": lambda: ring.route(["k"], null_index=junk),
        "n": lambda: ring.route_replicas(["k"], junk),
        "c": lambda: ring.assign_bounded(["k"], c=junk),
        "h": lambda: ring.get_index_hashed(junk),
        "weight": lambda: ring.with_weight("a", junk),
        "seed": lambda: fr.hash_keys(["k"], seed=junk),
        "hash": lambda: fr.hash_keys(["k"], hash=junk),
    }


def balancer_calls(junk):
    sel = B.PeakEWMA(["a", "b"], health="envoy")
    return {
        "backups": lambda: B.RoundRobin(["a", "b"], backups=junk),
        "panic_threshold": lambda: B.RoundRobin(["a", "b"], panic_threshold=junk),
        "choice_count": lambda: B.LeastRequest(["a", "b"], choice_count=junk),
        "active_request_bias": lambda: B.LeastRequest(["a", "b"], active_request_bias=junk),
        "decay_s": lambda: B.PeakEWMA(["a", "b"], decay_s=junk),
        "seed": lambda: B.Random(["a", "b"], seed=junk),
        "n": lambda: sel.pick_many(junk),
        "ok": lambda: sel.report("a", ok=junk),
        "latency_s": lambda: sel.report("a", latency_s=junk),
        "state": lambda: sel.set_state("a", junk),
        "node": lambda: sel.report(junk),
        "health": lambda: B.RoundRobin(["a", "b"], health=junk),
        "clock": lambda: B.RoundRobin(["a", "b"], health="nginx", clock=lambda: junk).report("a", ok=False),
    }


@settings(max_examples=300, deadline=None)
@given(junk=JUNK, data=st.data())
def test_bad_arguments_raise_clear_errors_naming_the_argument(junk, data):
    calls = {**{("placement", k): v for k, v in placement_calls(junk).items()},
             **{("balancer", k): v for k, v in balancer_calls(junk).items()}}
    key = data.draw(st.sampled_from(sorted(calls)))
    try:
        calls[key]()
    except ALLOWED as exc:
        if isinstance(exc, (OverflowError, UnicodeError)):
            raise AssertionError(f"{key}: bare {type(exc).__name__} for {junk!r}: {exc}") from exc
        if not isinstance(exc, (KeyError, fr.NoHealthyNode)):
            assert key[1] in str(exc) or key[1] == "clock", f"{key}: {junk!r} -> {exc!r}"
