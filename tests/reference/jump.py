# SPDX-License-Identifier: Apache-2.0
"""Reference: jump consistent hash and its failover order.

jump_bucket: Lamping & Veach 2014, Fig. 1 (docs/algorithms.md §11), written as the
paper's probabilistic form — the LCG key drives successive "jump" targets.
Failover order (JumpHash docstring): the primary, then jump of
mix64(h + k) for k = 1 … 4n skipping repeats, then the buckets after the
primary cyclically. mix64 is SplitMix64's output function (Steele, Lea &
Flood, OOPSLA 2014; constants of Vigna's splitmix64.c, Stafford's "Mix13").

Structure: the failover order is one lazy candidate stream (primary, mixed
probes, cyclic fill) deduplicated by a dict, not a counter loop.
"""
import itertools

MASK64 = (1 << 64) - 1
LCG_MULTIPLIER = 2862933555777941757


def jump_bucket(key: int, buckets: int) -> int:
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * LCG_MULTIPLIER + 1) & MASK64
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def mix64(z: int) -> int:
    """SplitMix64 output function: xor-shift-multiply 30/27/31."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def probe_replicas(h: int, count: int, n: int, index_of) -> list[int]:
    """The failover order over indices 0..count-1 for any lookup `index_of(hash)`:
    index_of(h), then index_of(mix64(h + k)) for k = 1 … 4n skipping repeats,
    then the indices after the primary cyclically (JumpHash, JumpBackHash and
    JumpBackAnchorHash share it)."""
    primary = index_of(h)
    probes = (index_of(mix64((h + k) & MASK64)) for k in range(1, 4 * n + 1))
    cyclic = ((primary + k) % count for k in range(1, count))
    order = {}
    for b in itertools.chain([primary], probes):
        order.setdefault(b)
        if len(order) == n:
            return list(order)
    for b in cyclic:
        order.setdefault(b)
        if len(order) == n:
            break
    return list(order)


def jump_replicas(h: int, buckets: int, n: int) -> list[int]:
    return probe_replicas(h, buckets, n, lambda k: jump_bucket(k, buckets))
