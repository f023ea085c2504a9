# SPDX-License-Identifier: Apache-2.0
"""JumpHash vs the jump-consistent-hash package (C extension, one key per call)."""
import pytest

import fastroute
from common import NAMES_100, u64_keys


def test_route_hashed_1m_one_thread(benchmark):
    benchmark(fastroute.JumpHash(NAMES_100).route_hashed, u64_keys(1_000_000), threads=1)


def test_baseline_jump_package_100k(benchmark):
    jump = pytest.importorskip("jump")
    keys = u64_keys(100_000).tolist()  # 10x fewer keys: compare per-key time
    benchmark(lambda: [jump.hash(k, 100) for k in keys])


def test_get_node_str(benchmark):
    benchmark(fastroute.JumpHash(NAMES_100).get_node, "card-000000123456")
