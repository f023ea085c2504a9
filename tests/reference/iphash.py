# SPDX-License-Identifier: Apache-2.0
"""Reference: nginx ip_hash, written from ngx_http_upstream_ip_hash_module.c's rules.

nginx: hash starts at 89; each attempt folds the address bytes in again,
hash = (hash * 113 + byte) % 6271 (IPv4: first three octets, IPv6: all 16);
the peer is the one whose weight interval holds hash % total_weight (peers in
config order). A failed or already-tried peer costs one try; after 20 further
tries (21 folds in one request) nginx gives up and uses round robin.
Failover order here: the distinct peers along those 21 folds, then — fastroute's
documented deterministic stand-in for nginx's round-robin fallback (IPHash
docstring) — the remaining serving peers cyclically after the primary.

Structure: the fold sequence is an itertools.accumulate stream and peers come
from a bisection over cumulative weights, not a subtraction walk.
"""
import bisect
import ipaddress
import itertools

NGINX_INITIAL_HASH = 89
NGINX_FOLDS_BEFORE_ROUND_ROBIN = 21


def address_bytes(key) -> bytes:
    if isinstance(key, int):
        return ipaddress.IPv4Address(key).packed[:3]
    text = key.decode() if isinstance(key, bytes) else key
    addr = ipaddress.ip_address(text.strip())
    return addr.packed[:3] if addr.version == 4 else addr.packed


def fold_states(addr: bytes):
    """Hash after the 1st, 2nd, … attempt."""
    def fold(h, _):
        for b in addr:
            h = (h * 113 + b) % 6271
        return h
    return itertools.accumulate(itertools.repeat(None), fold, initial=NGINX_INITIAL_HASH)


class IPHashRef:
    def __init__(self, weights):
        self.weights = list(weights)
        self.bounds = list(itertools.accumulate(weights))  # peer i owns [bounds[i-1], bounds[i])

    def peer_for(self, h: int) -> int:
        return bisect.bisect_right(self.bounds, h % self.bounds[-1])

    def lookup(self, key) -> int:
        return self.replicas(key, 1)[0]

    def replicas(self, key, n) -> list[int]:
        states = itertools.islice(fold_states(address_bytes(key)), 1, NGINX_FOLDS_BEFORE_ROUND_ROBIN + 1)
        order = list(dict.fromkeys(self.peer_for(h) for h in states))
        count = len(self.weights)
        fallback = [(order[0] + k) % count for k in range(1, count)]
        order += [p for p in fallback if self.weights[p] > 0 and p not in order]
        return order[:n]
