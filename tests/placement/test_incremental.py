# SPDX-License-Identifier: Apache-2.0
"""Incremental membership updates (docs/algorithms.md §25): for every placement kind in
the registry, a random sequence of with_node / without_node / with_weight gives the
table a from-scratch build of the final membership gives — fingerprint, route over
20 000 keys, route_replicas(…, 3)."""
from __future__ import annotations

import pickle
import random

import numpy as np
import pytest

import fastroute.placement  # noqa: F401 - registers every face
from fastroute.placement import HashRing, JumpBackAnchorHash, Ketama, Maglev, Rendezvous
from fastroute.placement._registry import FACES
from fastroute.placement.jump import _Unweighted

SECRET = b"incremental-secret-0123456789"

#: Per kind: constructor options (several variants each) and the weights it accepts.
#: A kind not listed is built as cls(nodes, weights) with integer weights 1..4.
VARIANTS: dict[str, list[dict]] = {
    "ring": [{}, {"mode": "normalized", "min_ring_size": 64, "max_ring_size": 4096}, {"lookup": "after"},
             {"lookup": "nearest", "secret": SECRET}, {"points_per_weight": 7.5}],
    "ketama": [{"flavor": "libketama"}, {"flavor": "uhashring_ketama"}, {"flavor": "uhashring_meta"},
               {"flavor": "fastring", "vnodes": "per-node"}, {"flavor": "fastring"}],
    "maglev": [{"table_size": 251}, {"table_size": 65537, "secret": SECRET}],
    "jump": [{}, {"secret": SECRET}],
    "jumpback": [{}],
    "jumpback_anchor": [{}],
    "rendezvous": [{}, {"secret": SECRET}],
    "haproxy_chash": [{}, {"server_ids": "per-node"}],
}
#: Largest value of the per-node lists the tests make.
PER_NODE = {"vnodes": 200, "server_ids": 10_000}
FLOAT_WEIGHTS = {"ring", "maglev", "rendezvous"}

CASES = [(kind, i) for kind in FACES for i in range(len(VARIANTS.get(kind, [{}])))]


def _keys(kind: str, n: int = 20_000) -> list:
    rng = random.Random(7)
    if kind == "ip_hash":
        return [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(n)]
    return [f"card-{rng.randrange(10**12)}" for _ in range(n)]


def _weight(kind: str, options: dict, rng: random.Random):
    cls = FACES[kind]
    if issubclass(cls, _Unweighted):
        return 1
    if kind in FLOAT_WEIGHTS or options.get("flavor") == "libketama":
        return round(rng.uniform(0.25, 3.0), 3)
    return rng.randrange(1, 5)


def _build(kind: str, options: dict, nodes: list[str], weights: list, per_node: dict[str, list[int]]):
    cls = FACES[kind]
    opts = {k: v for k, v in options.items() if v != "per-node"}
    opts.update({k: list(v) for k, v in per_node.items()})
    if issubclass(cls, _Unweighted):
        return cls(nodes, **opts)
    return cls(nodes, weights, **opts)


def _assert_same(kind: str, got, want, n_replicas: int = 3) -> None:
    assert got.nodes == want.nodes
    assert got.weights == want.weights
    assert got.fingerprint() == want.fingerprint()
    keys = _keys(kind)
    np.testing.assert_array_equal(got.route(keys), want.route(keys))
    n = min(n_replicas, sum(1 for w in want.weights if w > 0))
    np.testing.assert_array_equal(got.route_replicas(keys[:5000], n), want.route_replicas(keys[:5000], n))
    assert [got.get_node(k) for k in keys[:50]] == [want.get_node(k) for k in keys[:50]]


@pytest.mark.parametrize("kind, variant", CASES)
def test_random_changes_equal_a_fresh_build(kind, variant):
    options = VARIANTS.get(kind, [{}])[variant]
    rng = random.Random(f"{kind}-{variant}")
    steps, count = 14, 12
    nodes = [f"node-{i}" for i in range(count)]
    weights = [_weight(kind, options, rng) for _ in nodes]
    per_node = {k: [rng.randrange(1, PER_NODE[k]) for _ in nodes] for k, v in options.items() if v == "per-node"}
    table = _build(kind, options, nodes, weights, per_node)
    serial = count
    for _ in range(steps):
        op = rng.choice(["add", "remove", "weight"] if len(nodes) > 2 else ["add", "weight"])
        if op == "add":
            name, w = f"new-{serial}", _weight(kind, options, rng)
            serial += 1
            extra = {k: rng.randrange(1, PER_NODE[k]) for k in per_node}
            if kind == "haproxy_chash" and per_node:
                extra["server_ids"] = 5000 + serial  # puids are unique
            table = table.with_node(name, w, **extra)
            nodes.append(name)
            weights.append(w)
            for k, v in extra.items():
                per_node[k].append(v)
        elif op == "remove":
            i = rng.randrange(len(nodes))
            if not any(w > 0 for j, w in enumerate(weights) if j != i):
                continue
            table = table.without_node(nodes[i])
            del nodes[i], weights[i]
            for v in per_node.values():
                del v[i]
        else:
            i = rng.randrange(len(nodes))
            w = _weight(kind, options, rng)
            table = table.with_weight(nodes[i], w)
            if not issubclass(FACES[kind], _Unweighted):
                weights[i] = w
        if kind == "jumpback_anchor":
            # The anchor kind carries its removal history; compare with the table rebuilt from it.
            want = JumpBackAnchorHash(list(table.nodes), state=table.to_bytes())
        else:
            want = _build(kind, options, nodes, weights, per_node)
        _assert_same(kind, table, want)
    assert table.keyed == ("secret" in options)


