# SPDX-License-Identifier: Apache-2.0
"""A drop-in for `fastring.HashRing` (fastring 0.2.1) that sends every key
to the same node, with lookups in fastroute's compiled ring (docs/algorithms.md §9.3).

Same API: `HashRing(virtual_nodes=128)`, `add_node(name, weight=1,
hostname=None, port=None, instance=None)` (re-adding a present name is a
no-op, as in fastring; a warning says so when the settings differ),
`remove_node(name)` (no-op when absent), `get_node(key)` (None on an empty
ring), `ring[key]` (KeyError on an empty ring), `get_node_batch(keys)`,
`get_replicas(key, count)`, `nodes`, `get_node_weight / _hostname / _port /
_instance(name)`, `len`, `in`, iteration, repr, pickling.

The mapping is fastring's: node `name` owns the points xxh3_64(name + "#" +
u32 little-endian j) for j < virtual_nodes × weight; a key goes to the first
point >= xxh3_64(key), wrapping; equal points order by insertion. Extras:
`route(keys)` returns indices into `list(ring)`; keys may also be bytes
(hashed as is). Differences: fastring iterates nodes in hash-map order,
this ring in insertion order; an empty-ring KeyError does not repeat the key;
the empty name "" is refused (fastring accepts it).
"""
from __future__ import annotations

import threading
import warnings

import numpy as np

from .._validate import check_int
from ..placement import MAX_RING_POINTS, Ketama
from ..redact import quoted

DEFAULT_VIRTUAL_NODES = 128
_U32_MAX = 2**32 - 1


def _no_node(key):
    return None


def _optional_str(value, name: str):
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name}: expected str or None, got {type(value).__name__}")
    return value


