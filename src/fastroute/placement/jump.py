# SPDX-License-Identifier: Apache-2.0
"""`JumpHash`: jump consistent hash (rust/engine/src/placement/jump.rs)."""
from __future__ import annotations

import numpy as np

from .._validate import float_weights, node_names
from ..redact import quoted
from ._table import _hash_name, _Placement, _secret_arg, public


@public
class JumpHash(_Placement):
    """Jump consistent hash (Lamping & Veach 2014) over `nodes`. Unweighted;
    only appending or removing the last node keeps other keys in place.
    Replicas of key hash h: jump(h), then jump(mix64(h + k)) for k = 1 … 4n
    skipping repeats (mix64 = SplitMix64's output function), then the buckets
    after the primary in cyclic order.

    secret: bytes (>= 16) keys the placement (SipHash-1-3, docs/algorithms.md §22);
    kept out of repr, errors and fingerprint(), carried by pickles and with_*().
    """

    __slots__ = ()
    _kind = "jump"

    def __new__(cls, nodes, weights=None, hash: str = "xxh3", *, secret: bytes | None = None):
        secret = _secret_arg(secret)
        names = node_names(nodes)
        if weights is not None:
            w = float_weights(weights, len(names))
            if np.any(w != w[0]):
                raise ValueError("weights: jump consistent hash cannot weight nodes; use HashRing, Maglev or Rendezvous")
        hash = _hash_name(hash)
        return cls._create(names, np.ones(len(names)), {"hash": hash}, {"hash": hash}, secret)

    def _with(self, nodes, weights):
        return self._keep_localities(JumpHash(nodes, hash=self._options["hash"], secret=self._secret))

    @staticmethod
    def _unit_weight(weight: object) -> None:
        # Jump hash has no weights: only the weight every node has (1) can be honoured.
        w = float_weights([weight], 1, name="weight")[0]
        if w != 1.0:
            raise ValueError(f"weight: jump consistent hash cannot weight nodes (every node has weight 1), "
                             f"got {quoted(weight)}; use HashRing, Maglev or Rendezvous")

    def with_node(self, name: str, weight: float = 1) -> "JumpHash":
        """A new table with `name` appended; `weight` must be 1 (jump hash is unweighted)."""
        self._unit_weight(weight)
        return super().with_node(name, weight)

    def with_weight(self, name: str, weight: float) -> "JumpHash":
        """Only weight 1 is valid (jump hash is unweighted): returns an equal table."""
        if name not in self._nodes:
            raise KeyError(f"name: unknown node {quoted(name)}")
        self._unit_weight(weight)
        return self
