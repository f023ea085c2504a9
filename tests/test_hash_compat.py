# SPDX-License-Identifier: Apache-2.0
"""hash_keys / hash_key equal the `xxhash` package on canonical key bytes."""
import random

import numpy as np
import pytest
import xxhash

import fastroute
from tests.reference.keys import key_bytes

ORACLE = {
    "xxh3": lambda b, seed: xxhash.xxh3_64_intdigest(b, seed=seed),
    "xxh64": lambda b, seed: xxhash.xxh64_intdigest(b, seed=seed),
}


def random_text(rng: random.Random, length: int) -> str:
    alphabet = "abcXYZ019 -_/é€中😀\u0301"
    return "".join(rng.choice(alphabet) for _ in range(length))


@pytest.fixture(scope="module")
def mixed_keys():
    rng = random.Random(7)
    keys = []
    for i in range(12_000):
        length = rng.randrange(0, 301)
        kind = i % 3
        if kind == 0:
            keys.append(random_text(rng, length))
        elif kind == 1:
            keys.append(rng.randbytes(length))
        else:
            keys.append(rng.randrange(-(2**63), 2**64))
    return keys


@pytest.mark.parametrize("algorithm", ["xxh3", "xxh64"])
@pytest.mark.parametrize("seed", [0, 1, 2**64 - 1])
def test_list_of_mixed_keys_matches_xxhash(mixed_keys, algorithm, seed):
    expected = np.array([ORACLE[algorithm](key_bytes(k), seed) for k in mixed_keys], dtype=np.uint64)
    got = fastroute.hash_keys(mixed_keys, hash=algorithm, seed=seed)
    assert got.dtype == np.uint64
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(fastroute.hash_keys(tuple(mixed_keys), algorithm, seed), expected)


def test_default_algorithm_is_xxh3():
    assert fastroute.hash_key("abc") == xxhash.xxh3_64_intdigest(b"abc")


@pytest.mark.parametrize("algorithm", ["xxh3", "xxh64"])
def test_hash_key_agrees_with_batch(mixed_keys, algorithm):
    batch = fastroute.hash_keys(mixed_keys[:500], algorithm)
    for key, h in zip(mixed_keys[:500], batch.tolist()):
        assert fastroute.hash_key(key, algorithm) == h


def test_numpy_unicode_array_hashes_as_utf8():
    rng = random.Random(3)
    words = [random_text(rng, rng.randrange(0, 40)).rstrip("\0") for _ in range(10_000)]
    arr = np.array(words)
    assert arr.dtype.kind == "U"
    expected = [xxhash.xxh3_64_intdigest(w.encode()) for w in words]
    assert fastroute.hash_keys(arr).tolist() == expected
    swapped = arr.astype(arr.dtype.newbyteorder(">"))
    assert fastroute.hash_keys(swapped).tolist() == expected
    assert fastroute.hash_keys(arr[::2]).tolist() == expected[::2]


def test_numpy_bytes_array_strips_nul_padding():
    rng = random.Random(4)
    words = [rng.randbytes(rng.randrange(0, 30)).rstrip(b"\0") for _ in range(10_000)]
    arr = np.array(words, dtype="S")
    expected = [xxhash.xxh64_intdigest(w) for w in words]
    assert fastroute.hash_keys(arr, "xxh64").tolist() == expected


@pytest.mark.parametrize("dtype", [np.uint64, np.int64, np.int32, np.uint8])
def test_numpy_integer_arrays_hash_like_ints(dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(5)
    arr = rng.integers(info.min, info.max, size=10_000, dtype=dtype, endpoint=True)
    expected = [xxhash.xxh3_64_intdigest(key_bytes(int(v))) for v in arr]
    assert fastroute.hash_keys(arr).tolist() == expected
    assert fastroute.hash_keys(arr.astype(arr.dtype.newbyteorder(">"))).tolist() == expected


def test_empty_inputs():
    assert fastroute.hash_keys([]).shape == (0,)
    assert fastroute.hash_keys(np.array([], dtype="U1")).shape == (0,)
    assert fastroute.hash_keys(np.array([], dtype=np.uint64)).shape == (0,)
    assert fastroute.hash_keys([""]).tolist() == [xxhash.xxh3_64_intdigest(b"")]


def test_large_batch_is_split_across_threads_with_identical_result():
    keys = np.arange(300_000, dtype=np.uint64)
    got = fastroute.hash_keys(keys)
    expected = [xxhash.xxh3_64_intdigest(int(k).to_bytes(8, "little")) for k in keys[:: 997]]
    assert got[::997].tolist() == expected
    assert np.array_equal(got, fastroute.hash_keys(keys.tolist()))


@pytest.mark.parametrize(
    "keys, error, fragment",
    [
        ([1.5], TypeError, "keys[0]"),
        (["a", None], TypeError, "keys[1]"),
        ([True], TypeError, "keys[0]"),
        ([2**64], OverflowError, "keys[0]"),
        ([-(2**63) - 1], OverflowError, "keys[0]"),
        (["\ud800"], ValueError, "keys[0]"),
        (np.array([1.0, 2.0]), TypeError, "float64"),
        (np.zeros((2, 2), dtype=np.uint64), ValueError, "1-D"),
        ("abc", TypeError, "single str"),
        (12, TypeError, "single int"),
    ],
)
def test_bad_keys_raise_clear_errors(keys, error, fragment):
    with pytest.raises(error) as info:
        fastroute.hash_keys(keys)
    assert fragment in str(info.value)


def test_bad_hash_and_seed():
    with pytest.raises(ValueError, match="hash: expected one of"):
        fastroute.hash_keys([b"a"], hash="md5")
    with pytest.raises(ValueError, match="seed"):
        fastroute.hash_keys([b"a"], seed=-1)
    with pytest.raises(TypeError, match="seed"):
        fastroute.hash_keys([b"a"], seed=1.0)
    with pytest.raises(TypeError, match="key"):
        fastroute.hash_key(3.5)


def test_gil_is_released_while_hashing():
    """Another Python thread runs while a batch is hashed (tests/_gil.py)."""
    from tests._gil import releases_gil

    keys = np.arange(1_000_000, dtype=np.uint64)
    assert releases_gil(lambda: fastroute.hash_keys(keys))
    # The check can fail: a call that keeps the GIL (pure Python work) never lets the helper run.
    assert not releases_gil(lambda: sum(range(200_000)), attempts=3)


def test_old_names_still_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="algorithm= is deprecated; use hash="):
        old = fastroute.hash_keys([b"a", b"b"], algorithm="xxh64")
    assert old.tolist() == fastroute.hash_keys([b"a", b"b"], hash="xxh64").tolist()
    with pytest.warns(DeprecationWarning, match="algorithm= is deprecated"):
        assert fastroute.hash_key(b"a", algorithm="crc32") == fastroute.hash_key(b"a", "crc32")
    with pytest.raises(TypeError, match="hash: give the hash as hash= only"):
        fastroute.hash_keys([b"a"], hash="xxh64", algorithm="xxh64")
    with pytest.warns(DeprecationWarning, match="HASH_ALGORITHMS is deprecated; use HASH_NAMES"):
        assert fastroute.HASH_ALGORITHMS == fastroute.HASH_NAMES == ("xxh3", "xxh64", "murmur2", "crc32")
