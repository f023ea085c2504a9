# SPDX-License-Identifier: Apache-2.0
"""The per-block routing step: a pure function of (plan, placement, block).

Keys. One key column: the value itself is the key (str → UTF-8, binary as is,
integers → 8 bytes little-endian), so `route` agrees with
`placement.get_node(value)`; the digits "42" as text and 42 as an int64 hash
differently. Several key columns: every value is rendered as text (UTF-8) and
the key is the concatenation over the columns of (4-byte little-endian length,
bytes), which is unambiguous and stable. A null or empty key (in any key
column, in every input format) makes the row a bad row.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._arrow import combine, from_numpy, strings, to_numpy
from .errors import BadRowError, InputError
from .plan import RoutePlan
from .reader import Block


@dataclass
class Routed:
    """The block's output rows (node columns appended) and the rows it rejected."""

    batch: object  # pyarrow Table: good rows + node columns (dictionary-encoded)
    primary: np.ndarray  # int32 dictionary index of each output row's node
    rejected: object | None  # pyarrow Table of rows with a bad key (original columns), or None
    rejected_index: np.ndarray  # their positions in the block
    rejected_lines: np.ndarray  # their line (CSV) or row (Parquet) numbers
    rerouted: int


class Router:
    """Everything `route_block` needs that does not change between blocks."""

    def __init__(self, plan: RoutePlan):
        import pyarrow as pa

        self.plan = plan
        self.placement = plan.cluster.build_placement()
        names = plan.node_names
        self.dictionary = strings(names)
        self.to_dictionary = np.array([names.index(n) for n in self.placement.nodes], dtype=np.int32)
        self.route_to_index = names.index(plan.route_to) if plan.route_to is not None else -1
        self.node_count = len(names)


def key_columns(plan: RoutePlan, table) -> list:
    """The key columns as plain (dictionary-decoded) arrays, checked for a usable type."""
    import pyarrow as pa

    cols = []
    for name in plan.key:
        col = table.column(name)
        col = combine(col)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        t = col.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
                or pa.types.is_large_binary(t) or pa.types.is_integer(t)):
            raise InputError(f"--key: column {name!r} has type {t}; keys are text, binary or integer columns")
        cols.append(col)
    return cols


def bad_key_mask(columns: Sequence) -> np.ndarray | None:
    """Rows whose key is null or empty in any key column (one rule for every format)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = None
    for col in columns:
        if col.null_count == 0 and pa.types.is_integer(col.type):
            continue
        if col.null_count == 0:  # empty iff two consecutive offsets are equal
            wide = pa.types.is_large_string(col.type) or pa.types.is_large_binary(col.type)
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int64 if wide else np.int32)
            offsets = offsets[col.offset: col.offset + len(col) + 1]
            m = offsets[1:] == offsets[:-1]
        else:
            bad = pc.is_null(col)
            if not pa.types.is_integer(col.type):
                bad = pc.or_kleene(bad, pc.equal(pc.binary_length(col), 0))
            m = to_numpy(bad.fill_null(True))
        mask = m if mask is None else (mask | m)
    return mask if mask is not None and mask.any() else None


def row_numbers(block: Block, index: np.ndarray) -> np.ndarray:
    """Line numbers (CSV) or 1-based row numbers (Parquet) of the block's rows at `index`."""
    if block.row_lines is not None:
        return np.asarray(block.row_lines, dtype=np.int64)[index]
    return block.first_row + np.asarray(index, dtype=np.int64) + 1


def first_bad_key(plan: RoutePlan, block: Block, columns: Sequence, mask: np.ndarray) -> str:
    """Where the first bad key is: line (or row) and column, never the value."""
    i = int(np.argmax(mask))
    unit = "line" if block.row_lines is not None else "row"
    where = f"{_input_name(plan)} {unit} {int(row_numbers(block, np.array([i]))[0])}"
    for name, col in zip(plan.key, columns):
        if bad_key_mask([col.slice(i, 1)]) is not None:
            return f"{where}, column {name!r}: null or empty key"
    return f"{where}: null or empty key"


def _input_name(plan: RoutePlan) -> str:
    return "stdin" if plan.input == "-" else plan.input


def route_block(router: Router, block: Block) -> Routed:
    """Routes the good rows of `block`; under 'error' raises BadRowError at the first bad row."""
    import pyarrow as pa

    plan = router.plan
    table = block.table
    columns = key_columns(plan, table)
    mask = bad_key_mask(columns)
    if plan.on_bad_row == "error" and (mask is not None or block.bad):
        key_line = int(row_numbers(block, np.array([int(np.argmax(mask))]))[0]) if mask is not None else None
        csv_bad = block.bad[0] if block.bad else None
        if csv_bad is not None and (key_line is None or csv_bad.line < key_line):
            raise BadRowError(f"{_input_name(plan)} line {csv_bad.line}: "
                              f"{csv_bad.describe(plan.max_row_bytes, len(table.column_names))}")
        raise BadRowError(first_bad_key(plan, block, columns, mask))
    rejected, rejected_index, rerouted = None, np.empty(0, np.int64), 0
    if mask is not None and plan.on_bad_row == "skip":
        keep = from_numpy(~mask)
        rejected = table.filter(from_numpy(mask))
        rejected_index = np.flatnonzero(mask)
        table = table.filter(keep)
        columns = [c.filter(keep) for c in columns]
        mask = None
    keys = columns[0] if len(columns) == 1 else composite_keys(columns)
    if mask is not None:  # route-to: give the bad keys a placeholder, then override their node
        keys = keys.fill_null(0 if pa.types.is_integer(keys.type) else "")
    if plan.replicas == 1:
        idx = router.to_dictionary[router.placement.route(keys, threads=plan.threads)][:, None]
    else:
        idx = router.to_dictionary[router.placement.route_replicas(keys, plan.replicas, threads=plan.threads)]
    if mask is not None:
        idx[mask, :] = router.route_to_index
        rerouted = int(mask.sum())
    idx = np.ascontiguousarray(idx, dtype=np.int32)
    for j, name in enumerate(plan.output_columns()):
        table = table.append_column(name, pa.DictionaryArray.from_arrays(from_numpy(idx[:, j]), router.dictionary))
    return Routed(table, idx[:, 0], rejected, rejected_index, row_numbers(block, rejected_index), rerouted)


def composite_keys(columns: Sequence) -> object:
    """Length-prefixed concatenation of several columns (see the module docstring),
    as a pyarrow large_binary array. Nulls become empty parts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(columns[0])
    parts = []
    for col in columns:
        text = col if pa.types.is_large_string(col.type) else pc.cast(col, pa.large_string())
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        text = text.fill_null("")
        _, offsets_buf, data_buf = text.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64)[text.offset: text.offset + n + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
        parts.append((offsets, data))
    lengths = [o[1:] - o[:-1] for o, _ in parts]
    row_len = sum(4 + ln for ln in lengths)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(row_len, out=out_offsets[1:])
    out = np.empty(int(out_offsets[-1]), dtype=np.uint8)
    cursor = out_offsets[:-1].copy()
    for (offsets, data), ln in zip(parts, lengths):
        prefix = ln.astype("<u4").view(np.uint8).reshape(n, 4)
        for k in range(4):
            out[cursor + k] = prefix[:, k]
        cursor += 4
        total = int(ln.sum())
        if total:
            rows = np.repeat(np.arange(n), ln)
            within = np.arange(total) - np.repeat(np.cumsum(ln) - ln, ln)
            out[cursor[rows] + within] = data[offsets[rows] + within]
        cursor += ln
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(out_offsets), pa.py_buffer(out)])
