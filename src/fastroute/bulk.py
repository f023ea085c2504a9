# SPDX-License-Identifier: Apache-2.0
"""Bulk routing of transaction files: the engine behind `fastroute route`.

Input is read as a stream of Arrow record batches (bounded memory), each
batch is routed with the cluster's placement (GIL released, all cores) and
written out with the node column appended. Rows are never lost silently:
rows_in == rows_out + rows_skipped, every skipped row is counted by reason
(and kept in the rejects file when one is given). Output files appear
atomically: they are written under a temporary name and renamed at the end,
so an interrupted run leaves no partial file.

Keys. One key column: the value itself is the key (str → UTF-8, integers →
8 bytes little-endian), so `route` agrees with `placement.get_node(value)`.
Several key columns: every value is rendered as text (UTF-8) and the key is
the concatenation over the columns of (4-byte little-endian length, bytes),
which is unambiguous and stable. Null values (and, for CSV, empty fields) in
a key column make the row a bad row.
"""
from __future__ import annotations

import csv as _csv
import io
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .cluster import ClusterSpec

BAD_ROW_POLICIES = ("error", "skip", "route-to")
DEFAULT_BATCH_ROWS = 1 << 20


class BadRowError(ValueError):
    """A bad row was met with on_bad_row="error"."""


@dataclass
class RouteSummary:
    input: str
    output: str | None
    algorithm: str
    key_columns: list[str]
    rows_in: int = 0
    rows_out: int = 0
    rows_skipped: int = 0
    rows_rerouted: int = 0
    bad_rows: dict[str, int] = field(default_factory=lambda: {"unparsable": 0, "null_key": 0})
    nodes: list[dict] = field(default_factory=list)
    max_actual_over_expected: float = 0.0
    seconds: float = 0.0
    rows_per_second: float = 0.0
    outputs: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


# --------------------------------------------------------------------------- input
def _input_format(path: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    if path == "-":
        return "csv"
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt", ".gz", ".bz2"):
        return "csv"
    raise ValueError(f"INPUT: cannot tell the format of {path!r} from its extension; use .csv or .parquet (or --input-format)")


class _CsvRejects:
    """Collects unparsable CSV lines reported by pyarrow's invalid-row handler."""

    def __init__(self, policy: str, keep: Callable[[str], None] | None):
        self.count = 0
        self.policy = policy
        self.keep = keep
        self.first_error: str | None = None

    def __call__(self, row) -> str:
        self.count += 1
        if self.policy == "error":
            self.first_error = f"unparsable CSV line ({row.actual_columns} fields, expected {row.expected_columns}): {row.text!r}"
            return "error"
        if self.keep is not None:
            self.keep(row.text)
        return "skip"


def _csv_batches(path: str, batch_bytes: int, rejects: _CsvRejects) -> tuple[Iterator, list[str], Callable[[], float]]:
    import pyarrow.csv as pacsv

    if path == "-":
        stream = sys.stdin.buffer
        total = 0
    else:
        stream = open(path, "rb")  # noqa: SIM115 - closed when the iterator ends
        total = os.fstat(stream.fileno()).st_size
    header_line = stream.readline()
    if not header_line:
        raise ValueError(f"INPUT: {path!r} is empty (no header line)")
    header = next(_csv.reader([header_line.decode("utf-8-sig")]))
    if len(set(header)) != len(header):
        raise ValueError(f"INPUT: duplicate column names in the header: {header}")
    import pyarrow as pa

    def parse_error(exc: Exception) -> Exception:
        if rejects.first_error:
            return BadRowError(rejects.first_error)
        return ValueError(f"INPUT: {exc}")

    try:
        reader = _open_csv(stream, header, batch_bytes, rejects)
    except pa.ArrowInvalid as exc:
        raise parse_error(exc) from None

    def progress() -> float:
        if not total or stream.closed:
            return math.nan
        try:
            return stream.tell() / total
        except (OSError, ValueError):
            return math.nan

    def batches():
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid as exc:
                    raise parse_error(exc) from None
                yield batch
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()

    return batches(), header, progress


def _open_csv(stream, header: list[str], batch_bytes: int, rejects: _CsvRejects):
    import pyarrow.csv as pacsv

    return pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(column_names=header, block_size=batch_bytes, use_threads=True),
        parse_options=pacsv.ParseOptions(invalid_row_handler=rejects),
        # Every column as text: the output reproduces the input fields exactly.
        convert_options=pacsv.ConvertOptions(column_types={c: "string" for c in header}, strings_can_be_null=False),
    )


