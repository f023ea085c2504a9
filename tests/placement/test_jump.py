# SPDX-License-Identifier: Apache-2.0
"""JumpHash: Guava's golden values and the pure reference."""
import random

import numpy as np
import pytest
import xxhash

from fastroute import JumpHash
from tests.reference.jump import jump_bucket


def test_guava_golden_values_through_route_hashed():
    # docs/algorithms.md §11, Guava HashingTest.
    nodes = [f"n{i}" for i in range(100)]
    got = JumpHash(nodes).route_hashed(np.arange(20, dtype=np.uint64))
    assert got.tolist() == [0, 55, 62, 8, 45, 59, 86, 97, 82, 59, 73, 37, 17, 56, 86, 21, 90, 37, 38, 83]
    big = JumpHash([f"n{i}" for i in range(100001)])
    assert big.route_hashed(np.array([2, 2201, 2202], dtype=np.uint64)).tolist() == [80343, 22152, 15018]


def test_reference_agrees_on_random_keys_and_sizes():
    rng = random.Random(11)
    for _ in range(50):
        n = rng.randrange(1, 5000)
        hashes = [rng.getrandbits(64) for _ in range(200)]
        got = JumpHash([f"n{i}" for i in range(n)]).route_hashed(np.array(hashes, dtype=np.uint64))
        assert got.tolist() == [jump_bucket(h, n) for h in hashes]


def test_keys_are_hashed_with_xxh3_then_jumped():
    jh = JumpHash(["a", "b", "c", "d", "e"])
    keys = [f"card-{i}" for i in range(2000)]
    expected = [jump_bucket(xxhash.xxh3_64_intdigest(k.encode()), 5) for k in keys]
    assert jh.route(keys).tolist() == expected
    assert [jh.get_index(k) for k in keys] == expected
    assert jh.get_node("card-0") == "abcde"[expected[0]]


def test_bad_nodes():
    with pytest.raises(ValueError, match="nodes"):
        JumpHash([])


def test_agrees_with_jump_consistent_hash_package():
    import jump

    rng = random.Random(99)
    keys = [rng.getrandbits(64) for _ in range(100_000)]
    for buckets in (1, 7, 100, 1000):
        got = JumpHash([f"n{i}" for i in range(buckets)]).route_hashed(np.array(keys, dtype=np.uint64))
        assert got.tolist() == [jump.hash(k, buckets) for k in keys]


def test_removing_the_last_node_moves_only_its_keys():
    nodes = [f"n{i}" for i in range(50)]
    keys = np.arange(200_000, dtype=np.uint64)
    before = JumpHash(nodes).route(keys)
    after = JumpHash(nodes[:-1]).route(keys)
    moved = before != after
    assert set(before[moved].tolist()) == {49}


def test_replicas_match_reference():
    from tests.reference.jump import jump_replicas

    jh = JumpHash([f"n{i}" for i in range(9)])
    for k in range(500):
        h = xxhash.xxh3_64_intdigest(f"key-{k}".encode())
        assert list(jh.replica_indices(f"key-{k}", 9)) == jump_replicas(h, 9, 9)
        assert list(jh.replica_indices(f"key-{k}", 3)) == jump_replicas(h, 9, 3)
