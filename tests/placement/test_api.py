# SPDX-License-Identifier: Apache-2.0
"""The contract every placement class shares: key forms, batch == per key,
replicas, immutability, pickling, determinism across processes, threads, GIL."""
import copy
import os
import pickle
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import fastroute
from fastroute import HashRing, IPHash, JumpHash, Maglev, Rendezvous
from tests._internals import placement_hash_name
from tests.conftest import random_keys

NODES = [f"proc-{i}" for i in range(7)]
WEIGHTS = [1, 2, 1, 3, 1, 1, 2]
HASHED = [
    lambda: HashRing(NODES, WEIGHTS),
    lambda: HashRing(NODES, WEIGHTS, mode="normalized", hash="xxh64", lookup="nearest"),
    lambda: Maglev(NODES, WEIGHTS, table_size=251),
    lambda: JumpHash(NODES),
    lambda: Rendezvous(NODES, WEIGHTS),
]
IDS = ["ring", "ring-normalized", "maglev", "jump", "rendezvous"]


@pytest.fixture(params=HASHED, ids=IDS)
def placement(request):
    return request.param()


def test_every_key_form_agrees_with_get_index(placement, rng):
    words = ["".join(rng.choice("abcé€中xyz") for _ in range(rng.randrange(0, 12))) for _ in range(3000)]
    expected = [placement.get_index(w) for w in words]
    forms = [
        words,
        tuple(words),
        np.array(words),
        np.array(words, dtype=object),
        pa.array(words),
        pa.array(words, type=pa.large_string()),
        pa.chunked_array([words[:1000], words[1000:]]),
        iter(words),
    ]
    for form in forms:
        assert placement.route(form).tolist() == expected, type(form)
    # Arrow slices carry an offset into the buffers.
    assert placement.route(pa.array(words)[100:200]).tolist() == expected[100:200]
    raw = [w.encode() for w in words]
    assert placement.route(pa.array(raw, type=pa.binary())).tolist() == expected
    assert placement.route(np.array([r.rstrip(b"\0") for r in raw], dtype="S")).tolist() == expected


def test_integer_keys(placement, rng):
    ints = np.array([rng.randrange(-(2**63), 2**63) for _ in range(2000)], dtype=np.int64)
    expected = [placement.get_index(int(v)) for v in ints]
    assert placement.route(ints).tolist() == expected
    assert placement.route(ints.tolist()).tolist() == expected
    assert placement.route(pa.array(ints)).tolist() == expected
    assert placement.route(ints.astype(">i8")).tolist() == expected
    assert placement.route(ints[::2]).tolist() == expected[::2]


def test_mixed_list_and_route_hashed(placement, rng):
    keys = random_keys(rng, 2000)
    expected = [placement.get_index(k) for k in keys]
    assert placement.route(keys).tolist() == expected
    hashes = fastroute.hash_keys(keys, hash=placement_hash_name(placement))
    assert placement.route_hashed(hashes).tolist() == expected
    assert [placement.get_index_hashed(int(h)) for h in hashes[:200]] == expected[:200]


def test_nulls_need_null_index(placement):
    arr = pa.array(["a", None, "b"])
    with pytest.raises(ValueError, match="null keys; pass null_index="):
        placement.route(arr)
    out = placement.route(arr, null_index=6)
    assert out.tolist() == [placement.get_index("a"), 6, placement.get_index("b")]
    with pytest.raises(ValueError, match="null_index"):
        placement.route(arr, null_index=7)


def test_replicas_contract(placement, rng):
    keys = random_keys(rng, 500)
    table = placement.route_replicas(keys, 4)
    assert table.shape == (500, 4) and table.dtype == np.int32
    for k, row in zip(keys, table.tolist()):
        assert len(set(row)) == 4
        assert row[0] == placement.get_index(k)
        assert tuple(placement.nodes[i] for i in row) == placement.replicas(k, 4)
    with pytest.raises(ValueError, match="n: must be"):
        placement.replicas("k", len(NODES) + 1)
    with pytest.raises(ValueError, match="n: must be"):
        placement.route_replicas(["k"], 0)


