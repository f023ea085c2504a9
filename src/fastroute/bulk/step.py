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
    rejected_reasons: list[str]  # why each was rejected
    rerouted: int
    bad_counts: dict[str, int]  # rows rejected or rerouted, by reason


@dataclass
class Tokenized:
    """Card-number columns replaced by their tokens, and the values that are not card numbers."""

    table: object
    invalid: np.ndarray | None  # rows with a value that is not a card number, in any tokenized column
    reasons: np.ndarray | None  # object array: that rule per row (None elsewhere)
    originals: dict  # column -> (original values, invalid mask), for the rejects file only


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


def tokenize_columns(plan: RoutePlan, table) -> Tokenized:
    """--tokenize: each named column becomes HMAC-SHA-256 tokens (hex); empty and null
    values become null; a value that is not a card number is a bad row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..tokens import STATUS_EMPTY, STATUS_OK, STATUS_RULES, arrow_tokens, token_status

    invalid_any, reasons, originals = None, None, {}
    for name in plan.tokenize:
        col = combine(table.column(name))
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_binary(col.type)
                or pa.types.is_large_binary(col.type) or pa.types.is_integer(col.type)):
            raise InputError(f"--tokenize: column {name!r} has type {col.type}; card numbers are text or integers")
        if pa.types.is_integer(col.type) and col.null_count < len(col) and pc.min(col).as_py() < 0:
            raise InputError(f"--tokenize: column {name!r} holds negative numbers; they are not card numbers")
        rows, status, nulls = token_status(col, plan.token_secret, luhn=plan.luhn, threads=plan.threads,
                                           name=f"--tokenize {name}")
        absent = status == STATUS_EMPTY if nulls is None else (status == STATUS_EMPTY) | nulls
        invalid = (status != STATUS_OK) & ~absent
        table = table.set_column(table.column_names.index(name), name, arrow_tokens(rows, absent | invalid))
        if invalid.any():
            originals[name] = (col, invalid)
            if reasons is None:
                reasons = np.full(len(col), None, dtype=object)
            for code in np.unique(status[invalid]).tolist():
                reasons[invalid & (status == code) & (reasons == None)] = f"column {name!r}: {STATUS_RULES[code]}"  # noqa: E711
            invalid_any = invalid if invalid_any is None else invalid_any | invalid
    return Tokenized(table, invalid_any, reasons, originals)


def _masked_originals(tokenized: Tokenized, rejected, index: np.ndarray):
    """Rejected rows as the rejects file shows them: a value that is not a card number
    masked (first 6 / last 4 of any digit run), valid ones as their tokens."""
    import pyarrow as pa

    from ..redact import snippet

    for name, (col, invalid) in tokenized.originals.items():
        tokens = rejected.column(name).to_pylist()
        values = col.take(from_numpy(index.astype(np.int64))).to_pylist()
        shown = [snippet(v) if bad else t for t, v, bad in zip(tokens, values, invalid[index])]
        rejected = rejected.set_column(rejected.column_names.index(name), name, pa.array(shown, type=pa.string()))
    return rejected


def route_block(router: Router, block: Block) -> Routed:
    """Routes the good rows of `block`; under 'error' raises BadRowError at the first bad row."""
    import pyarrow as pa

    plan = router.plan
    tokenized = tokenize_columns(plan, block.table) if plan.tokenize else Tokenized(block.table, None, None, {})
    table = tokenized.table
    columns = key_columns(plan, table)
    key_mask = bad_key_mask(columns)
    cards = tokenized.invalid
    mask = key_mask if cards is None else (cards if key_mask is None else key_mask | cards)
    if plan.on_bad_row == "error" and (mask is not None or block.bad):
        first = int(np.argmax(mask)) if mask is not None else None
        key_line = int(row_numbers(block, np.array([first]))[0]) if first is not None else None
        csv_bad = block.bad[0] if block.bad else None
        if csv_bad is not None and (key_line is None or csv_bad.line < key_line):
            raise BadRowError(f"{_input_name(plan)} line {csv_bad.line}: "
                              f"{csv_bad.describe(plan.max_row_bytes, len(table.column_names))}")
        if cards is not None and cards[first]:
            unit = "line" if block.row_lines is not None else "row"
            raise BadRowError(f"{_input_name(plan)} {unit} {key_line}, {tokenized.reasons[first]}")
        raise BadRowError(first_bad_key(plan, block, columns, key_mask))
    bad_counts = {"empty_key": 0, "invalid_card_number": 0}
    if mask is not None:
        n_cards = int(cards.sum()) if cards is not None else 0
        bad_counts = {"empty_key": int(mask.sum()) - n_cards, "invalid_card_number": n_cards}
    rejected, rejected_index, reasons, rerouted = None, np.empty(0, np.int64), [], 0
    if mask is not None and plan.on_bad_row == "skip":
        keep = from_numpy(~mask)
        rejected_index = np.flatnonzero(mask)
        rejected = table.filter(from_numpy(mask))
        if tokenized.originals:
            rejected = _masked_originals(tokenized, rejected, rejected_index)
        reasons = ["null or empty key" if cards is None or not cards[i] else tokenized.reasons[i]
                   for i in rejected_index.tolist()]
        table = table.filter(keep)
        columns = [c.filter(keep) for c in columns]
        mask = None
    keys = columns[0] if len(columns) == 1 else composite_keys(columns)
    if mask is not None:  # route-to: give the bad keys a placeholder, then override their node
        keys = keys.fill_null(0 if pa.types.is_integer(keys.type) else "")
    if plan.replicas == 1:
        idx = router.to_dictionary[router.placement.route(keys, threads=plan.threads)][:, None]
    else:
        idx = router.to_dictionary[router.placement.route_replicas(keys, plan.replicas, threads=plan.threads,
                                                                    distinct=plan.distinct)]
    if mask is not None:
        idx[mask, :] = router.route_to_index
        rerouted = int(mask.sum())
    idx = np.ascontiguousarray(idx, dtype=np.int32)
    for j, name in enumerate(plan.output_columns()):
        table = table.append_column(name, pa.DictionaryArray.from_arrays(from_numpy(idx[:, j]), router.dictionary))
    return Routed(table, idx[:, 0], rejected, rejected_index, row_numbers(block, rejected_index), reasons,
                  rerouted, bad_counts)


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
