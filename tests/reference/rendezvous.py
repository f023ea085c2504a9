# SPDX-License-Identifier: Apache-2.0
"""Reference: weighted rendezvous hashing, score -w / ln(u) (ALGORITHMS.md §13)."""
import math

import xxhash

MASK64 = (1 << 64) - 1


def unit_interval(h: int, node_hash: int) -> float:
    x = h ^ node_hash
    x ^= x >> 12
    x = (x ^ (x << 25)) & MASK64
    x ^= x >> 27
    x = (x * 2685821657736338717) & MASK64
    return ((x >> 11) + 0.5) / 2.0**53


class RendezvousRef:
    def __init__(self, names, weights):
        self.node_hashes = [xxhash.xxh64_intdigest(n.encode()) for n in names]
        self.weights = list(weights)

    def score(self, h, i):
        w = self.weights[i]
        if w == 0:
            return -math.inf
        return -w / math.log(unit_interval(h, self.node_hashes[i]))

    def lookup_hash(self, h: int) -> int:
        best, best_score = 0, -math.inf
        for i in range(len(self.weights)):
            s = self.score(h, i)
            if s > best_score:
                best, best_score = i, s
        return best

    def replicas_hash(self, h: int, n: int) -> list[int]:
        scored = [(-self.score(h, i), i) for i in range(len(self.weights)) if self.weights[i] > 0]
        scored.sort()
        return [i for _, i in scored[:n]]
