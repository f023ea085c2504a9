# SPDX-License-Identifier: Apache-2.0
"""Every file a run writes, committed as one step.

Each output (the routed file or the split directory, the rejects file, the
report) is written under a hidden temporary name beside its destination,
created 0600 because routed rows and rejects hold card data. `commit()` closes
and fsyncs all of them, then renames them all with SIGINT/SIGTERM/SIGHUP held
back, so a signal either comes before the first rename (every previous file is
left as it was) or after the last (every new file is complete). `abort()`
removes the temporary files. Binary columns are written to CSV as lowercase hex.
"""
from __future__ import annotations

import csv as _csv
import io
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from .._arrow import empty_table, from_numpy, strings
from .errors import OutputError
from .plan import RoutePlan
from .reader import BadRecord

DATA_FILE_MODE = 0o600
REPORT_FILE_MODE = 0o644
_COMMIT_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def for_csv(table):
    """Dictionary columns decoded, binary columns as hex text: what a CSV cell can hold."""
    import pyarrow as pa

    cols, changed = [], False
    for col in table.columns:
        t = col.type
        if pa.types.is_dictionary(t):
            col, changed = col.cast(t.value_type), True
            t = col.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            col, changed = _hex(col), True
        cols.append(col)
    return pa.table(cols, names=table.column_names) if changed else table


def _hex(col):
    import pyarrow as pa

    values = col.to_pylist()
    return pa.array([None if v is None else v.hex() for v in values], type=pa.string())


# Parquet writers try a dictionary for every column and fall back to plain pages
# once it outgrows the dictionary page limit: wasted work on columns that are
# nearly unique (transaction ids, card numbers). Decided on the first table.
DICTIONARY_SAMPLE_ROWS = 65_536
NEARLY_UNIQUE = 0.5


