# SPDX-License-Identifier: Apache-2.0
"""Placement: deterministic key → node tables over `fastroute._rust`.

Every class shares one contract: `.nodes`, `.weights`, `get_node(key)`,
`get_index(key)`, `route(keys)`, `route_hashed(hashes)`,
`get_index_hashed(h)`, `replicas(key, n)`, `route_replicas(keys, n)`,
`with_node / without_node / with_weight` (new objects: tables are
immutable), pickling and copying by configuration, `fingerprint()`.

Keys are str (UTF-8), bytes, or int (8 bytes little-endian), hashed with
`hash` (xxh3 by default, seed 0) unless the class says otherwise.
`route(keys)[i] == get_index(keys[i])` for every accepted key collection.
"""
from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np

from ._keys import key_batch_arg
from ._native import _rust
from ._validate import float_weights, int_weights, is_finite_real, node_names, nodes_and_weights
from .hashing import HASH_ALGORITHMS
from .redact import quoted

__all__ = ["HashRing", "IPHash", "JumpHash", "MAX_THREADS", "Maglev", "Rendezvous"]

#: Largest `threads=` any batch call accepts. Explicit counts share one
#: thread pool (grown on demand, never one pool per count).
MAX_THREADS: int = _rust.MAX_THREADS
#: Engine limits (checked there, with the argument named): ring points, Maglev table size.
MAX_RING_POINTS: int = _rust.MAX_RING_POINTS
MAX_MAGLEV_TABLE_SIZE: int = _rust.MAX_MAGLEV_TABLE_SIZE
#: Sizes cross into the engine as unsigned 64-bit integers.
_U64_MAX = 2**64 - 1

_LOOKUP_RULES = ("at_or_after", "after", "nearest")
_RING_MODES = ("fixed", "normalized")


def _rebuild(cls, nodes, weights, options):
    return cls(nodes, weights, **options)


def _threads(threads: object) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads: expected None or an int in [1, {MAX_THREADS}], got {quoted(threads)}")
    return int(threads)


def _hash_name(hash: object) -> str:
    if hash not in HASH_ALGORITHMS:
        raise ValueError(f"hash: expected one of {HASH_ALGORITHMS}, got {quoted(hash)}")
    return hash


def _positive_int(value: object, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name}: must be {bound}, got {value}")
    return value


