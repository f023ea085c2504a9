# SPDX-License-Identifier: Apache-2.0
"""Card-number tokens equal Python's hmac module (HMAC-SHA-256 of the digits)."""
import hashlib
import hmac
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

import fastroute
from fastroute import PanTokenError, load_secret, pan_token, pan_tokens

SECRET = bytes(range(32))


def reference(pan: str, secret: bytes = SECRET) -> str:
    digits = pan.replace(" ", "").replace("-", "")
    return hmac.new(secret, digits.encode(), hashlib.sha256).hexdigest()


def card_numbers(n, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(12, 20, n)
    return ["".join(map(str, rng.integers(0, 10, k))) for k in lengths]


def test_equals_hmac_module_on_10000_numbers_in_every_input_form():
    pans = card_numbers(10_000)
    expect = [reference(p) for p in pans]
    assert pan_tokens(pans, SECRET) == expect
    assert pan_tokens(tuple(pans), SECRET) == expect
    assert pan_tokens(np.array(pans), SECRET).tolist() == expect
    assert pan_tokens(np.array([p.encode() for p in pans]), SECRET).tolist() == expect
    assert pan_tokens(pa.array(pans), SECRET).to_pylist() == expect
    assert pan_tokens(pa.array(pans, type=pa.large_string()), SECRET).to_pylist() == expect
    ints = [p for p in pans if p[0] != "0"][:2000]
    assert pan_tokens(np.array([int(p) for p in ints], dtype=np.uint64), SECRET).tolist() == [reference(p) for p in ints]
    assert pan_tokens([int(p) for p in ints], SECRET) == [reference(p) for p in ints]


def test_bytes_output_separators_and_one_value():
    pan = "4111 1111-1111 1111"
    raw = hmac.new(SECRET, b"4111111111111111", hashlib.sha256).digest()
    assert pan_token(pan, SECRET, output="bytes") == raw
    assert pan_token(pan, SECRET) == raw.hex() == pan_token(b"4111111111111111", SECRET)
    arr = pan_tokens(pa.array([pan, None]), SECRET, output="bytes")
    assert arr.type == pa.binary(32) and arr.to_pylist() == [raw, None]
    assert pan_tokens(pa.array([pan, None]), SECRET).to_pylist() == [raw.hex(), None]


def test_different_secrets_differ_and_threads_do_not_matter():
    pans = card_numbers(200_000, seed=3)
    one = pan_tokens(np.array(pans), SECRET, threads=1)
    assert (pan_tokens(np.array(pans), SECRET, threads=2) == one).all()
    other = pan_tokens(np.array(pans), SECRET[::-1])
    assert not (other == one).any()


def test_same_token_in_another_process_and_hash_seed():
    code = "import fastroute; print(fastroute.pan_token('5500000000000004', bytes(range(32))))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("0", "1", "2")}
    assert outs == {reference("5500000000000004")}


@pytest.mark.parametrize("value, rule", [
    ("4111x111111111111", "only digits"), ("41111111111", "12 to 19"), ("4" * 20, "12 to 19"),
    ("", "empty"), (" - ", "empty"),
])
def test_values_that_are_not_card_numbers_name_index_and_rule(value, rule):
    with pytest.raises(PanTokenError, match=rf"pans\[2\]: .*{rule}") as info:
        pan_tokens(["4111111111111111", "5500000000000004", value], SECRET)
    assert "4111" not in str(info.value)


def test_luhn_check_on_request():
    assert pan_token("4111111111111111", SECRET, luhn=True) == reference("4111111111111111")
    with pytest.raises(PanTokenError, match="pan: fails the Luhn check"):
        pan_token("4111111111111112", SECRET, luhn=True)
    assert pan_token("4111111111111112", SECRET) == reference("4111111111111112")


@pytest.mark.parametrize("secret, error, fragment", [
    ("a-str-secret-0123456789", TypeError, "not str"), (b"short", ValueError, "at least 16"),
    (12345, TypeError, "expected bytes"),
])
def test_bad_secrets(secret, error, fragment):
    with pytest.raises(error, match=fragment) as info:
        pan_token("4111111111111111", secret)
    assert "a-str-secret" not in str(info.value)


def test_load_secret_from_env_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FR_TOKEN_SECRET", "x" * 20)
    assert load_secret(env="FR_TOKEN_SECRET") == b"x" * 20
    with pytest.raises(ValueError, match="'FR_MISSING' is not set"):
        load_secret(env="FR_MISSING")
    path = tmp_path / "secret"
    path.write_bytes(b"y" * 16 + b"\n")
    path.chmod(0o600)
    assert load_secret(file=path) == b"y" * 16
    path.chmod(0o644)
    with pytest.warns(UserWarning, match="readable by group or others"):
        load_secret(file=path)
    with pytest.raises(ValueError, match="cannot read secret file"):
        load_secret(file=tmp_path / "nope")
    with pytest.raises(ValueError, match="exactly one"):
        load_secret()
    path.write_bytes(b"z" * 15)
    with pytest.raises(ValueError, match="at least 16") as info:
        load_secret(file=path)
    assert "zzz" not in str(info.value)


def test_public_names():
    assert {"pan_token", "pan_tokens", "load_secret", "PanTokenError"} <= set(fastroute.__all__)


def test_status_rows_land_on_their_index_in_large_parallel_batches():
    # Above the engine's parallel threshold: each worker writes its token rows and
    # status bytes in one pass (rust/engine/src/tokens.rs tokens_batch).
    from fastroute.tokens import STATUS_LENGTH, STATUS_NOT_DIGITS, token_status

    pans = card_numbers(100_000, seed=5)
    bad = {17: ("12ab", STATUS_NOT_DIGITS), 40_000: ("123", STATUS_LENGTH), 99_999: ("x", STATUS_NOT_DIGITS)}
    for i, (value, _) in bad.items():
        pans[i] = value
    for threads in (1, 2):
        rows, status, _ = token_status(np.array(pans), SECRET, threads=threads)
        assert {int(i): int(status[i]) for i in np.flatnonzero(status)} == {i: s for i, (_, s) in bad.items()}
        assert not rows[sorted(bad)].any()
        for i in (0, 16, 18, 39_999, 40_001, 65_535, 65_536, 99_998):
            assert rows[i].tobytes().decode() == reference(pans[i]), (threads, i)