def dictionary_columns(table) -> list[str] | bool:
    """Columns worth dictionary-encoding: fewer than half their sampled values distinct."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sample = table.slice(0, DICTIONARY_SAMPLE_ROWS)
    if sample.num_rows < 1000:
        return True
    keep = []
    for name, col in zip(sample.column_names, sample.columns):
        if pa.types.is_dictionary(col.type) or pc.count_distinct(col).as_py() <= NEARLY_UNIQUE * sample.num_rows:
            keep.append(name)
    return keep


def plain_schema(schema):
    import pyarrow as pa

    return pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                      for f in schema])


class _signals_held:
    """Holds SIGINT/SIGTERM/SIGHUP back for a few system calls that must not be
    split (a temporary file created but not yet recorded; the renames of a
    commit). Python runs signal handlers in the main thread whichever OS thread
    received the signal, so the hold swaps in handlers that only record the
    signal, then restores the previous ones and hands them what arrived."""

    def __enter__(self):
        self.pending: list[int] = []
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in _COMMIT_SIGNALS:
                self.previous[signum] = signal.signal(signum, lambda n, _frame: self.pending.append(n))

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if self.pending:
            signum = self.pending[0]
            handler = self.previous.get(signum)
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)


class _Temp:
    """A hidden temporary file beside `final`, recorded in `created` before any
    signal can end the run (so abort() always finds it)."""

    def __init__(self, final: Path, mode: int, created: list):
        self.final, self.mode = final, mode
        with _signals_held():
            fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)  # 0600
            os.close(fd)
            self.path = Path(tmp)
            created.append(self)

    def publish(self) -> None:
        os.chmod(self.path, self.mode)
        os.replace(self.path, self.final)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class _TableWriter:
    """One CSV or Parquet file (or CSV on stdout), opened on the first table."""

    def __init__(self, what: str, path: str, fmt: str, created: list, temporary: bool = True):
        """temporary=False writes `path` itself (inside an already hidden directory)."""
        self.what, self.target, self.fmt = what, path, fmt
        self.temp = _Temp(Path(path), DATA_FILE_MODE, created) if temporary and path != "-" else None
        self.file = None if path == "-" else (self.temp.path if self.temp else Path(path))
        if self.temp is None and self.file is not None:
            os.close(os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DATA_FILE_MODE))
        self.writer = None

    def _open(self, schema):
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        sink = sys.stdout.buffer if self.file is None else str(self.file)
        if self.fmt == "parquet":
            self.writer = pq.ParquetWriter(sink, schema, compression="snappy",
                                           use_dictionary=self.dictionary_columns)
        else:
            self.writer = pacsv.CSVWriter(sink, schema, write_options=pacsv.WriteOptions(quoting_style="needed"))

    def write(self, table) -> None:
        if self.fmt == "csv":
            table = for_csv(table)
        try:
            if self.writer is None:
                self.dictionary_columns = dictionary_columns(table)
                self._open(table.schema)
            self.writer.write_table(table)
        except OSError as exc:
            raise OutputError(f"{self.what}: writing {self.target!r} failed: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                writer.close()
                if self.file is not None:
                    _fsync(self.file)
            except OSError as exc:
                raise OutputError(f"{self.what}: writing {self.target!r} failed: {exc.strerror or exc}") from None


class _RejectsWriter:
    """The rejects file: CSV with columns line, reason, then the input's fields."""

    def __init__(self, path: str, columns: list[str], created: list, token_secret: bytes | None = None):
        self.token_secret = token_secret  # --tokenize: digit runs in unsplittable lines become tokens
        self.target = path
        self.temp = _Temp(Path(path), DATA_FILE_MODE, created)
        self.file = open(self.temp.path, "wb")  # noqa: SIM115 - closed by close()
        self.columns = columns
        self._write(self._csv_rows([["line", "reason", *columns]]))

    def _write(self, data: bytes) -> None:
        try:
            self.file.write(data)
        except OSError as exc:
            raise OutputError(f"--rejects: writing {self.target!r} failed: {exc.strerror or exc}") from None

    @staticmethod
    def _csv_rows(rows) -> bytes:
        buf = io.StringIO()
        _csv.writer(buf, lineterminator="\n").writerows(rows)
        return buf.getvalue().encode("utf-8")

    def write_records(self, records: list[BadRecord], max_row_bytes: int) -> None:
        """CSV-level bad records: their fields where they can be split, else the raw text in one field."""
        rows = []
        for rec in records:
            text = rec.raw.decode("utf-8", "backslashreplace")
            if self.token_secret is not None:
                from ..tokens import tokenize_digit_runs

                text = tokenize_digit_runs(text, self.token_secret)
            if rec.reason in ("field_count", "invalid_utf8"):
                fields = next(_csv.reader([text]), [])
            else:
                fields = [text]
            rows.append([rec.line, rec.describe(max_row_bytes, len(self.columns)), *fields])
        self._write(self._csv_rows(rows))

    def write_table(self, table, lines: np.ndarray, reasons: list[str]) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = for_csv(table)
        table = table.add_column(0, "reason", strings(reasons))
        table = table.add_column(0, "line", from_numpy(np.asarray(lines, dtype=np.int64)))
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        self._write(buf.getvalue())

    def close(self) -> None:
        if not self.file.closed:
            try:
                self.file.flush()
                os.fsync(self.file.fileno())
            except OSError as exc:
                raise OutputError(f"--rejects: writing {self.target!r} failed: {exc.strerror or exc}") from None
            finally:
                self.file.close()


