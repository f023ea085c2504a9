# SPDX-License-Identifier: Apache-2.0
"""A validated bulk run: every argument and every path is checked here, before
any input is read or any output is opened."""
from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..membership.base import Snapshot
from ..redact import quoted
from .errors import UsageError

BAD_ROW_POLICIES = ("error", "skip", "route-to")
DEFAULT_BATCH_ROWS = 1 << 20
MAX_BATCH_ROWS = 1 << 24
DEFAULT_MAX_ROW_BYTES = 1 << 20
MAX_ROW_BYTES_LIMIT = 1 << 30
# Safe default for skip / route-to: a file with more than 1 % bad rows is more
# likely a wrong file or a wrong --key than a few damaged transactions.
DEFAULT_MAX_BAD_ROWS = "1%"
# A percentage limit is applied while reading only once this many lines were
# read (a few early bad rows must not stop a large run); always at the end.
PERCENT_LIMIT_MIN_LINES = 10_000
OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
INPUT_FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class BadRowLimit:
    """--max-bad-rows: an absolute count, or a percentage of the lines read."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str | int) -> BadRowLimit:
        raw = str(text).strip()
        m = re.fullmatch(r"(\d+(?:\.\d+)?)%", raw)
        if m:
            pct = float(m.group(1))
            if not 0 <= pct <= 100:
                raise UsageError(f"--max-bad-rows: a percentage must be in [0, 100], got {raw!r}")
            return cls(percent=pct)
        if re.fullmatch(r"\d{1,18}", raw):
            return cls(count=int(raw))
        raise UsageError(f"--max-bad-rows: expected a count (e.g. 100) or a percentage (e.g. 0.5%), got {raw!r}")

    def exceeded(self, bad: int, lines: int, final: bool) -> bool:
        if self.count is not None:
            return bad > self.count
        if not final and lines < PERCENT_LIMIT_MIN_LINES:
            return False
        return bad > math.floor(self.percent / 100 * max(lines, 0) + 1e-9)

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g}%"


@dataclass(frozen=True)
class RoutePlan:
    input: str
    input_format: str
    cluster: Snapshot
    key: tuple[str, ...]
    output: str | None
    output_format: str | None
    split_dir: str | None
    split_format: str
    rejects: str | None
    report: str | None
    replicas: int
    node_column: str
    on_bad_row: str
    route_to: str | None
    max_bad_rows: BadRowLimit
    batch_rows: int
    max_row_bytes: int
    threads: int | None
    schema: tuple[tuple[str, str], ...]
    mkdir: bool
    tokenize: tuple[str, ...] = ()
    luhn: bool = False
    token_secret: bytes | None = field(default=None, repr=False)  # never printed
    #: --distinct zone|region: replicas in distinct localities (docs/multi_region.md §6)
    distinct: str | None = None

    @property
    def node_names(self) -> list[str]:
        return list(self.cluster.nodes)

    @property
    def typed_output(self) -> bool:
        """Whether CSV input keeps inferred column types (only a Parquet output can hold them)."""
        fmt = self.output_format if self.split_dir is None else self.split_format
        return fmt == "parquet" and self.output not in (None, "-")

    def output_columns(self) -> list[str]:
        return [self.node_column] + [f"{self.node_column}_replica_{j}" for j in range(1, self.replicas)]


def make_plan(
    input: str,
    cluster: Snapshot,
    key: Sequence[str],
    output: str | None = None,
    *,
    split_dir: str | None = None,
    split_format: str | None = None,
    rejects: str | None = None,
    report: str | None = None,
    replicas: int = 1,
    node_column: str = "node",
    on_bad_row: str = "error",
    route_to: str | None = None,
    max_bad_rows: str | int = DEFAULT_MAX_BAD_ROWS,
    input_format: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    max_row_bytes: int | None = None,
    threads: int | None = None,
    distinct: str | None = None,
    schema: Sequence[tuple[str, str]] | str | None = None,
    mkdir: bool = False,
    tokenize: Sequence[str] | str = (),
    token_secret: bytes | None = None,
    luhn: bool = False,
    protected: Sequence[str] = (),
) -> RoutePlan:
    """Checks every argument; `protected` names further inputs (the cluster file)
    that no output may replace."""
    if isinstance(key, str):
        key = [k.strip() for k in key.split(",")]
    key = tuple(key)
    if not key or any(not isinstance(k, str) or not k for k in key):
        raise UsageError("--key: give one or more column names")
    if len(set(key)) != len(key):
        raise UsageError(f"--key: a column is named twice in {list(key)}")
    if on_bad_row not in BAD_ROW_POLICIES:
        raise UsageError(f"--on-bad-row: expected one of {', '.join(BAD_ROW_POLICIES)}, got {on_bad_row!r}")
    names = list(cluster.nodes)
    if on_bad_row == "route-to" and route_to not in names:
        raise UsageError(f"--route-to: {route_to!r} is not a node of the cluster ({', '.join(names)})")
    if on_bad_row != "route-to" and route_to is not None:
        raise UsageError("--route-to: only with --on-bad-row route-to")
    if output is not None and split_dir is not None:
        raise UsageError("-o/--output and --split are exclusive: give one")
    if split_format is not None and split_dir is None:
        raise UsageError("--split-format: only with --split")
    split_format = split_format or "parquet"
    if split_format not in ("parquet", "csv"):
        raise UsageError(f"--split-format: expected parquet or csv, got {split_format!r}")
    _check_int("--batch-rows", batch_rows, 1, MAX_BATCH_ROWS)
    if threads is not None:
        from ..placement import MAX_THREADS  # the engine's cap on one call's threads

        _check_int("--threads", threads, 1, MAX_THREADS)
    _check_int("--replicas", replicas, 1, len(cluster.placement_members) or 1, hint="(serving nodes of the cluster)")
    _check_distinct(distinct, replicas, cluster)
    if not isinstance(node_column, str) or not node_column:
        raise UsageError("--node-column: give a column name")
    limit = BadRowLimit.parse(max_bad_rows)
    tokenize = tuple(c.strip() for c in tokenize.split(",")) if isinstance(tokenize, str) else tuple(tokenize)
    if any(not isinstance(c, str) or not c for c in tokenize) or len(set(tokenize)) != len(tokenize):
        raise UsageError("--tokenize: give distinct column names")
    if tokenize and token_secret is None:
        raise UsageError("--tokenize: needs a secret (--token-secret-env NAME or --token-secret-file PATH)")
    if token_secret is not None and not tokenize:
        raise UsageError("--token-secret-env/--token-secret-file: only with --tokenize")
    if token_secret is not None:
        from ..tokens import check_secret

        try:
            token_secret = check_secret(token_secret, "token secret")
        except (TypeError, ValueError) as exc:
            raise UsageError(str(exc)) from None
    if not isinstance(luhn, bool) or (luhn and not tokenize):
        raise UsageError("--luhn: only with --tokenize")
    fmt_in = _input_format(input, input_format)
    if max_row_bytes is not None and fmt_in != "csv":
        raise UsageError("--max-row-bytes: only for CSV input")
    max_row_bytes = DEFAULT_MAX_ROW_BYTES if max_row_bytes is None else max_row_bytes
    _check_int("--max-row-bytes", max_row_bytes, 1, MAX_ROW_BYTES_LIMIT)
    fmt_out = None
    if output is not None and output != "-":
        fmt_out = OUTPUT_FORMATS.get(Path(output).suffix.lower())
        if fmt_out is None:
            raise UsageError(f"-o/--output: cannot tell the format of {output!r}; name it .csv or .parquet")
    elif output == "-":
        fmt_out = "csv"
    plan = RoutePlan(
        input=input, input_format=fmt_in, cluster=cluster, key=key, output=output, output_format=fmt_out,
        split_dir=split_dir, split_format=split_format, rejects=rejects, report=report, replicas=replicas,
        node_column=node_column, on_bad_row=on_bad_row, route_to=route_to, max_bad_rows=limit,
        batch_rows=batch_rows, max_row_bytes=max_row_bytes, threads=threads,
        schema=_parse_schema(schema, key + tokenize), mkdir=mkdir, tokenize=tokenize, luhn=luhn,
        token_secret=token_secret, distinct=distinct,
    )
    if plan.schema and (fmt_in != "csv" or not plan.typed_output):
        raise UsageError("--schema: only for CSV input with a Parquet output (CSV output keeps every field as text)")
    check_paths(plan, protected)
    return plan


def _check_int(what: str, value, low: int, high: int, hint: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{what}: expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise UsageError(f"{what}: must be in [{low}, {high}]{' ' + hint if hint else ''}, got {value}")


def _input_format(path: str, explicit: str | None) -> str:
    if explicit is not None:
        if explicit not in ("csv", "parquet"):
            raise UsageError(f"--input-format: expected csv or parquet, got {explicit!r}")
        return explicit
    if path == "-":
        return "csv"
    fmt = INPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"INPUT: cannot tell the format of {path!r} from its extension; "
                         "name it .csv or .parquet, or give --input-format")
    return fmt


def _parse_schema(schema, key: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    # `key` here: the key columns and the tokenized columns, both always text.
    """--schema COL=TYPE[,COL=TYPE...] (pyarrow type names: string, int64, float64,
    bool, date32, timestamp[us], ...). Key columns are always text."""
    if schema is None:
        return ()
    import pyarrow as pa

    pairs = []
    items = [s for s in schema.split(",") if s.strip()] if isinstance(schema, str) else list(schema)
    for item in items:
        col, sep, typ = item.partition("=") if isinstance(item, str) else (item[0], "=", item[1])
        col, typ = col.strip(), typ.strip()
        if not sep or not col or not typ:
            raise UsageError(f"--schema: expected COLUMN=TYPE, got {item!r}")
        try:
            pa.type_for_alias(typ)
        except (ValueError, KeyError):
            raise UsageError(f"--schema: unknown type {typ!r} for column {col!r} "
                             "(pyarrow names: string, int64, float64, bool, date32, timestamp[us], ...)") from None
        if col in key and typ not in ("string", "str", "utf8"):
            raise UsageError(f"--schema: key and tokenized column {col!r} is always text; it cannot be {typ}")
        pairs.append((col, typ))
    return tuple(pairs)


def _identity(path: str) -> tuple[str, tuple[int, int] | None]:
    """(resolved path, (device, inode) if the file exists): equal for ./x, symlinks and hard links."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        return real, (st.st_dev, st.st_ino)
    except OSError:
        return real, None


