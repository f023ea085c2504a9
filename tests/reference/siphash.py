# SPDX-License-Identifier: Apache-2.0
"""Reference SipHash-c-d and fastroute's keyed placement hash (docs/algorithms.md §22).

Written from the specification in Aumasson & Bernstein, "SipHash: a fast
short-input PRF" (INDOCRYPT 2012, eprint 2012/351) §2, independently of the
Rust crate the engine uses; tests check it against the paper's appendix
vector (SipHash-2-4) and against CPython's own SipHash-1-3 (zero key under
PYTHONHASHSEED=0) before using it as the model for the engine.
"""
from __future__ import annotations

import hashlib
import hmac

_MASK = (1 << 64) - 1

#: KDF labels (docs/algorithms.md §22.2): HMAC-SHA-256(secret, label).
PLACEMENT_LABEL = b"fastroute placement v1"
FINGERPRINT_LABEL = b"fastroute fingerprint v1"


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def _sipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    # Paper §2, "SipRound".
    v0 = (v0 + v1) & _MASK
    v1 = _rotl(v1, 13) ^ v0
    v0 = _rotl(v0, 32)
    v2 = (v2 + v3) & _MASK
    v3 = _rotl(v3, 16) ^ v2
    v0 = (v0 + v3) & _MASK
    v3 = _rotl(v3, 21) ^ v0
    v2 = (v2 + v1) & _MASK
    v1 = _rotl(v1, 17) ^ v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash(k0: int, k1: int, data: bytes, c: int = 1, d: int = 3) -> int:
    """SipHash-c-d of `data` under the 128-bit key (k0, k1) (key bytes little-endian)."""
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573
    # Last word: the 0-7 remaining bytes, then the length mod 256 in the top byte.
    full = len(data) - len(data) % 8
    tail = data[full:] + bytes(7 - len(data) % 8) + bytes([len(data) & 0xFF])
    words = [int.from_bytes(data[i:i + 8], "little") for i in range(0, full, 8)]
    words.append(int.from_bytes(tail, "little"))
    for m in words:
        v3 ^= m
        for _ in range(c):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
    v2 ^= 0xFF
    for _ in range(d):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def key_from_bytes(key: bytes) -> tuple[int, int]:
    """(k0, k1) of a 16-byte SipHash key, as the paper reads it (little-endian)."""
    assert len(key) == 16
    return int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")


def placement_key(secret: bytes) -> tuple[int, int]:
    """fastroute's SipHash key for a user secret: the first 16 bytes of
    HMAC-SHA-256(secret, "fastroute placement v1"), little-endian words."""
    return key_from_bytes(hmac.new(secret, PLACEMENT_LABEL, hashlib.sha256).digest()[:16])


def secret_digest(secret: bytes) -> str:
    """The part of a keyed table's fingerprint that identifies the secret."""
    return hmac.new(secret, FINGERPRINT_LABEL, hashlib.sha256).digest()[:8].hex()


def keyed_hash(secret: bytes, data: bytes) -> int:
    """The key hash a keyed placement applies to a key's canonical bytes."""
    k0, k1 = placement_key(secret)
    return siphash(k0, k1, data, 1, 3)
