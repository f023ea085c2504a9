# SPDX-License-Identifier: Apache-2.0
"""Router: atomic swaps while many threads look up."""
import threading

import numpy as np
import pytest

from fastroute import HashRing, Maglev, Router


def test_lookups_during_swaps_always_come_from_one_complete_table():
    a = HashRing([f"a{i}" for i in range(50)])
    b = Maglev([f"b{i}" for i in range(30)], table_size=251)
    keys = [f"card-{i}" for i in range(2000)]
    answers = {id(a): a.route(keys), id(b): b.route(keys)}
    names = {tuple(np.array(p.nodes, dtype=object)[answers[id(p)]]) for p in (a, b)}
    router = Router(a)
    errors, stop = [], threading.Event()

    def reader():
        try:
            while not stop.is_set():
                got = tuple(router.route_names(keys))
                assert got in names
                node = router.get_node("card-7")
                assert node in (a.get_node("card-7"), b.get_node("card-7"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(300):
        router.swap(b if i % 2 == 0 else a)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert router.generation == 300


def test_swap_returns_previous_and_checks_type():
    a, b = HashRing(["x"]), HashRing(["y"])
    router = Router(a)
    assert router.swap(b) is a
    assert router.placement is b and router.nodes == ("y",)
    with pytest.raises(TypeError, match="new: expected a fastroute placement"):
        router.swap("not a placement")
    with pytest.raises(TypeError, match="placement"):
        Router(None)