#: Equal-length names with equal CRC-32 (found by a birthday search with zlib.crc32): CRC-32
#: of `name + suffix` then agrees for every suffix, so every point "<name>_<j>" of one
#: node equals the other's — each point is a tie, decided by node index.
TWINS = ("tie-29685295", "tie-32060020")


@pytest.mark.parametrize("lookup", ["at_or_after", "after", "nearest"])
def test_equal_points_keep_the_fresh_builds_tie_order(lookup):
    def ring(nodes, weights):
        return HashRing(nodes, weights, hash="crc32", points_per_weight=40, lookup=lookup)

    base = ring(["x", TWINS[1], "y"], [1, 2, 1])
    points, _ = base.with_node(TWINS[0], 2)._ring().points()
    assert len(set(points.tolist())) < len(points)  # the twins' points coincide
    cases = [
        (base.with_node(TWINS[0], 2), ring(["x", TWINS[1], "y", TWINS[0]], [1, 2, 1, 2])),
        (base.with_node(TWINS[0], 3).with_weight(TWINS[1], 1), ring(["x", TWINS[1], "y", TWINS[0]], [1, 1, 1, 3])),
        (base.with_node(TWINS[0]).without_node("x"), ring([TWINS[1], "y", TWINS[0]], [2, 1, 1])),
        (base.with_node(TWINS[0]).without_node(TWINS[1]).with_node(TWINS[1], 2), ring(["x", "y", TWINS[0], TWINS[1]],
                                                                                   [1, 1, 1, 2])),
    ]
    for got, want in cases:
        _assert_same("ring", got, want)
        np.testing.assert_array_equal(got._ring().points()[1], want._ring().points()[1])


def test_old_table_is_untouched():
    ring = HashRing([f"n{i}" for i in range(20)])
    before = (ring.fingerprint(), ring.route(_keys("ring", 2000)).tolist())
    changed = ring.with_node("extra", 2).without_node("n3").with_weight("n4", 0.5)
    assert changed.fingerprint() != before[0]
    assert (ring.fingerprint(), ring.route(_keys("ring", 2000)).tolist()) == before
    assert ring.nodes == tuple(f"n{i}" for i in range(20))


def test_localities_follow_the_nodes_and_new_nodes_are_unknown():
    from fastroute.locality import UNKNOWN, Locality

    ring = HashRing(["a", "b", "c"]).with_localities(["eu/1", "eu/2", "us/1"])
    changed = ring.without_node("b").with_node("d")
    assert changed.localities == (Locality.parse("eu/1"), Locality.parse("us/1"), UNKNOWN)
    assert changed.replicas("k", 2, distinct="region") == HashRing(["a", "c", "d"]).with_localities(
        ["eu/1", "us/1", UNKNOWN]).replicas("k", 2, distinct="region")


def test_names_are_found_as_equal_strings_not_as_the_same_object():
    class Name(str):
        pass

    table = HashRing(["alpha", "beta", "gamma"])
    built = "".join(["be", "ta"])  # equal, not the stored object
    assert table.without_node(built).nodes == ("alpha", "gamma")
    assert table.without_node(Name("gamma")).nodes == ("alpha", "beta")
    assert table.with_weight(Name("alpha"), 2).weights == (2.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="name: node 'beta' is already present"):
        table.with_node(Name("beta"))


def test_changed_tables_pickle_as_a_fresh_build():
    table = Maglev([f"n{i}" for i in range(9)], table_size=251, secret=SECRET).with_node("x", 2).without_node("n1")
    again = pickle.loads(pickle.dumps(table))
    assert again.fingerprint() == table.fingerprint() and again.keyed


