# SPDX-License-Identifier: Apache-2.0
"""Input stages: CSV and Parquet as a stream of blocks, and the read-ahead thread.

CSV bytes are framed by the Rust framer (`fastroute._rust.CsvFramer`, see
docs/bulk.md) before Arrow parses them: Arrow only ever sees complete, valid
records, each with its line number known, so one bad line is one bad row.
"""
from __future__ import annotations

import csv as _csv
import math
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .._arrow import empty_table
from ..redact import snippet
from .errors import InputError
from .plan import RoutePlan

READ_CHUNK = 8 << 20
# Arrow's parse block: small enough to spread one chunk over both cores.
ARROW_BLOCK = 1 << 20
REASONS = {1: "field_count", 2: "invalid_utf8", 3: "row_too_long", 4: "unterminated_quote"}


@dataclass
class BadRecord:
    """A CSV record the framer rejected; `raw` holds its bytes (for the rejects file only)."""

    line: int
    reason: str
    detail: int
    raw: bytes

    def describe(self, max_row_bytes: int, header_fields: int | None = None) -> str:
        if self.reason == "field_count":
            return (f"{self.detail} fields, the header has {header_fields}" if header_fields
                    else f"{self.detail} fields where the header has a different count")
        if self.reason == "invalid_utf8":
            return "invalid UTF-8"
        if self.reason == "row_too_long":
            return f"row longer than --max-row-bytes {max_row_bytes}"
        return "unterminated quote"


@dataclass
class Block:
    """One batch of input: the good rows as an Arrow table, plus what was rejected."""

    table: object
    row_lines: np.ndarray | None  # CSV: line of every row; Parquet: None (rows are numbered)
    first_row: int  # rows before this block (Parquet row numbers are first_row + i + 1)
    lines: int  # data lines this block spans: good + bad + blank
    good_lines: int
    bad_lines: int
    blank_lines: int
    bad: list[BadRecord] = field(default_factory=list)
    position: float = math.nan  # fraction of the input read once this block is done
    multiline: np.ndarray | None = None  # (row index, extra lines) pairs of rows spanning several lines

    def lines_of(self, rows: np.ndarray) -> int:
        """Physical lines spanned by the good rows at positions `rows`."""
        count = len(rows)
        if self.multiline is None or not len(self.multiline):
            return count
        pairs = self.multiline.reshape(-1, 2).astype(np.int64)
        return count + int(pairs[np.isin(pairs[:, 0], rows), 1].sum())


