# SPDX-License-Identifier: Apache-2.0
"""Normalises a key collection into the tagged buffer tuple the Rust core reads.

Canonical key bytes (the same for every entry point, every platform):
str → UTF-8; bytes as is; int (and numpy integer arrays) → 8 bytes
little-endian, two's complement for negatives.
"""
from __future__ import annotations

import numpy as np

from ._arrow import combine, to_numpy
from ._validate import reject_unordered

_SIGNED_OR_UNSIGNED = "iu"


def key_batch_arg(keys: object, *, name: str = "keys", allow_nulls: bool = False) -> tuple[tuple, np.ndarray | None]:
    """Returns (("kind", buffers...), nulls) for `fastroute._rust` batch functions.

    nulls is a boolean mask of Arrow null keys (None when there are none);
    nulls are an error unless `allow_nulls`.
    """
    if isinstance(keys, (list, tuple)):
        return ("objects", keys), None
    if isinstance(keys, np.ma.MaskedArray):
        return _masked_arg(keys, name, allow_nulls)
    if isinstance(keys, np.ndarray):
        return _numpy_arg(keys, name), None
    if _is_arrow(keys):
        return _arrow_arg(keys, name, allow_nulls)
    if isinstance(keys, (str, bytes, int)):
        raise TypeError(f"{name}: expected a collection of keys, got a single {type(keys).__name__}; "
                        "use the per-key method for one key")
    reject_unordered(keys, name)
    try:
        materialised = list(keys)  # any other iterable (generator, range, pandas Series)
    except TypeError:
        raise TypeError(f"{name}: expected a list, tuple, numpy array or pyarrow array, "
                        f"got {type(keys).__name__}") from None
    return ("objects", materialised), None


def _masked_arg(arr: np.ma.MaskedArray, name: str, allow_nulls: bool) -> tuple[tuple, np.ndarray | None]:
    """Masked entries are missing keys, like Arrow nulls: an error unless null_index= is given."""
    mask = np.ma.getmaskarray(arr)
    data = np.ma.getdata(arr)
    if not mask.any():
        return _numpy_arg(data, name), None
    if not allow_nulls:
        raise ValueError(f"{name}: numpy masked array has {int(mask.sum())} masked keys; pass null_index= to "
                         "route them")
    if data.dtype.kind == "O":
        data = data.copy()
        data[mask] = b""  # placeholder: the caller overwrites these rows with null_index
    return _numpy_arg(data, name), mask


def _numpy_arg(arr: np.ndarray, name: str) -> tuple:
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got {arr.ndim}-D")
    kind = arr.dtype.kind
    if kind in _SIGNED_OR_UNSIGNED:
        # Integer keys hash by value: widen to 64-bit, native byte order, contiguous.
        wide = arr.astype(np.int64 if kind == "i" else np.uint64, copy=False)
        return ("u64", np.ascontiguousarray(wide).view(np.uint64))
    if kind == "S":
        width = arr.dtype.itemsize
        flat = np.ascontiguousarray(arr).view(np.uint8) if width else np.empty(0, np.uint8)
        return ("fixed_bytes", flat.reshape(-1), width)
    if kind == "U":
        width = arr.dtype.itemsize // 4
        native = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("="), copy=False))
        flat = native.view(np.uint32) if width else np.empty(0, np.uint32)
        return ("ucs4", flat.reshape(-1), width)
    if kind == "O":
        return ("objects", arr.tolist())
    raise TypeError(f"{name}: numpy arrays of dtype {arr.dtype} cannot be keys; "
                    "use integer, bytes (S), str (U) or object arrays")


def _is_arrow(obj: object) -> bool:
    module = type(obj).__module__ or ""
    return module.startswith("pyarrow")


def _arrow_arg(arr: object, name: str, allow_nulls: bool) -> tuple[tuple, np.ndarray | None]:
    import pyarrow as pa

    arr = combine(arr)
    if not isinstance(arr, pa.Array):
        raise TypeError(f"{name}: unsupported pyarrow object {type(arr).__name__}")
    nulls = None
    if arr.null_count:
        if not allow_nulls:
            raise ValueError(f"{name}: pyarrow array has {arr.null_count} null keys; pass null_index= to route them")
        nulls = to_numpy(arr.is_null())
    t = arr.type
    if pa.types.is_integer(t):
        if nulls is not None:
            arr = arr.fill_null(0)
        return _numpy_arg(to_numpy(arr), name), nulls
    if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        large = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
        offset_type = np.int64 if large else np.int32
        _validity, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=offset_type)[arr.offset: arr.offset + len(arr) + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
        return ("varlen64" if large else "varlen32", data, offsets), nulls
    raise TypeError(f"{name}: pyarrow arrays of type {t} cannot be keys; use string, binary or integer")


def first_empty_key(keys: object) -> int | None:
    """Position of the first empty str/bytes key in a key collection (one rule for every
    input type), or None; integer keys are never empty."""
    arg, _ = key_batch_arg(keys)
    kind = arg[0]
    if kind == "objects":
        return next((i for i, k in enumerate(arg[1]) if isinstance(k, (str, bytes)) and not k), None)
    if kind in ("varlen32", "varlen64"):
        lengths = np.diff(arg[2])
    elif kind in ("fixed_bytes", "ucs4"):
        width = arg[2]
        if width == 0:
            return 0  # a zero-width dtype holds only empty keys
        lengths = arg[1].reshape(-1, width)[:, 0].astype(np.int64)  # NUL-padded: empty iff the first unit is NUL
    else:
        return None  # integer keys are never empty
    hits = np.flatnonzero(lengths == 0)
    return int(hits[0]) if hits.size else None
