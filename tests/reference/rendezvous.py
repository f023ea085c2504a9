# SPDX-License-Identifier: Apache-2.0
"""Reference: weighted rendezvous hashing as a direct formula per node.

Sources (not the engine): Schindelhauer & Schomaker 2005 logarithmic method,
score = -w / ln(u) and the highest score wins (docs/algorithms.md §13.1); node
hash = XXH64(name, seed 0) and u from a xorshift64* mix of key hash XOR node
hash (Envoy's rendezvous extension, §13.2); xorshift64* itself from Vigna,
"An experimental exploration of Marsaglia's xorshift generators, scrambled"
(2016): x ^= x >> 12; x ^= x << 25; x ^= x >> 27; x * 0x2545F4914F6CDD1D.
fastroute's documented differences from Envoy (Rendezvous docstring): u is
the midpoint of the 53-bit cell, (2m + 1) / 2**54 with m = top 53 bits, and
the logarithm is the exact one; ties go to the lower index.

Structure: no loop over "best so far" — every node's score is a closed
formula, the primary is max() over (score, -index), replicas a sort.
"""
import math

import xxhash

MASK64 = (1 << 64) - 1
XORSHIFT64STAR_MULTIPLIER = 0x2545F4914F6CDD1D


def xorshift64star(x: int) -> int:
    x ^= x >> 12
    x ^= (x << 25) & MASK64
    x ^= x >> 27
    return (x * XORSHIFT64STAR_MULTIPLIER) & MASK64


def unit(h: int, node_hash: int) -> float:
    m = xorshift64star(h ^ node_hash) >> 11  # top 53 bits
    return (2 * m + 1) / 2**54  # int / int: one correctly rounded division


def score(h: int, node_hash: int, weight: float) -> float:
    u = unit(h, node_hash)
    if u == 1.0:  # the top cell rounds up to 1.0: ln(u) = 0, -w/0 = -inf in IEEE arithmetic
        return -math.inf
    return weight / -math.log(u)


class RendezvousRef:
    def __init__(self, names, weights):
        self.node_hashes = [xxhash.xxh64_intdigest(n.encode(), seed=0) for n in names]
        self.weights = list(weights)

    def ranking(self, h: int) -> list[int]:
        """Serving nodes (weight > 0) by score, highest first, ties to the lower index."""
        keyed = [((score(h, nh, w), -i), i) for i, (nh, w) in enumerate(zip(self.node_hashes, self.weights)) if w > 0]
        return [i for _, i in sorted(keyed, reverse=True)]

    def lookup_hash(self, h: int) -> int:
        _, negated_index = max((score(h, nh, w), -i) for i, (nh, w) in enumerate(zip(self.node_hashes, self.weights))
                               if w > 0)
        return -negated_index

    def replicas_hash(self, h: int, n: int) -> list[int]:
        return self.ranking(h)[:n]
