# SPDX-License-Identifier: Apache-2.0
"""`Rendezvous`: weighted rendezvous hashing (rust/engine/src/placement/rendezvous.rs)."""
from __future__ import annotations

from .._validate import float_weights, nodes_and_weights
from ._table import _hash_name, _Placement, _secret_arg, public
from ._registry import registered


@public
@registered
class Rendezvous(_Placement):
    """Weighted rendezvous (highest random weight) hashing: score -w/ln(u);
    P(node) = w/Σw and removing a node moves only its keys. O(nodes) per key.
    u = (2m + 1) / 2**54 in double precision, m = the top 53 bits of
    xorshift64*(h XOR XXH64(name)) (Envoy's mix, §13.2; exact ln, not Envoy's
    fastLn). u rounds to 1.0 for the top cell; that node then scores -inf and
    loses to every other serving node. Zero-weight nodes never win; ties go to
    the lower index. Replicas: serving nodes by descending score.

    secret: bytes (>= 16) keys the placement (SipHash-1-3, docs/algorithms.md §22);
    kept out of repr, errors and fingerprint(), carried by pickles and with_*().
    """

    __slots__ = ()
    _kind = "rendezvous"

    def __new__(cls, nodes, weights=None, hash: str = "xxh3", *, secret: bytes | None = None):
        secret = _secret_arg(secret)
        names, raw = nodes_and_weights(nodes, weights)
        w = float_weights(raw, len(names))
        hash = _hash_name(hash)
        return cls._create(names, w, {"hash": hash}, {"hash": hash}, secret)
