# SPDX-License-Identifier: Apache-2.0
"""Reference: consistent hashing with bounded loads as a batch assignment
(Mirrokni, Thorup, Zadimoghaddam; docs/algorithms.md §5)."""
import math


def assign_bounded(ring, hashes, weights, c):
    total = 0.0
    for w in weights:
        total += w
    capacity = [math.ceil(c * len(hashes) * w / total) for w in weights]
    load = [0] * len(weights)
    out = []
    for h in hashes:
        i = ring.index_for_hash(h)
        while load[ring.owners[i]] >= capacity[ring.owners[i]]:
            i = (i + 1) % len(ring.points)
        load[ring.owners[i]] += 1
        out.append(ring.owners[i])
    return out
