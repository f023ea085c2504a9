# SPDX-License-Identifier: Apache-2.0
"""Rendezvous: O(nodes) per key; one thread vs all threads."""
import fastroute
from common import NAMES_100, u64_keys


def test_route_hashed_100k_one_thread(benchmark):
    benchmark(fastroute.Rendezvous(NAMES_100).route_hashed, u64_keys(100_000), threads=1)


def test_route_hashed_100k_all_threads(benchmark):
    benchmark(fastroute.Rendezvous(NAMES_100).route_hashed, u64_keys(100_000))