class CsvSource:
    """CSV from a file or stdin, header first, framed records after."""

    def __init__(self, plan: RoutePlan):
        from .._rust import CsvFramer

        self.plan = plan
        self.name = "stdin" if plan.input == "-" else plan.input
        if plan.input == "-":
            self.stream, self.size = sys.stdin.buffer, 0
        else:
            try:
                self.stream = open(plan.input, "rb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise InputError(f"INPUT: cannot open {plan.input!r}: {exc.strerror}") from None
            self.size = os.fstat(self.stream.fileno()).st_size
        self.framer = CsvFramer(plan.max_row_bytes)
        self._in_stdin_read = False
        self.buf, self.offset, self.eof, self.read_bytes = b"", 0, False, 0
        self.columns = self._header()
        self.framer.expected_fields = len(self.columns)
        self.types: dict | None = None

    def close(self) -> None:
        if self.stream is not sys.stdin.buffer:
            self.stream.close()

    def waiting_on_stdin(self) -> bool:
        """True while the reader is blocked reading stdin (plain I/O, safe to abandon)."""
        return self._in_stdin_read

    def _fill(self) -> None:
        self._in_stdin_read = self.stream is sys.stdin.buffer
        try:
            chunk = self.stream.read(READ_CHUNK)
        finally:
            self._in_stdin_read = False
        self.read_bytes += len(chunk)
        self.eof = not chunk
        self.buf = self.buf[self.offset:] + chunk
        self.offset = 0

    def _frame(self, max_records: int):
        """Frames from the current offset, reading more input until progress is made."""
        while True:
            framed = self.framer.frame(self.buf, self.offset, self.eof, max_records)
            if framed[0] > self.offset or (self.eof and self.offset >= len(self.buf)):
                return framed
            self._fill()

    def _header(self) -> list[str]:
        self._fill()
        if self.eof:
            raise InputError(f"INPUT: {self.name} is empty (no header line)")
        consumed, runs, _, _, bad, _, blank, _, _ = self._frame(1)
        if bad:
            raise InputError(f"INPUT: {self.name} line 1 (header): "
                             f"{BadRecord(bad[0][0], REASONS[bad[0][3]], 0, b'').describe(self.plan.max_row_bytes)}")
        if blank or not len(runs):
            raise InputError(f"INPUT: {self.name} line 1 (header) is empty")
        raw = self.buf[runs[0]:runs[1]].decode("utf-8")
        self.offset = consumed
        header = next(_csv.reader([raw.removeprefix("\ufeff").rstrip("\r\n")]))
        dupes = sorted({c for c in header if header.count(c) > 1})
        if dupes:
            raise InputError(f"INPUT: {self.name} header names a column twice: {', '.join(map(snippet, dupes))}")
        return header

    def empty_block(self) -> Block:
        return Block(self._empty_table(), np.empty(0, np.uint64), 0, 0, 0, 0, 0)

    def progress(self) -> float:
        consumed = self.read_bytes - (len(self.buf) - self.offset)
        return consumed / self.size if self.size else math.nan

    def blocks(self) -> Iterator[Block]:
        import pyarrow as pa

        rows_before = 0
        while not (self.eof and self.offset >= len(self.buf)):
            consumed, runs, row_lines, good_lines, bad, bad_lines, blank, _, multiline = self._frame(self.plan.batch_rows)
            buffer = pa.py_buffer(self.buf)
            pieces = [buffer.slice(int(s), int(e - s)) for s, e in runs.reshape(-1, 2)]
            table = self._parse(pieces, row_lines, multiline=good_lines > len(row_lines))
            records = [BadRecord(line, REASONS[code], detail, self.buf[start:end])
                       for line, start, end, code, detail in bad]
            self.offset = consumed
            yield Block(table, row_lines, rows_before, good_lines + bad_lines + blank, good_lines, bad_lines, blank,
                        records, self.progress(), multiline)
            rows_before += len(row_lines)

    def _convert_options(self):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        if self.types is not None:
            types = self.types
        elif self.plan.typed_output:
            types = {c: pa.string() for c in self.plan.key + self.plan.tokenize}
            types.update({c: pa.type_for_alias(t) for c, t in self.plan.schema})
        else:  # CSV or no output: every field stays exactly the text it was
            types = {c: pa.string() for c in self.columns}
        return pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                    quoted_strings_can_be_null=False)

    def _parse(self, pieces, row_lines: np.ndarray, multiline: bool):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        if not pieces:
            data = pa.py_buffer(b"")
        elif len(pieces) == 1:
            data = pieces[0]
        else:
            data = pa.py_buffer(b"".join(p.to_pybytes() for p in pieces))
        if data.size == 0:
            return self._empty_table()
        convert = self._convert_options()
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(column_names=self.columns, block_size=ARROW_BLOCK),
                parse_options=pacsv.ParseOptions(newlines_in_values=multiline),
                convert_options=convert,
            )
        except pa.ArrowInvalid as exc:
            raise self._conversion_error(exc, data, row_lines) from None
        if table.num_rows != len(row_lines):
            raise RuntimeError(f"internal: CSV framing found {len(row_lines)} rows where Arrow parsed "
                               f"{table.num_rows} (lines {row_lines[0]}..{row_lines[-1]})")
        if self.types is None:
            self.types = {f.name: (pa.string() if pa.types.is_null(f.type) else f.type) for f in table.schema}
            if any(pa.types.is_null(f.type) for f in table.schema):
                table = table.cast(pa.schema([(n, t) for n, t in self.types.items()]))
        return table

    def _empty_table(self):
        import pyarrow as pa

        types = self.types or {c: pa.string() for c in self.columns}
        if self.types is None and self.plan.typed_output:
            types = {c: pa.type_for_alias(dict(self.plan.schema).get(c, "string")) for c in self.columns}
        return empty_table(pa.schema([(c, types[c]) for c in self.columns]))

    def _conversion_error(self, exc: Exception, data, row_lines: np.ndarray) -> InputError:
        """A value that does not fit its column's type: name the line and column, never the value."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        m = re.search(r"column #(\d+)", str(exc))
        if not m or int(m.group(1)) >= len(self.columns):
            return InputError(f"INPUT: {self.name} lines {row_lines[0]}-{row_lines[-1]}: "
                              f"Arrow could not parse this batch ({snippet(exc)})")
        col = self.columns[int(m.group(1))]
        target = self._convert_options().column_types.get(col)
        text = pacsv.read_csv(pa.BufferReader(data), read_options=pacsv.ReadOptions(column_names=self.columns),
                              parse_options=pacsv.ParseOptions(newlines_in_values=True),
                              convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in self.columns},
                                                                   strings_can_be_null=False)).column(col)
        where = ""
        for i, value in enumerate(text.to_pylist()):
            try:
                if value != "":
                    pa.array([value]).cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                where = f" line {row_lines[i]},"
                break
        return InputError(f"INPUT: {self.name}{where} column {col!r}: a value does not fit the type {target} "
                          f"inferred from the first batch; give --schema {col}=string (or its type)")


class ParquetSource:
    """Parquet row groups as blocks; progress from the row-group metadata."""

    def __init__(self, plan: RoutePlan):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.plan = plan
        self.name = plan.input
        try:
            self.file = pq.ParquetFile(plan.input)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"INPUT: {plan.input!r} is not a readable Parquet file ({snippet(exc)})") from None
        self.columns = self.file.schema_arrow.names
        self.total = self.file.metadata.num_rows

    def close(self) -> None:
        self.file.close()

    def waiting_on_stdin(self) -> bool:
        return False

    def blocks(self) -> Iterator[Block]:
        import pyarrow as pa

        done = 0
        batches = self.file.iter_batches(batch_size=self.plan.batch_rows)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"INPUT: {self.name!r} after row {done}: cannot decode ({snippet(exc)})") from None
            n = batch.num_rows
            yield Block(pa.Table.from_batches([batch]), None, done, n, n, 0, 0, [], (done + n) / self.total if self.total else 1.0)
            done += n

    def empty_block(self) -> Block:
        return Block(empty_table(self.file.schema_arrow), None, 0, 0, 0, 0, 0, [], 1.0)


def open_source(plan: RoutePlan):
    return CsvSource(plan) if plan.input_format == "csv" else ParquetSource(plan)


class ReadAhead:
    """Runs an iterator on a background thread, `depth` items ahead.

    The one stop mechanism for the stages: `close()` (from any error, signal or
    normal end) sets `stop`; the producer checks it before and while it waits on
    the queue, so it never blocks on a consumer that has gone. close() then
    waits for the producer to finish the block in hand (Arrow's C++ threads must
    not outlive the interpreter: exiting under them aborts the process), except
    while `abandon()` says it is blocked reading stdin, which no one can
    interrupt; the thread is a daemon so the process exits regardless.
    """

    def __init__(self, items: Iterator, depth: int = 2, abandon=lambda: False, max_wait_s: float = 60.0):
        self._items = items
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._abandon = abandon
        self._max_wait_s = max_wait_s
        self._thread = threading.Thread(target=self._produce, name="fastroute-read-ahead", daemon=True)

    def start(self) -> ReadAhead:
        """Starts the producer (separate from construction, so the caller holds the
        object before the thread exists and can always close() it)."""
        self._thread.start()
        return self

    _DONE = object()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put((True, item)):
                    return
            self._put((True, self._DONE))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put((False, exc))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - the generator is being abandoned
                    pass

    def __iter__(self):
        while True:
            try:
                ok, item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():  # pragma: no cover - producer bug
                    raise RuntimeError("internal: the read-ahead thread ended without a result") from None
                continue
            if not ok:
                raise item
            if item is self._DONE:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        deadline = time.monotonic() + self._max_wait_s
        while True:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            if self._thread.ident is None:  # never started
                return
            self._thread.join(0.05)
            if not self._thread.is_alive() or self._abandon() or time.monotonic() > deadline:
                return
