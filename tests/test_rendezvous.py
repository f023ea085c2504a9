# SPDX-License-Identifier: Apache-2.0
"""Rendezvous: reference agreement, minimal disruption, weighted shares."""
import numpy as np
import pytest

from fastroute import Rendezvous
from tests.conftest import random_keys
from tests.reference.hashes import key_hash
from tests.reference.rendezvous import RendezvousRef


@pytest.mark.parametrize("seed", range(6))
def test_matches_reference(seed, rng):
    rng.seed(seed)
    n = rng.randrange(1, 25)
    names = [f"r{rng.randrange(10**6)}-{i}" for i in range(n)]
    weights = [rng.choice([0.0, 0.25, 1.0, 3.0]) for _ in range(n)]
    weights[-1] = 1.0
    r = Rendezvous(names, weights)
    ref = RendezvousRef(names, weights)
    keys = random_keys(rng, 800)
    assert r.route(keys).tolist() == [ref.lookup_hash(key_hash(k)) for k in keys]
    holders = sum(1 for w in weights if w > 0)
    for k in keys[:100]:
        assert list(r.replica_indices(k, holders)) == ref.replicas_hash(key_hash(k), holders)


def test_removal_moves_only_removed_nodes_keys():
    names = [f"n{i}" for i in range(100)]
    r = Rendezvous(names, [1 + (i % 3) for i in range(100)])
    smaller = r.without_node("n5")
    keys = np.arange(100_000, dtype=np.uint64)
    before = np.array(r.nodes, dtype=object)[r.route(keys)]
    after = np.array(smaller.nodes, dtype=object)[smaller.route(keys)]
    assert set(before[before != after]) == {"n5"}


def test_weighted_shares_are_proportional():
    r = Rendezvous(["a", "b", "c", "d"], [1, 2, 3, 4])
    shares = np.bincount(r.route(np.arange(400_000, dtype=np.uint64)), minlength=4) / 400_000
    np.testing.assert_allclose(shares, [0.1, 0.2, 0.3, 0.4], atol=0.005)
