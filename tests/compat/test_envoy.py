# SPDX-License-Identifier: Apache-2.0
"""Envoy RING_HASH / MAGLEV: the published vectors of ring_hash_lb_test.cc and
maglev_lb_test.cc listed in docs/algorithms.md §2.5 and §3.3."""
import random

import numpy as np
import pytest

import fastroute
from fastroute.compat import envoy
from tests._internals import ring_point_owners
from tests.reference.murmur2 import murmur2_64


def hosts(ports):
    return [f"127.0.0.1:{p}" for p in ports]


def owner(table, h):
    return table.nodes[table.get_index_hashed(h)]


def test_murmur2_matches_reference():
    rng = random.Random(5)
    keys = [rng.randbytes(rng.randrange(0, 40)) for _ in range(5000)]
    assert fastroute.hash_keys(keys, "murmur2").tolist() == [murmur2_64(k) for k in keys]


def test_basic_ring():
    ring = envoy.RingHash(hosts(range(90, 96)), minimum_ring_size=12)
    assert ring.points == 12
    assert owner(ring, 0) == "127.0.0.1:94"
    assert owner(ring, 2**64 - 1) == "127.0.0.1:94"
    assert owner(ring, 3551244743356806947) == "127.0.0.1:95"
    assert owner(ring, 3551244743356806948) == "127.0.0.1:93"
    assert owner(ring, 16117243373044804880) == "127.0.0.1:90"


def test_basic_with_murmur2():
    ring = envoy.RingHash(hosts(range(80, 86)), minimum_ring_size=12, hash_function="MURMUR_HASH_2")
    assert owner(ring, 0) == "127.0.0.1:85"
    assert owner(ring, 2**64 - 1) == "127.0.0.1:85"
    assert owner(ring, 1358027074129602068) == "127.0.0.1:85"
    assert owner(ring, 1358027074129602069) == "127.0.0.1:83"
    assert owner(ring, 10150910876324007730) == "127.0.0.1:82"


def test_basic_with_hostname_keys():
    ring = envoy.RingHash([str(p) for p in range(90, 96)], minimum_ring_size=12)
    assert owner(ring, 0) == "95" and owner(ring, 2**64 - 1) == "95"
    assert owner(ring, 7225015537174310577) == "92"
    assert owner(ring, 6803900775736438537) == "93"


def test_uneven_hosts():
    assert owner(envoy.RingHash(hosts([80, 81]), minimum_ring_size=3), 0) == "127.0.0.1:80"
    assert owner(envoy.RingHash(hosts([81, 82]), minimum_ring_size=3), 0) == "127.0.0.1:81"
    assert envoy.RingHash(hosts([80, 81]), minimum_ring_size=3).points == 4


def test_host_weighted_tiny_and_large_rings():
    tiny = envoy.RingHash(hosts([90, 91, 92]), [1, 2, 3], minimum_ring_size=6, maximum_ring_size=6)
    expected = {928266305478181108: 92, 4443673547860492590: 92, 5583722120771150861: 91,
                6311230543546372928: 91, 13444792449719432967: 92, 16117243373044804889: 90}
    for h, port in expected.items():
        assert owner(tiny, h) == f"127.0.0.1:{port}"
    large = envoy.RingHash(hosts([90, 91, 92]), [1, 2, 3], minimum_ring_size=6144)
    assert large.points == 6144
    step = (2**64 - 1) // 6000
    probes = np.arange(6000, dtype=np.uint64) * np.uint64(step)
    assert np.bincount(large.route_hashed(probes), minlength=3).tolist() == [987, 1932, 3081]


def test_fractional_scales():
    ring = envoy.RingHash(hosts([90, 91]), minimum_ring_size=1023, maximum_ring_size=1023)
    step = (2**64 - 1) // 1023
    probes = np.arange(1023, dtype=np.uint64) * np.uint64(step)
    assert np.bincount(ring.route_hashed(probes), minlength=2).tolist() == [526, 497]
    small = envoy.RingHash(hosts([90, 91, 92, 93]), minimum_ring_size=2, maximum_ring_size=2)
    assert small.points == 2


