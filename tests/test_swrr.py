# SPDX-License-Identifier: Apache-2.0
"""SmoothWeightedRoundRobin reproduces nginx's pick sequence exactly."""
import random
import threading

import numpy as np
import pytest

from fastroute import SmoothWeightedRoundRobin
from tests.reference.balancers import Pick, Simulation


def test_nginx_commit_vector_5_1_1():
    # docs/algorithms.md §8.1: weights {5,1,1} -> a a b a c a a, period 7.
    sel = SmoothWeightedRoundRobin(["a", "b", "c"], [5, 1, 1])
    assert "".join(sel.pick() for _ in range(14)) == "aabacaa" * 2


def test_mapping_form_and_attributes():
    sel = SmoothWeightedRoundRobin({"a": 5, "b": 1, "c": 1})
    assert sel.nodes == ("a", "b", "c")
    assert sel.weights == (5, 1, 1)
    assert isinstance(sel, SmoothWeightedRoundRobin)
    assert "SmoothWeightedRoundRobin" in repr(sel)


@pytest.mark.parametrize("seed", range(20))
def test_matches_reference_on_random_weights(seed):
    rng = random.Random(seed)
    n = rng.randrange(1, 30)
    weights = [rng.randrange(0, 50) for _ in range(n)]
    if not any(weights):
        weights[0] = 1
    nodes = [f"n{i}" for i in range(n)]
    sel = SmoothWeightedRoundRobin(nodes, weights)
    ref = Simulation("swrr", weights)
    picks = [sel.pick_index() for _ in range(500)]
    assert picks == ref.run([Pick()] * 500)
    # pick_many continues the same sequence.
    assert sel.pick_many(700).tolist() == ref.run([Pick()] * 700)


def test_pick_many_shape_and_shares():
    sel = SmoothWeightedRoundRobin(["a", "b", "c"], [3, 2, 5])
    out = sel.pick_many(1000)
    assert out.dtype == np.int32 and out.shape == (1000,)
    # Exact: every full period of sum(weights) picks holds each node weight times.
    assert np.bincount(out, minlength=3).tolist() == [300, 200, 500]
    assert sel.pick_many(0).shape == (0,)


def test_zero_weight_node_is_never_picked():
    sel = SmoothWeightedRoundRobin(["a", "b", "c"], [0, 1, 2])
    assert 0 not in set(sel.pick_many(999).tolist())


def test_threads_share_one_sequence():
    sel = SmoothWeightedRoundRobin(["a", "b", "c", "d"], [4, 3, 2, 1])
    results = []
    lock = threading.Lock()

    def worker():
        local = [sel.pick_index() for _ in range(2_500)]
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 000 picks = 2 000 full periods of 10: exact counts only if no pick was torn.
    assert np.bincount(results, minlength=4).tolist() == [8000, 6000, 4000, 2000]


@pytest.mark.parametrize(
    "nodes, weights, error, fragment",
    [
        ([], None, ValueError, "nodes: must not be empty"),
        (["a", "a"], None, ValueError, "duplicate"),
        (["a", 1], None, TypeError, "nodes[1]"),
        ("ab", None, TypeError, "nodes"),
        (["a", "b"], [1, -1], ValueError, "weights[1]"),
        (["a", "b"], [0, 0], ValueError, "at least one"),
        (["a", "b"], [1.5, 1], TypeError, "weights[0]"),
        (["a", "b"], [float("nan"), 1], TypeError, "weights[0]"),
        (["a", "b"], [float("inf"), 1], TypeError, "weights[0]"),
        (["a", "b"], [1], ValueError, "expected 2 weights"),
        (["a", "b"], [2**40, 1], ValueError, "weights[0]"),
        (["a", "b"], ["1", 1], TypeError, "weights[0]"),
    ],
)
def test_bad_arguments(nodes, weights, error, fragment):
    with pytest.raises(error) as info:
        SmoothWeightedRoundRobin(nodes, weights)
    assert fragment in str(info.value)


def test_negative_pick_many():
    with pytest.raises(ValueError, match="n: must be >= 0"):
        SmoothWeightedRoundRobin(["a"]).pick_many(-1)