class Outputs:
    """The routed output (one file, stdout or a split directory), rejects and report."""

    def __init__(self, plan: RoutePlan, columns: list[str]):
        self.plan = plan
        self.node_names = plan.node_names
        self.single: _TableWriter | None = None
        self.split: dict[int, _TableWriter] = {}
        self.split_tmp: Path | None = None
        self.rejects: _RejectsWriter | None = None
        self.report: _Temp | None = None
        self.committed = False
        self.created: list[_Temp] = []  # every temporary file, in creation order
        self.columns = columns

    def open(self) -> None:
        """Creates the temporary files (call inside the block whose failure calls abort())."""
        plan, columns = self.plan, self.columns
        try:
            for path in (plan.output, plan.rejects, plan.report, plan.split_dir):
                if path not in (None, "-") and plan.mkdir:
                    Path(path).resolve().parent.mkdir(parents=True, exist_ok=True)
            if plan.output is not None:
                self.single = _TableWriter("-o/--output", plan.output, plan.output_format, self.created)
            if plan.split_dir is not None:
                final = Path(plan.split_dir)
                with _signals_held():
                    self.split_tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial",
                                                           dir=final.resolve().parent))
            if plan.rejects is not None:
                self.rejects = _RejectsWriter(plan.rejects, columns, self.created,
                                              plan.token_secret if plan.tokenize else None)
            if plan.report is not None:
                self.report = _Temp(Path(plan.report), REPORT_FILE_MODE, self.created)
        except BaseException:
            self.abort()
            raise

    def write(self, routed) -> None:
        if self.single is not None:
            self.single.write(routed.batch)
        elif self.split_tmp is not None:
            for node in np.unique(routed.primary).tolist():
                if node not in self.split:
                    path = self.split_tmp / f"{self.node_names[node]}.{self.plan.split_format}"
                    # The hidden directory is the temporary; its files are written in place.
                    self.split[node] = _TableWriter("--split", str(path), self.plan.split_format, self.created,
                                                    temporary=False)
                part = routed.batch.filter(from_numpy(routed.primary == node))
                self.split[node].write(part.cast(plain_schema(part.schema)))

    def write_empty(self, schema) -> None:
        """An input with no rows still gets an output with the schema (header only for CSV)."""
        if self.single is not None and self.single.writer is None:
            self.single.write(empty_table(schema))

    def reject_records(self, records: list[BadRecord]) -> None:
        if self.rejects is not None and records:
            self.rejects.write_records(records, self.plan.max_row_bytes)

    def reject_rows(self, table, lines: np.ndarray, reasons: list[str]) -> None:
        if self.rejects is not None and table is not None and table.num_rows:
            self.rejects.write_table(table, lines, reasons)

    def paths(self) -> list[str]:
        if self.plan.split_dir is not None:
            return sorted(str(Path(self.plan.split_dir) / f"{self.node_names[i]}.{self.plan.split_format}")
                          for i in self.split)
        return [self.plan.output] if self.plan.output else []

    def commit(self, report_html: str | None = None) -> None:
        """Close and fsync everything, then publish everything at once."""
        for writer in self._writers():
            writer.close()
        if self.report is not None:
            try:
                self.report.path.write_text(report_html or "", encoding="utf-8")
                _fsync(self.report.path)
            except OSError as exc:
                raise OutputError(f"--report: writing {self.plan.report!r} failed: {exc.strerror or exc}") from None
        with _signals_held():
            temps = list(self.created)
            for temp in temps:
                temp.publish()
            if self.split_tmp is not None:
                final = Path(self.plan.split_dir)
                if final.exists():
                    final.rmdir()  # checked empty by the plan
                os.chmod(self.split_tmp, 0o700)
                os.replace(self.split_tmp, final)
            self.committed = True
            for directory in {Path(t.final).resolve().parent for t in temps}:
                _fsync(directory)

    def abort(self) -> None:
        """Remove every temporary file; the previous outputs are untouched. Never raises."""
        if self.committed:
            return
        for writer in self._writers():
            try:
                if isinstance(writer, _RejectsWriter):
                    writer.file.close()
                elif writer.writer is not None:
                    writer.writer.close()
            except Exception:  # noqa: BLE001 - the file is being discarded (e.g. the disk is full)
                pass
        for temp in self.created:
            temp.remove()
        if self.split_tmp is not None:
            shutil.rmtree(self.split_tmp, ignore_errors=True)

    def _writers(self):
        out = [self.single] if self.single is not None else []
        out += list(self.split.values())
        out += [self.rejects] if self.rejects is not None else []
        return out


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
