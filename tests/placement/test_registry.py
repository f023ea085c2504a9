# SPDX-License-Identifier: Apache-2.0
"""The kind registry on both sides (engine `KINDS`, Python `FACES` / `PLACEMENTS`)
and the engine's generic options: each kind file reads its own, by name."""
import pytest

from fastroute import HashRing, Maglev
from fastroute.cluster import PLACEMENTS
from fastroute.membership.base import PYTHON_PLACEMENTS
from fastroute.placement import JumpHash
from fastroute.placement._registry import FACES, registered
from tests._internals import engine_placement_kinds, raw_placement_table

NAMES, WEIGHTS = ["a", "b", "c"], [1.0, 2.0, 1.0]


def test_every_engine_kind_has_exactly_one_face_and_cluster_name():
    kinds = engine_placement_kinds()
    assert len(set(kinds)) == len(kinds) >= 10
    assert set(FACES) == set(kinds)
    assert all(cls._kind == name for name, cls in FACES.items())
    # every engine kind, plus the configuration-table modes listed by name (httpd stickysession routes)
    assert set(PLACEMENTS) == set(kinds) | {"httpd_sticky"}
    assert PYTHON_PLACEMENTS.keys() == {"httpd_sticky"} and not set(PYTHON_PLACEMENTS) & set(kinds)
    assert type(PLACEMENTS["jump"](NAMES, [1.0] * 3, {})) is JumpHash
    with pytest.raises(ValueError, match="weights: JumpHash cannot weight nodes"):
        PLACEMENTS["jump"](NAMES, WEIGHTS, {})


def test_registered_refuses_an_inherited_or_taken_kind():
    class Inherits(HashRing):
        __slots__ = ()

    class Taken(HashRing):
        __slots__ = ()
        _kind = "ring"

    with pytest.raises(TypeError, match="declares its kind name"):
        registered(Inherits)
    with pytest.raises(TypeError, match="'ring' is already HashRing"):
        registered(Taken)
    assert FACES["ring"] is HashRing


def test_the_generic_options_build_what_the_face_builds():
    raw = raw_placement_table("maglev", NAMES, WEIGHTS, {"table_size": 251, "weights_are_shares": False})
    assert raw.fingerprint() == Maglev(NAMES, WEIGHTS, table_size=251).fingerprint()
    keys = [f"k{i}" for i in range(200)]
    assert [raw.get_index(k) for k in keys] == Maglev(NAMES, WEIGHTS, table_size=251).route(keys).tolist()


@pytest.mark.parametrize("kind, options, error, message", [
    ("jump", {"table_size": 7}, ValueError, 'options: placement "jump" has no option "table_size"'),
    ("maglev", {"table_size": 7}, ValueError, 'weights_are_shares: option required for placement "maglev"'),
    ("maglev", {"table_size": 7.0, "weights_are_shares": False}, ValueError, "table_size: expected int, got float"),
    ("maglev", {"table_size": -7, "weights_are_shares": False}, ValueError, "table_size: integer out of range"),
    ("haproxy_map", {"avalanche": 1}, ValueError, "avalanche: expected bool, got int"),
    ("ring", {"mode": "fixed", "points_per_weight": 10, "min_ring_size": 1, "max_ring_size": 100,
              "lookup": "closest", "weights_are_shares": False},
     ValueError, r'lookup: expected one of \["at_or_after", "after", "nearest"\], got "closest"'),
    ("ketama", {"flavor": "libketama", "vnodes": {40}, "replicas": 4}, TypeError, r'options\["vnodes"\]: expected'),
    ("ketama", {"flavor": "libketama", "vnodes": ["40"], "replicas": 4}, TypeError, r'options\["vnodes"\]: expected'),
    ("toy", None, ValueError, 'kind: unknown placement "toy"'),
])
def test_the_engine_names_the_option_it_refuses(kind, options, error, message):
    with pytest.raises(error, match=message):
        raw_placement_table(kind, NAMES, WEIGHTS, options)
