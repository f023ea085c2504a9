# SPDX-License-Identifier: Apache-2.0
"""Card-number tokens: HMAC-SHA-256 of the normalized card number (docs/tokens.md).

PCI DSS v4.0.1 req. 3.5.1.1 asks for keyed cryptographic hashes when card
numbers are hashed. A token is HMAC-SHA-256(secret, digits), where digits is
the card number with spaces and dashes removed (12 to 19 digits), as 64
lowercase hex characters (or 32 raw bytes). Equal card numbers give equal
tokens under one secret, so tokens can be joined and routed on; without the
secret they reveal nothing of the number.

Secrets are bytes of at least 16; load them with `load_secret(env=..., file=...)`
rather than writing them into code. A secret never appears in a message.
"""
from __future__ import annotations

import os
import re
import stat
import warnings

import numpy as np

from ._keys import key_batch_arg
from ._native import _rust
from ._validate import check_bool
from .redact import quoted

MIN_SECRET_BYTES = 16
OUTPUTS = ("hex", "bytes")
# Status codes of the compiled tokenizer (rust/engine/src/tokens.rs PanStatus).
STATUS_OK, STATUS_EMPTY, STATUS_NOT_DIGITS, STATUS_LENGTH, STATUS_LUHN = range(5)
STATUS_RULES = {
    STATUS_EMPTY: "empty",
    STATUS_NOT_DIGITS: "not a card number (only digits, spaces and dashes)",
    STATUS_LENGTH: "not a card number (12 to 19 digits)",
    STATUS_LUHN: "fails the Luhn check",
}


class PanTokenError(ValueError):
    """A value that is not a card number; names its position and the rule, never the value."""


def check_secret(secret: object, what: str = "secret") -> bytes:
    if isinstance(secret, str):
        raise TypeError(f"{what}: give bytes, not str (load it with fastroute.load_secret(env=...) or file=...)")
    if not isinstance(secret, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what}: expected bytes, got {type(secret).__name__}")
    secret = bytes(secret)
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"{what}: must be at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")
    return secret


def load_secret(*, env: str | None = None, file: str | os.PathLike | None = None, what: str = "secret") -> bytes:
    """A secret by reference: the UTF-8 bytes of environment variable `env`, or the
    bytes of `file` (one trailing newline removed). A file that group or others
    can read gets a warning."""
    if (env is None) == (file is None):
        raise ValueError(f"{what}: give exactly one of env= or file=")
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ValueError(f"{what}: environment variable {quoted(env)} is not set")
        return check_secret(value.encode("utf-8"), what)
    try:
        st = os.stat(file)
        with open(file, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read secret file {quoted(os.fspath(file))}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(f"{what}: secret file {quoted(os.fspath(file))} is readable by group or others "
                      f"(mode {stat.S_IMODE(st.st_mode):o}); chmod 600 it", stacklevel=2)
    return check_secret(data[:-1] if data.endswith(b"\n") else data, what)


def _check_output(output: object) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"output: expected one of {OUTPUTS}, got {quoted(output)}")


def token_status(pans: object, secret: bytes, *, luhn: bool = False, output: str = "hex",
                 threads: int | None = None, name: str = "pans") -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(tokens as uint8 rows, status per value, Arrow null mask) without raising on bad values."""
    secret = check_secret(secret)
    _check_output(output)
    check_bool(luhn, "luhn")
    if isinstance(pans, (list, tuple)):  # int card numbers are read as their decimal digits
        pans = [str(p) if isinstance(p, int) and not isinstance(p, bool) else p for p in pans]
    arg, nulls = key_batch_arg(pans, name=name, allow_nulls=True)
    if arg[0] == "u64" and len(arg[1]) and isinstance(pans, np.ndarray) and pans.dtype.kind == "i" and pans.min() < 0:
        raise PanTokenError(f"{name}[{int(np.argmax(pans < 0))}]: not a card number (negative)")
    flat, status = _rust.pan_tokens(arg, secret, luhn, output == "hex", threads)
    width = 64 if output == "hex" else 32
    return flat.reshape(-1, width), status, nulls


def pan_tokens(pans: object, secret: bytes, *, luhn: bool = False, output: str = "hex",
               threads: int | None = None):
    """Tokens of many card numbers, in their order, computed in parallel with the GIL released.

    pans: list/tuple of str/bytes, a numpy str/bytes/integer array, or a pyarrow
    string/binary/integer array (nulls give null tokens). Returns a list for a
    list or tuple, a numpy array (str for hex, S32 for bytes) for numpy, and a
    pyarrow array (string or fixed_size_binary(32)) for Arrow. A value that is
    not a card number raises PanTokenError naming its index and the rule.
    """
    rows, status, nulls = token_status(pans, secret, luhn=luhn, output=output, threads=threads)
    bad = status != STATUS_OK
    if nulls is not None:
        bad &= ~nulls
    if bad.any():
        i = int(np.argmax(bad))
        raise PanTokenError(f"pans[{i}]: {STATUS_RULES[int(status[i])]}")
    if output == "hex":
        values = rows.view("S64").reshape(-1)
    else:
        values = rows.view("S32").reshape(-1)
    if isinstance(pans, (list, tuple)) or not (isinstance(pans, np.ndarray) or type(pans).__module__.startswith("pyarrow")):
        return [v.decode("ascii") for v in values] if output == "hex" else [bytes(v) for v in values]
    if isinstance(pans, np.ndarray):
        return values.astype("U64") if output == "hex" else values
    return arrow_tokens(rows, nulls, output)


def arrow_tokens(rows: np.ndarray, nulls: np.ndarray | None, output: str = "hex"):
    """uint8 token rows as a pyarrow string (hex) or fixed_size_binary(32) array."""
    import pyarrow as pa

    n, width = rows.shape
    validity = None
    if nulls is not None and nulls.any():
        validity = pa.py_buffer(np.packbits(~nulls, bitorder="little"))
    data = pa.py_buffer(np.ascontiguousarray(rows))
    if output == "hex":
        offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
        return pa.Array.from_buffers(pa.string(), n, [validity, offsets, data])
    return pa.Array.from_buffers(pa.binary(32), n, [validity, data])


def pan_token(pan: str | bytes | int, secret: bytes, *, luhn: bool = False, output: str = "hex") -> str | bytes:
    """Token of one card number: HMAC-SHA-256(secret, digits) as hex (or bytes)."""
    if not isinstance(pan, (str, bytes, int)) or isinstance(pan, bool):
        raise TypeError(f"pan: expected str, bytes or int, got {type(pan).__name__}")
    try:
        return pan_tokens([pan], secret, luhn=luhn, output=output)[0]
    except PanTokenError as exc:
        raise PanTokenError(str(exc).replace("pans[0]", "pan", 1)) from None


# 12 to 19 digits, single spaces or dashes between them, not inside a longer digit run.
_CARD_LIKE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){11,18}(?![0-9])")


def tokenize_digit_runs(text: str, secret: bytes) -> str:
    """`text` with every card-number-like digit run replaced by its token (for lines that
    cannot be split into fields, e.g. in a rejects file under --tokenize)."""
    runs = _CARD_LIKE.findall(text)
    if not runs:
        return text
    tokens = dict(zip(runs, pan_tokens(runs, secret)))
    return _CARD_LIKE.sub(lambda m: tokens[m.group(0)], text)
