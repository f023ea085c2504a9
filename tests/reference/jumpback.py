# SPDX-License-Identifier: Apache-2.0
"""Reference: JumpBackHash (Ertl 2024, arXiv 2403.18682; docs/algorithms.md §23).

Written from the paper's description, in the variant hash4j ships as
`ConsistentHashing.jumpBackHash(splitMix64_V1())`: the random stream is
SplitMix64 seeded with the key's 64-bit hash (state = h; each draw adds the
golden gamma, then applies the SplitMix64 output mix). The vectors in
tests/data/jumpback_vectors.json pin it bit for bit.

The idea (docs/algorithms.md §23.1): think of the bucket indices as power-of-two ranges
[1,2), [2,4), [4,8), …; a key's bucket is the highest range whose random
"jump" lands inside it. One 64-bit draw decides, per range, whether the key
jumps into it (one bit each of the 32-bit fold of the draw) and where (the
low bits of one draw half); only the topmost, partially filled range needs
further draws, by rejection until the candidate falls below n or into a lower
range. Removing the last bucket moves only its keys; adding one moves only keys
to it — as with jump hash, in O(1) expected integer operations.
"""
from .jump import MASK64, mix64

MASK32 = (1 << 32) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment (Steele, Lea & Flood 2014)


class SplitMix64:
    """hash4j's SplitMix64 pseudo-random stream, seeded with the key hash."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + GOLDEN_GAMMA) & MASK64
        return mix64(self.state)

    def below(self, bound: int) -> int:
        """Uniform in [0, bound) from 32-bit draws (the low half of next()): Lemire
        2019, "Fast random integer generation in an interval", Algorithm 5, L = 32."""
        product = (self.next() & MASK32) * bound
        if product & MASK32 < bound:
            threshold = (1 << 32) % bound
            while product & MASK32 < threshold:
                product = (self.next() & MASK32) * bound
        return product >> 32


def _top_range_draw(rng: SplitMix64, low: int, buckets: int) -> int | None:
    """Redraw inside [0, 2·low) until a candidate is below `low` (None: the key does
    not jump into the top range after all) or a valid bucket in [low, buckets)."""
    while True:
        r = rng.next()
        for half in (r & MASK32, r >> 32):
            candidate = half & (2 * low - 1)
            if candidate < low:
                return None
            if candidate < buckets:
                return candidate


def bucket_from(rng: SplitMix64, buckets: int) -> int:
    """The bucket in [0, buckets) for a stream positioned at its first draw; buckets >= 2."""
    first = rng.next()
    folded = (first ^ (first >> 32)) & MASK32
    # One bit per range that can hold a bucket below `buckets`.
    ranges = folded & ((1 << (buckets - 1).bit_length()) - 1)
    while ranges:
        low = 1 << (ranges.bit_length() - 1)
        # Ranges take their offset from alternating halves of the first draw.
        half = first >> 32 if bin(ranges).count("1") % 2 else first & MASK32
        candidate = low + (half & (low - 1))
        if candidate < buckets:
            return candidate
        again = _top_range_draw(rng, low, buckets)
        if again is not None:
            return again
        ranges ^= low
    return 0


def jumpback_bucket(h: int, buckets: int) -> int:
    """JumpBackHash bucket of the 64-bit key hash `h` among `buckets` (>= 1)."""
    if buckets <= 1:
        return 0
    return bucket_from(SplitMix64(h), buckets)
