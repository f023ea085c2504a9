# SPDX-License-Identifier: Apache-2.0
"""Reference: libstdc++ 64-bit MurmurHash2 (`_Hash_bytes`), docs/algorithms.md §1."""
MASK = (1 << 64) - 1
MUL = 0xC6A4A7935BD1E995
ENVOY_SEED = 0xC70F6907


def _shift_mix(v):
    return v ^ (v >> 47)


def murmur2_64(data: bytes, seed: int = ENVOY_SEED) -> int:
    h = (seed ^ (len(data) * MUL)) & MASK
    full = len(data) - len(data) % 8
    for i in range(0, full, 8):
        d = int.from_bytes(data[i:i + 8], "little")
        d = (_shift_mix((d * MUL) & MASK) * MUL) & MASK
        h = ((h ^ d) * MUL) & MASK
    tail = data[full:]
    if tail:
        h = ((h ^ int.from_bytes(tail, "little")) * MUL) & MASK
    h = (_shift_mix(h) * MUL) & MASK
    return _shift_mix(h)