def _parquet_batches(path: str, batch_rows: int) -> tuple[Iterator, list[str], Callable[[], float]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    total = max(pf.metadata.num_rows, 1)
    seen = [0]

    def batches():
        for batch in pf.iter_batches(batch_size=batch_rows):
            seen[0] += batch.num_rows
            yield batch

    return batches(), names, lambda: seen[0] / total


def _prefetch(batches: Iterator, depth: int = 2) -> Iterator:
    """Reads ahead on a background thread so decoding the next batch overlaps
    routing and writing the current one. Errors surface in the consumer."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        q.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((True, done))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            q.put((False, exc))

    thread = threading.Thread(target=produce, name="fastroute-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()


# --------------------------------------------------------------------------- keys
def composite_keys(columns: Sequence) -> "object":
    """Length-prefixed concatenation of several columns (see module docstring),
    as a pyarrow large_binary array. Nulls must have been removed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(columns[0])
    parts = []
    for col in columns:
        text = col if pa.types.is_large_string(col.type) else pc.cast(col, pa.large_string())
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
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


def _null_key_mask(columns: Sequence, empty_is_null: bool) -> np.ndarray | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = None
    for col in columns:
        bad = pc.is_null(col)
        if empty_is_null and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            bad = pc.or_(bad, pc.equal(pc.utf8_length(col), 0))
        m = bad.to_numpy(zero_copy_only=False)
        mask = m if mask is None else (mask | m)
    return mask if mask is not None and mask.any() else None


# --------------------------------------------------------------------------- output
class _AtomicFile:
    """A temporary file next to `final`, renamed over it on commit, removed on abort."""

    def __init__(self, final: Path):
        self.final = final
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self) -> None:
        # mkstemp creates 0600; give the file the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        self.tmp.unlink(missing_ok=True)


def _csv_write_options():
    import pyarrow.csv as pacsv

    # pyarrow quotes every string field ("needed" style): valid CSV for any reader.
    return pacsv.WriteOptions(quoting_style="needed")


class _Sink:
    """Writes batches to one CSV or Parquet file (by extension), or CSV to stdout."""

    def __init__(self, target: str, schema, fmt: str | None = None):
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        self.atomic = None
        self.target = target
        fmt = fmt or ("csv" if target == "-" else _output_format(target))
        if target == "-":
            self.writer = pacsv.CSVWriter(sys.stdout.buffer, schema, write_options=_csv_write_options())
        else:
            self.atomic = _AtomicFile(Path(target))
            try:
                if fmt == "parquet":
                    self.writer = pq.ParquetWriter(str(self.atomic.tmp), schema, compression="snappy")
                else:
                    self.writer = pacsv.CSVWriter(str(self.atomic.tmp), schema, write_options=_csv_write_options())
            except BaseException:  # also KeyboardInterrupt: never leave the temporary file behind
                self.atomic.abort()
                raise
        self.fmt = fmt

    def write(self, batch) -> None:
        self.writer.write_batch(batch)

    def close(self, ok: bool) -> None:
        try:
            self.writer.close()
        finally:
            if self.atomic is not None:
                self.atomic.commit() if ok else self.atomic.abort()