@pytest.mark.parametrize("call, error, message", [
    (lambda t: t.without_node("zz"), KeyError, "name: unknown node"),
    (lambda t: t.with_weight("zz", 1), KeyError, "name: unknown node"),
    (lambda t: t.with_node("a"), ValueError, "name: node 'a' is already present"),
    (lambda t: t.with_node(""), ValueError, "name: node names must not be empty"),
    (lambda t: t.with_node(7), TypeError, "name: node names must be str"),
    (lambda t: t.with_node("z", -1), ValueError, "weight: weights must be >= 0"),
    (lambda t: t.with_node("z", float("nan")), ValueError, "weight: weights must be finite"),
    (lambda t: t.with_node("z", "2"), TypeError, "weight: weights must be real numbers"),
    (lambda t: t.with_weight("a", 0).with_weight("b", 0), ValueError, "weight: giving 'b' weight 0.0 leaves no node"),
    (lambda t: t.with_node("z", 1, vnodes=3), TypeError, "vnodes: HashRing has no per-node option"),
    # Names are found by the binding's byte comparison: non-str names and a name that
    # only starts like a node's are unknown, never an error of another kind.
    (lambda t: t.without_node(b"a"), KeyError, "name: unknown node"),
    (lambda t: t.without_node(None), KeyError, "name: unknown node"),
    (lambda t: t.without_node("a\x00"), KeyError, "name: unknown node"),
    (lambda t: t.with_weight("\ud800", 1), KeyError, "name: unknown node"),
])
def test_bad_changes_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call(HashRing(["a", "b"]))


def test_bad_changes_of_other_kinds():
    with pytest.raises(ValueError, match="name: cannot remove the last node"):
        Rendezvous(["a"]).without_node("a")
    with pytest.raises(ValueError, match="name: removing 'b' leaves no node with weight > 0"):
        Rendezvous(["a", "b"], [0, 1]).without_node("b")
    with pytest.raises(TypeError, match="weight: weights must be integers"):
        Ketama(["a", "b"], [1, 2], flavor="uhashring_meta").with_node("c", 1.5)
    with pytest.raises(ValueError, match="weight: nginx server weights are integers >= 1"):
        FACES["nginx_chash"](["a", "b"]).with_node("c", 0)
    with pytest.raises(ValueError, match="weight: weights must be in \\[0, 256\\]"):
        FACES["haproxy_map"](["a", "b"]).with_weight("a", 300)
    with pytest.raises(ValueError, match="weight: jump consistent hash cannot weight nodes"):
        FACES["jump"](["a", "b"]).with_node("c", 2)
    fastring = Ketama(["a", "b"], [1, 1], flavor="fastring", vnodes=[16, 16])
    with pytest.raises(ValueError, match="pass vnodes= to add 'c'"):
        fastring.with_node("c", 1)
    with pytest.raises(ValueError, match="vnodes: must be"):
        fastring.with_node("c", 1, vnodes=-1)
    with pytest.raises(ValueError, match="points_per_weight: the ring would exceed 2\\*\\*26 points"):
        HashRing(["a"], points_per_weight=1e6).with_node("b", 80)


def test_a_removal_that_empties_the_ring_is_refused():
    # Fixed mode rounds 0.001 × 160 to no point: the remaining node holds none.
    ring = HashRing(["a", "b"], [1, 0.001])
    with pytest.raises(ValueError, match="weights/points_per_weight: no node holds a point"):
        ring.without_node("a")


def test_the_binding_refuses_a_description_the_change_does_not_produce():
    from fastroute import _rust

    table = HashRing(["a", "b"])
    new = _rust.PlacementTable.__new__
    good = new(HashRing, "ring", ("a", "b", "c"), (1.0, 1.0, 2.0), base=table, change=("add", "c", 2.0))
    assert good.fingerprint() == HashRing(["a", "b", "c"], [1, 1, 2]).fingerprint()
    for names, weights, change in [
        (("a", "b", "x"), (1.0, 1.0, 2.0), ("add", "c", 2.0)),  # another added name
        (("a", "b", "c"), (1.0, 1.0, 3.0), ("add", "c", 2.0)),  # another added weight
        (("a", "b"), (1.0, 1.0, 2.0), ("add", "c", 2.0)),  # a name short
        (("a",), (1.0, 1.0), ("remove", 1)),  # a weight too many
        (("a", "b"), (1.0, 5.0), ("weight", 1, 4.0)),  # another new weight
    ]:
        with pytest.raises(ValueError, match="base: internal: the change does not produce the table described"):
            new(HashRing, "ring", names, weights, base=table, change=change)
    with pytest.raises(ValueError, match="base: internal"):
        new(HashRing, "maglev", ("a", "b", "c"), (1.0, 1.0, 2.0), base=table, change=("add", "c", 2.0))
