# SPDX-License-Identifier: Apache-2.0
"""fastroute.compat.uhashring.HashRing sends every key where the real
uhashring package does, in both modes, weighted, and after add/remove."""
import random

import numpy as np
import pytest
import uhashring

from fastroute.compat.uhashring import HashRing

MODES = [{}, {"hash_fn": "ketama"}]


def keys(n, seed=0):
    rng = random.Random(seed)
    out = [f"user:{rng.randrange(10**9)}" for _ in range(n - 3)]
    return out + [12345, b"raw", "ünïcode"]  # non-str keys are hashed as str(key), like uhashring


@pytest.mark.parametrize("mode", MODES, ids=["md5", "ketama"])
@pytest.mark.parametrize(
    "nodes",
    [
        ["node1", "node2", "node3"],
        {"a": 1, "b": 2, "c": 3, "d": 1},
        {"cache-1": {"weight": 2, "instance": "I1", "port": 11211}, "cache-2": {"vnodes": 80},
         "cache-3": {"hostname": "10.0.0.3"}},
        [f"10.1.0.{i}:11211" for i in range(50)],
    ],
    ids=["plain", "weighted", "confs", "fifty"],
)
def test_same_node_for_100k_keys(mode, nodes):
    ours, theirs = HashRing(nodes, **mode), uhashring.HashRing(nodes, **mode)
    ks = keys(100_000)
    expected = [theirs.get_node(k) for k in ks]
    assert [ours.get_node(k) for k in ks] == expected
    names = list(ours.get_nodes())
    assert [names[i] for i in ours.route(ks).tolist()] == expected
    assert ours.distribution == theirs.distribution
    assert ours.conf == theirs.conf
    for k in ks[:2000]:
        assert ours.get(k) == theirs.get(k)
        assert ours.get_node_pos(k) == theirs.get_node_pos(k)
        assert list(ours.range(k, 2)) == list(theirs.range(k, 2))
        assert list(ours.iterate_nodes(k)) == list(theirs.iterate_nodes(k))
    assert ours.get_key("test") == theirs.get_key("test")
    assert ours.get_instances() == theirs.get_instances()


@pytest.mark.parametrize("mode", MODES, ids=["md5", "ketama"])
def test_same_after_add_and_remove(mode):
    ours, theirs = HashRing(["a", "b", "c"], **mode), uhashring.HashRing(["a", "b", "c"], **mode)
    for ring in (ours, theirs):
        ring.add_node("d", {"weight": 3, "instance": "D"})
        ring.remove_node("b")
        ring["e"] = {"weight": 1}
        del ring["a"]
    ks = keys(100_000, seed=1)
    assert [ours.get_node(k) for k in ks] == [theirs.get_node(k) for k in ks]
    assert ours[ks[0]] == theirs[ks[0]]
    with pytest.raises(KeyError, match="not found"):
        ours.remove_node("zz")


def test_published_vectors():
    ketama = HashRing(["node1", "node2", "node3"], hash_fn="ketama")
    assert ketama.get_key("test") == 3446378249
    assert [ketama.get_node(k) for k in ("coconut", "zoro", "test", "hello")] == ["node2", "node3", "node2", "node2"]
    meta = HashRing(["node1", "node2", "node3"])
    assert meta.get_key("test") == 12707736894140473154801792860916528374
    assert [meta.get_node(k) for k in ("coconut", "zoro", "test", "hello", "b")] == \
        ["node2", "node2", "node3", "node3", "node1"]
    assert ketama.size == meta.size == 480


def test_empty_ring_and_errors():
    empty = HashRing([])
    assert empty.get_node("x") is None and empty.get("x") is None and empty.get_points() == []
    with pytest.raises(TypeError, match="hash_fn"):
        HashRing(["a"], hash_fn=lambda k: 1)
    with pytest.raises(TypeError, match="unknown option"):
        HashRing(["a"], vnode=3)
    with pytest.raises(ValueError, match="weight"):
        HashRing({"a": {"weight": -1}})
    with pytest.raises(ValueError, match="list or a dict"):
        HashRing(42)
    np.testing.assert_array_equal(HashRing(["a", "b"]).route(np.array(["x", "y"])),
                                  HashRing(["a", "b"]).route(["x", "y"]))


def test_absurd_sizes_are_refused_not_built():
    import fastroute

    with pytest.raises(ValueError, match="2\\*\\*26"):
        HashRing({"a": {"vnodes": 10**12}})
    with pytest.raises(ValueError, match="2\\*\\*26"):
        fastroute.load_nginx("upstream u { hash $k consistent; server a:1 weight=900000; }", "u")
