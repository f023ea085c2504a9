# SPDX-License-Identifier: Apache-2.0
"""Hashing throughput vs the `xxhash` package (same-run baseline)."""
import pytest
import xxhash

import fastroute
from common import string_keys, u64_keys

N = 1_000_000


@pytest.fixture(scope="module")
def str_keys():
    return string_keys(N)


def test_hash_keys_str_list(benchmark, str_keys):
    benchmark(fastroute.hash_keys, str_keys)


def test_baseline_xxhash_python_loop(benchmark, str_keys):
    sample = str_keys[:100_000]  # 10x fewer keys: compare per-key time
    benchmark(lambda: [xxhash.xxh3_64_intdigest(k.encode()) for k in sample])


def test_hash_keys_u64(benchmark):
    keys = u64_keys(N)
    benchmark(fastroute.hash_keys, keys)


def test_hash_key_one(benchmark):
    benchmark(fastroute.hash_key, "card-000000000001")
