# SPDX-License-Identifier: Apache-2.0
"""Keyed key hash (docs/algorithms.md §22): the pure-Python SipHash reference is
checked against independent values first, then the compiled keyed hash must equal
it bit for bit over every key layout, in any process, thread count and split."""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastroute
from tests.reference.keys import key_bytes
from tests.reference.siphash import key_from_bytes, keyed_hash, placement_key, secret_digest, siphash

SECRET = b"0123456789abcdef"
OTHER = b"fedcba9876543210"
KEYS = ["", "a", "card-42", "héllo €", "x" * 7, "y" * 8, "z" * 63, "4111111111111111"]


def test_reference_siphash24_reproduces_the_paper_vector():
    # Aumasson & Bernstein 2012, Appendix A: key 00..0f, message 00..0e.
    k0, k1 = key_from_bytes(bytes(range(16)))
    assert siphash(k0, k1, bytes(range(15)), 2, 4) == 0xA129CA6149BE45E5
    assert siphash(k0, k1, b"", 2, 4) == 0x726FDB47DD0E0E31  # reference vectors.h, entry 0


def test_reference_siphash13_equals_cpython_siphash13():
    # CPython >= 3.11 hashes bytes with SipHash-1-3; PYTHONHASHSEED=0 zeroes its key.
    # (CPython maps the empty string to 0 and the result to a signed value.)
    messages = [b"a", b"card-42", bytes(range(8)), bytes(range(40)), "héllo".encode()]
    code = ("import sys; print(sys.hash_info.algorithm); "
            f"print(*[hash(m) for m in {messages!r}])")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": "0"},
                         capture_output=True, text=True, check=True).stdout.split("\n")
    if out[0] != "siphash13":
        pytest.skip(f"this CPython hashes with {out[0]}, not siphash13")
    signed = [h - 2**64 if h >= 2**63 else h for h in (siphash(0, 0, m, 1, 3) for m in messages)]
    assert [int(v) for v in out[1].split()] == signed


def test_kdf_is_hmac_sha256_of_the_label():
    import hashlib
    import hmac

    okm = hmac.new(SECRET, b"fastroute placement v1", hashlib.sha256).digest()
    assert placement_key(SECRET) == (int.from_bytes(okm[:8], "little"), int.from_bytes(okm[8:16], "little"))
    assert secret_digest(SECRET) == hmac.new(SECRET, b"fastroute fingerprint v1", hashlib.sha256).hexdigest()[:16]


def layouts(keys):
    """The same text keys in every batch layout the engine reads."""
    return {
        "list": list(keys),
        "tuple": tuple(keys),
        "bytes list": [k.encode() for k in keys],
        "numpy U": np.array(keys),
        "numpy object": np.array(list(keys), dtype=object),
        "arrow string": pa.array(keys, pa.string()),
        "arrow large_string": pa.array(keys, pa.large_string()),
        "arrow binary": pa.array([k.encode() for k in keys], pa.binary()),
    }


def test_keyed_hash_equals_the_reference_in_every_layout():
    keys = KEYS
    want = [keyed_hash(SECRET, key_bytes(k)) for k in keys]
    for name, batch in layouts(keys).items():
        assert fastroute.hash_keys(batch, secret=SECRET).tolist() == want, name
    ascii_keys = [k for k in keys if k.isascii() and k]  # numpy S drops trailing NULs; "" is b""
    s_array = np.array([k.encode() for k in ascii_keys])
    assert fastroute.hash_keys(s_array, secret=SECRET).tolist() == [keyed_hash(SECRET, k.encode()) for k in ascii_keys]
    for k in keys:
        assert fastroute.hash_key(k, secret=SECRET) == keyed_hash(SECRET, key_bytes(k))


