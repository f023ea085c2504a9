# SPDX-License-Identifier: Apache-2.0
"""Router: atomic swaps while many threads look up."""
import numpy as np
import pytest

from fastroute import HashRing, Maglev, Router
from tests._overlap import read_during_changes


def test_lookups_during_swaps_always_come_from_one_complete_table():
    a = HashRing([f"a{i}" for i in range(50)])
    b = Maglev([f"b{i}" for i in range(30)], table_size=251)
    keys = [f"card-{i}" for i in range(2000)]
    answers = {id(a): a.route(keys), id(b): b.route(keys)}
    names = {tuple(np.array(p.nodes, dtype=object)[answers[id(p)]]) for p in (a, b)}
    router = Router(a)
    seen = set()

    def read():
        got = tuple(router.route_names(keys))
        assert got in names  # one complete table, never a mix
        seen.add(got)
        assert router.get_node("card-7") in (a.get_node("card-7"), b.get_node("card-7"))

    result = read_during_changes(router, read, lambda i: router.swap(b if i % 2 == 0 else a))
    assert seen == names  # readers saw both tables
    assert router.generation == result["changes"]


def test_swap_returns_previous_and_checks_type():
    a, b = HashRing(["x"]), HashRing(["y"])
    router = Router(a)
    assert router.swap(b) is a
    assert router.placement is b and router.nodes == ("y",)
    with pytest.raises(TypeError, match="new: expected a fastroute placement"):
        router.swap("not a placement")
    with pytest.raises(TypeError, match="placement"):
        Router(None)