def test_immutable_updates(placement):
    grown = placement.with_node("proc-new", 1)
    assert grown.nodes == placement.nodes + ("proc-new",)
    assert placement.nodes == tuple(NODES)
    assert grown.fingerprint() != placement.fingerprint()
    assert grown.without_node("proc-new").fingerprint() == placement.fingerprint()
    with pytest.raises(ValueError, match="already present"):
        placement.with_node("proc-0")
    with pytest.raises(KeyError, match="unknown node"):
        placement.without_node("nope")
    if not isinstance(placement, JumpHash):
        heavier = placement.with_weight("proc-0", 5)
        assert heavier.weights[0] == 5
        assert heavier.fingerprint() != placement.fingerprint()


def test_pickle_copy_and_equality(placement):
    clone = pickle.loads(pickle.dumps(placement))
    assert type(clone) is type(placement)
    assert clone == placement and hash(clone) == hash(placement)
    assert clone.fingerprint() == placement.fingerprint()
    assert copy.copy(placement) is placement and copy.deepcopy(placement) is placement
    keys = [f"k{i}" for i in range(1000)]
    assert np.array_equal(clone.route(keys), placement.route(keys))


def test_same_answers_in_another_process_with_other_hash_seed(placement):
    keys = [f"card-{i}" for i in range(2000)]
    code = (
        "import pickle,sys,fastroute\n"
        "p=pickle.loads(sys.stdin.buffer.read())\n"
        "print(p.fingerprint()); print(','.join(map(str,p.route([f'card-{i}' for i in range(2000)]).tolist())))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(placement), env=env,
                         capture_output=True, check=True).stdout.decode().split()
    assert out[0] == placement.fingerprint()
    assert out[1] == ",".join(map(str, placement.route(keys).tolist()))


def test_thread_count_does_not_change_results(placement):
    keys = np.arange(400_000, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    one = placement.route(keys, threads=1)
    assert np.array_equal(one, placement.route(keys, threads=2))
    assert np.array_equal(one, placement.route(keys))
    with pytest.raises(ValueError, match="threads"):
        placement.route(keys, threads=0)


def test_gil_released_during_batch():
    from tests._gil import releases_gil

    ring = HashRing([f"n{i}" for i in range(100)])
    keys = np.arange(1_000_000, dtype=np.uint64)
    assert releases_gil(lambda: ring.route(keys, threads=1))
    assert releases_gil(lambda: ring.route_hashed(keys, threads=1))


@pytest.mark.parametrize("cls", [HashRing, Maglev, JumpHash, Rendezvous, IPHash])
@pytest.mark.parametrize(
    "nodes, weights, error, fragment",
    [
        ([], None, ValueError, "nodes: must not be empty"),
        (["a", "a"], None, ValueError, "duplicate node name"),
        (["a", 3], None, TypeError, "nodes[1]"),
        (["a", "b"], [1, float("nan")], (ValueError, TypeError), "weights[1]"),
        (["a", "b"], [1, float("inf")], (ValueError, TypeError), "weights[1]"),
        (["a", "b"], [1, -1], ValueError, "weights[1]"),
        (["a", "b"], [0, 0], ValueError, "weights"),
        (["a", "b"], [1], ValueError, "expected 2 weights"),
    ],
)
def test_bad_constructor_arguments(cls, nodes, weights, error, fragment):
    with pytest.raises(error) as info:
        cls(nodes, weights)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    "keys, error, fragment",
    [
        (np.array([1.5, 2.5]), TypeError, "float64"),
        (np.array([[1, 2]]), ValueError, "1-D"),
        ([1.5], TypeError, "keys[0]"),
        (np.array([b"x", None], dtype=object), TypeError, "keys[1]"),
        ("abc", TypeError, "single str"),
        (pa.array([1.5]), TypeError, "double"),
    ],
)
def test_bad_keys(placement, keys, error, fragment):
    with pytest.raises(error) as info:
        placement.route(keys)
    assert fragment in str(info.value)


def test_bad_hashes_and_single_keys(placement):
    with pytest.raises(TypeError, match="hashes"):
        placement.route_hashed(np.array([1.0]))
    with pytest.raises(ValueError, match="h:"):
        placement.get_index_hashed(-1)
    with pytest.raises(TypeError, match="key: keys must be str, bytes or int"):
        placement.get_node(1.5)
    with pytest.raises(TypeError, match="key"):
        placement.get_node(None)


def test_jump_rejects_weights_and_ring_accepts_mapping():
    with pytest.raises(ValueError, match="cannot weight"):
        JumpHash(["a", "b"], [1, 2])
    assert HashRing({"a": 1, "b": 2}).weights == (1.0, 2.0)
