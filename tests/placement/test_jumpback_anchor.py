# SPDX-License-Identifier: Apache-2.0
"""JumpBackAnchorHash: hash4j's vectors (tests/data/jumpback_anchor_vectors.json),
the pure reference, exact movement on removal and re-adding, the state bytes and
the error rules."""
import json
import pickle
import random
import struct
from pathlib import Path

import numpy as np
import pytest
import xxhash

import fastroute
from fastroute import JumpBackAnchorHash, JumpBackHash
from fastroute.cluster import parse_cluster
from tests.reference.jump import probe_replicas
from tests.reference.jumpback_anchor import JumpBackAnchor

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "jumpback_anchor_vectors.json").read_text())
HASHES = np.array(VECTORS["hashes"], dtype=np.uint64)
SCENARIOS = VECTORS["scenarios"]


def _replay(ops):
    """The scenario's ops through the public API: the first adds build the table,
    then without_node / with_node; node 'b<id>' lives on bucket id."""
    first = 0
    while first < len(ops) and ops[first][0] == "add":
        first += 1
    table = JumpBackAnchorHash([f"b{op[1]}" for op in ops[:first]])
    fresh = 0
    for op, bucket in ops[first:]:
        if op == "remove":
            table = table.without_node(table.nodes[table.buckets.index(bucket)])
        else:
            fresh += 1
            table = table.with_node(f"new{fresh}")
            assert table.buckets[table.nodes.index(f"new{fresh}")] == bucket, "hash4j's addBucket id"
    return table


def test_vectors_record_their_provenance():
    p = VECTORS["provenance"]
    assert p["repository"] == "https://github.com/dynatrace-oss/hash4j" and len(p["commit"]) == 40
    assert len(SCENARIOS) == 21 and len(HASHES) == 512


def test_reference_reproduces_hash4j():
    for s in SCENARIOS:
        ref = JumpBackAnchor(0)
        for op, bucket in s["ops"]:
            if op == "add":
                assert ref.add() == bucket
            else:
                ref.remove(bucket)
        assert ref.state().hex() == s["state"] and ref.live() == s["buckets"]
        assert [ref.bucket(int(h)) for h in HASHES] == s["expected"], s["name"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s["name"])
def test_engine_reproduces_hash4j(scenario):
    table = _replay(scenario["ops"])
    assert table.to_bytes().hex() == scenario["state"]
    assert list(table.buckets) == scenario["buckets"]
    got = np.array(table.buckets)[table.route_hashed(HASHES)]
    assert got.tolist() == scenario["expected"]
    # The same table from the state bytes alone (what a coordinator hands out).
    again = JumpBackAnchorHash.from_bytes(table.nodes, bytes.fromhex(scenario["state"]))
    assert again == table and again.route_hashed(HASHES).tolist() == table.route_hashed(HASHES).tolist()
    assert [table.get_index_hashed(int(h)) for h in HASHES[:50]] == table.route_hashed(HASHES[:50]).tolist()


def _keys():
    return [f"txn-{i}" for i in range(100_000)]


def test_any_node_leaving_moves_exactly_its_keys_and_rejoining_restores_them():
    keys = _keys()
    rng = random.Random(5)
    table = JumpBackAnchorHash([f"node-{i}" for i in range(60)])
    history = [(table, np.array(table.nodes)[table.route(keys)])]
    for step in range(8):
        # Any node, the last one included (a shrink), once the stack is non-empty.
        gone = rng.choice(table.nodes) if step != 3 else table.nodes[-1]
        table = table.without_node(gone)
        before = history[-1][1]
        after = np.array(table.nodes)[table.route(keys)]
        moved = before != after
        assert moved.sum() == (before == gone).sum() > 0, f"exactly {gone}'s keys move"
        assert (before[moved] == gone).all() and gone not in set(after.tolist())
        history.append((table, after))
    # Rejoining in reverse order of leaving restores each earlier mapping exactly, key by key.
    for (earlier, mapping), (_, left) in zip(reversed(history[:-1]), reversed(history[1:])):
        name = (set(earlier.nodes) - set(table.nodes)).pop()
        table = table.with_node(name)
        assert table.nodes == earlier.nodes and table.to_bytes() == earlier.to_bytes()
        assert (np.array(table.nodes)[table.route(keys)] == mapping).all()
    assert table.to_bytes() == struct.pack("<I", 60)


def test_rejoining_out_of_order_moves_only_keys_onto_the_joining_node():
    keys = _keys()
    table = JumpBackAnchorHash([f"node-{i}" for i in range(30)])
    table = table.without_node("node-4").without_node("node-11")
    before = np.array(table.nodes)[table.route(keys)]
    back = table.with_node("node-4")  # takes bucket 11, the most recently freed
    after = np.array(back.nodes)[back.route(keys)]
    moved = before != after
    assert moved.any() and (after[moved] == "node-4").all()
    assert back.buckets[back.nodes.index("node-4")] == 11


