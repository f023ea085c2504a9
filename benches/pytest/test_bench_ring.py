# SPDX-License-Identifier: Apache-2.0
"""HashRing vs uhashring (per key) and a numpy searchsorted ring (batch), same run.

Run: .venv/bin/python -m pytest benches/pytest/test_bench_ring.py --benchmark-only
"""
import pyarrow as pa
import pytest

import fastroute
from common import NAMES_100, NAMES_1000, searchsorted_ring, string_keys, u64_keys

N = 1_000_000


@pytest.fixture(scope="module")
def ring():
    return fastroute.HashRing(NAMES_100)


@pytest.fixture(scope="module")
def hashes():
    return u64_keys(N)


def test_get_node_str(benchmark, ring):
    benchmark(ring.get_node, "card-000000123456")


def test_baseline_uhashring_get_node(benchmark):
    uhashring = pytest.importorskip("uhashring")
    benchmark(uhashring.HashRing(NAMES_100).get_node, "card-000000123456")


def test_route_hashed_1m_one_thread(benchmark, ring, hashes):
    benchmark(ring.route_hashed, hashes, threads=1)


def test_route_hashed_1m_all_threads(benchmark, ring, hashes):
    benchmark(ring.route_hashed, hashes)


def test_baseline_numpy_searchsorted_1m(benchmark, hashes):
    benchmark(searchsorted_ring(NAMES_100), hashes)


def test_route_str_list_1m(benchmark, ring):
    keys = string_keys(N)
    benchmark(ring.route, keys, threads=1)


def test_route_arrow_1m(benchmark, ring):
    keys = pa.array(string_keys(N))
    benchmark(ring.route, keys, threads=1)


def test_build_1000_nodes_160_points(benchmark):
    benchmark(fastroute.HashRing, NAMES_1000)
