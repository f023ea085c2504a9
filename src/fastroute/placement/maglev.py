# SPDX-License-Identifier: Apache-2.0
"""`Maglev`: the Maglev lookup table (rust/engine/src/placement/maglev.rs)."""
from __future__ import annotations

from .._validate import float_weights, nodes_and_weights
from ._table import _U64_MAX, _hash_name, _Placement, _positive_int, _secret_arg, public
from ._registry import registered


@public
@registered
class Maglev(_Placement):
    """Maglev lookup table (Eisenbud et al. 2016) with Envoy's weighted fill and
    name-sorted build order; `table_size` must be prime (default 65537).
    Shares are w_i / Σw with Σw exactly rounded, so the table never depends on
    the order nodes are given in. Replicas: the distinct nodes in slot order
    from the key's slot (h mod table_size), wrapping.

    secret: bytes (>= 16) keys the placement (SipHash-1-3, docs/algorithms.md §22);
    kept out of repr, errors and fingerprint(), carried by pickles and with_*().
    """

    __slots__ = ()
    _kind = "maglev"

    def __new__(cls, nodes, weights=None, table_size: int = 65537, hash: str = "xxh3", *,
                weights_are_shares: bool = False, secret: bytes | None = None):
        secret = _secret_arg(secret)
        names, raw = nodes_and_weights(nodes, weights)
        w = float_weights(raw, len(names))
        # The engine checks primality and the MAX_MAGLEV_TABLE_SIZE cap.
        table_size = _positive_int(table_size, "table_size", 2, _U64_MAX)
        hash = _hash_name(hash)
        return cls._create(names, w, {"table_size": table_size, "hash": hash,
                                      "weights_are_shares": bool(weights_are_shares)},
                           {"hash": hash, "table_size": table_size,
                            "weights_are_shares": bool(weights_are_shares)}, secret)

    @property
    def table_size(self) -> int:
        return self._options["table_size"]
