# SPDX-License-Identifier: Apache-2.0
"""IPHash: nginx ip_hash semantics against tests/reference/iphash.py."""
import ipaddress

import numpy as np
import pytest

from fastroute import IPHash
from tests.reference.iphash import IPHashRef


def addresses(rng, n):
    out = []
    for i in range(n):
        if i % 4 == 3:
            out.append(str(ipaddress.IPv6Address(rng.getrandbits(128))))
        else:
            out.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
    return out


@pytest.mark.parametrize("weights", [[1, 1, 1], [5, 1, 2, 0, 3], [1]])
def test_matches_reference(weights, rng):
    names = [f"10.0.0.{i}:80" for i in range(len(weights))]
    ip = IPHash(names, weights)
    ref = IPHashRef(weights)
    keys = addresses(rng, 3000)
    expected = [ref.lookup(k) for k in keys]
    assert ip.route(keys).tolist() == expected
    assert [ip.get_index(k) for k in keys[:500]] == expected[:500]
    assert ip.route(np.array(keys)).tolist() == expected
    assert ip.route([k.encode() for k in keys]).tolist() == expected
    holders = sum(1 for w in weights if w)
    for k in keys[:200]:
        assert list(ip.replica_indices(k, holders)) == ref.replicas(k, holders)


def test_slash_24_sticks_and_ints_are_ipv4():
    ip = IPHash(["a", "b", "c", "d"])
    assert len({ip.get_node(f"192.168.7.{i}") for i in range(256)}) == 1
    assert ip.get_index(int(ipaddress.IPv4Address("192.168.7.9"))) == ip.get_index("192.168.7.1")
    # By hand: 89 → 3978 → 4441 → 160 over (192, 168, 7); 160 % 4 = 0.
    assert ip.get_node("192.168.7.1") == "a"


def test_bad_addresses():
    ip = IPHash(["a", "b"])
    with pytest.raises(ValueError, match="not an IPv4/IPv6 address"):
        ip.get_index("not-an-ip")
    with pytest.raises(ValueError, match=r"keys\[1\]: not an IPv4/IPv6 address"):
        ip.route(["10.0.0.1", "nope"])
    with pytest.raises(ValueError, match="2\\*\\*32"):
        ip.get_index(2**40)
    with pytest.raises(TypeError, match="weights"):
        IPHash(["a", "b"], [1.5, 1])
