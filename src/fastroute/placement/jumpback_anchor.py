# SPDX-License-Identifier: Apache-2.0
"""`JumpBackAnchorHash`: any node leaves and comes back, only its keys move
(rust/engine/src/placement/jumpback_anchor.rs, docs/algorithms.md §24)."""
from __future__ import annotations

import struct

import numpy as np

from .._validate import node_names
from ..redact import quoted
from ._registry import registered
from ._table import _hash_name, _secret_arg, public
from .jump import _Unweighted

#: Largest historic bucket count a state may hold (the engine's limit).
MAX_ANCHOR_BUCKETS = 1 << 24


def _parse_state(state: object) -> tuple[int, tuple[int, ...]]:
    """hash4j's state layout: LE u32 historic bucket count, then one LE u32 per removed id."""
    if not isinstance(state, (bytes, bytearray, memoryview)):
        raise TypeError(f"state: expected bytes from to_bytes(), got {type(state).__name__}")
    data = bytes(state)
    if len(data) < 4 or len(data) % 4:
        raise ValueError(f"state: corrupted: length must be 4 + 4 * removed buckets, got {len(data)} bytes")
    if len(data) > 4 * (MAX_ANCHOR_BUCKETS + 1):
        raise ValueError(f"state: corrupted: {len(data)} bytes is more than {MAX_ANCHOR_BUCKETS} buckets can need")
    total, *removed = struct.unpack(f"<{len(data) // 4}I", data)
    return total, tuple(removed)


def _state_bytes(total: int, removed) -> bytes:
    return struct.pack(f"<{1 + len(removed)}I", total, *removed)


@public
@registered
class JumpBackAnchorHash(_Unweighted):
    """JumpBackAnchor (hash4j `ConsistentHashing.jumpBackAnchorHash`, AnchorHash
    over JumpBackHash): any node can leave — exactly its keys move — and nodes
    can join. Bit-exact with hash4j on the table's 64-bit key hash. Unweighted.

    Node i of `nodes` holds the i-th live bucket id in ascending order. `state`
    (from `to_bytes()`; None: nodes hold buckets 0 … n-1) is the removal
    history: the historic bucket count and the stack of removed ids, 4 + 4 ·
    removed bytes, hash4j's getState() layout — what a coordinator stores.
    `without_node(name)` frees name's bucket; `with_node(name)` takes the most
    recently freed one (else a new id), so re-adding nodes in the reverse order
    of their removal restores the earlier mapping exactly, and in any order
    only keys moving onto the new node move. Replicas follow JumpBackHash's
    probe rule over node indices. secret: docs/algorithms.md §22.
    """

    __slots__ = ()
    _kind = "jumpback_anchor"
    _label = "JumpBackAnchorHash"

    def __new__(cls, nodes, weights=None, hash: str = "xxh3", *, state: bytes | None = None,
                secret: bytes | None = None):
        secret = _secret_arg(secret)
        names = node_names(nodes)
        cls._only_unit_weights(weights, len(names))
        hash = _hash_name(hash)
        total, removed = (len(names), ()) if state is None else _parse_state(state)
        canonical = None if total == len(names) and not removed else _state_bytes(total, removed)
        return cls._create(names, np.ones(len(names)), {"hash": hash, "state": canonical},
                           {"hash": hash, "total": total, "removed": list(removed)}, secret)

    @classmethod
    def from_bytes(cls, nodes, state: bytes, *, hash: str = "xxh3",
                   secret: bytes | None = None) -> "JumpBackAnchorHash":
        """The table of `nodes` (in ascending bucket order) under a `to_bytes()` state."""
        return cls(nodes, hash=hash, state=state, secret=secret)

    def _history(self) -> tuple[int, list[int]]:
        state = self._options["state"]
        if state is None:
            return len(self._nodes), []
        total, removed = _parse_state(state)
        return total, list(removed)

    def to_bytes(self) -> bytes:
        """The removal history (deterministic, 4 + 4 · removed bytes; hash4j's getState())."""
        total, removed = self._history()
        return _state_bytes(total, removed)

    @property
    def buckets(self) -> tuple[int, ...]:
        """Bucket id of each node, in `.nodes` order (ascending)."""
        total, removed = self._history()
        gone = set(removed)
        return tuple(b for b in range(total) if b not in gone)

    def _rebuilt(self, nodes, total: int, removed) -> "JumpBackAnchorHash":
        return JumpBackAnchorHash(nodes, hash=self._options["hash"], state=_state_bytes(total, removed),
                                  secret=self._secret)

    def without_node(self, name: str) -> "JumpBackAnchorHash":
        """A new table without `name`: exactly the keys `name` held move."""
        if name not in self._nodes:
            raise KeyError(f"name: unknown node {quoted(name)}")
        if len(self._nodes) == 1:
            raise ValueError("name: cannot remove the last node")
        total, removed = self._history()
        bucket = self.buckets[self._nodes.index(name)]
        if not removed and bucket == total - 1:
            total -= 1  # the last bucket of an unbroken range leaves as in jump hash
        else:
            removed.append(bucket)
        return self._rebuilt([n for n in self._nodes if n != name], total, removed)

    def with_node(self, name: str, weight: float = 1) -> "JumpBackAnchorHash":
        """A new table with `name` on the most recently freed bucket (else a new one);
        `weight` must be 1. Only keys that move onto `name` move."""
        self._unit_weight(weight)
        if name in self._nodes:
            raise ValueError(f"name: node {quoted(name)} is already present")
        node_names([*self._nodes, name])  # the name rules of the constructor, named `nodes`
        total, removed = self._history()
        if removed:
            bucket = removed.pop()
        else:
            bucket, total = total, total + 1
        at = sum(1 for b in self.buckets if b < bucket)
        return self._rebuilt([*self._nodes[:at], name, *self._nodes[at:]], total, removed)
