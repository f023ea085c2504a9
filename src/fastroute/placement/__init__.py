# SPDX-License-Identifier: Apache-2.0
"""Placement: deterministic key → node tables over the Rust engine, one
class per engine kind (one module each; the shared base is `_table`).

Every class shares one contract: `.nodes`, `.weights`, `get_node(key)`,
`get_index(key)`, `route(keys)`, `route_hashed(hashes)`,
`get_index_hashed(h)`, `replicas(key, n)`, `route_replicas(keys, n)`,
`with_node / without_node / with_weight` (new objects: tables are
immutable), pickling and copying by configuration, `fingerprint()`.

Keys are str (UTF-8), bytes, or int (8 bytes little-endian), hashed with
`hash` (xxh3 by default, seed 0) unless the class says otherwise.
`route(keys)[i] == get_index(keys[i])` for every accepted key collection.
Classes report `__module__ == "fastroute.placement"`, so pickles name this
package whichever file defines the class.

Keyed placement (HashRing, Maglev, JumpHash, JumpBackHash, JumpBackAnchorHash, Rendezvous; docs/algorithms.md §22):
`secret=` (bytes, >= 16) hashes keys with SipHash-1-3 under a key derived from
the secret, so nobody without it can craft keys that pile onto one node; without
it every output is what it always was. The secret never appears in repr, errors
or `fingerprint()` (which gains a digest of it, so two processes can check they
share it); pickles and with_node/without_node/with_weight carry it, so treat a
keyed table's pickle as a secret. Compatibility kinds refuse a secret.
"""
from __future__ import annotations

from ._table import MAX_MAGLEV_TABLE_SIZE, MAX_RING_POINTS, MAX_THREADS, _Placement, _rebuild  # noqa: F401
from .haproxy import HAProxyConsistentHash, HAProxyMapHash
from .httpd import HttpdStickyRoutes
from .iphash import IPHash
from .jump import JumpHash
from .jumpback import JumpBackHash
from .jumpback_anchor import MAX_ANCHOR_BUCKETS, JumpBackAnchorHash
from .ketama import Ketama
from .maglev import Maglev
from .nginx import NginxConsistentHash, NginxPlainHash
from .rendezvous import Rendezvous
from .ring import HashRing

__all__ = ["HAProxyConsistentHash", "HAProxyMapHash", "HashRing", "HttpdStickyRoutes", "IPHash", "JumpBackAnchorHash",
           "JumpBackHash", "JumpHash", "Ketama", "MAX_ANCHOR_BUCKETS", "MAX_MAGLEV_TABLE_SIZE", "MAX_RING_POINTS",
           "MAX_THREADS", "Maglev", "NginxConsistentHash", "NginxPlainHash", "Rendezvous"]
