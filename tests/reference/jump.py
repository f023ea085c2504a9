# SPDX-License-Identifier: Apache-2.0
"""Reference: jump consistent hash (Lamping & Veach 2014; ALGORITHMS.md §11)."""
MASK64 = (1 << 64) - 1


def jump_bucket(key: int, buckets: int) -> int:
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & MASK64
        j = int((b + 1) / (((key >> 33) + 1) / 2**31))
    return b