def test_maglev_vectors():
    def table(m):
        return m.route_hashed(np.arange(m.table_size, dtype=np.uint64)).tolist()

    assert table(envoy.Maglev(hosts(range(90, 96)), table_size=7)) == [2, 4, 0, 1, 5, 0, 3]
    assert table(envoy.Maglev(hosts([90, 91]), [1, 2], table_size=17)) == \
        [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1]
    with pytest.raises(ValueError, match="prime"):
        envoy.Maglev(hosts([90]), table_size=8)


def test_bad_envoy_arguments():
    with pytest.raises(ValueError, match="hash_function"):
        envoy.RingHash(hosts([90]), hash_function="CITY_HASH")
    with pytest.raises(ValueError, match=r"weights\[0\]"):
        envoy.RingHash(hosts([90]), [0])
    with pytest.raises(ValueError, match=r"weights\[1\]"):
        envoy.Maglev(hosts([90, 91]), [1, 1.5])


def test_locality_weighted_tiny_ring():
    # §2.5 vector 5, locality variant: localities with weights 1,2,3,0, one host each (:93 in the 0 one).
    ring = envoy.RingHash(hosts([90, 91, 92, 93]), localities=["a", "b", "c", "d"],
                          locality_weights={"a": 1, "b": 2, "c": 3, "d": 0}, minimum_ring_size=6, maximum_ring_size=6)
    expected = {928266305478181108: 92, 4443673547860492590: 92, 5583722120771150861: 91,
                6311230543546372928: 91, 13444792449719432967: 92, 16117243373044804889: 90}
    for h, port in expected.items():
        assert owner(ring, h) == f"127.0.0.1:{port}"


def test_host_and_locality_weighted_rings():
    # §2.5 vector 7: A{:90 w1, :91 w2}, B{:92 w1, :93 w2}, locality weights 1, 2.
    args = dict(localities=["A", "A", "B", "B"], locality_weights={"A": 1, "B": 2})
    tiny = envoy.RingHash(hosts([90, 91, 92, 93]), [1, 2, 1, 2], minimum_ring_size=9, maximum_ring_size=9, **args)
    expected = {928266305478181108: 92, 3851675632748031481: 93, 5583722120771150861: 91,
                6311230543546372928: 91, 7700377290971790572: 93, 12559126875973811811: 93,
                13444792449719432967: 92, 13784988426630141778: 93, 16117243373044804889: 90}
    for h, port in expected.items():
        assert owner(tiny, h) == f"127.0.0.1:{port}"
    large = envoy.RingHash(hosts([90, 91, 92, 93]), [1, 2, 1, 2], minimum_ring_size=9216, **args)
    step = (2**64 - 1) // 9000
    probes = np.arange(9000, dtype=np.uint64) * np.uint64(step)
    assert np.bincount(large.route_hashed(probes), minlength=4).tolist() == [924, 2009, 2053, 4014]


def test_lopsided_weight_small_scale():
    # §2.5 vector 9: :0 alone in locality A (weight 127), :1..:1023 in B (weight 1), min=max=1024.
    names = hosts(range(1024))
    ring = envoy.RingHash(names, localities=["A"] + ["B"] * 1023, locality_weights={"A": 127, "B": 1},
                          minimum_ring_size=1024, maximum_ring_size=1024)
    counts = np.bincount(ring_point_owners(ring), minlength=1024)
    assert counts[0] == 1016
    expected = {11664790346325243808: 1, 15894554872961148518: 128, 13958138884277627155: 256,
                15803774069438192949: 384, 3829253010855396576: 512, 17918147347826565154: 640,
                6442769608292299103: 768, 5881074926069334434: 896}
    for h, port in expected.items():
        assert owner(ring, h) == f"127.0.0.1:{port}"


def test_maglev_locality_vectors():
    def table(m):
        return m.route_hashed(np.arange(m.table_size, dtype=np.uint64)).tolist()

    same = envoy.Maglev(hosts([90, 91]), [1, 2], table_size=17, localities=["A", "B"],
                        locality_weights={"A": 1, "B": 1})
    assert table(same) == [1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]
    # Localities [A:{:90}, B:{:92}, C:{:91}] weights 8, 0, 2 (host order :90, :91, :92).
    different = envoy.Maglev(hosts([90, 91, 92]), table_size=17, localities=["A", "C", "B"],
                             locality_weights={"A": 8, "B": 0, "C": 2})
    assert table(different) == [1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]
