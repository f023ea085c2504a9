# SPDX-License-Identifier: Apache-2.0
"""`HashRing`: the consistent hash ring (rust/engine/src/placement/ring.rs)."""
from __future__ import annotations

import numpy as np

from .._keys import key_batch_arg
from .._validate import check_choice, check_finite, float_weights, is_finite_real, nodes_and_weights
from ..redact import quoted
from ._table import _U64_MAX, _hash_name, _Placement, _positive_int, _secret_arg, public
from ._registry import registered

_LOOKUP_RULES = ("at_or_after", "after", "nearest")
_RING_MODES = ("fixed", "normalized")


@public
@registered
class HashRing(_Placement):
    """Consistent hash ring.

    mode="fixed" (default): node i gets round-half-up(weight_i * points_per_weight)
    points (the product in double precision), independent of other nodes, so adding or removing a node moves only
    that node's keys. mode="normalized": Envoy's ring sizing (min_ring_size,
    max_ring_size; docs/algorithms.md §2.3; Σw summed in node order). Point j of a
    node is the hash of "<name>_<j>"; equal points order by node index; lookup
    picks the first point >= the key hash ("at_or_after"), > ("after"), or the
    nearest, ties to the predecessor ("nearest", HAProxy's rule). Replicas: the
    distinct nodes clockwise from the looked-up point.

    secret: bytes (>= 16) keys the placement (SipHash-1-3, docs/algorithms.md §22);
    kept out of repr, errors and fingerprint(), carried by pickles and with_*().
    """

    __slots__ = ()
    _kind = "ring"

    def __new__(cls, nodes, weights=None, points_per_weight: float = 160, hash: str = "xxh3", *,
                mode: str = "fixed", min_ring_size: int = 1024, max_ring_size: int = 8_388_608,
                lookup: str = "at_or_after", weights_are_shares: bool = False, secret: bytes | None = None):
        secret = _secret_arg(secret)
        names, raw = nodes_and_weights(nodes, weights)
        w = float_weights(raw, len(names))
        check_finite(points_per_weight, "points_per_weight", above=0)
        check_choice(mode, "mode", _RING_MODES)
        check_choice(lookup, "lookup", _LOOKUP_RULES)
        # The engine checks the limits: max_ring_size <= MAX_RING_POINTS, min <= max, total points.
        min_ring_size = _positive_int(min_ring_size, "min_ring_size", 1, _U64_MAX)
        max_ring_size = _positive_int(max_ring_size, "max_ring_size", 1, _U64_MAX)
        hash = _hash_name(hash)
        if weights_are_shares and mode != "normalized":
            raise ValueError("weights_are_shares: only with mode='normalized' (Envoy locality weighting)")
        options = {"points_per_weight": points_per_weight, "hash": hash, "mode": mode,
                   "min_ring_size": min_ring_size, "max_ring_size": max_ring_size, "lookup": lookup,
                   "weights_are_shares": bool(weights_are_shares)}
        native = {"hash": hash, "mode": mode, "points_per_weight": float(points_per_weight),
                  "min_ring_size": min_ring_size, "max_ring_size": max_ring_size, "lookup": lookup,
                  "weights_are_shares": bool(weights_are_shares)}
        return cls._create(names, w, options, native, secret)

    @property
    def points(self) -> int:
        """Number of points on the ring."""
        return self._table_stats()[0]

    def assign_bounded(self, keys, c: float = 1.25) -> np.ndarray:
        """Consistent hashing with bounded loads (Mirrokni et al.): assigns the
        batch in order so no node gets more than ceil(c * len(keys) * w_i / Σw)
        keys; each key goes to the first node clockwise with room."""
        if not is_finite_real(c) or c <= 1:
            raise ValueError(f"c: balance factor must be a finite number > 1, got {quoted(c)}")
        arg, _ = key_batch_arg(keys)
        return self._ring().assign_bounded(arg, float(c), [float(w) for w in self._weights])
