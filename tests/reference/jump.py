# SPDX-License-Identifier: Apache-2.0
"""Reference: jump consistent hash (Lamping & Veach 2014; ALGORITHMS.md §11)."""
MASK64 = (1 << 64) - 1


def jump_bucket(key: int, buckets: int) -> int:
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & MASK64
        j = int((b + 1) * (2**31 / ((key >> 33) + 1)))  # Lamping & Veach Fig. 1
    return b


def splitmix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def jump_replicas(h: int, buckets: int, n: int) -> list[int]:
    out = [jump_bucket(h, buckets)]
    k = 1
    while len(out) < n and k <= 4 * n:
        b = jump_bucket(splitmix64((h + k) & MASK64), buckets)
        if b not in out:
            out.append(b)
        k += 1
    b = out[0]
    while len(out) < n:
        b = (b + 1) % buckets
        if b not in out:
            out.append(b)
    return out