def test_keyed_hash_of_integers_is_over_their_8_little_endian_bytes():
    ints = [0, 1, 42, 2**63, 2**64 - 1]
    want = [keyed_hash(SECRET, key_bytes(i)) for i in ints]
    assert fastroute.hash_keys(ints, secret=SECRET).tolist() == want
    assert fastroute.hash_keys(np.array(ints, dtype=np.uint64), secret=SECRET).tolist() == want
    assert fastroute.hash_keys(pa.array(ints, pa.uint64()), secret=SECRET).tolist() == want
    signed = [-1, -(2**63), 7]
    assert fastroute.hash_keys(np.array(signed, dtype=np.int64), secret=SECRET).tolist() == \
        [keyed_hash(SECRET, key_bytes(i)) for i in signed]
    assert [fastroute.hash_key(i, secret=SECRET) for i in ints] == want


def test_without_a_secret_the_hash_is_unchanged_and_secrets_differ():
    from tests.reference.hashes import key_hash

    assert fastroute.hash_keys(KEYS).tolist() == [key_hash(k) for k in KEYS]
    a = fastroute.hash_keys(KEYS, secret=SECRET)
    b = fastroute.hash_keys(KEYS, secret=OTHER)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, fastroute.hash_keys(KEYS))
    assert fastroute.hash_keys(KEYS, secret=bytearray(SECRET)).tolist() == a.tolist()
    assert fastroute.hash_keys(KEYS, secret=memoryview(SECRET)).tolist() == a.tolist()


def test_large_batches_equal_the_reference_for_any_thread_count_and_split():
    keys = [f"card-{i:09d}" for i in range(200_000)]  # above the parallel threshold
    whole = fastroute.hash_keys(keys, secret=SECRET)
    sample = range(0, len(keys), 9973)
    assert [int(whole[i]) for i in sample] == [keyed_hash(SECRET, keys[i].encode()) for i in sample]
    halves = np.concatenate([fastroute.hash_keys(keys[:77_777], secret=SECRET),
                             fastroute.hash_keys(keys[77_777:], secret=SECRET)])
    assert np.array_equal(whole, halves)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: fastroute.hash_keys(keys, secret=SECRET), range(4)))
    assert all(np.array_equal(whole, r) for r in results)


def test_same_keyed_hashes_in_other_processes_and_hash_seeds():
    code = ("import fastroute; print(*fastroute.hash_keys(['card-1', 'card-2', 'héllo'], "
            "secret=b'0123456789abcdef').tolist())")
    here = " ".join(str(v) for v in fastroute.hash_keys(["card-1", "card-2", "héllo"], secret=SECRET).tolist())
    for seed in ("0", "1", "random"):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == here, seed


@pytest.mark.parametrize("secret, error, rule", [
    ("0123456789abcdef", TypeError, "not str"),
    (b"short", ValueError, "at least 16 bytes"),
    (b"", ValueError, "at least 16 bytes"),
    (1234567890123456, TypeError, "expected bytes"),
    (b"x" * 4097, ValueError, "16 to 4096 bytes"),
])
def test_bad_secrets_are_clear_errors_naming_secret(secret, error, rule):
    for call in (lambda: fastroute.hash_keys(["a"], secret=secret), lambda: fastroute.hash_key("a", secret=secret)):
        with pytest.raises(error, match=rule) as info:
            call()
        assert str(info.value).startswith("secret:")
        if isinstance(secret, (str, bytes)) and len(secret) >= 5:
            assert str(secret[:5]) not in str(info.value) and "x" * 16 not in str(info.value)


def test_a_secret_does_not_combine_with_another_algorithm_or_seed():
    for kwargs in ({"hash": "xxh64"}, {"seed": 3}):
        with pytest.raises(ValueError, match="^secret: .*SipHash-1-3"):
            fastroute.hash_keys(["a"], secret=SECRET, **kwargs)


@settings(max_examples=200, deadline=None)
@given(secret=st.binary(min_size=16, max_size=200), keys=st.lists(st.binary(max_size=70), min_size=1, max_size=20))
def test_keyed_hash_equals_the_reference_for_any_secret_and_bytes(secret, keys):
    assert fastroute.hash_keys(keys, secret=secret).tolist() == [keyed_hash(secret, k) for k in keys]
    assert fastroute.hash_keys(pa.array(keys, pa.binary()), secret=secret).tolist() == \
        [keyed_hash(secret, k) for k in keys]