def test_replicas_follow_the_probe_rule_over_node_indices():
    table = JumpBackAnchorHash([f"n{i}" for i in range(12)]).without_node("n3").without_node("n8")
    ref = JumpBackAnchor.from_state(table.to_bytes())
    live = ref.live()
    for k in range(200):
        h = xxhash.xxh3_64_intdigest(f"key-{k}".encode())
        want = probe_replicas(h, 10, 10, lambda x: live.index(ref.bucket(x)))
        assert list(table.replica_indices(f"key-{k}", 10)) == want
        assert list(table.replica_indices(f"key-{k}", 2)) == want[:2]
    assert table.route_replicas(["key-5"], 3)[0].tolist() == list(table.replica_indices("key-5", 3))


def test_without_removals_it_is_jumpbackhash():
    keys = _keys()[:20_000]
    nodes = [f"n{i}" for i in range(17)]
    assert JumpBackAnchorHash(nodes).route(keys).tolist() == JumpBackHash(nodes).route(keys).tolist()


def test_state_is_compact_deterministic_and_pickled():
    table = JumpBackAnchorHash([f"n{i}" for i in range(10)]).without_node("n2").without_node("n7")
    assert table.to_bytes() == struct.pack("<3I", 10, 2, 7)  # 4 + 4 per removed node
    same = JumpBackAnchorHash([f"n{i}" for i in range(10)]).without_node("n2").without_node("n7")
    assert same.to_bytes() == table.to_bytes() and same.fingerprint() == table.fingerprint()
    clone = pickle.loads(pickle.dumps(table))
    assert type(clone) is JumpBackAnchorHash and clone == table and clone.to_bytes() == table.to_bytes()
    keys = _keys()[:5000]
    assert clone.route(keys).tolist() == table.route(keys).tolist()
    other_order = JumpBackAnchorHash([f"n{i}" for i in range(10)]).without_node("n7").without_node("n2")
    assert other_order.fingerprint() != table.fingerprint()  # the history, not just the set, decides


@pytest.mark.parametrize("state, nodes, pattern", [
    (b"", 1, r"^state: corrupted: length must be 4 \+ 4 \* removed buckets, got 0 bytes"),
    (b"\x03\x00\x00\x00\x01", 2, r"^state: corrupted: length"),
    (struct.pack("<I", 0), 1, r"^state: historic bucket count must be in 1\.\.=16777216, got 0"),
    (struct.pack("<I", 2**32 - 1), 1, r"^state: historic bucket count must be in"),
    (struct.pack("<3I", 5, 1, 1), 3, r"^state: removed bucket id 1 is out of range 0\.\.5 or listed twice"),
    (struct.pack("<2I", 5, 9), 4, r"^state: removed bucket id 9 is out of range"),
    (struct.pack("<3I", 2, 0, 1), 1, r"^state: 2 removed buckets leave no live bucket of 2"),
    (struct.pack("<2I", 5, 1), 3, r"^nodes: the state has 4 live buckets, got 3 nodes"),
])
def test_corrupted_states_are_clear_errors(state, nodes, pattern):
    with pytest.raises(ValueError, match=pattern):
        JumpBackAnchorHash.from_bytes([f"n{i}" for i in range(nodes)], state)


def test_bad_arguments_are_clear_errors():
    table = JumpBackAnchorHash(["a", "b", "c"])
    with pytest.raises(TypeError, match="^state: expected bytes"):
        JumpBackAnchorHash(["a"], state="0100")
    with pytest.raises(KeyError, match="name: unknown node 'zz'"):
        table.without_node("zz")
    with pytest.raises(ValueError, match="^name: node 'b' is already present"):
        table.with_node("b")
    with pytest.raises(ValueError, match="^name: cannot remove the last node"):
        JumpBackAnchorHash(["a"]).without_node("a")
    with pytest.raises(ValueError, match=r"^weights: JumpBackAnchorHash is unweighted: every weight must be 1"):
        JumpBackAnchorHash(["a", "b"], [1, 3])
    with pytest.raises(ValueError, match="^weight: JumpBackAnchorHash cannot weight nodes"):
        table.with_node("d", 2)
    with pytest.raises(ValueError, match=r"^nodes\[3\]: node names must not be empty"):
        table.with_node("")
    with pytest.raises(TypeError, match="^nodes: .*set"):
        JumpBackAnchorHash({"a", "b"})


def test_exported_and_usable_from_the_cluster_file():
    assert fastroute.JumpBackAnchorHash is JumpBackAnchorHash and "JumpBackAnchorHash" in fastroute.__all__
    spec = parse_cluster("algorithm = 'jumpback_anchor'\n[[nodes]]\nname = 'a'\n[[nodes]]\nname = 'b'\n")
    table = spec.build_placement()
    assert type(table) is JumpBackAnchorHash and table.nodes == ("a", "b")
    spec = parse_cluster("algorithm = 'jumpback_anchor'\n[[nodes]]\nname = 'a'\nweight = 2\n")
    with pytest.raises(ValueError, match="^weights"):
        spec.build_placement()