class HashRing:
    """See the module docstring; behaves as fastring.HashRing."""

    def __init__(self, virtual_nodes: int = DEFAULT_VIRTUAL_NODES):
        self._virtual_nodes = check_int(virtual_nodes, "virtual_nodes", 0, _U32_MAX, maximum_text="2**32 - 1")
        #: name -> (weight, hostname, port, instance), in insertion order (ties on the ring follow it).
        self._meta: dict[str, tuple] = {}
        self._lock = threading.Lock()
        self._state = (None, (), None)
        self._total_weight = 0
        self.get_node = _no_node

    # ---------------------------------------------------------------- membership
    def add_node(self, name: str, weight: int = 1, hostname: str | None = None, port: int | None = None,
                 instance=None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name: expected str, got {type(name).__name__}")
        if not name:
            raise ValueError("name: must not be empty (fastroute node names are non-empty; fastring accepts '')")
        weight = check_int(weight, "weight", 0, _U32_MAX, maximum_text="2**32 - 1")
        hostname = _optional_str(hostname, "hostname")
        if port is not None:
            port = check_int(port, "port", 0, _U32_MAX, maximum_text="2**32 - 1")
        with self._lock:
            current = self._meta.get(name)
            if current is not None:
                if current[:3] != (weight, hostname, port) or current[3] is not instance:
                    warnings.warn(f"add_node: node {quoted(name)} is already present; fastring keeps its first "
                                  "settings (remove_node first to change them)", stacklevel=2)
                return
            points = self._virtual_nodes * (weight + self._total_weight)
            if points > MAX_RING_POINTS:
                raise ValueError(f"weight: the ring would hold {points} points, more than {MAX_RING_POINTS} "
                                 f"(virtual_nodes x total weight)")
            self._meta[name] = (weight, hostname, port, instance)
            self._total_weight += weight
            table, holders = self._state[:2]
            if weight == 0 or not self._virtual_nodes:
                return  # no points: the ring is unchanged
            if table is None:
                self._publish(Ketama([name], [weight], flavor="fastring", vnodes=[self._virtual_nodes]), (name,))
            else:
                # The new node's points merge into the ring (docs/algorithms.md §25.1); it is the
                # last holder, so equal points order after the others', as insertion order wants.
                self._publish(table.with_node(name, weight, vnodes=self._virtual_nodes), holders + (name,))

    def remove_node(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name: expected str, got {type(name).__name__}")
        with self._lock:
            meta = self._meta.pop(name, None)
            if meta is None:
                return
            self._total_weight -= meta[0]
            table, holders = self._state[:2]
            if table is None or table._position_of(name) < 0:
                return  # a node without points
            if len(holders) == 1:
                self._state = (None, (), None)
                self.get_node = _no_node
                return
            smaller = table.without_node(name)
            self._publish(smaller, smaller.nodes)  # the holders are the table's nodes

    def _publish(self, table, holders: tuple) -> None:
        # One assignment each: a lookup sees the old table or the new one, never a mix.
        self._state = (table, holders, None)
        self.get_node = table.get_node

    def _holder_names(self):
        """(table, holders, names as an object array), the array made once per table."""
        state = self._state
        if state[0] is not None and state[2] is None:
            state = (state[0], state[1], np.array(state[1], dtype=object))
            if self._state[0] is state[0]:
                self._state = state
        return state

    def as_placement(self):
        """The current fastroute placement (for fastroute.BoundedLoad); None while empty."""
        return self._state[0]

    # ------------------------------------------------------------------- lookups
    def get_node(self, key):  # replaced per instance by the compiled lookup (no Python frame)
        table = self._state[0]
        return None if table is None else table.get_node(key)

    def __getitem__(self, key):
        table = self._state[0]
        if table is None:
            raise KeyError("ring is empty: no node for the key")
        return table.get_node(key)

    def get_node_batch(self, keys) -> list:
        table, _, names = self._holder_names()
        if table is None:
            return [None] * len(keys)
        return names[table.route(keys)].tolist()

    def route(self, keys) -> np.ndarray:
        """Indices into the ring's current node order (`list(ring)`, weight-0 nodes included) for a batch."""
        table, holders, _ = self._state
        if table is None:
            raise ValueError("route: the ring is empty")
        out = table.route(keys)
        if len(holders) != len(self._meta):
            at = {n: i for i, n in enumerate(self._meta)}
            out = np.array([at[n] for n in holders], dtype=np.int32)[out]
        return out

    def get_replicas(self, key, count: int) -> list:
        count = check_int(count, "count", 0, 2**63 - 1, maximum_text="2**63 - 1")
        table, names, _ = self._state
        if table is None or count == 0:
            return []
        return list(table.replicas(key, min(count, len(names))))

    # ----------------------------------------------------------------- accessors
    @property
    def nodes(self) -> dict:
        return {name: {"weight": m[0], "vnodes": self._virtual_nodes, "hostname": m[1], "port": m[2],
                       "instance": m[3]} for name, m in self._meta.items()}

    def _field(self, name, i):
        meta = self._meta.get(name)
        return None if meta is None else meta[i]

    def get_node_weight(self, name):
        return self._field(name, 0)

    def get_node_hostname(self, name):
        return self._field(name, 1)

    def get_node_port(self, name):
        return self._field(name, 2)

    def get_node_instance(self, name):
        return self._field(name, 3)

    def __contains__(self, name) -> bool:
        return name in self._meta

    def __iter__(self):
        return iter(list(self._meta))

    def __len__(self) -> int:
        return len(self._meta)

    def __repr__(self) -> str:
        return f"HashRing(nodes={len(self._meta)}, virtual_nodes={self._virtual_nodes})"

    # ------------------------------------------------------------------ pickling
    def __getnewargs__(self):
        return (self._virtual_nodes,)

    def __getstate__(self):
        return [(name, *m) for name, m in self._meta.items()]

    def __setstate__(self, state):
        if not isinstance(state, list):
            raise TypeError(f"state: expected the list a HashRing pickles, got {type(state).__name__}")
        self.__init__(getattr(self, "_virtual_nodes", DEFAULT_VIRTUAL_NODES))
        for entry in state:
            if not isinstance(entry, tuple) or len(entry) != 5:
                raise ValueError("state: each entry must be (name, weight, hostname, port, instance)")
            self.add_node(*entry)

    def __reduce__(self):
        return (_restore, (self._virtual_nodes, self.__getstate__()))


def _restore(virtual_nodes, state):
    ring = HashRing(virtual_nodes)
    ring.__setstate__(state)
    return ring
