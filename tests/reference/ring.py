# SPDX-License-Identifier: Apache-2.0
"""Reference: consistent hash ring as a sorted list of (point, owner) pairs.

Sources (not the engine): point j of a node = hash(name + "_" + decimal j)
(Envoy's point key, docs/algorithms.md §2.3); fixed mode gives node i
round-half-up(w_i * points_per_weight) points on its own (HashRing docstring;
libketama-style fixed vnodes, §17); normalized mode is Envoy's sizing: shares
w_i / Σw, scale = min(ceil(min_w * min_ring) / min_w, max_ring), and the
running-sum rule of §2.3 step 3. Lookup rules: first point >= h (Envoy,
nginx, ketama), first point > h (uhashring), nearest with ties to the
predecessor (HAProxy, §7.2 step 6); equal points order by owner index.

Structure: the running-sum rule is evaluated in closed form (a host's point
count is ceil(target_i) - ceil(target_{i-1}), because `current` counts whole
points), and lookups are bisections over the tuple list itself.
"""
import bisect
import math
from fractions import Fraction

from .hashes import HASHES

MASK64 = (1 << 64) - 1


def point_counts_fixed(weights, points_per_weight):
    # The product is a double; it is then rounded half up exactly (no x + 0.5 rounding error).
    return [math.floor(Fraction(w * points_per_weight) + Fraction(1, 2)) for w in weights]


def point_counts_normalized(weights, min_ring_size, max_ring_size):
    total = 0.0
    for w in weights:  # Σw in host order: Envoy's ring depends on host order by design (§2.1 item 2)
        total += w
    shares = [(w * 1.0) / total for w in weights]
    min_share = min([s for s in shares if s > 0.0] + [1.0])
    scale = min(math.ceil(min_share * min_ring_size) / min_share, float(max_ring_size))
    counts, target, placed = [], 0.0, 0
    for s in shares:
        target += scale * s  # Envoy accumulates the target in double, host by host
        reached = max(placed, math.ceil(target))
        counts.append(reached - placed)
        placed = reached
    return counts


class RingRef:
    def __init__(self, names, weights, points_per_weight=160, algorithm="xxh3", mode="fixed",
                 min_ring_size=1024, max_ring_size=8388608, lookup="at_or_after"):
        if mode == "fixed":
            counts = point_counts_fixed(weights, points_per_weight)
        else:
            counts = point_counts_normalized(weights, min_ring_size, max_ring_size)
        point = HASHES[algorithm]
        self.entries = sorted((point(f"{name}_{j}".encode()), owner)
                              for owner, (name, count) in enumerate(zip(names, counts)) for j in range(count))
        self.points = [p for p, _ in self.entries]
        self.owners = [o for _, o in self.entries]
        self.lookup = lookup

    def index_for_hash(self, h: int) -> int:
        n = len(self.entries)
        at_or_after = bisect.bisect_left(self.entries, (h, -1)) % n
        if self.lookup == "at_or_after":
            return at_or_after
        if self.lookup == "after":
            return bisect.bisect_left(self.entries, (h + 1, -1)) % n
        before = (at_or_after - 1) % n
        if (h - self.entries[before][0]) & MASK64 <= (self.entries[at_or_after][0] - h) & MASK64:
            return before
        return at_or_after

    def lookup_hash(self, h: int) -> int:
        return self.owners[self.index_for_hash(h)]

    def replicas_hash(self, h: int, n: int) -> list[int]:
        """Distinct owners clockwise from the looked-up point."""
        i = self.index_for_hash(h)
        clockwise = self.owners[i:] + self.owners[:i]
        return list(dict.fromkeys(clockwise))[:n]
