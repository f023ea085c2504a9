# SPDX-License-Identifier: Apache-2.0
"""HAProxy hash balancing as placements (HAProxyConsistentHash, HAProxyMapHash): options,
server ids kept aligned by with/without_node, the map table; routing is pinned by
tests/test_placement_vectors.py and tests/test_live_haproxy.py."""
import numpy as np
import pytest

from fastroute.placement import HAProxyConsistentHash, HAProxyMapHash

NODES = ("s1", "s2", "s3", "s4")
KEYS = [f"/pay/{i}?card=4111" for i in range(300)]


def test_haproxy_options_are_checked():
    with pytest.raises(ValueError, match="hash: expected one of"):
        HAProxyMapHash(NODES, hash="xxh3")
    with pytest.raises(ValueError, match=r"weights\[0\]: weights must be in \[0, 256\]"):
        HAProxyMapHash(NODES, [257, 1, 1, 1])
    with pytest.raises(TypeError, match="avalanche: expected a bool"):
        HAProxyConsistentHash(NODES, avalanche=1)
    with pytest.raises(ValueError, match="legacy_id_key: only with hash_key='id'"):
        HAProxyConsistentHash(NODES, hash_key="addr", legacy_id_key=True, addresses=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="addresses: hash_key='addr' needs"):
        HAProxyConsistentHash(NODES, hash_key="addr")
    with pytest.raises(ValueError, match="server_ids: expected 4 values"):
        HAProxyConsistentHash(NODES, server_ids=[1, 2])


def test_haproxy_default_ids_are_one_to_n():
    # Without server_ids the ids are 1, 2, … in node order (what HAProxy gives servers without `id`).
    assert HAProxyConsistentHash(NODES).fingerprint() == HAProxyConsistentHash(NODES, server_ids=[1, 2, 3, 4]).fingerprint()
    assert HAProxyConsistentHash(NODES).fingerprint() != HAProxyConsistentHash(NODES, server_ids=[4, 3, 2, 1]).fingerprint()


def test_haproxy_without_node_keeps_per_server_options_aligned():
    table = HAProxyConsistentHash(NODES, [1, 2, 3, 4], hash="djb2", avalanche=True, server_ids=[7, 3, 9, 5])
    smaller = table.without_node("s2")
    direct = HAProxyConsistentHash(("s1", "s3", "s4"), [1, 3, 4], hash="djb2", avalanche=True,
                                   server_ids=[7, 9, 5])
    assert smaller == direct
    assert smaller.route(KEYS).tolist() == direct.route(KEYS).tolist()
    assert table.with_weight("s3", 1) == HAProxyConsistentHash(NODES, [1, 2, 1, 4], hash="djb2", avalanche=True,
                                                               server_ids=[7, 3, 9, 5])
    with pytest.raises(ValueError, match="needs server_ids/addresses/ports for each node"):
        table.with_node("s5")


def test_haproxy_map_slot_count_is_the_weight_sum_table():
    table = HAProxyMapHash(NODES, [1, 2, 3, 4])
    order = table.route_hashed(np.arange(table.slot_count, dtype=np.uint64)).tolist()
    assert sorted(order) == [0] + [1] * 2 + [2] * 3 + [3] * 4
