# SPDX-License-Identifier: Apache-2.0
"""`IPHash`: nginx `ip_hash` (rust/engine/src/placement/iphash.rs)."""
from __future__ import annotations

from .._validate import int_weight, int_weights, nodes_and_weights
from ._table import _Placement, _refuse_secret, public
from ._registry import registered


@public
@registered
class IPHash(_Placement):
    """nginx `ip_hash`: keys are client addresses as text ("10.1.2.3",
    "2001:db8::1", str or ASCII bytes) or an IPv4 address as an int. IPv4 hashes the first three octets, so
    a /24 sticks to one node; weights are integers as in nginx `weight=`.
    `route_hashed` takes IPv4 addresses as integers. Replicas follow nginx's
    retry: the distinct nodes along 21 successive folds of the address (nginx
    then falls back to round robin); any still missing follow the primary in
    cyclic order (a deterministic stand-in for that round robin)."""

    __slots__ = ()
    _kind = "ip_hash"

    def __new__(cls, nodes, weights=None, *, secret: None = None):
        _refuse_secret(cls, secret, "nginx `ip_hash` (a fixed fold of the address, docs/algorithms.md §22.3)")
        names, raw = nodes_and_weights(nodes, weights)
        w = int_weights(raw, len(names))
        return cls._create(names, w, {}, {})

    def _node_weight(self, weight: object) -> int:
        return int_weight(weight, "weight")
