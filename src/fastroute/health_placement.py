# SPDX-License-Identifier: Apache-2.0
"""Health-aware keyed placements (docs/request_path.md §6), without touching
the placement classes: `HealthAware(placement, view)` (or `view.placement(p)`)
sends a key to the first node of its replica order (`placement.replicas(key,
n)`) that the view says is available — Envoy ring-hash / Maglev semantics
(a failed host's keys move to the next host, the others stay), HAProxy's
consistent hashing skipping down servers. A key returns to its primary as soon
as the primary is available again; the answer depends only on the placement,
the key and the view's state, so every process agrees.
"""
from __future__ import annotations


import numpy as np

from ._native import _cext

NoHealthyNode = _cext.NoHealthyNode
# The same rule as compiled leases: cancellations end a request without an outcome.
_is_cancellation = _cext._is_cancellation


class HealthAware:
    """A keyed placement over a HealthView. `get_node(key)`, `get_index(key)`,
    `route(keys)` (indices into `placement.nodes`), `lease(key)`."""

    __slots__ = ("placement", "view", "_to_view", "_n")

    def __init__(self, placement, view):
        if not isinstance(view, _cext.HealthView):
            raise TypeError(f"view: expected a fastroute.HealthView, got {type(view).__name__}")
        nodes = getattr(placement, "nodes", None)
        if not isinstance(nodes, tuple) or not hasattr(placement, "replicas") or not hasattr(placement, "route"):
            raise TypeError(f"placement: expected a fastroute placement (HashRing, Maglev, JumpHash, ...), "
                            f"got {type(placement).__name__}")
        index = {name: i for i, name in enumerate(view.nodes)}
        missing = [name for name in nodes if name not in index]
        if missing:
            raise ValueError(f"placement: {len(missing)} of its nodes are not in the view "
                             f"(first: {missing[0]!r}); build both from the same node list")
        self.placement = placement
        self.view = view
        self._to_view = np.array([index[name] for name in nodes], dtype=np.intp)
        self._n = len(nodes)

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.placement.nodes

    def _walk(self, key, available) -> int:
        primary = self.placement.get_index(key)
        if available[self._to_view[primary]]:
            return primary
        nodes = self.placement.nodes
        for name in self.placement.replicas(key, self._n):
            i = nodes.index(name)
            if available[self._to_view[i]]:
                return i
        raise NoHealthyNode(f"no available node among the placement's {self._n}")

    def get_index(self, key) -> int:
        """Index into `placement.nodes` of the first available node in the key's replica order."""
        return self._walk(key, self.view._eligible_mask())

    def get_node(self, key) -> str:
        """Name of the first available node in the key's replica order."""
        return self.placement.nodes[self.get_index(key)]

    def route(self, keys, **kwargs) -> np.ndarray:
        """`placement.route(keys)` with the same failover rule: keys whose
        primary is unavailable take the first available node of
        `placement.route_replicas` (vectorised). One view reading for the batch.
        Arrow nulls routed with `null_index=` keep that index."""
        available = self.view._eligible_mask()
        out = self.placement.route(keys, **kwargs)
        moved = np.flatnonzero(~available[self._to_view[out]])
        if moved.size and kwargs.get("null_index") is not None and hasattr(keys, "is_null"):
            # Arrow nulls keep the caller's null_index: there is no key to fail over.
            nulls = np.asarray(keys.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            moved = moved[~nulls[moved]]
        if moved.size == 0:
            return out
        subset = _take(keys, moved)
        threads = kwargs.get("threads")
        replicas = self.placement.route_replicas(subset, self._n, threads=threads)
        ok = available[self._to_view[replicas]]
        first = ok.argmax(axis=1)
        if not ok[np.arange(len(first)), first].all():
            raise NoHealthyNode(f"no available node among the placement's {self._n}")
        out[moved] = replicas[np.arange(len(first)), first]
        return out

    def lease(self, key) -> "KeyLease":
        """A lease on `key`'s node: `with hp.lease(key) as node:` / `async with`."""
        return KeyLease(self, key)

    def __repr__(self) -> str:
        return f"HealthAware({self.placement!r}, view={self.view!r})"


def _take(keys, positions: np.ndarray):
    if isinstance(keys, np.ndarray):
        return keys[positions]
    if hasattr(keys, "take") and not isinstance(keys, (list, tuple)):
        return keys.take(positions)  # pyarrow arrays
    return [keys[i] for i in positions.tolist()]


class KeyLease:
    """One request for one key: acquires the key's node on the view on entry,
    reports on exit (a cancellation or `cancel()` reports nothing)."""

    __slots__ = ("_owner", "_key", "node", "_start", "_held", "_used")

    def __init__(self, owner: HealthAware, key):
        self._owner = owner
        self._key = key
        self.node = None
        self._held = False
        self._used = False

    def __enter__(self) -> str:
        if self._used:
            raise RuntimeError("lease: already used; call lease(key) once per request")
        self._used = True
        view = self._owner.view
        node = self._owner.get_node(self._key)
        view.acquire(node)
        self.node, self._held = node, True
        try:
            self._start = view._clock_fn()
        except BaseException:
            self.cancel()
            raise
        return node

    def _end(self, ok: bool | None, latency_s=None) -> None:
        if not self._held:
            return
        self._held = False
        view = self._owner.view
        if ok is None:
            view.abandon(self.node)
            return
        if latency_s is None:
            try:
                latency_s = max(0.0, float(view._clock_fn()) - float(self._start))
            except Exception:
                latency_s = None
        view.release(self.node, ok=ok, latency_s=latency_s)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._end(True)
        elif _is_cancellation(exc_type):
            self._end(None)
        else:
            self._end(False)
        return False

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(self, exc_type, exc, tb):
        return self.__exit__(exc_type, exc, tb)

    def cancel(self) -> None:
        """Ends the request without an outcome; idempotent."""
        self._end(None)

    def fail(self) -> None:
        self._end(False)

    def succeed(self, latency_s=None) -> None:
        self._end(True, latency_s)


