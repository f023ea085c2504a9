# SPDX-License-Identifier: Apache-2.0
"""nginx's keyed upstreams as placements (NginxConsistentHash, NginxPlainHash): argument
checks and the plain hash's attempts; routing itself is pinned by the live-nginx vectors
(tests/test_placement_vectors.py, tests/test_live_nginx.py). Pickling: tests/placement/test_pickles.py."""
import pytest

from fastroute.placement import NginxConsistentHash, NginxPlainHash

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
