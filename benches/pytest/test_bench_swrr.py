# SPDX-License-Identifier: Apache-2.0
"""SmoothWeightedRoundRobin per pick and per batch vs a pure-Python loop."""
import sys
from pathlib import Path

import fastroute

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.reference.swrr import SmoothWeightedRoundRobinRef  # noqa: E402

WEIGHTS = [1, 2, 3, 5, 1, 8, 2]
NODES = [f"n{i}" for i in range(len(WEIGHTS))]


def test_pick(benchmark):
    benchmark(fastroute.SmoothWeightedRoundRobin(NODES, WEIGHTS).pick)


def test_pick_many_1m(benchmark):
    benchmark(fastroute.SmoothWeightedRoundRobin(NODES, WEIGHTS).pick_many, 1_000_000)


def test_baseline_pure_python_pick(benchmark):
    benchmark(SmoothWeightedRoundRobinRef(WEIGHTS).pick)
