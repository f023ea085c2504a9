# SPDX-License-Identifier: Apache-2.0
"""The shared base of every placement class: the one Python module (with
`_native`, `hashing`, `tokens`, `bulk/reader`) that imports `fastroute._rust`.

Every class shares one contract: `.nodes`, `.weights`, `get_node(key)`,
`get_index(key)`, `route(keys)`, `route_hashed(hashes)`,
`get_index_hashed(h)`, `replicas(key, n)`, `route_replicas(keys, n)`,
`with_node / without_node / with_weight` (new objects: tables are
immutable), pickling and copying by configuration, `fingerprint()`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .._keys import key_batch_arg
from .._native import _rust
from .._validate import check_choice, check_int, float_weight, node_name, reject_unordered
from ..hashing import HASH_NAMES
from ..redact import quoted
from ..tokens import check_secret

#: Largest `threads=` any batch call accepts. Explicit counts share one
#: thread pool (grown on demand, never one pool per count).
MAX_THREADS: int = _rust.MAX_THREADS
#: Engine limits (checked there, with the argument named): ring points, Maglev table size.
MAX_RING_POINTS: int = _rust.MAX_RING_POINTS
MAX_MAGLEV_TABLE_SIZE: int = _rust.MAX_MAGLEV_TABLE_SIZE
#: Sizes cross into the engine as unsigned 64-bit integers.
_U64_MAX = 2**64 - 1

#: Pickles name this module path (and `_rebuild` there), whichever file defines a class.
PUBLIC_MODULE = "fastroute.placement"


def _rebuild(cls, nodes, weights, options, localities=None):
    table = cls(nodes, weights, **options)
    return table if localities is None else table.with_localities(list(localities))


_rebuild.__module__ = PUBLIC_MODULE


def _threads(threads: object) -> int | None:
    return None if threads is None else check_int(threads, "threads", 1, MAX_THREADS, wrong_type=ValueError)


def _hash_name(hash: object, choices: tuple[str, ...] = HASH_NAMES) -> str:
    return check_choice(hash, "hash", choices)


def _positive_int(value: object, name: str, minimum: int = 1, maximum: int | None = None) -> int:
    return check_int(value, name, minimum, maximum)


def _secret_arg(secret: object) -> bytes | None:
    """A keyed placement secret (docs/algorithms.md §22): None, or bytes-like of at
    least 16 bytes (a str is a TypeError: encode it, or load it with load_secret)."""
    return None if secret is None else check_secret(secret)


def _refuse_secret(cls: type, secret: object, reproduces: str) -> None:
    """Compatibility kinds reproduce a public algorithm bit for bit and take no secret."""
    if secret is not None:
        raise ValueError(f"secret: {cls.__name__} reproduces {reproduces} bit for bit and cannot be keyed; "
                         f"for keyed placement use HashRing, Maglev, JumpHash or Rendezvous with secret=")


def _per_node_ints(values: object, count: int, name: str, maximum: int) -> list[int]:
    """One int in [0, maximum] per node, in node order (a list or tuple)."""
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{name}: expected a list with one int per node, got {type(values).__name__}")
    if len(values) != count:
        raise ValueError(f"{name}: expected {count} values (one per node), got {len(values)}")
    return [_positive_int(v, f"{name}[{i}]", 0, maximum) for i, v in enumerate(values)]


class _Placement(_rust.PlacementTable):
    """Shared Python face; lookups (get_node, get_index, replicas, …) are inherited from Rust."""

    __slots__ = ("_nodes", "_weights", "_options", "_secret", "_localities", "_distinct_codes")
    #: The engine kind (rust/engine/src/placement/mod.rs KINDS), also the cluster-TOML name.
    _kind: ClassVar[str]
    #: Takes per-node weights (cluster files pass them); False: unweighted (JumpHash).
    _weighted: ClassVar[bool] = True
    #: Options holding one value per node (kept aligned by name in with_node / without_node).
    _per_node: ClassVar[tuple[str, ...]] = ()
    _nodes: tuple[str, ...]
    _weights: tuple[float, ...]
    _options: dict[str, Any]
    #: Keyed placement secret (docs/algorithms.md §22); kept out of `_options` so no repr shows it.
    _secret: bytes | None

    @classmethod
    def _create(cls, names, weights: np.ndarray, options: dict, native: dict, secret: bytes | None = None):
        """`options` are the public keyword arguments (repr, pickling); `native` the
        engine's: `hash`, `text_keys` and the kind's own settings; `secret` the keyed
        placement secret (docs/algorithms.md §22), kept out of both."""
        settings = dict(native)
        hash, text_keys = settings.pop("hash", "xxh3"), settings.pop("text_keys", False)
        self = _rust.PlacementTable.__new__(cls, cls._kind, list(names), [float(w) for w in weights], hash, text_keys,
                                            settings or None, secret)
        self._nodes = tuple(names)
        self._weights = tuple(weights.tolist())
        self._options = options
        self._secret = secret
        self._localities = None
        self._distinct_codes = {}
        return self

    def _options_with_secret(self) -> dict[str, Any]:
        """The constructor options, the secret included (pickles and with_node carry it)."""
        options = dict(self._options)
        if self._secret is not None:
            options["secret"] = self._secret
        return options

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
        keyed = ", secret=<hidden>" if self._secret is not None else ""
        return f"{type(self).__name__}(nodes={self._nodes!r}, weights={self._weights!r}{opts}{keyed})"

    def __reduce__(self):
        # A keyed table's pickle holds its secret: workers that unpickle it must place keys
        # identically (docs/algorithms.md §22.4). Treat such pickles as secrets.
        localities = self._localities  # Locality objects: a zone-only locality has no unambiguous text
        return (_rebuild, (type(self), self._nodes, self._weights, self._options_with_secret(), localities))

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
        options = self._options_with_secret()
        if self._per_node:
            at = {name: i for i, name in enumerate(self._nodes)}
            for name in nodes:
                if name not in at:
                    raise ValueError(f"name: {type(self).__name__} needs {'/'.join(self._per_node)} for each node; "
                                     f"build a new {type(self).__name__} to add {quoted(name)}")
            for option in self._per_node:
                if options.get(option) is not None:
                    options[option] = [options[option][at[name]] for name in nodes]
        return self._keep_localities(_rebuild(type(self), tuple(nodes), tuple(weights), options))

    def _keep_localities(self, table: "_Placement") -> "_Placement":
        """`table` (a changed copy) with this table's localities, by name; a new node's
        locality is unknown until set (docs/multi_region.md §6)."""
        if self._localities is None:
            return table
        from ..locality import UNKNOWN

        at = dict(zip(self._nodes, self._localities))
        table._localities = tuple(at.get(name, UNKNOWN) for name in table.nodes)  # already parsed
        return table

    # -- incremental membership changes (docs/algorithms.md §25) ------------------------
    #: Engine names of per-node options whose keyword differs (HAProxy: server_ids → puids).
    _native_per_node: ClassVar[dict[str, str]] = {}
    #: Largest value of each per-node option (the constructor's `_per_node_ints` bound).
    _per_node_maximum: ClassVar[dict[str, int]] = {}

    def _node_weight(self, weight: object) -> float:
        """A new or changed node's weight under this kind's constructor rule."""
        return float_weight(weight, "weight")

    def _changed(self, change: tuple, nodes: tuple, weights: tuple, options: dict) -> "_Placement":
        """This table after one change, built by the engine from this one (unchanged
        nodes are not hashed again); `options`: the public options, per-node lists realigned."""
        per_node = {self._native_per_node.get(k, k): options[k] for k in self._per_node if options.get(k) is not None}
        table = _rust.PlacementTable.__new__(type(self), self._kind, nodes, weights, options=per_node or None,
                                             base=self, change=change)
        table._nodes = nodes
        table._weights = weights
        table._options = options
        table._secret = self._secret
        table._localities = None
        table._distinct_codes = {}
        return self._keep_localities(table)

    def _index_of(self, name: object) -> int:
        index = self._position_of(name) if isinstance(name, str) else -1
        if index < 0:
            raise KeyError(f"name: unknown node {quoted(name)}")
        return index

    def with_node(self, name: str, weight: float = 1, **node_options) -> "_Placement":
        """A new placement with `name` appended (weight `weight`). Kinds with per-node
        options (Ketama `vnodes`, HAProxy `server_ids` …) take the new node's value by keyword."""
        node_name(name, "name")  # the constructor's name rules
        if self._position_of(name) >= 0:
            raise ValueError(f"name: node {quoted(name)} is already present")
        weight = self._node_weight(weight)
        options = dict(self._options)
        for option, value in node_options.items():
            if option not in self._per_node:
                raise TypeError(f"{option}: {type(self).__name__} has no per-node option {quoted(option)}")
            if options.get(option) is None:
                raise ValueError(f"{option}: this {type(self).__name__} has no per-node {option} list")
        for option in self._per_node:
            if options.get(option) is not None:
                if option not in node_options:
                    raise ValueError(f"name: {type(self).__name__} needs {'/'.join(self._per_node)} for each node; "
                                     f"pass {option}= to add {quoted(name)}")
                value = _positive_int(node_options[option], option, 0, self._per_node_maximum[option])
                options[option] = [*options[option], value]
        return self._changed(("add", name, weight), self._nodes + (name,), self._weights + (weight,), options)

    def without_node(self, name: str) -> "_Placement":
        """A new placement without `name`."""
        index = self._index_of(name)
        if len(self._nodes) == 1:
            raise ValueError("name: cannot remove the last node")
        weights = self._weights[:index] + self._weights[index + 1:]
        if not any(w > 0 for w in weights):
            raise ValueError(f"name: removing {quoted(name)} leaves no node with weight > 0")
        options = dict(self._options)
        for option in self._per_node:
            if options.get(option) is not None:
                options[option] = options[option][:index] + options[option][index + 1:]
        return self._changed(("remove", index), self._nodes[:index] + self._nodes[index + 1:], weights, options)

    def with_weight(self, name: str, weight: float) -> "_Placement":
        """A new placement where `name` has weight `weight`."""
        index = self._index_of(name)
        weight = self._node_weight(weight)
        weights = self._weights[:index] + (weight,) + self._weights[index + 1:]
        if not any(w > 0 for w in weights):
            raise ValueError(f"weight: giving {quoted(name)} weight {weight} leaves no node with weight > 0")
        return self._changed(("weight", index, weight), self._nodes, weights, dict(self._options))

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

    def route_replicas(self, keys, n: int, *, threads: int | None = None, distinct: str | None = None) -> np.ndarray:
        """int32 array (len(keys), n): each key's primary then n-1 distinct nodes;
        with distinct= as `replicas` does, row by row (docs/multi_region.md §6)."""
        n = _positive_int(n, "n", 1, len(self._nodes))
        arg, _ = key_batch_arg(keys)
        if distinct is None:
            return self._route_replicas(arg, n, _threads(threads))
        codes = self._codes_for(distinct, n)
        width = min(len(self._nodes), 3 * n + 2)
        out, found = self._distinct_rows(self._route_replicas(arg, width, _threads(threads)), n, codes)
        short = np.flatnonzero(found < n)
        if short.size:  # rare: the whole failover order, for these keys only
            rows = [keys[int(i)] for i in short] if isinstance(keys, (list, tuple)) else np.asarray(keys)[short]
            sub_arg, _ = key_batch_arg(rows)
            full, got = self._distinct_rows(self._route_replicas(sub_arg, self._holders(), _threads(threads)), n, codes)
            if (got < n).any():
                raise ValueError(f"n: the failover order holds fewer than {n} distinct localities")
            out[short] = full
        return out

    def get_index_hashed(self, h: int) -> int:
        return super().get_index_hashed(check_int(h, "h", 0, _U64_MAX, maximum_text="2**64 - 1",
                                                  wrong_type=ValueError))

    def replicas(self, key, n: int, *, distinct: str | None = None) -> tuple[str, ...]:
        """Names of the primary and n-1 further distinct nodes for `key` (failover order).
        distinct="zone" | "region" | "sub_zone": walk the same order and skip a node whose
        zone (region, ...) is already taken (docs/multi_region.md §6; needs `with_localities`)."""
        n = _positive_int(n, "n", 1, len(self._nodes))
        if distinct is None:
            return super().replicas(key, n)
        # The walk (n, then 3n + 2, then every node of the order) runs in the engine.
        return self._replicas_distinct(key, n, self._codes_for(distinct, n))

    # -- localities (docs/multi_region.md §6) -------------------------------------------
    def with_localities(self, localities) -> "_Placement":
        """The same table with a fastroute.Locality (or 'region/zone[/sub_zone]') per node,
        in node order or as a mapping node → locality; `replicas(..., distinct=)` reads them."""
        from ..locality import Locality

        if isinstance(localities, Mapping):
            missing = [n for n in self._nodes if n not in localities]
            if missing:
                raise ValueError(f"localities: no locality for nodes {quoted(missing, limit=200)}")
            localities = [localities[n] for n in self._nodes]
        reject_unordered(localities, "localities")
        if isinstance(localities, (str, bytes)) or not isinstance(localities, (list, tuple)):
            raise TypeError("localities: expected a list with one locality per node, or a mapping node -> locality")
        if len(localities) != len(self._nodes):
            raise ValueError(f"localities: expected {len(self._nodes)} (one per node), got {len(localities)}")
        parsed = tuple(Locality.parse(x, name=f"localities[{i}]") for i, x in enumerate(localities))
        table = _rebuild(type(self), self._nodes, self._weights, self._options_with_secret())
        table._localities = parsed
        return table

    @property
    def localities(self):
        """One fastroute.Locality per node, or None when none were given."""
        return self._localities

    def _holders(self) -> int:
        """Nodes a failover order can reach (weight > 0)."""
        return sum(1 for w in self._weights if w > 0) or len(self._nodes)

    def _codes_for(self, distinct: object, n: int) -> np.ndarray:
        """One locality code per node at level `distinct` (cached: a lookup pays one dict get)."""
        cached = self._distinct_codes.get(distinct)
        if cached is None:
            from ..locality import DISTINCT_LEVELS

            if distinct not in DISTINCT_LEVELS:
                raise ValueError(f"distinct: expected one of {DISTINCT_LEVELS} or None, got {quoted(distinct)}")
            if self._localities is None:
                raise ValueError(f"distinct: {type(self).__name__} has no localities; build it from members with "
                                 f"locality metadata or call with_localities(...) first")
            levels: dict = {}
            codes = np.array([levels.setdefault(loc.level(distinct), len(levels)) for loc in self._localities],
                             dtype=np.uint32)
            cached = self._distinct_codes[distinct] = (codes, len(levels))
        codes, count = cached
        if count < n:
            raise ValueError(f"n: {n} replicas in distinct {distinct}s need {n} {distinct}s; the nodes span only "
                             f"{count}")
        return codes


class _RingPoints:
    """Point access for ring-shaped tables (a mixin over `_Placement`)."""

    __slots__ = ()

    def ring_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(points, owners): uint64 point hashes in ring order and the owning node index of each."""
        return self._ring().points()

    def position(self, key) -> int:
        """Index into `ring_points()` of the point `key` is looked up at."""
        return self._ring().position(key)


def public(cls):
    """Class decorator: pickles and reprs name `fastroute.placement.<Class>`, whatever file defines it."""
    cls.__module__ = PUBLIC_MODULE
    return cls
