# SPDX-License-Identifier: Apache-2.0
"""HAProxy's hash balancing as placements (rust/engine/src/placement/haproxy.rs):
`HAProxyMapHash` is `hash-type map-based` (docs/algorithms.md §7.3),
`HAProxyConsistentHash` is `hash-type consistent` (docs/algorithms.md §7.2).
Keys are what HAProxy hashes (see fastroute.config.haproxy); weights are
HAProxy `weight` integers in [0, 256]."""
from __future__ import annotations


from .._validate import check_bool, check_choice, check_int, int_weight, int_weights, nodes_and_weights
from ._table import _hash_name, _per_node_ints, _Placement, _refuse_secret, public
from ._registry import registered

#: HAProxy's `hash-type ... <function>` choices; sdbm is its default.
HAPROXY_HASH_FUNCTIONS = ("sdbm", "djb2", "wt6", "crc32")
HAPROXY_MAX_WEIGHT = 256
#: `hash-key` choices for consistent hashing (HAProxy 2.8+; `id` is the default).
HAPROXY_HASH_KEYS = ("id", "addr", "addr-port")
_MAX_SERVER_ID = 2**31 - 1


def _haproxy_options(raw, count: int, hash: object, avalanche: object):
    w = int_weights(raw, count, maximum=HAPROXY_MAX_WEIGHT)
    check_bool(avalanche, "avalanche")
    return w, _hash_name(hash, HAPROXY_HASH_FUNCTIONS)


def _haproxy_node_weight(self, weight: object) -> int:
    """One HAProxy `weight` (with_node / with_weight): an integer in [0, 256]."""
    return int_weight(weight, "weight", HAPROXY_MAX_WEIGHT)


@public
@registered
class HAProxyMapHash(_Placement):
    """HAProxy `hash-type map-based`: a table where server i fills weight_i
    slots in HAProxy's spread order; a key goes to slot hash mod len(table)
    (`avalanche`: HAProxy's full_hash over the 32-bit key hash first).
    `slot_count` is the table length."""

    __slots__ = ()
    _kind = "haproxy_map"
    _node_weight = _haproxy_node_weight

    def __new__(cls, nodes, weights=None, hash: str = "sdbm", *, avalanche: bool = False, secret: None = None):
        _refuse_secret(cls, secret, "HAProxy's map-based hashing")
        names, raw = nodes_and_weights(nodes, weights)
        w, hash = _haproxy_options(raw, len(names), hash, avalanche)
        return cls._create(names, w, {"hash": hash, "avalanche": avalanche},
                           {"hash": hash, "avalanche": avalanche})

    @property
    def slot_count(self) -> int:
        """Length of the map table (`route_hashed(range(slot_count))` is the table itself)."""
        return self._table_stats()[0]


@public
@registered
class HAProxyConsistentHash(_Placement):
    """HAProxy `hash-type consistent` (the chash tree): weight × 16 points per
    server from its `hash-key` (`id`: `server_ids`, HAProxy's puid, default
    1…n; `addr` / `addr-port`: `addresses`, the IPv4 address's network-order
    bytes read as a little-endian u32 as HAProxy does on x86, and `ports`);
    lookup: the nearest point on the 32-bit circle, ties to the predecessor.
    `legacy_id_key=True` reproduces HAProxy 3.0–3.2 builds that hashed the id
    twice (docs/algorithms.md §7.2 step 4)."""

    __slots__ = ()
    _kind = "haproxy_chash"
    _per_node = ("server_ids", "addresses", "ports")
    _native_per_node = {"server_ids": "puids", "addresses": "addrs"}
    _per_node_maximum = {"server_ids": _MAX_SERVER_ID, "addresses": 2**32 - 1, "ports": 65535}
    _node_weight = _haproxy_node_weight

    def __new__(cls, nodes, weights=None, hash: str = "sdbm", *, avalanche: bool = False, hash_key: str = "id",
                legacy_id_key: bool = False, server_ids=None, addresses=None, ports=None, secret: None = None):
        _refuse_secret(cls, secret, "HAProxy's consistent hashing")
        names, raw = nodes_and_weights(nodes, weights)
        w, hash = _haproxy_options(raw, len(names), hash, avalanche)
        check_choice(hash_key, "hash_key", HAPROXY_HASH_KEYS)
        legacy_id_key = check_bool(legacy_id_key, "legacy_id_key")
        if legacy_id_key and hash_key != "id":
            raise ValueError("legacy_id_key: only with hash_key='id'")
        n = len(names)
        ids = None if server_ids is None else _per_node_ints(server_ids, n, "server_ids", _MAX_SERVER_ID)
        addrs = None if addresses is None else _per_node_ints(addresses, n, "addresses", 2**32 - 1)
        port_list = None if ports is None else _per_node_ints(ports, n, "ports", 65535)
        if hash_key != "id" and addrs is None:
            raise ValueError(f"addresses: hash_key={hash_key!r} needs one IPv4 address per server")
        options = {"hash": hash, "avalanche": avalanche, "hash_key": hash_key, "legacy_id_key": legacy_id_key,
                   "server_ids": ids, "addresses": addrs, "ports": port_list}
        native = {"hash": hash, "avalanche": avalanche,
                  "hash_key": "id_legacy" if legacy_id_key else hash_key,
                  "puids": ids, "addrs": addrs, "ports": port_list}
        return cls._create(names, w, options, native)

    def get_index_unfinished(self, value: int) -> int:
        """Index for a 32-bit value HAProxy hashes no further before `avalanche`
        (`balance source`: the address words XORed, docs/algorithms.md §7.1)."""
        return super().get_index_unfinished(check_int(value, "value", 0, 2**64 - 1, maximum_text="2**64 - 1"))