class _Placement(_rust.PlacementTable):
    """Shared Python face; lookups (get_node, get_index, replicas, …) are inherited from Rust."""

    __slots__ = ("_nodes", "_weights", "_options")
    _kind: ClassVar[str]
    _nodes: tuple[str, ...]
    _weights: tuple[float, ...]
    _options: dict[str, Any]

    @classmethod
    def _create(cls, names, weights: np.ndarray, options: dict, native: dict):
        self = _rust.PlacementTable.__new__(cls, cls._kind, list(names), [float(w) for w in weights], **native)
        self._nodes = tuple(names)
        self._weights = tuple(weights.tolist())
        self._options = options
        return self

    # -- configuration ------------------------------------------------------------------
    @property
    def nodes(self) -> tuple[str, ...]:
        return self._nodes

    @property
    def weights(self) -> tuple:
        return self._weights

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self._options.items())
        return f"{type(self).__name__}(nodes={self._nodes!r}, weights={self._weights!r}{opts})"

    def __reduce__(self):
        return (_rebuild, (type(self), self._nodes, self._weights, dict(self._options)))

    def __copy__(self):
        return self  # immutable

    def __deepcopy__(self, memo):
        return self

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.fingerprint() == other.fingerprint() and self._nodes == other._nodes

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.fingerprint()))

    def _with(self, nodes, weights):
        return _rebuild(type(self), tuple(nodes), tuple(weights), dict(self._options))

    def with_node(self, name: str, weight: float = 1) -> "_Placement":
        """A new placement with `name` appended (weight `weight`)."""
        if name in self._nodes:
            raise ValueError(f"name: node {quoted(name)} is already present")
        return self._with(self._nodes + (name,), self._weights + (weight,))

    def without_node(self, name: str) -> "_Placement":
        """A new placement without `name`."""
        if name not in self._nodes:
            raise KeyError(f"name: unknown node {quoted(name)}")
        keep = [i for i, n in enumerate(self._nodes) if n != name]
        if not keep:
            raise ValueError("name: cannot remove the last node")
        return self._with([self._nodes[i] for i in keep], [self._weights[i] for i in keep])

    def with_weight(self, name: str, weight: float) -> "_Placement":
        """A new placement where `name` has weight `weight`."""
        if name not in self._nodes:
            raise KeyError(f"name: unknown node {quoted(name)}")
        weights = [weight if n == name else w for n, w in zip(self._nodes, self._weights)]
        return self._with(self._nodes, weights)

    # -- batch lookups ------------------------------------------------------------------
    def route(self, keys, *, null_index: int | None = None, threads: int | None = None) -> np.ndarray:
        """Index into `.nodes` for every key, as numpy int32. GIL released; large
        batches split across `threads` (default: all cores; at most 256, the
        MAX_THREADS cap) with identical results.

        keys: list/tuple of str|bytes|int, numpy integer/S/U/object array, or a
        pyarrow string/binary/integer array (zero-copy). Arrow nulls raise unless
        `null_index` names the index to give them.
        """
        if null_index is not None:
            null_index = _positive_int(null_index, "null_index", 0, len(self._nodes) - 1)
        arg, nulls = key_batch_arg(keys, allow_nulls=null_index is not None)
        out = self._route(arg, _threads(threads))
        if nulls is not None:
            out[nulls] = null_index
        return out

    def route_hashed(self, hashes, *, threads: int | None = None) -> np.ndarray:
        """Like `route` for keys already hashed to 64 bits (uint64 array)."""
        arr = np.asarray(hashes)
        if arr.ndim != 1:
            raise ValueError(f"hashes: expected a 1-D array, got {arr.ndim}-D")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"hashes: expected an unsigned 64-bit integer array, got dtype {arr.dtype}")
        wide = arr.astype(np.int64 if arr.dtype.kind == "i" else np.uint64, copy=False)
        return self._route_hashed(np.ascontiguousarray(wide).view(np.uint64), _threads(threads))

    def route_replicas(self, keys, n: int, *, threads: int | None = None) -> np.ndarray:
        """int32 array (len(keys), n): each key's primary then n-1 distinct nodes."""
        n = _positive_int(n, "n", 1, len(self._nodes))
        arg, _ = key_batch_arg(keys)
        return self._route_replicas(arg, n, _threads(threads))

    def get_index_hashed(self, h: int) -> int:
        if isinstance(h, bool) or not isinstance(h, numbers.Integral) or not 0 <= h < 2**64:
            raise ValueError(f"h: expected an int in [0, 2**64), got {quoted(h)}")
        return super().get_index_hashed(int(h))

    def replicas(self, key, n: int) -> tuple[str, ...]:
        """Names of the primary and n-1 further distinct nodes for `key` (failover order)."""
        n = _positive_int(n, "n", 1, len(self._nodes))
        return super().replicas(key, n)


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
    """

    __slots__ = ()
    _kind = "ring"

    def __new__(cls, nodes, weights=None, points_per_weight: float = 160, hash: str = "xxh3", *,
                mode: str = "fixed", min_ring_size: int = 1024, max_ring_size: int = 8_388_608,
                lookup: str = "at_or_after", weights_are_shares: bool = False):
        names, raw = nodes_and_weights(nodes, weights)
        w = float_weights(raw, len(names))
        if not is_finite_real(points_per_weight) or points_per_weight <= 0:
            raise ValueError(f"points_per_weight: must be a finite number > 0, got {quoted(points_per_weight)}")
        if mode not in _RING_MODES:
            raise ValueError(f"mode: expected one of {_RING_MODES}, got {quoted(mode)}")
        if lookup not in _LOOKUP_RULES:
            raise ValueError(f"lookup: expected one of {_LOOKUP_RULES}, got {quoted(lookup)}")
        # The engine checks the limits: max_ring_size <= MAX_RING_POINTS, min <= max, total points.
        min_ring_size = _positive_int(min_ring_size, "min_ring_size", 1, _U64_MAX)
        max_ring_size = _positive_int(max_ring_size, "max_ring_size", 1, _U64_MAX)
        hash = _hash_name(hash)
        if weights_are_shares and mode != "normalized":
            raise ValueError("weights_are_shares: only with mode='normalized' (Envoy locality weighting)")
        options = {"points_per_weight": points_per_weight, "hash": hash, "mode": mode,
                   "min_ring_size": min_ring_size, "max_ring_size": max_ring_size, "lookup": lookup,
                   "weights_are_shares": bool(weights_are_shares)}
        native = {"hash_name": hash, "mode": mode, "points_per_weight": float(points_per_weight),
                  "min_ring_size": min_ring_size, "max_ring_size": max_ring_size, "lookup": lookup,
                  "normalized_weights": bool(weights_are_shares)}
        return cls._create(names, w, options, native)

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


class Maglev(_Placement):
    """Maglev lookup table (Eisenbud et al. 2016) with Envoy's weighted fill and
    name-sorted build order; `table_size` must be prime (default 65537).
    Shares are w_i / Σw with Σw exactly rounded, so the table never depends on
    the order nodes are given in. Replicas: the distinct nodes in slot order
    from the key's slot (h mod table_size), wrapping."""

    __slots__ = ()
    _kind = "maglev"

    def __new__(cls, nodes, weights=None, table_size: int = 65537, hash: str = "xxh3", *,
                weights_are_shares: bool = False):
        names, raw = nodes_and_weights(nodes, weights)
        w = float_weights(raw, len(names))
        # The engine checks primality and the MAX_MAGLEV_TABLE_SIZE cap.
        table_size = _positive_int(table_size, "table_size", 2, _U64_MAX)
        hash = _hash_name(hash)
        return cls._create(names, w, {"table_size": table_size, "hash": hash,
                                      "weights_are_shares": bool(weights_are_shares)},
                           {"hash_name": hash, "table_size": table_size,
                            "normalized_weights": bool(weights_are_shares)})

    @property
    def table_size(self) -> int:
        return self._options["table_size"]


