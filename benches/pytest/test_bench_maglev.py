# SPDX-License-Identifier: Apache-2.0
"""Maglev lookups and build. Baseline: numpy fancy indexing of the same table."""
import numpy as np
import pytest

import fastroute
from common import NAMES_100, NAMES_1000, u64_keys


@pytest.fixture(scope="module")
def maglev():
    return fastroute.Maglev(NAMES_100)


def test_get_node_str(benchmark, maglev):
    benchmark(maglev.get_node, "card-000000123456")


def test_route_hashed_1m_one_thread(benchmark, maglev):
    benchmark(maglev.route_hashed, u64_keys(1_000_000), threads=1)


def test_baseline_numpy_table_lookup_1m(benchmark, maglev):
    table = maglev.route_hashed(np.arange(maglev.table_size, dtype=np.uint64))
    keys = u64_keys(1_000_000)
    benchmark(lambda: table[keys % np.uint64(maglev.table_size)])


def test_build_1000_nodes(benchmark):
    benchmark(fastroute.Maglev, NAMES_1000)
