# SPDX-License-Identifier: Apache-2.0
"""Ketama continuums (libketama, uhashring flavours) as a placement class: option checks
and ring points; routing is pinned by the published vectors (tests/compat/test_uhashring.py)."""
import numpy as np
import pytest

from fastroute.placement import Ketama

NODES = ("s1", "s2", "s3", "s4")


@pytest.mark.parametrize("kwargs, error, rule", [
    ({"flavor": "ketama"}, ValueError, "flavor: expected one of"),
    ({"weights": [1.5, 1, 1, 1], "flavor": "uhashring_ketama"}, TypeError, r"weights\[0\]: weights must be integers"),
    ({"flavor": "uhashring_meta", "vnodes": [1, 1, -1, 1]}, ValueError, r"vnodes\[2\]: must be in \[0, "),
    ({"replicas": 5}, ValueError, r"replicas: must be in \[1, 4\]"),
    ({"text_keys": 1}, TypeError, "text_keys: expected a bool"),
])
def test_ketama_checks_its_options(kwargs, error, rule):
    with pytest.raises(error, match=rule):
        Ketama(NODES, **kwargs)


def test_ketama_ring_points_and_position_agree_with_lookups():
    table = Ketama(NODES, [1, 1, 2, 1], flavor="uhashring_ketama", vnodes=[40] * 4, text_keys=True)
    points, owners = table.ring_points()
    assert len(points) == len(owners) > 0 and np.all(np.diff(points.astype(np.float64)) >= 0)
    for key in [f"/pay/{i}?card=4111" for i in range(50)]:
        assert owners[table.position(key)] == table.get_index(key)
    assert table.without_node("s3").ring_points()[0].size < points.size  # vnodes follow their node
