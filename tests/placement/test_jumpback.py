# SPDX-License-Identifier: Apache-2.0
"""JumpBackHash: hash4j's vectors (tests/data/jumpback_vectors.json), the pure
reference, placement properties and the unweighted rules."""
import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import xxhash

import fastroute
from fastroute import JumpBackHash, JumpHash
from fastroute.cluster import build_placement
from fastroute.membership.base import Member
from tests.reference.jump import probe_replicas
from tests.reference.jumpback import jumpback_bucket

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "jumpback_vectors.json").read_text())
HASHES = VECTORS["hashes"]


def test_vectors_record_their_provenance():
    p = VECTORS["provenance"]
    assert p["repository"] == "https://github.com/dynatrace-oss/hash4j"
    assert len(p["commit"]) == 40 and p["generator"] == "scripts/make_jumpback_vectors.sh"
    assert len(VECTORS["cases"]) == 35 and len(HASHES) == 256


def test_reference_reproduces_hash4j_for_every_bucket_count():
    for case in VECTORS["cases"]:
        assert [jumpback_bucket(h, case["buckets"]) for h in HASHES] == case["expected"], case["buckets"]


@pytest.mark.parametrize("case", [c for c in VECTORS["cases"] if c["buckets"] <= 65537],
                         ids=lambda c: str(c["buckets"]))
def test_engine_reproduces_hash4j(case):
    table = JumpBackHash([f"n{i}" for i in range(case["buckets"])])
    hashes = np.array(HASHES, dtype=np.uint64)
    assert table.route_hashed(hashes).tolist() == case["expected"]
    assert table.route_hashed(hashes, threads=1).tolist() == case["expected"]
    assert [table.get_index_hashed(h) for h in HASHES[:40]] == case["expected"][:40]


def test_keys_are_hashed_with_the_table_hash_then_placed():
    # The bucket function's input is the table's u64 key hash (xxh3 of the key bytes by default).
    table = JumpBackHash([f"n{i}" for i in range(37)])
    keys = [f"card-{i}" for i in range(3000)]
    expected = [jumpback_bucket(xxhash.xxh3_64_intdigest(k.encode()), 37) for k in keys]
    assert table.route(keys).tolist() == expected
    assert [table.get_index(k) for k in keys[:300]] == expected[:300]
    assert table.get_node("card-0") == f"n{expected[0]}"


def test_random_sizes_agree_with_the_reference():
    rng = random.Random(23)
    for _ in range(30):
        n = rng.randrange(1, 3000)
        hashes = [rng.getrandbits(64) for _ in range(200)]
        got = JumpBackHash([f"n{i}" for i in range(n)]).route_hashed(np.array(hashes, dtype=np.uint64))
        assert got.tolist() == [jumpback_bucket(h, n) for h in hashes]


def test_growing_and_shrinking_at_the_end_moves_only_the_last_nodes_keys():
    nodes = [f"n{i}" for i in range(50)]
    keys = np.arange(200_000, dtype=np.uint64)
    table = JumpBackHash(nodes)
    before = table.route(keys)
    after = table.without_node("n49").route(keys)
    moved = before != after
    assert moved.any() and set(before[moved].tolist()) == {49}
    grown = table.with_node("n50").route(keys)
    assert set(grown[before != grown].tolist()) == {50}


def test_replicas_match_the_reference():
    table = JumpBackHash([f"n{i}" for i in range(9)])
    for k in range(300):
        h = xxhash.xxh3_64_intdigest(f"key-{k}".encode())
        want = probe_replicas(h, 9, 9, lambda x: jumpback_bucket(x, 9))
        assert list(table.replica_indices(f"key-{k}", 9)) == want
        assert list(table.replica_indices(f"key-{k}", 3)) == want[:3]
    batch = table.route_replicas([f"key-{k}" for k in range(50)], 4)
    assert batch[7].tolist() == list(table.replica_indices("key-7", 4))


def test_weights_other_than_one_are_refused():
    with pytest.raises(ValueError, match=r"^weights: JumpBackHash is unweighted: every weight must be 1, got weights\[1\]"):
        JumpBackHash(["a", "b"], [1, 2])
    with pytest.raises(ValueError, match=r"^weights: JumpBackHash is unweighted"):
        JumpBackHash(["a", "b"], [2, 2])  # uniform but not 1: refused, not silently ignored
    assert JumpBackHash(["a", "b"], [1, 1.0]).weights == (1.0, 1.0)
    table = JumpBackHash(["a", "b"])
    with pytest.raises(ValueError, match=r"^weight: JumpBackHash cannot weight nodes"):
        table.with_node("c", 3)
    with pytest.raises(ValueError, match=r"^weight: JumpBackHash cannot weight nodes"):
        table.with_weight("a", 0.5)
    assert table.with_weight("a", 1) is table
    with pytest.raises(ValueError, match="^nodes"):
        JumpBackHash([])


def test_pickles_keyed_tables_and_fingerprints():
    table = JumpBackHash(["a", "b", "c"], hash="xxh64")
    clone = pickle.loads(pickle.dumps(table))
    assert clone == table and type(clone) is JumpBackHash and clone.fingerprint() == table.fingerprint()
    assert table.fingerprint() != JumpHash(["a", "b", "c"], hash="xxh64").fingerprint()
    keys = [f"k{i}" for i in range(2000)]
    keyed = JumpBackHash(["a", "b", "c"], secret=b"0123456789abcdef")
    routed = keyed.route(keys)
    assert routed.tolist() == [keyed.get_index(k) for k in keys]
    assert routed.tolist() != JumpBackHash(["a", "b", "c"]).route(keys).tolist()
    assert pickle.loads(pickle.dumps(keyed)).route(keys).tolist() == routed.tolist()


def test_exported_and_usable_from_the_cluster_file():
    assert fastroute.JumpBackHash is JumpBackHash and "JumpBackHash" in fastroute.__all__
    members = [Member(f"n{i}") for i in range(5)]
    table = build_placement(members, "jumpback")
    assert type(table) is JumpBackHash and table.nodes == tuple(f"n{i}" for i in range(5))
    with pytest.raises(ValueError, match="^weights"):
        build_placement([Member("a", weight=2), Member("b", weight=2)], "jumpback")
