# SPDX-License-Identifier: Apache-2.0
"""Rendezvous: reference agreement, minimal disruption, weighted shares."""
import random

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


def _hash_mixing_to_top_cell(node_name: bytes) -> int:
    """A key hash whose xorshift64* mix with `node_name`'s hash lands in the top
    53-bit cell, found by inverting the mix (xorshifts and an odd multiply are bijections)."""
    import xxhash

    from tests.reference.rendezvous import MASK64, XORSHIFT64STAR_MULTIPLIER, unit

    def undo_right(y, s):
        x = y
        for _ in range(64 // s + 1):
            x = y ^ (x >> s)
        return x

    def undo_left(y, s):
        x = y
        for _ in range(64 // s + 1):
            x = y ^ ((x << s) & MASK64)
        return x

    x = (((1 << 53) - 1) << 11) * pow(XORSHIFT64STAR_MULTIPLIER, -1, 1 << 64) & MASK64
    x = undo_right(undo_left(undo_right(x, 27), 25), 12)
    h = x ^ xxhash.xxh64_intdigest(node_name)
    assert unit(h, xxhash.xxh64_intdigest(node_name)) == 1.0  # the midpoint rounds up to 1.0
    return h


def test_zero_weight_node_never_wins_even_when_the_serving_score_is_minus_infinity():
    # Found by the rewritten reference: with u = 1.0 the only serving node scores
    # -inf, and the engine used to fall back to index 0 — a zero-weight node.
    h = _hash_mixing_to_top_cell(b"a")
    r = Rendezvous(["b", "a", "c"], [0.0, 1.0, 0.0])
    assert r.get_index_hashed(h) == 1
    assert r.route_hashed(np.array([h, h], dtype=np.uint64)).tolist() == [1, 1]
    # With another serving node, the -inf node loses to it.
    two = Rendezvous(["b", "a", "c"], [0.0, 1.0, 2.0])
    assert two.get_index_hashed(h) == 2
    assert RendezvousRef(["b", "a", "c"], [0.0, 1.0, 2.0]).replicas_hash(h, 2) == [2, 1]


def test_fractional_weights_match_reference():
    rng = random.Random(7)
    names = [f"f{i}" for i in range(12)]
    weights = [rng.choice([0.1, 0.2, 0.3, 1 / 3, 0.7]) for _ in names]
    r, ref = Rendezvous(names, weights), RendezvousRef(names, weights)
    hashes = [rng.getrandbits(64) for _ in range(3000)]
    assert r.route_hashed(np.array(hashes, dtype=np.uint64)).tolist() == [ref.lookup_hash(h) for h in hashes]
