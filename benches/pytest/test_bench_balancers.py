# SPDX-License-Identifier: Apache-2.0
"""Request-time balancers: pick, acquire+release, pick_many; baseline = the pure
Python reference of the same algorithm, in the same run.

Run: .venv/bin/python -m pytest benches/pytest/test_bench_balancers.py --benchmark-only
"""
import sys
from pathlib import Path

import pytest

import fastroute as fr

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.reference import balancers as ref  # noqa: E402

NODES = [f"n{i}" for i in range(7)]
WEIGHTS = [1, 2, 3, 5, 1, 8, 2]
FACTORIES = {
    "RoundRobin": lambda: fr.RoundRobin(NODES),
    "SmoothWeightedRoundRobin": lambda: fr.SmoothWeightedRoundRobin(NODES, WEIGHTS),
    "Random": lambda: fr.Random(NODES, seed=1),
    "WeightedRandom": lambda: fr.WeightedRandom(NODES, WEIGHTS, seed=1),
    "LeastConnections": lambda: fr.LeastConnections(NODES, WEIGHTS),
    "LeastRequest": lambda: fr.LeastRequest(NODES, seed=1),
    "PeakEWMA": lambda: fr.PeakEWMA(NODES, seed=1),
    "HAProxyLeastConn": lambda: fr.HAProxyLeastConn(NODES, WEIGHTS),
    "HAProxyFirst": lambda: fr.HAProxyFirst(NODES, WEIGHTS, maxconn=[1] * 7),
    "HAProxyRandom": lambda: fr.HAProxyRandom(NODES, WEIGHTS, seed=1),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_pick(benchmark, name):
    benchmark(FACTORIES[name]().pick)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_acquire_release(benchmark, name):
    sel = FACTORIES[name]()
    acquire, release = sel.acquire, sel.release

    def cycle():
        release(acquire())

    benchmark(cycle)


@pytest.mark.parametrize("name", ["SmoothWeightedRoundRobin", "WeightedRandom", "RoundRobin"])
def test_pick_many_1m(benchmark, name):
    benchmark(FACTORIES[name]().pick_many, 1_000_000)


def test_baseline_reference_swrr_pick(benchmark):
    benchmark(ref.SmoothWeightedRoundRobinRef(WEIGHTS).pick)


def test_baseline_reference_weighted_random_pick(benchmark):
    benchmark(ref.WeightedRandomRef(WEIGHTS).pick)


def test_baseline_reference_haproxy_leastconn_acquire_release(benchmark):
    from tests.reference import haproxy_lb

    model = haproxy_lb.LeastConn([haproxy_lb.Server(n, w) for n, w in zip(NODES, WEIGHTS)])

    def cycle():
        s = model.pick()
        model.take(s)
        model.drop(s)

    benchmark(cycle)
