# SPDX-License-Identifier: Apache-2.0
"""`Ketama`: ketama continuums (rust/engine/src/placement/ketama.rs,
docs/algorithms.md §9): libketama and both uhashring rings."""
from __future__ import annotations

from .._validate import check_bool, check_choice, float_weight, float_weights, int_weight, int_weights, nodes_and_weights
from ._registry import registered
from ._table import (MAX_RING_POINTS, _hash_name, _per_node_ints, _Placement, _positive_int, _refuse_secret,
                     _RingPoints, public)

KETAMA_FLAVORS = ("libketama", "uhashring_ketama", "uhashring_meta", "fastring")
#: Key hash each flavour uses unless `hash=` says otherwise ("ketama": MD5's
#: first 4 bytes little-endian; "md5": its first 8 bytes big-endian).
_DEFAULT_HASH = {"libketama": "ketama", "uhashring_ketama": "ketama", "uhashring_meta": "md5", "fastring": "xxh3"}
_KETAMA_HASHES = ("ketama", "md5", "xxh3")


@public
@registered
class Ketama(_RingPoints, _Placement):
    """A ketama continuum. flavor="libketama": node i gets
    floor(float32(w_i/Σw) × 40 × N) MD5 digests of "<name>-<k>", 4 points each,
    lookup first point >= the key hash (docs/algorithms.md §9.1).
    "uhashring_ketama" / "uhashring_meta": uhashring's rings with per-node
    `vnodes` and integer weights, lookup first point > the key hash
    (docs/algorithms.md §9.2). "fastring": fastring 0.2.1's ring, vnodes_i ×
    w_i points xxh3("<name>#" + u32 LE j), keys hashed with xxh3, lookup
    first point >= the key hash (docs/algorithms.md §9.3). `text_keys=True` hashes `str(key)` for
    non-str keys, as uhashring does."""

    __slots__ = ()
    _kind = "ketama"
    _per_node = ("vnodes",)
    _per_node_maximum = {"vnodes": MAX_RING_POINTS}

    def __new__(cls, nodes, weights=None, *, flavor: str = "libketama", hash: str | None = None, vnodes=None,
                replicas: int = 4, text_keys: bool = False, secret: None = None):
        _refuse_secret(cls, secret, "libketama / uhashring")
        check_choice(flavor, "flavor", KETAMA_FLAVORS)
        names, raw = nodes_and_weights(nodes, weights)
        # uhashring's point counts are integer arithmetic over the weights.
        w = float_weights(raw, len(names)) if flavor == "libketama" else int_weights(raw, len(names))
        hash = _hash_name(_DEFAULT_HASH[flavor] if hash is None else hash, _KETAMA_HASHES)
        vnode_list = None if vnodes is None else _per_node_ints(vnodes, len(names), "vnodes", MAX_RING_POINTS)
        replicas = _positive_int(replicas, "replicas", 1, 4)
        text_keys = check_bool(text_keys, "text_keys")
        options = {"flavor": flavor, "hash": hash, "vnodes": vnode_list, "replicas": replicas,
                   "text_keys": text_keys}
        native = {"flavor": flavor, "hash": hash, "vnodes": vnode_list, "replicas": replicas,
                  "text_keys": text_keys}
        return cls._create(names, w, options, native)

    def _node_weight(self, weight: object) -> float | int:
        # uhashring's and fastring's point counts are integer arithmetic over the weights.
        if self._options["flavor"] == "libketama":
            return float_weight(weight, "weight")
        return int_weight(weight, "weight")
