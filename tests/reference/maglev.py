# SPDX-License-Identifier: Apache-2.0
"""Reference: Maglev table with Envoy's weighted fill (ALGORITHMS.md §3.1–3.2)."""
import xxhash


def build_table(names, weights, size):
    total = 0.0
    for w in weights:
        total += w
    order = sorted((i for i in range(len(names)) if weights[i] > 0), key=lambda i: names[i].encode())
    normalized = [weights[i] / total for i in order]
    max_w = max(normalized)
    offset = [xxhash.xxh64_intdigest(names[i].encode(), seed=0) % size for i in order]
    skip = [xxhash.xxh64_intdigest(names[i].encode(), seed=1) % (size - 1) + 1 for i in order]
    nxt = [0] * len(order)
    target = [0.0] * len(order)
    table = [None] * size
    filled, iteration = 0, 1
    while filled < size:
        for k in range(len(order)):
            if filled == size:
                break
            if iteration * normalized[k] < target[k]:
                continue
            target[k] += max_w
            slot = (offset[k] + skip[k] * nxt[k]) % size
            while table[slot] is not None:
                nxt[k] += 1
                slot = (offset[k] + skip[k] * nxt[k]) % size
            table[slot] = order[k]
            nxt[k] += 1
            filled += 1
        iteration += 1
    return table


class MaglevRef:
    def __init__(self, names, weights, size=65537):
        self.table = build_table(names, weights, size)

    def lookup_hash(self, h: int) -> int:
        return self.table[h % len(self.table)]

    def replicas_hash(self, h: int, n: int) -> list[int]:
        out, slot = [], h % len(self.table)
        for _ in range(len(self.table)):
            if self.table[slot] not in out:
                out.append(self.table[slot])
                if len(out) == n:
                    break
            slot = (slot + 1) % len(self.table)
        return out
