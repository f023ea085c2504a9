# SPDX-License-Identifier: Apache-2.0
"""Property-based fuzzing of constructors and route().

Most generated examples are valid configurations and keys (so most reach the
batch == per-key assertion); a minority carries one deliberate defect (bad
name, weight, key or option). Bad input may only raise the documented types:
TypeError or ValueError naming the argument and the rule, and OverflowError
for an int key outside [-2**63, 2**64) (README, "Bad input"). Each test counts the examples that reached its
assertion and fails if too few did, so a strategy that drifts into rejecting
everything cannot pass unnoticed.
"""
import ipaddress

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fastroute import HashRing, IPHash, JumpHash, Maglev, Rendezvous

CLASSES = [HashRing, Maglev, JumpHash, Rendezvous, IPHash]
DOCUMENTED_ERRORS = (TypeError, ValueError, OverflowError)  # not KeyError, not anything else
MIN_REACHED_SHARE = 0.5  # by construction ~70 % are valid; half is the floor

valid_names = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8, unique=True)
bad_names = st.one_of(st.just([]), st.lists(st.one_of(st.integers(), st.none(), st.just("")), min_size=1, max_size=4),
                      st.just(["dup", "dup"]))
bad_weight = st.one_of(st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not (0 < x < 1e12)),
                       st.integers(-5, 0), st.text(max_size=2), st.integers(2**70, 2**71))
text_keys = st.one_of(st.text(max_size=20), st.binary(max_size=20), st.integers(0, 2**63 - 1))
ip_keys = st.one_of(st.integers(0, 2**32 - 1).map(lambda i: str(ipaddress.IPv4Address(i))),
                    st.integers(0, 2**128 - 1).map(lambda i: str(ipaddress.IPv6Address(i))))
bad_key = st.one_of(st.none(), st.floats(), st.integers(2**64, 2**70), st.integers(-(2**70), -1), st.just("not-an-ip"))


@st.composite
def configurations(draw):
    """(class, nodes, weights, keys, defect): defect names what was broken, or None."""
    cls = draw(st.sampled_from(CLASSES))
    defect = draw(st.sampled_from([None] * 7 + ["names", "weights", "keys"]))
    nodes = draw(bad_names if defect == "names" else valid_names)
    n = max(len(nodes), 1)
    if cls is IPHash:
        weights = draw(st.one_of(st.none(), st.lists(st.integers(1, 20), min_size=n, max_size=n)))
    elif cls is JumpHash:
        weights = None
    else:
        weights = draw(st.one_of(st.none(), st.lists(st.floats(0.01, 1000), min_size=n, max_size=n)))
    if defect == "weights":
        weights = list(weights or [1] * n)
        weights[draw(st.integers(0, n - 1))] = draw(bad_weight)
    keys = draw(st.lists(ip_keys if cls is IPHash else text_keys, max_size=30))
    if defect == "keys":
        keys.insert(draw(st.integers(0, len(keys))), draw(bad_key))
    return cls, nodes, weights, keys, defect


def run_counted(test, floor=MIN_REACHED_SHARE):
    seen = {"examples": 0, "reached": 0}
    test(seen)
    print(f"{test.__name__}: {seen['reached']}/{seen['examples']} examples reached the assertion")
    assert seen["reached"] >= floor * seen["examples"], seen


def test_constructors_and_route_never_crash():
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(config=configurations())
    def constructors_and_route(seen, config):
        cls, nodes, weights, keys, defect = config
        seen["examples"] += 1
        try:
            placement = cls(nodes, weights)
        except DOCUMENTED_ERRORS as exc:
            assert str(exc), "an error must say what was wrong"
            event(f"constructor rejected ({defect})")
            return
        try:
            batch = placement.route(keys)
        except DOCUMENTED_ERRORS:
            event(f"route rejected ({defect})")
            batch = None
        if batch is not None:
            assert batch.dtype == np.int32 and len(batch) == len(keys)
            assert all(0 <= i < len(placement.nodes) for i in batch.tolist())
            assert batch.tolist() == [placement.get_index(k) for k in keys]
            event("reached assertion")
            seen["reached"] += 1

    run_counted(constructors_and_route)


def test_options_and_route_hashed():
    @settings(max_examples=200, deadline=None)
    @given(cls=st.sampled_from([HashRing, Maglev, Rendezvous]),
           n=st.integers(1, 12),
           table_size=st.sampled_from([2, 3, 7, 17, 251, 4099] * 3 + [4, 9]),  # mostly prime
           ppw=st.one_of(st.floats(min_value=1, max_value=50), st.floats(min_value=1, max_value=50),
                         st.floats(min_value=-1, max_value=1), st.just(float("nan"))),
           hashes=st.lists(st.integers(0, 2**64 - 1), max_size=50))
    def options_and_route_hashed(seen, cls, n, table_size, ppw, hashes):
        seen["examples"] += 1
        nodes = [f"n{i}" for i in range(n)]
        try:
            if cls is HashRing:
                placement = cls(nodes, points_per_weight=ppw)
            elif cls is Maglev:
                placement = cls(nodes, table_size=table_size)
            else:
                placement = cls(nodes)
        except DOCUMENTED_ERRORS:
            event("options rejected")
            return
        out = placement.route_hashed(np.array(hashes, dtype=np.uint64))
        assert out.tolist() == [placement.get_index_hashed(h) for h in hashes]
        event("reached assertion")
        seen["reached"] += 1

    run_counted(options_and_route_hashed)
