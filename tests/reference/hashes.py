# SPDX-License-Identifier: Apache-2.0
"""Reference key hashing: the xxhash package over canonical key bytes (seed 0)."""
import xxhash

from .keys import key_bytes

HASHES = {
    "xxh3": lambda b, seed=0: xxhash.xxh3_64_intdigest(b, seed=seed),
    "xxh64": lambda b, seed=0: xxhash.xxh64_intdigest(b, seed=seed),
}


def key_hash(key, algorithm: str = "xxh3") -> int:
    return HASHES[algorithm](key_bytes(key))
