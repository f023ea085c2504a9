# SPDX-License-Identifier: Apache-2.0
"""Envoy RING_HASH and MAGLEV (ALGORITHMS.md §2–3), on fastroute's one ring
and one Maglev implementation.

Hosts are Envoy's host keys in EDS order: the resolved address "ip:port"
(IPv6 "[addr]:port"), the hostname with `use_hostname_for_hashing`, or the
`envoy.lb` `hash_key` metadata. Look up with the request hash Envoy computed
(`route_hashed` / `get_index_hashed`), or with keys hashed by the same
function (`get_node(key)` hashes with xxHash64 or MurmurHash2 as configured).
Locality weighting is not reproduced yet.
"""
from __future__ import annotations

import numbers

from ..placement import HashRing, Maglev as _Maglev

#: Envoy `ring_hash_lb_config.hash_function` → fastroute hash name.
HASH_FUNCTIONS = {"XX_HASH": "xxh64", "MURMUR_HASH_2": "murmur2"}
DEFAULT_MINIMUM_RING_SIZE = 1024
DEFAULT_MAXIMUM_RING_SIZE = 8 * 1024 * 1024
MAX_TABLE_SIZE = 5_000_011


def _envoy_weights(hosts, weights):
    if weights is None:
        return None
    weights = list(weights)
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or not 1 <= w <= 128:
            raise ValueError(f"weights[{i}]: Envoy host weights are integers in [1, 128], got {w!r}")
    if sum(weights) >= 2**32:
        raise ValueError("weights: their sum must fit in 32 bits (Envoy)")
    return weights


def RingHash(hosts, weights=None, *, minimum_ring_size: int = DEFAULT_MINIMUM_RING_SIZE,
             maximum_ring_size: int = DEFAULT_MAXIMUM_RING_SIZE, hash_function: str = "XX_HASH") -> HashRing:
    """Envoy RING_HASH table: weights normalised to shares, the smallest host
    scaled to ≥ minimum_ring_size × share points, at most maximum_ring_size in
    all, point j of a host = hash("<host key>_<j>"), lookup = first point ≥ hash."""
    if hash_function not in HASH_FUNCTIONS:
        raise ValueError(f"hash_function: expected one of {sorted(HASH_FUNCTIONS)}, got {hash_function!r}")
    return HashRing(hosts, _envoy_weights(hosts, weights), hash=HASH_FUNCTIONS[hash_function], mode="normalized",
                    min_ring_size=minimum_ring_size, max_ring_size=maximum_ring_size, lookup="at_or_after")


def Maglev(hosts, weights=None, *, table_size: int = 65537) -> _Maglev:
    """Envoy MAGLEV table: hosts sorted by key, offset/skip from XXH64 seeds 0/1,
    weighted turn-taking fill; lookup = table[hash mod table_size]."""
    return _Maglev(hosts, _envoy_weights(hosts, weights), table_size=table_size, hash="xxh64")
