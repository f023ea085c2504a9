# SPDX-License-Identifier: Apache-2.0
"""`JumpBackHash`: Ertl's JumpBackHash (rust/engine/src/placement/jumpback.rs,
docs/algorithms.md §23)."""
from __future__ import annotations

import numpy as np

from .._validate import node_names
from ._registry import registered
from ._table import _hash_name, _secret_arg, public
from .jump import _Unweighted


@public
@registered
class JumpBackHash(_Unweighted):
    """JumpBackHash (Ertl 2024, arXiv 2403.18682) over `nodes`: jump hash's
    placement properties in constant expected time with integer operations
    only, bit-exact with hash4j's `ConsistentHashing.jumpBackHash(splitMix64_V1())`
    on the table's 64-bit key hash. Unweighted (every weight must be 1);
    only appending or removing the last node keeps other keys in place (for any
    node leaving, use JumpBackAnchorHash).

    Replicas of key hash h: the bucket of h, then of mix64(h + k) for k = 1 … 4n
    skipping repeats, then the buckets after the primary in cyclic order.
    secret: bytes (>= 16) keys the placement (docs/algorithms.md §22).
    """

    __slots__ = ()
    _kind = "jumpback"
    _label = "JumpBackHash"

    def __new__(cls, nodes, weights=None, hash: str = "xxh3", *, secret: bytes | None = None):
        secret = _secret_arg(secret)
        names = node_names(nodes)
        cls._only_unit_weights(weights, len(names))
        hash = _hash_name(hash)
        return cls._create(names, np.ones(len(names)), {"hash": hash}, {"hash": hash}, secret)

    def _with(self, nodes, weights):
        return JumpBackHash(nodes, hash=self._options["hash"], secret=self._secret)
