# SPDX-License-Identifier: Apache-2.0
"""Property-based fuzzing of constructors and route(): arbitrary input either
works (and batch equals per-key) or raises TypeError/ValueError/OverflowError."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastroute import HashRing, IPHash, JumpHash, Maglev, Rendezvous

CLASSES = [HashRing, Maglev, JumpHash, Rendezvous, IPHash]
ALLOWED = (TypeError, ValueError, OverflowError, KeyError)

names = st.lists(st.one_of(st.text(max_size=12), st.integers(), st.none()), max_size=8)
weights = st.one_of(
    st.none(),
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 2**40), st.text(max_size=2)),
             max_size=8),
)
keys = st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=20), st.integers(-(2**70), 2**70),
                          st.floats(), st.none()), max_size=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cls=st.sampled_from(CLASSES), nodes=names, w=weights, ks=keys)
def test_constructors_and_route_never_crash(cls, nodes, w, ks):
    try:
        placement = cls(nodes, w)
    except ALLOWED:
        return
    try:
        batch = placement.route(ks)
    except ALLOWED:
        batch = None
    if batch is not None:
        assert batch.dtype == np.int32 and len(batch) == len(ks)
        assert all(0 <= i < len(placement.nodes) for i in batch.tolist())
        assert batch.tolist() == [placement.get_index(k) for k in ks]


@settings(max_examples=200, deadline=None)
@given(cls=st.sampled_from([HashRing, Maglev, Rendezvous]),
       n=st.integers(1, 12),
       table_size=st.sampled_from([2, 3, 4, 7, 9, 17, 251]),
       ppw=st.one_of(st.floats(min_value=-1, max_value=50), st.just(float("nan"))),
       hashes=st.lists(st.integers(0, 2**64 - 1), max_size=50))
def test_options_and_route_hashed(cls, n, table_size, ppw, hashes):
    nodes = [f"n{i}" for i in range(n)]
    try:
        if cls is HashRing:
            placement = cls(nodes, points_per_weight=ppw)
        elif cls is Maglev:
            placement = cls(nodes, table_size=table_size)
        else:
            placement = cls(nodes)
    except ALLOWED:
        return
    out = placement.route_hashed(np.array(hashes, dtype=np.uint64))
    assert out.tolist() == [placement.get_index_hashed(h) for h in hashes]
