# SPDX-License-Identifier: Apache-2.0
"""Reference: Maglev lookup table, written from the paper and Envoy's rules.

Sources (not the engine): Eisenbud et al., NSDI 2016, §3.4 (each backend's
preference list is the permutation offset + j*skip mod M; backends take turns
claiming their next unclaimed slot); Envoy's weighted variant and host order
(docs/algorithms.md §3.1: hosts sorted by key, offset/skip from XXH64 seeds 0/1,
in iteration t a host takes a turn iff t*w >= its target, target += max_w).

Structure, deliberately unlike a fill loop: the turn rule depends only on the
iteration and the host's weight, never on the table, so the whole turn
schedule is computed first (a merge of per-host turn streams ordered by
(iteration, position)) and the table is then filled by replaying it.
"""
import heapq
import itertools
import math

import xxhash


def preference_list(key: bytes, size: int):
    """Paper §3.4: permutation[j] = (offset + j * skip) mod M."""
    offset = xxhash.xxh64_intdigest(key, seed=0) % size
    skip = xxhash.xxh64_intdigest(key, seed=1) % (size - 1) + 1
    return ((offset + j * skip) % size for j in itertools.count())


def turn_iterations(share: float, max_share: float):
    """Iterations (1, 2, …) in which a host of this share takes a turn (Envoy:
    `iteration * w >= target`, then `target += max_w`, target starting at 0)."""
    target = 0.0
    for iteration in itertools.count(1):
        if iteration * share >= target:
            target += max_share
            yield iteration


def turn_stream(position: int, share: float, max_share: float):
    return ((iteration, position) for iteration in turn_iterations(share, max_share))


def build_table(names, weights, size):
    """Slot → index into `names`; zero-weight names own no slot."""
    members = sorted((i for i, w in enumerate(weights) if w > 0), key=lambda i: names[i].encode())
    total = math.fsum(weights)
    shares = {i: weights[i] / total for i in members}
    max_share = max(shares.values())
    turns = heapq.merge(*(turn_stream(pos, shares[i], max_share) for pos, i in enumerate(members)))
    prefs = [preference_list(names[i].encode(), size) for i in members]
    owner = {}
    for _, pos in turns:
        if len(owner) == size:
            break
        slot = next(s for s in prefs[pos] if s not in owner)
        owner[slot] = members[pos]
    return [owner[s] for s in range(size)]


class MaglevRef:
    def __init__(self, names, weights, size=65537):
        self.table = build_table(names, weights, size)

    def lookup_hash(self, h: int) -> int:
        return self.table[h % len(self.table)]

    def replicas_hash(self, h: int, n: int) -> list[int]:
        """Failover order: hosts by how far (in slots, wrapping) past h mod M
        their first slot lies — the primary is at distance 0."""
        size, start = len(self.table), h % len(self.table)
        first_seen = {}
        for slot, host in enumerate(self.table):
            distance = (slot - start) % size
            if distance < first_seen.get(host, size):
                first_seen[host] = distance
        return sorted(first_seen, key=first_seen.get)[:n]
