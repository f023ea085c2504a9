# SPDX-License-Identifier: Apache-2.0
"""Envoy RING_HASH and MAGLEV (docs/algorithms.md §2–3), on fastroute's one ring
and one Maglev implementation.

Hosts are Envoy's host keys in EDS order: the resolved address "ip:port"
(IPv6 "[addr]:port"), the hostname with `use_hostname_for_hashing`, or the
`envoy.lb` `hash_key` metadata. Look up with the request hash Envoy computed
(`route_hashed` / `get_index_hashed`), or with keys hashed by the same
function (`get_node(key)` hashes with xxHash64 or MurmurHash2 as configured).
With `localities=` (one locality name per host) and `locality_weights=`
(name → weight), weights are normalised per locality as Envoy's
`locality_weighted_lb_config` does (§2.2); hosts of a 0-weight locality get
no share.
"""
from __future__ import annotations

import numbers

from .._validate import reject_unordered
from ..placement import MAX_MAGLEV_TABLE_SIZE, HashRing, Maglev as _Maglev
from ..redact import quoted

#: Envoy `ring_hash_lb_config.hash_function` → fastroute hash name.
HASH_FUNCTIONS = {"XX_HASH": "xxh64", "MURMUR_HASH_2": "murmur2"}
DEFAULT_MINIMUM_RING_SIZE = 1024
DEFAULT_MAXIMUM_RING_SIZE = 8 * 1024 * 1024
MAX_TABLE_SIZE = MAX_MAGLEV_TABLE_SIZE  # Envoy caps Maglev tables at 5000011 too


def _envoy_weights(hosts, weights):
    if weights is None:
        return None
    weights = list(weights)
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or not 1 <= w <= 128:
            raise ValueError(f"weights[{i}]: Envoy host weights are integers in [1, 128], got {quoted(w)}")
    if sum(weights) >= 2**32:
        raise ValueError("weights: their sum must fit in 32 bits (Envoy)")
    return weights


def locality_shares(hosts, weights, localities, locality_weights) -> list[float]:
    """Envoy's per-host shares with locality weighting, in double precision and
    Envoy's order of operations (§2.2): (weight × (lw / Σlw)) / Σ weights in the locality."""
    reject_unordered(hosts, "hosts")
    hosts = list(hosts)
    weights = [1] * len(hosts) if weights is None else list(weights)
    reject_unordered(localities, "localities")
    localities = list(localities)
    if len(localities) != len(hosts):
        raise ValueError(f"localities: expected one locality per host ({len(hosts)}), got {len(localities)}")
    if not isinstance(locality_weights, dict):
        raise TypeError("locality_weights: expected a dict locality -> weight")
    order = list(dict.fromkeys(localities))
    missing = [loc for loc in order if loc not in locality_weights]
    if missing:
        raise ValueError(f"locality_weights: no weight for localities {missing}")
    for loc, lw in locality_weights.items():
        if isinstance(lw, bool) or not isinstance(lw, numbers.Integral) or not 0 <= lw < 2**32:
            raise ValueError(f"locality_weights[{quoted(loc)}]: must be an integer in [0, 2**32) (Envoy's uint32), "
                             f"got {quoted(lw)}")
    lsum = 0
    for loc in order:
        lsum += locality_weights[loc]
    if lsum == 0:
        raise ValueError("locality_weights: all zero, Envoy builds an empty table")
    shares = [0.0] * len(hosts)
    for loc in order:
        lw = locality_weights[loc]
        if lw == 0:
            continue
        nlw = float(lw) / float(lsum)
        members = [i for i, l in enumerate(localities) if l == loc]
        total = 0
        for i in members:
            total += weights[i]
        for i in members:
            shares[i] = (float(weights[i]) * nlw) / float(total)
    return shares


def _refuse_secret(name: str, secret: object) -> None:
    if secret is not None:
        raise ValueError(f"secret: envoy.{name} reproduces Envoy's public key hashing bit for bit and cannot be "
                         f"keyed; for keyed placement use fastroute.HashRing or fastroute.Maglev with secret=")


def RingHash(hosts, weights=None, *, minimum_ring_size: int = DEFAULT_MINIMUM_RING_SIZE,
             maximum_ring_size: int = DEFAULT_MAXIMUM_RING_SIZE, hash_function: str = "XX_HASH",
             localities=None, locality_weights=None, secret: None = None) -> HashRing:
    """Envoy RING_HASH table: weights normalised to shares, the smallest host
    scaled to ≥ minimum_ring_size × share points, at most maximum_ring_size in
    all, point j of a host = hash("<host key>_<j>"), lookup = first point ≥ hash."""
    _refuse_secret("RingHash", secret)
    if hash_function not in HASH_FUNCTIONS:
        raise ValueError(f"hash_function: expected one of {sorted(HASH_FUNCTIONS)}, got {quoted(hash_function)}")
    common = dict(hash=HASH_FUNCTIONS[hash_function], mode="normalized", min_ring_size=minimum_ring_size,
                  max_ring_size=maximum_ring_size, lookup="at_or_after")
    weights = _envoy_weights(hosts, weights)
    if localities is not None:
        return HashRing(hosts, locality_shares(hosts, weights, localities, locality_weights),
                        weights_are_shares=True, **common)
    return HashRing(hosts, weights, **common)


def Maglev(hosts, weights=None, *, table_size: int = 65537, localities=None, locality_weights=None,
           secret: None = None) -> _Maglev:
    """Envoy MAGLEV table: hosts sorted by key, offset/skip from XXH64 seeds 0/1,
    weighted turn-taking fill; lookup = table[hash mod table_size]."""
    _refuse_secret("Maglev", secret)
    weights = _envoy_weights(hosts, weights)
    if localities is not None:
        return _Maglev(hosts, locality_shares(hosts, weights, localities, locality_weights), table_size=table_size,
                       hash="xxh64", weights_are_shares=True)
    return _Maglev(hosts, weights, table_size=table_size, hash="xxh64")