def check_paths(plan: RoutePlan, protected: Sequence[str] = ()) -> None:
    """No output may be an input or another output; output directories must exist
    (or --mkdir); every check happens before anything is read or opened."""
    inputs = [("INPUT", plan.input)] if plan.input != "-" else []
    inputs += [("--cluster", p) for p in protected]
    if plan.input != "-":
        if not os.path.exists(plan.input):
            raise UsageError(f"INPUT: no such file {plan.input!r}")
        if os.path.isdir(plan.input):
            raise UsageError(f"INPUT: {plan.input!r} is a directory")
    outputs = [(what, p) for what, p in (("-o/--output", plan.output), ("--rejects", plan.rejects),
                                           ("--report", plan.report)) if p is not None and p != "-"]
    if plan.rejects == "-" or plan.report == "-":
        raise UsageError("--rejects/--report: give a file name ('-' is only for -o)")
    seen: dict[str, str] = {}
    for what, path in outputs:
        real, ident = _identity(path)
        for in_what, in_path in inputs:
            in_real, in_ident = _identity(in_path)
            if real == in_real or (ident is not None and ident == in_ident):
                raise UsageError(f"{what}: {path!r} is the input {in_what} ({in_path!r}); "
                                 "an output never replaces an input")
        for other_real, other_what in seen.items():
            if real == other_real or (ident is not None and ident == _identity(other_real)[1]):
                raise UsageError(f"{what}: {path!r} is also given as {other_what}; every output needs its own file")
        seen[real] = what
        if os.path.isdir(real):
            raise UsageError(f"{what}: {path!r} is a directory")
        _check_parent(what, path, plan.mkdir)
    if plan.split_dir is not None:
        split_real = os.path.realpath(plan.split_dir)
        if os.path.exists(split_real):
            if not os.path.isdir(split_real):
                raise UsageError(f"--split: {plan.split_dir!r} exists and is not a directory")
            if any(os.scandir(split_real)):
                raise UsageError(f"--split: directory {plan.split_dir!r} exists and is not empty")
        for what, path in inputs + outputs:
            if os.path.realpath(path).startswith(split_real + os.sep):
                raise UsageError(f"--split: {what} {path!r} lies inside the split directory {plan.split_dir!r}")
        _check_parent("--split", plan.split_dir.rstrip("/") or "/", plan.mkdir)


