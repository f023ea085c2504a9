# SPDX-License-Identifier: Apache-2.0
"""numpy <-> Arrow at the buffer level.

`pa.array(...)`, `Array.to_numpy()` and `Schema.empty_table()` make pyarrow load
pandas when it is installed (its pandas shim initialises on first use), about
0.5 s of start-up in a `fastroute route` process that never needs pandas. These
helpers build and read the few array kinds the bulk path needs from buffers.
"""
from __future__ import annotations

import numpy as np

_NUMPY_OF = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "uint8": np.uint8,
             "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64}


def from_numpy(values: np.ndarray):
    """A pyarrow array over a 1-D numpy bool or integer array (bools are bit-packed)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    n = len(values)
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), n, [None, pa.py_buffer(bits)])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), n, [None, pa.py_buffer(values)])


def combine(arr):
    """A ChunkedArray as one Array (ChunkedArray.combine_chunks() calls pa.array for zero chunks)."""
    import pyarrow as pa

    if not isinstance(arr, pa.ChunkedArray):
        return arr
    if arr.num_chunks == 0:
        return pa.nulls(0, arr.type)
    return arr.chunk(0) if arr.num_chunks == 1 else pa.concat_arrays(arr.chunks)


def to_numpy(arr) -> np.ndarray:
    """A null-free pyarrow bool or integer array (or single-chunk ChunkedArray) as numpy."""
    import pyarrow as pa

    arr = combine(arr)
    if arr.null_count:
        raise ValueError("internal: to_numpy needs an array without nulls")
    n, offset = len(arr), arr.offset
    data = arr.buffers()[1]
    if pa.types.is_boolean(arr.type):
        if data is None or n == 0:
            return np.zeros(n, dtype=bool)
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[offset: offset + n].astype(bool)
    dtype = _NUMPY_OF[str(arr.type)]
    if data is None or n == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(data, dtype=dtype)[offset: offset + n]


def strings(values: list[str]):
    """A pyarrow string array of `values`."""
    import pyarrow as pa

    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded), [None, pa.py_buffer(offsets),
                                                              pa.py_buffer(b"".join(encoded))])


def empty_table(schema):
    import pyarrow as pa

    return pa.Table.from_batches([], schema)
