# SPDX-License-Identifier: Apache-2.0
"""64-bit key hashing (docs/algorithms.md §1) over canonical key bytes."""
from __future__ import annotations

import warnings

import numpy as np

from ._keys import key_batch_arg
from ._native import _rust
from ._validate import check_choice, check_int

#: The `hash=` choices: xxh3 (default), xxh64, murmur2 = libstdc++
#: MurmurHash2-64 (Envoy's MURMUR_HASH_2; seed 0 selects Envoy's seed
#: 0xc70f6907), crc32 = zlib's CRC-32 (nginx; unseeded).
HASH_NAMES = ("xxh3", "xxh64", "murmur2", "crc32")


def __getattr__(name: str):
    if name == "HASH_ALGORITHMS":  # "algorithm" now means only the placement kind
        warnings.warn("HASH_ALGORITHMS is deprecated; use HASH_NAMES", DeprecationWarning, stacklevel=2)
        return HASH_NAMES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _hash_arg(hash: object, algorithm: object) -> object:
    """`algorithm=` is the old name of `hash=` (kept for old callers, with a warning)."""
    if algorithm is None:
        return hash
    if hash != "xxh3":
        raise TypeError("hash: give the hash as hash= only (algorithm= is its deprecated old name)")
    warnings.warn("algorithm= is deprecated; use hash=", DeprecationWarning, stacklevel=3)
    return algorithm


def _check(hash: object, seed: object) -> None:
    check_choice(hash, "hash", HASH_NAMES)
    check_int(seed, "seed", 0, 2**64 - 1, maximum_text="2**64 - 1")
    if hash == "crc32" and seed != 0:
        raise ValueError(f"seed: crc32 is unseeded (zlib's CRC-32, as nginx uses it); got seed={seed}, use 0")


def _placement_secret(secret: object, hash: object, seed: object) -> bytes | None:
    if secret is None:
        return None
    from .tokens import check_secret

    secret = check_secret(secret)
    if hash != "xxh3" or seed != 0:
        raise ValueError("secret: the keyed hash is SipHash-1-3 under the secret (docs/algorithms.md §22); "
                         "hash= and seed= do not apply to it, leave them at their defaults")
    return secret


def hash_keys(keys: object, hash: str = "xxh3", seed: int = 0, *, algorithm: str | None = None,
              secret: bytes | None = None) -> np.ndarray:
    """Hashes every key to a uint64, equal to the `xxhash` package on the key's bytes.

    keys: list/tuple of str | bytes | int, numpy integer/S/U/object array, or a
    pyarrow string/binary/integer array. The GIL is released while hashing.

    secret: bytes (at least 16): the keyed placement hash instead, SipHash-1-3
    under a key derived from the secret (docs/algorithms.md §22), exactly what a
    placement built with the same `secret=` applies to its keys, so
    `table.route_hashed(hash_keys(keys, secret=s)) == table.route(keys)`.
    """
    hash = _hash_arg(hash, algorithm)
    _check(hash, seed)
    secret = _placement_secret(secret, hash, seed)
    return _rust.hash_batch(key_batch_arg(keys)[0], hash, seed, secret)


def hash_key(key: str | bytes | int, hash: str = "xxh3", seed: int = 0, *, algorithm: str | None = None,
             secret: bytes | None = None) -> int:
    """Hash of one key; `hash_key(k) == hash_keys([k])[0]` (with or without `secret`)."""
    hash = _hash_arg(hash, algorithm)
    _check(hash, seed)
    secret = _placement_secret(secret, hash, seed)
    return _rust.hash_one(key, hash, seed, secret)
