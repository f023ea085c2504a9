# SPDX-License-Identifier: Apache-2.0
"""Ketama continuums as a placement class: their own arguments, per-node options
under with/without_node, pickling. Their routing is pinned by the published and
live vectors (tests/test_placement_vectors.py) and the live nginx/HAProxy
tests, through fastroute.config."""
import pickle

import numpy as np
import pytest

from fastroute.placement import Ketama

NODES = ("s1", "s2", "s3", "s4")
KEYS = [f"/pay/{i}?card=4111" for i in range(300)]


def test_ketama_checks_flavor_weights_and_vnodes():
    with pytest.raises(ValueError, match="flavor: expected one of"):
        Ketama(NODES, flavor="ketama")
    with pytest.raises(TypeError, match=r"weights\[0\]: weights must be integers"):
        Ketama(NODES, [1.5, 1, 1, 1], flavor="uhashring_ketama")
    with pytest.raises(ValueError, match=r"vnodes\[2\]: must be in \[0, "):
        Ketama(NODES, flavor="uhashring_meta", vnodes=[1, 1, -1, 1])
    with pytest.raises(ValueError, match=r"replicas: must be in \[1, 4\]"):
        Ketama(NODES, replicas=5)


def test_ketama_ring_points_and_position_agree_with_lookups():
    table = Ketama(NODES, [1, 1, 2, 1], flavor="uhashring_ketama", vnodes=[40] * 4, text_keys=True)
    points, owners = table.ring_points()
    assert len(points) == len(owners) > 0 and np.all(np.diff(points.astype(np.float64)) >= 0)
    for key in KEYS[:50]:
        assert owners[table.position(key)] == table.get_index(key)
    assert table.without_node("s3").ring_points()[0].size < points.size  # vnodes follow their node


@pytest.mark.parametrize("table", [
    Ketama(NODES, [1, 2, 3, 4], flavor="uhashring_meta", vnodes=[160, 160, 10, 0], text_keys=True),
    Ketama(NODES, [1.5, 2, 3, 4]),
], ids=["uhashring_meta", "libketama"])
def test_pickles_rebuild_the_same_table(table):
    copy = pickle.loads(pickle.dumps(table))
    assert copy == table and copy.fingerprint() == table.fingerprint()
    assert copy.route(KEYS).tolist() == table.route(KEYS).tolist()
