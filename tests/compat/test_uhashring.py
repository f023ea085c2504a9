# SPDX-License-Identifier: Apache-2.0
"""fastroute.compat.uhashring.HashRing sends every key where the real
uhashring package does, in both modes, weighted, and after add/remove."""
import hashlib
import random
import zlib

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
        HashRing(["a"], hash_fn="sha1")  # not callable, not "ketama": uhashring's TypeError
    with pytest.warns(UserWarning, match=r"\['vnode'\] ignored"):
        HashRing(["a"], vnode=3)
    with pytest.raises(TypeError, match="weight_fn"):
        HashRing(["a"], weight_fn=3)
    with pytest.raises(TypeError, match="hashable"):
        HashRing({"a": 1}).add_node(["unhashable"])
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


def _weak_hash(key):
    """A deliberately colliding hash (1000 values): collisions must resolve as uhashring's dict does."""
    return zlib.crc32(str(key).encode()) % 1000


HASH_FNS = [lambda k: int(hashlib.sha1(str(k).encode()).hexdigest(), 16), _weak_hash,
            lambda k: zlib.crc32(repr(k).encode())]


@pytest.mark.parametrize("hash_fn", HASH_FNS, ids=["sha1", "weak", "crc32-repr"])
def test_callable_hash_fn_matches_uhashring(hash_fn):
    nodes = {"a": 1, "b": {"weight": 2, "vnodes": 7}, "c": {"instance": "C"}}
    ours, theirs = HashRing(nodes, hash_fn=hash_fn), uhashring.HashRing(nodes, hash_fn=hash_fn)
    ks = keys(20_000, seed=3) + [("tuple", 1), 7.5]
    def same():
        assert [ours.get_node(k) for k in ks] == [theirs.get_node(k) for k in ks]
        assert ours.get_points() == theirs.get_points()
        assert ours.ring == theirs.ring and ours.size == theirs.size
        assert ours.distribution == theirs.distribution
        for k in ks[:300]:
            assert ours.get_server(k) == theirs.get_server(k)
            assert list(ours.range(k, 2)) == list(theirs.range(k, 2))
            assert list(ours.iterate_nodes(k, distinct=False))[:5] == list(theirs.iterate_nodes(k, distinct=False))[:5]
        assert ours.get_key("x") == theirs.get_key("x") == ours.hashi("x") == theirs.hashi("x")
    same()
    for ring in (ours, theirs):
        ring.add_node("d", {"weight": 3})
        ring["b"] = {"weight": 1}
        ring.remove_node("a")
    same()
    for ring in (ours, theirs):
        ring.regenerate()
    same()


@pytest.mark.parametrize("mode", MODES, ids=["md5", "ketama"])
@pytest.mark.parametrize("nodes", [[1, 2, 3], [("10.0.0.1", 11211), ("10.0.0.2", 11211)], ["", "x", "y"],
                                   [1, "1", "2"], {7: 2, "seven": {"port": 7}}],
                         ids=["ints", "tuples", "empty-name", "colliding-text", "dict"])
def test_any_hashable_node_name(mode, nodes):
    ours, theirs = HashRing(nodes, **mode), uhashring.HashRing(nodes, **mode)
    ks = keys(20_000, seed=4)
    assert [ours.get_node(k) for k in ks] == [theirs.get_node(k) for k in ks]
    assert ours.get_points() == theirs.get_points()
    assert ours.distribution == theirs.distribution and ours.conf == theirs.conf
    for k in ks[:200]:
        assert ours.get(k) == theirs.get(k) and ours.get_server(k) == theirs.get_server(k)
        assert list(ours.iterate_nodes(k)) == list(theirs.iterate_nodes(k))
    first = next(iter(nodes))
    ours.remove_node(first)
    theirs.remove_node(first)
    assert [ours.get_node(k) for k in ks] == [theirs.get_node(k) for k in ks]


@pytest.mark.parametrize("mode", MODES, ids=["md5", "ketama"])
def test_points_and_servers_are_uhashrings(mode):
    # Meta points are 128-bit in uhashring; the drop-in reports the same integers.
    ours, theirs = HashRing(["a", "b", "c"], **mode), uhashring.HashRing(["a", "b", "c"], **mode)
    assert ours.get_points() == theirs.get_points()
    assert ours.ring == theirs.ring and ours.continuum == theirs.continuum
    for k in keys(500, seed=5):
        assert ours.get_server(k) == theirs.get_server(k)
        assert ours.get_node_pos(k) == theirs.get_node_pos(k)


def test_ignored_options_are_ignored_as_uhashring_does():
    ks = keys(5000, seed=6)
    with pytest.warns(UserWarning, match="replicas"):
        ours = HashRing(["a", "b"], replicas=2)  # replicas only matters with hash_fn="ketama"
    theirs = uhashring.HashRing(["a", "b"], replicas=2)
    assert [ours.get_node(k) for k in ks] == [theirs.get_node(k) for k in ks]
    k2, t2 = HashRing(["a", "b"], hash_fn="ketama", replicas=2), uhashring.HashRing(["a", "b"], hash_fn="ketama",
                                                                                    replicas=2)
    assert [k2.get_node(k) for k in ks] == [t2.get_node(k) for k in ks] and k2.size == t2.size


def test_weight_fn_and_print_continuum(capsys):
    def weight_fn(**conf):
        return 3 if conf["nodename"] == "b" else 1

    ours = HashRing(["a", "b"], weight_fn=weight_fn, vnodes=2)
    theirs = uhashring.HashRing(["a", "b"], weight_fn=weight_fn, vnodes=2)
    ours.print_continuum()
    mine = capsys.readouterr().out
    theirs.print_continuum()
    assert mine == capsys.readouterr().out and mine.startswith("Numpoints in continuum: 8")


def test_bounded_load_over_the_drop_in():
    from fastroute import BoundedLoad

    ring = HashRing(["a", "b", "c"])
    bl = BoundedLoad(ring, balance_factor=1)
    assert bl.acquire("hot") == ring.get_node("hot")
    assert sorted(bl.acquire("hot") for _ in range(2)) == sorted(set("abc") - {ring.get_node("hot")})
    with pytest.raises(TypeError, match="compiled placement"):
        BoundedLoad(HashRing(["a"], hash_fn=_weak_hash))
