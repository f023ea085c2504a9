# SPDX-License-Identifier: Apache-2.0
"""Router: holds the current placement and swaps in a new one atomically.

Placements are immutable, so swapping is a single reference assignment: a
lookup reads the reference once and answers entirely from that table, never
from a half-built one, whichever thread swaps meanwhile.
"""
from __future__ import annotations

import threading

import numpy as np

from .placement import _Placement


def _check(placement: object, name: str) -> _Placement:
    if not isinstance(placement, _Placement):
        raise TypeError(f"{name}: expected a fastroute placement (HashRing, Maglev, ...), got {type(placement).__name__}")
    return placement


class Router:
    """Routes keys with whatever placement is current; `swap()` replaces it."""

    __slots__ = ("_placement", "_swap_lock", "_generation")

    def __init__(self, placement: _Placement):
        self._placement = _check(placement, "placement")
        self._swap_lock = threading.Lock()
        self._generation = 0

    @property
    def placement(self) -> _Placement:
        """The current placement. Route and decode with the same object:
        `p = router.placement; p.nodes[p.route(keys)]`."""
        return self._placement

    @property
    def generation(self) -> int:
        """Number of swaps so far."""
        return self._generation

    def swap(self, new: _Placement) -> _Placement:
        """Makes `new` current; returns the previous placement."""
        new = _check(new, "new")
        with self._swap_lock:
            old, self._placement = self._placement, new
            self._generation += 1
        return old

    @property
    def nodes(self) -> tuple[str, ...]:
        return self._placement.nodes

    def get_node(self, key) -> str:
        return self._placement.get_node(key)

    def get_index(self, key) -> int:
        return self._placement.get_index(key)

    def replicas(self, key, n: int, *, distinct: str | None = None) -> tuple[str, ...]:
        if distinct is None:
            return self._placement.replicas(key, n)
        return self._placement.replicas(key, n, distinct=distinct)

    def route(self, keys, **kwargs) -> np.ndarray:
        """Indices into the nodes of the placement current at the call; use
        `route_names` when a swap may happen between calls."""
        return self._placement.route(keys, **kwargs)

    def route_names(self, keys, **kwargs) -> np.ndarray:
        """Node names (object array), decoded with the same table that routed them."""
        placement = self._placement
        names = np.array(placement.nodes, dtype=object)
        return names[placement.route(keys, **kwargs)]

    def __repr__(self) -> str:
        return f"Router({self._placement!r}, generation={self._generation})"
