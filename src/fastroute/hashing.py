# SPDX-License-Identifier: Apache-2.0
"""64-bit key hashing (docs/algorithms.md §1) over canonical key bytes."""
from __future__ import annotations

import numpy as np

from ._keys import key_batch_arg
from ._native import _rust
from .redact import quoted

#: xxh3 (default), xxh64, murmur2 = libstdc++ MurmurHash2-64 (Envoy's
#: MURMUR_HASH_2; seed 0 selects Envoy's seed 0xc70f6907), crc32 = zlib's CRC-32
#: (nginx; unseeded).
HASH_ALGORITHMS = ("xxh3", "xxh64", "murmur2", "crc32")


def _check(algorithm: object, seed: object) -> None:
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"algorithm: expected one of {HASH_ALGORITHMS}, got {quoted(algorithm)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed: must be in [0, 2**64), got {seed}")
    if algorithm == "crc32" and seed != 0:
        raise ValueError(f"seed: crc32 is unseeded (zlib's CRC-32, as nginx uses it); got seed={seed}, use 0")


def _placement_secret(secret: object, algorithm: object, seed: object) -> bytes | None:
    if secret is None:
        return None
    from .tokens import check_secret

    secret = check_secret(secret)
    if algorithm != "xxh3" or seed != 0:
        raise ValueError("secret: the keyed hash is SipHash-1-3 under the secret (docs/algorithms.md §22); "
                         "algorithm= and seed= do not apply to it, leave them at their defaults")
    return secret


def hash_keys(keys: object, algorithm: str = "xxh3", seed: int = 0, *, secret: bytes | None = None) -> np.ndarray:
    """Hashes every key to a uint64, equal to the `xxhash` package on the key's bytes.

    keys: list/tuple of str | bytes | int, numpy integer/S/U/object array, or a
    pyarrow string/binary/integer array. The GIL is released while hashing.

    secret: bytes (at least 16): the keyed placement hash instead, SipHash-1-3
    under a key derived from the secret (docs/algorithms.md §22), exactly what a
    placement built with the same `secret=` applies to its keys, so
    `table.route_hashed(hash_keys(keys, secret=s)) == table.route(keys)`.
    """
    _check(algorithm, seed)
    secret = _placement_secret(secret, algorithm, seed)
    return _rust.hash_batch(key_batch_arg(keys)[0], algorithm, seed, secret)


def hash_key(key: str | bytes | int, algorithm: str = "xxh3", seed: int = 0, *, secret: bytes | None = None) -> int:
    """Hash of one key; `hash_key(k) == hash_keys([k])[0]` (with or without `secret`)."""
    _check(algorithm, seed)
    secret = _placement_secret(secret, algorithm, seed)
    return _rust.hash_one(key, algorithm, seed, secret)
