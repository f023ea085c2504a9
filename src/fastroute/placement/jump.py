# SPDX-License-Identifier: Apache-2.0
"""`JumpHash`: jump consistent hash (rust/engine/src/placement/jump.rs), and the
weight rules every unweighted kind of the jump family shares."""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._validate import float_weights, node_names
from ..redact import quoted
from ._registry import registered
from ._table import _hash_name, _Placement, _secret_arg, public


class _Unweighted(_Placement):
    """Kinds that cannot weight nodes: with_node / with_weight accept weight 1 only."""

    __slots__ = ()
    #: How errors name the algorithm.
    _label: ClassVar[str]

    @classmethod
    def _unit_weight(cls, weight: object) -> None:
        # No weights: only the weight every node has (1) can be honoured.
        w = float_weights([weight], 1, name="weight")[0]
        if w != 1.0:
            raise ValueError(f"weight: {cls._label} cannot weight nodes (every node has weight 1), "
                             f"got {quoted(weight)}; use HashRing, Maglev or Rendezvous")

    @classmethod
    def _only_unit_weights(cls, weights: object, count: int) -> None:
        """`weights` must be None or all 1 (the strict rule of the JumpBack kinds)."""
        if weights is None:
            return
        w = float_weights(weights, count)
        bad = np.flatnonzero(w != 1.0)
        if bad.size:
            raise ValueError(f"weights: {cls._label} is unweighted: every weight must be 1, got weights[{bad[0]}] = "
                             f"{w[bad[0]]!r}; use HashRing, Maglev or Rendezvous for weighted nodes")

    def with_node(self, name: str, weight: float = 1):
        """A new table with `name` added; `weight` must be 1 (the kind is unweighted)."""
        self._unit_weight(weight)
        return super().with_node(name, weight)

    def with_weight(self, name: str, weight: float):
        """Only weight 1 is valid (the kind is unweighted): returns an equal table."""
        if name not in self._nodes:
            raise KeyError(f"name: unknown node {quoted(name)}")
        self._unit_weight(weight)
        return self


@public
@registered
class JumpHash(_Unweighted):
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
    _weighted = False  # cluster files: equal weights are dropped, unequal ones refused
    _label = "jump consistent hash"

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