def _output_format(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise ValueError(f"OUTPUT: cannot tell the format of {path!r}; use a .csv or .parquet name")


# --------------------------------------------------------------------------- routing
def route_file(
    input: str,
    cluster: ClusterSpec,
    key: Sequence[str],
    output: str | None = None,
    *,
    split_dir: str | None = None,
    split_format: str = "parquet",
    replicas: int = 1,
    node_column: str = "node",
    on_bad_row: str = "error",
    route_to: str | None = None,
    rejects: str | None = None,
    input_format: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    threads: int | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> RouteSummary:
    """Routes every row of `input` and writes rows + node column(s).

    output: a .csv/.parquet path, "-" for CSV on stdout, or None (summary only).
    split_dir: instead of one output, one file per node in this directory.
    on_bad_row: "error" (stop, write nothing), "skip" (count, drop from output,
    keep in `rejects`), or "route-to" (send the row to node `route_to`).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    started = time.perf_counter()
    key = list(key)
    if not key or any(not k for k in key):
        raise ValueError("--key: give one or more column names")
    if len(set(key)) != len(key):
        raise ValueError(f"--key: duplicate column in {key}")
    if on_bad_row not in BAD_ROW_POLICIES:
        raise ValueError(f"--on-bad-row: expected one of {BAD_ROW_POLICIES}, got {on_bad_row!r}")
    all_names = [n.name for n in cluster.nodes]
    if on_bad_row == "route-to":
        if route_to not in all_names:
            raise ValueError(f"--on-bad-row route-to: {route_to!r} is not a node of the cluster {all_names}")
    if output is not None and split_dir is not None:
        raise ValueError("-o/--output and --split are exclusive")
    if not 1 <= batch_rows <= 1 << 24:
        raise ValueError(f"--batch-rows: must be in [1, 2**24], got {batch_rows}")
    placement = cluster.build_placement()
    if not 1 <= replicas <= len(placement.nodes):
        raise ValueError(f"--replicas: must be in 1..{len(placement.nodes)} (serving nodes), got {replicas}")
    # Output node names are dictionary-encoded over every node of the cluster.
    dictionary = pa.array(all_names, type=pa.string())
    to_dictionary = np.array([all_names.index(n) for n in placement.nodes], dtype=np.int32)
    route_to_index = all_names.index(route_to) if route_to is not None else -1

    fmt = _input_format(input, input_format)
    rejects_file = rejects_fh = split_tmp = single = None
    sinks: dict[int, _Sink] = {}
    ok = False
    try:
        rejects_file = _AtomicFile(Path(rejects)) if rejects else None
        rejects_fh = open(rejects_file.tmp, "w", encoding="utf-8", newline="") if rejects_file else None  # noqa: SIM115
        keep_line = (lambda text: rejects_fh.write(text.rstrip("\n") + "\n")) if rejects_fh else None
        csv_rejects = _CsvRejects(on_bad_row if on_bad_row == "error" else "skip", keep_line)
        if fmt == "csv":
            batches, columns, fraction = _csv_batches(input, max(1 << 16, batch_rows * 64), csv_rejects)
        else:
            batches, columns, fraction = _parquet_batches(input, batch_rows)
        missing = [k for k in key if k not in columns]
        if missing:
            raise ValueError(f"--key: no column {missing[0]!r} in the input; columns are {columns}")
        out_columns = [node_column] + [f"{node_column}_replica_{j}" for j in range(1, replicas)]
        clash = [c for c in out_columns if c in columns]
        if clash:
            raise ValueError(f"--node-column: the input already has a column {clash[0]!r}; choose another name")

        summary = RouteSummary(input=input, output=output or split_dir, algorithm=cluster.algorithm, key_columns=key)
        counts = np.zeros(len(all_names), dtype=np.int64)
        if split_dir is not None:
            final_dir = Path(split_dir)
            if final_dir.exists() and any(final_dir.iterdir()):
                raise ValueError(f"--split: directory {split_dir!r} exists and is not empty")
            final_dir.parent.mkdir(parents=True, exist_ok=True)
            split_tmp = Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.", suffix=".partial", dir=final_dir.parent))
        for batch in _prefetch(batches):
            if csv_rejects.first_error:
                raise BadRowError(csv_rejects.first_error)
            n = batch.num_rows
            summary.rows_in += n
            key_cols = [batch.column(k) for k in key]
            nulls = _null_key_mask(key_cols, empty_is_null=(fmt == "csv"))
            if nulls is not None:
                bad = int(nulls.sum())
                summary.bad_rows["null_key"] += bad
                if on_bad_row == "error":
                    first = int(np.argmax(nulls))
                    raise BadRowError(f"row {summary.rows_in - n + first + 1}: null or empty key in {key}")
                if on_bad_row == "skip":
                    if rejects_fh is not None:
                        bad_rows = batch.filter(pa.array(nulls))
                        buf = io.BytesIO()
                        pacsv.write_csv(bad_rows, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
                        rejects_fh.write(buf.getvalue().decode("utf-8"))
                    batch = batch.filter(pa.array(~nulls))
                    summary.rows_skipped += bad
                    key_cols = [batch.column(k) for k in key]
                    nulls = None
            keys = key_cols[0] if len(key_cols) == 1 else composite_keys(
                [c if nulls is None else c.fill_null("") for c in key_cols])
            if nulls is not None and len(key_cols) == 1:
                keys = keys.fill_null("") if pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type) else keys.fill_null(0)
            if replicas == 1:
                idx = to_dictionary[placement.route(keys, threads=threads)][:, None]
            else:
                idx = to_dictionary[placement.route_replicas(keys, replicas, threads=threads)]
            if nulls is not None:  # route-to
                idx[nulls, :] = route_to_index
                summary.rows_rerouted += int(nulls.sum())
            idx = np.ascontiguousarray(idx, dtype=np.int32)
            out = batch
            for j, name in enumerate(out_columns):
                out = out.append_column(name, pa.DictionaryArray.from_arrays(pa.array(idx[:, j]), dictionary))
            counts += np.bincount(idx[:, 0], minlength=len(all_names))
            summary.rows_out += out.num_rows
            if split_tmp is not None:
                primary = idx[:, 0]
                for node in np.unique(primary).tolist():
                    part = out.filter(pa.array(primary == node))
                    if node not in sinks:
                        path = split_tmp / f"{all_names[node]}.{split_format}"
                        sinks[node] = _Sink(str(path), _plain_schema(out.schema), split_format)
                    sinks[node].write(_decode(part))
            elif output is not None:
                if single is None:
                    schema = out.schema if (output != "-" and _output_format(output) == "parquet") else _plain_schema(out.schema)
                    single = _Sink(output, schema)
                single.write(out if single.fmt == "parquet" and output != "-" else _decode(out))
            if progress is not None:
                progress(summary.rows_in, fraction())
        if csv_rejects.first_error:
            raise BadRowError(csv_rejects.first_error)
        if single is None and output is not None:  # empty input: still write the header/schema
            single = _Sink(output, pa.schema([(c, pa.string()) for c in columns + out_columns]))
        ok = True
    finally:
        for sink in ([single] if single else []) + list(sinks.values()):
            sink.close(ok)
        if rejects_fh is not None:
            rejects_fh.close()
        if rejects_file is not None:
            rejects_file.commit() if ok else rejects_file.abort()
        if split_tmp is not None:
            if ok:
                # Each file was committed inside the hidden directory; publish the directory.
                final_dir = Path(split_dir)
                if final_dir.exists():
                    final_dir.rmdir()
                os.replace(split_tmp, final_dir)
            else:
                for p in split_tmp.iterdir():
                    p.unlink()
                split_tmp.rmdir()
    summary.rows_skipped += csv_rejects.count
    summary.bad_rows["unparsable"] = csv_rejects.count
    summary.rows_in += csv_rejects.count
    summary.outputs = sorted(str(Path(split_dir) / f"{all_names[i]}.{split_format}") for i in sinks) if split_dir else (
        [output] if output else [])
    _fill_shares(summary, cluster, counts, all_names)
    summary.seconds = time.perf_counter() - started
    summary.rows_per_second = summary.rows_in / summary.seconds if summary.seconds else 0.0
    assert summary.rows_in == summary.rows_out + summary.rows_skipped, "row accounting"
    return summary


def _plain_schema(schema):
    import pyarrow as pa

    return pa.schema([pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in schema])


def _decode(batch):
    import pyarrow as pa

    cols = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


def _fill_shares(summary: RouteSummary, cluster: ClusterSpec, counts: np.ndarray, names: list[str]) -> None:
    serving = {n.name: n.weight for n in cluster.serving}
    weight_sum = sum(serving.values())
    routed = int(counts.sum())
    worst = 0.0
    for i, name in enumerate(names):
        expected = serving.get(name, 0.0) / weight_sum if weight_sum else 0.0
        actual = counts[i] / routed if routed else 0.0
        if expected > 0:
            worst = max(worst, actual / expected)
        summary.nodes.append({"name": name, "rows": int(counts[i]), "share": actual, "expected_share": expected})
    summary.max_actual_over_expected = worst


def summary_table(summary: RouteSummary) -> str:
    lines = [
        f"routed {summary.rows_in} rows from {summary.input} by {summary.key_columns} "
        f"with {summary.algorithm!r} in {summary.seconds:.2f}s ({summary.rows_per_second:,.0f} rows/s)",
        f"{'node':<24} {'rows':>12} {'share':>8} {'expected':>9}",
    ]
    for node in summary.nodes:
        lines.append(f"{node['name']:<24} {node['rows']:>12} {node['share']:>8.2%} {node['expected_share']:>9.2%}")
    lines.append(f"max actual/expected share: {summary.max_actual_over_expected:.3f}")
    lines.append(f"rows in {summary.rows_in} = out {summary.rows_out} + skipped {summary.rows_skipped} "
                 f"(unparsable {summary.bad_rows['unparsable']}, null key {summary.bad_rows['null_key']}); "
                 f"rerouted {summary.rows_rerouted}")
    return "\n".join(lines)


def html_report(summary: RouteSummary) -> str:
    """Self-contained HTML page with an SVG bar chart of expected vs actual shares."""
    from html import escape

    rows = summary.nodes
    width, bar_h, gap, left = 640, 14, 10, 180
    top = max((max(n["share"], n["expected_share"]) for n in rows), default=0) or 1.0
    height = len(rows) * (2 * bar_h + gap) + 40
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + left + 80}" height="{height}" role="img">']
    for i, node in enumerate(rows):
        y = 20 + i * (2 * bar_h + gap)
        svg.append(f'<text x="{left - 8}" y="{y + bar_h + 4}" text-anchor="end" font-size="12">{escape(node["name"])}</text>')
        for j, (key, color) in enumerate((("expected_share", "#9ab"), ("share", "#1f6feb"))):
            w = width * node[key] / top
            svg.append(f'<rect x="{left}" y="{y + j * bar_h}" width="{w:.1f}" height="{bar_h - 2}" fill="{color}"/>')
            svg.append(f'<text x="{left + w + 4:.1f}" y="{y + j * bar_h + bar_h - 4}" font-size="11">{node[key]:.2%}</text>')
    svg.append("</svg>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>fastroute route report</title></head><body>"
        f"<h1>fastroute route: {escape(summary.input)}</h1>"
        f"<p>{summary.rows_in} rows in, {summary.rows_out} out, {summary.rows_skipped} skipped; "
        f"algorithm {escape(summary.algorithm)}; max actual/expected {summary.max_actual_over_expected:.3f}</p>"
        "<p><span style='color:#9ab'>&#9632;</span> expected share &nbsp; <span style='color:#1f6feb'>&#9632;</span> actual share</p>"
        + "".join(svg)
        + f"<pre>{escape(summary.to_json())}</pre></body></html>"
    )
