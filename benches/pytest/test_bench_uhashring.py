# SPDX-License-Identifier: Apache-2.0
"""fastroute.compat.uhashring vs the uhashring package, same run, both modes."""
import pytest
import uhashring

from fastroute.compat.uhashring import HashRing

NODES = [f"10.0.0.{i}:11211" for i in range(100)]


@pytest.mark.parametrize("mode", [{}, {"hash_fn": "ketama"}], ids=["md5", "ketama"])
def test_fastroute_get_node(benchmark, mode):
    benchmark(HashRing(NODES, **mode).get_node, "user:123456789")


@pytest.mark.parametrize("mode", [{}, {"hash_fn": "ketama"}], ids=["md5", "ketama"])
def test_baseline_uhashring_get_node(benchmark, mode):
    benchmark(uhashring.HashRing(NODES, **mode).get_node, "user:123456789")
