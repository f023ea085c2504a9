# SPDX-License-Identifier: Apache-2.0
"""nginx's keyed upstreams as placements (rust/engine/src/placement/nginx.rs):
`NginxConsistentHash` is `hash $key consistent` (docs/algorithms.md §6.1–6.2),
`NginxPlainHash` is `hash $key` (docs/algorithms.md §6.3). Keys are the
evaluated `$key` text; both hash with CRC32 as nginx does, weights are nginx
`weight=` integers (at least 1)."""
from __future__ import annotations

import numpy as np

from .._keys import key_batch_arg
from .._validate import int_weight, int_weights, nodes_and_weights
from ..redact import quoted
from ._table import _Placement, _refuse_secret, _threads, public
from ._registry import registered


def _nginx_weights(raw, count: int) -> np.ndarray:
    w = int_weights(raw, count)
    if (w < 1).any():
        i = int(np.flatnonzero(w < 1)[0])
        raise ValueError(f"weights[{i}]: nginx server weights are integers >= 1, got {int(w[i])}")
    return w


def _nginx_node_weight(self, weight: object) -> int:
    """One nginx `weight=` (with_node / with_weight): an integer >= 1."""
    w = int_weight(weight, "weight")
    if w < 1:
        raise ValueError(f"weight: nginx server weights are integers >= 1, got {w}")
    return w


@public
@registered
class NginxConsistentHash(_Placement):
    """nginx `hash $key consistent` (ngx_http_upstream_hash_module's ketama-like
    ring): 160 × weight CRC32 points per server; lookup first point >= the
    key's CRC32, wrapping. Replicas: the distinct servers clockwise from there
    (the order nginx tries when the first is down)."""

    __slots__ = ()
    _kind = "nginx_chash"

    def __new__(cls, nodes, weights=None, *, secret: None = None):
        _refuse_secret(cls, secret, "nginx's key hashing")
        names, raw = nodes_and_weights(nodes, weights)
        return cls._create(names, _nginx_weights(raw, len(names)), {}, {"hash": "crc32"})

    _node_weight = _nginx_node_weight


@public
@registered
class NginxPlainHash(_Placement):
    """nginx `hash $key` (not consistent): CRC32 of the key picks a server by
    weight; a down server makes nginx try again with a new hash, up to 21
    attempts, then it falls back to round robin. `attempts(key)` lists those
    tries, `route_usable(keys, usable)` routes around servers marked unusable."""

    __slots__ = ()
    _kind = "nginx_hash"

    def __new__(cls, nodes, weights=None, *, secret: None = None):
        _refuse_secret(cls, secret, "nginx's key hashing")
        names, raw = nodes_and_weights(nodes, weights)
        return cls._create(names, _nginx_weights(raw, len(names)), {}, {"hash": "crc32"})

    _node_weight = _nginx_node_weight

    def attempts(self, key) -> list[int]:
        """Server indices of nginx's 21 hash attempts for `key`, in order (repeats kept)."""
        return self._nginx_hash().attempts(key)

    def route_usable(self, keys, usable, *, threads: int | None = None) -> np.ndarray:
        """Per key: the first attempt whose server is usable, else the first usable
        server (round robin's first pick). `usable`: one bool per node, at least one True."""
        if not isinstance(usable, (list, tuple)) or len(usable) != len(self._nodes):
            raise ValueError(f"usable: expected a list of {len(self._nodes)} bools (one per node), "
                             f"got {quoted(usable)}")
        flags = [bool(u) for u in usable]
        if not all(isinstance(u, (bool, np.bool_)) for u in usable):
            raise TypeError("usable: expected bools (True = the server may be chosen)")
        if not any(flags):
            raise ValueError("usable: at least one server must be usable")
        arg, _ = key_batch_arg(keys)
        return self._nginx_hash().route_usable(arg, flags, _threads(threads))