def _check_parent(what: str, path: str, mkdir: bool) -> None:
    parent = Path(path).resolve().parent
    if parent.is_dir():
        return
    if parent.exists():
        raise UsageError(f"{what}: {str(parent)!r} is not a directory")
    if not mkdir:
        raise UsageError(f"{what}: directory {str(parent)!r} does not exist (give --mkdir to create it)")


def _check_distinct(distinct: str | None, replicas: int, cluster: Snapshot) -> None:
    """--distinct needs --replicas > 1 and at least that many distinct localities among
    the serving nodes (docs/multi_region.md §6)."""
    if distinct is None:
        return
    from ..locality import locality_of

    if distinct not in ("zone", "region"):
        raise UsageError(f"--distinct: expected zone or region, got {quoted(distinct)}")
    if replicas < 2:
        raise UsageError("--distinct: only with --replicas N (N >= 2)")
    try:
        levels = {locality_of(m).level(distinct) for m in cluster.placement_members}
    except ValueError as exc:
        raise UsageError(f"--distinct: {exc}") from None
    if len(levels) < replicas:
        raise UsageError(f"--distinct {distinct}: --replicas {replicas} needs {replicas} {distinct}s among the serving "
                         f"nodes; the cluster has {len(levels)} (give nodes locality = \"region/zone\")")
