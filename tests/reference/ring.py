# SPDX-License-Identifier: Apache-2.0
"""Reference: consistent hash ring (ALGORITHMS.md §2.2–2.4, §21 lookup rules).

Point j of a node is hash(name + "_" + decimal j). Fixed mode gives node i
round-half-up(w_i * points_per_weight) points; normalized mode is Envoy's
running-sum scheme. Points sort by (point, owner).
"""
import bisect
import math

from .hashes import HASHES

MASK64 = (1 << 64) - 1


def _round_half_up(x: float) -> int:
    f = math.floor(x)
    return f + 1 if x - f >= 0.5 else f


def _point(name: str, j: int, algorithm: str) -> int:
    return HASHES[algorithm](name.encode() + b"_" + str(j).encode())


def fixed_points(names, weights, points_per_weight, algorithm):
    pairs = []
    for i, (name, w) in enumerate(zip(names, weights)):
        for j in range(_round_half_up(w * points_per_weight)):
            pairs.append((_point(name, j, algorithm), i))
    return pairs


def normalized_points(names, weights, min_ring_size, max_ring_size, algorithm):
    total = 0.0
    for w in weights:  # sequential sum, as the engine does
        total += w
    normalized = [(w * 1.0) / total for w in weights]
    min_w = 1.0
    for w in normalized:
        if 0.0 < w < min_w:
            min_w = w
    scale = min(math.ceil(min_w * min_ring_size) / min_w, float(max_ring_size))
    pairs, current, target = [], 0.0, 0.0
    for i, (name, w) in enumerate(zip(names, normalized)):
        if w == 0.0:
            continue
        target += scale * w
        j = 0
        while current < target:
            pairs.append((_point(name, j, algorithm), i))
            j += 1
            current += 1.0
    return pairs


class RingRef:
    def __init__(self, names, weights, points_per_weight=160, algorithm="xxh3", mode="fixed",
                 min_ring_size=1024, max_ring_size=8388608, lookup="at_or_after"):
        if mode == "fixed":
            pairs = fixed_points(names, weights, points_per_weight, algorithm)
        else:
            pairs = normalized_points(names, weights, min_ring_size, max_ring_size, algorithm)
        pairs.sort()
        self.points = [p for p, _ in pairs]
        self.owners = [o for _, o in pairs]
        self.lookup = lookup
        self.algorithm = algorithm

    def index_for_hash(self, h: int) -> int:
        n = len(self.points)
        if self.lookup == "after":
            return bisect.bisect_right(self.points, h) % n
        i = bisect.bisect_left(self.points, h)
        if self.lookup == "at_or_after":
            return i % n
        nxt, prv = i % n, (i - 1) % n
        forward = (self.points[nxt] - h) & MASK64
        backward = (h - self.points[prv]) & MASK64
        return prv if backward <= forward else nxt

    def lookup_hash(self, h: int) -> int:
        return self.owners[self.index_for_hash(h)]

    def replicas_hash(self, h: int, n: int) -> list[int]:
        out, i = [], self.index_for_hash(h)
        for _ in range(len(self.points)):
            if self.owners[i] not in out:
                out.append(self.owners[i])
                if len(out) == n:
                    break
            i = (i + 1) % len(self.points)
        return out
