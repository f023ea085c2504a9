# SPDX-License-Identifier: Apache-2.0
"""The compatibility kinds as public classes (nginx, HAProxy, ketama): their
own arguments, per-node options under with/without_node, pickling. Their
routing is pinned by the published/live vectors (tests/test_placement_vectors.py)
and the live nginx/HAProxy tests, through fastroute.config."""
import pickle

import numpy as np
import pytest

from fastroute.placement import (HAProxyConsistentHash, HAProxyMapHash, Ketama, NginxConsistentHash,
                                 NginxPlainHash)

NODES = ("s1", "s2", "s3", "s4")
KEYS = [f"/pay/{i}?card=4111" for i in range(300)]


def test_nginx_plain_hash_first_attempt_is_the_lookup_when_all_are_usable():
    table = NginxPlainHash(NODES, [1, 2, 1, 3])
    assert [table.attempts(k)[0] for k in KEYS[:50]] == [table.get_index(k) for k in KEYS[:50]]
    assert all(len(table.attempts(k)) == 21 for k in KEYS[:5])
    usable = [True, False, True, True]
    routed = table.route_usable(KEYS, usable)
    assert 1 not in routed.tolist()
    expected = [next(i for i in table.attempts(k) if usable[i]) if any(usable[i] for i in table.attempts(k))
                else 0 for k in KEYS]
    assert routed.tolist() == expected


@pytest.mark.parametrize("usable, rule", [([False] * 4, "at least one"), ([True] * 3, "4 bools"),
                                          ([1, 1, 1, 1], "bools")])
def test_nginx_plain_hash_usable_is_checked(usable, rule):
    with pytest.raises((TypeError, ValueError), match=rule):
        NginxPlainHash(NODES).route_usable(KEYS, usable)


@pytest.mark.parametrize("cls", [NginxConsistentHash, NginxPlainHash])
def test_nginx_weights_are_integers_at_least_one(cls):
    with pytest.raises(ValueError, match=r"weights\[1\]: nginx server weights are integers >= 1"):
        cls(NODES, [1, 0, 1, 1])
    with pytest.raises(TypeError, match=r"weights\[0\]"):
        cls(NODES, [1.5, 1, 1, 1])


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


@pytest.mark.parametrize("table", [
    NginxConsistentHash(NODES, [1, 2, 3, 4]), NginxPlainHash(NODES, [2, 1, 1, 1]),
    HAProxyMapHash(NODES, [1, 2, 3, 4], "wt6", avalanche=True),
    HAProxyConsistentHash(NODES, [1, 2, 3, 4], "crc32", hash_key="addr-port", addresses=[1, 2, 3, 4],
                          ports=[80, 80, 81, 81]),
    Ketama(NODES, [1, 2, 3, 4], flavor="uhashring_meta", vnodes=[160, 160, 10, 0], text_keys=True),
    Ketama(NODES, [1.5, 2, 3, 4]),
], ids=lambda t: type(t).__name__)
def test_pickles_rebuild_the_same_table(table):
    copy = pickle.loads(pickle.dumps(table))
    assert copy == table and copy.fingerprint() == table.fingerprint()
    assert copy.route(KEYS).tolist() == table.route(KEYS).tolist()


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
