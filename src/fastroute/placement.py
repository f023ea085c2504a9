# SPDX-License-Identifier: Apache-2.0
"""Placement: deterministic key → node tables over `fastroute._rust`."""
from __future__ import annotations

import numpy as np

from ._keys import key_batch_arg
from ._native import _rust
from ._validate import node_names


class JumpHash:
    """Jump consistent hash (Lamping & Veach 2014) over `nodes`.

    Keys are hashed with xxh3 (seed 0) over their canonical bytes, then jumped.
    Only appending or removing the last node keeps other keys in place.
    """

    __slots__ = ("_nodes",)

    def __init__(self, nodes):
        self._nodes = node_names(nodes)

    @property
    def nodes(self) -> tuple[str, ...]:
        return self._nodes

    def get_index(self, key) -> int:
        return _rust.jump_bucket_one(_rust.hash_one(key, "xxh3", 0), len(self._nodes))

    def get_node(self, key) -> str:
        return self._nodes[self.get_index(key)]

    def route_hashed(self, hashes) -> np.ndarray:
        arr = np.ascontiguousarray(hashes, dtype=np.uint64)
        return _rust.jump_buckets(arr, len(self._nodes))

    def route(self, keys) -> np.ndarray:
        return _rust.jump_buckets(_rust.hash_batch(key_batch_arg(keys), "xxh3", 0), len(self._nodes))

    def __repr__(self) -> str:
        return f"JumpHash(nodes={self._nodes!r})"