class JumpHash(_Placement):
    """Jump consistent hash (Lamping & Veach 2014) over `nodes`. Unweighted;
    only appending or removing the last node keeps other keys in place.
    Replicas of key hash h: jump(h), then jump(mix64(h + k)) for k = 1 … 4n
    skipping repeats (mix64 = SplitMix64's output function), then the buckets
    after the primary in cyclic order."""

    __slots__ = ()
    _kind = "jump"

    def __new__(cls, nodes, weights=None, hash: str = "xxh3"):
        names = node_names(nodes)
        if weights is not None:
            w = float_weights(weights, len(names))
            if np.any(w != w[0]):
                raise ValueError("weights: jump consistent hash cannot weight nodes; use HashRing, Maglev or Rendezvous")
        hash = _hash_name(hash)
        return cls._create(names, np.ones(len(names)), {"hash": hash}, {"hash_name": hash})

    def _with(self, nodes, weights):
        return JumpHash(nodes, hash=self._options["hash"])

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


class Rendezvous(_Placement):
    """Weighted rendezvous (highest random weight) hashing: score -w/ln(u);
    P(node) = w/Σw and removing a node moves only its keys. O(nodes) per key.
    u = (2m + 1) / 2**54 in double precision, m = the top 53 bits of
    xorshift64*(h XOR XXH64(name)) (Envoy's mix, §13.2; exact ln, not Envoy's
    fastLn). u rounds to 1.0 for the top cell; that node then scores -inf and
    loses to every other serving node. Zero-weight nodes never win; ties go to
    the lower index. Replicas: serving nodes by descending score."""

    __slots__ = ()
    _kind = "rendezvous"

    def __new__(cls, nodes, weights=None, hash: str = "xxh3"):
        names, raw = nodes_and_weights(nodes, weights)
        w = float_weights(raw, len(names))
        hash = _hash_name(hash)
        return cls._create(names, w, {"hash": hash}, {"hash_name": hash})


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

    def __new__(cls, nodes, weights=None):
        names, raw = nodes_and_weights(nodes, weights)
        w = int_weights(raw, len(names))
        return cls._create(names, w, {}, {})
