# SPDX-License-Identifier: Apache-2.0
"""The `fastroute` command line.

Exit codes: 0 success; 1 failure (I/O, bad input or configuration); 2 usage
error (nothing was read or written); 3 a bad row stopped `route` (--on-bad-row
error, or more bad rows than --max-bad-rows); 130 / 143 / 129 interrupted by
SIGINT / SIGTERM / SIGHUP (no output was committed, unless the message says
the signal came after the commit). Every message is one line and never holds
an input key or line (card numbers are masked to their first 6 and last 4).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from importlib import resources
from pathlib import Path

from ._version import __version__
from .bulk.errors import BadRowError, Interrupted, UsageError
from .redact import mask_card_numbers
from .redact import quoted

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_BAD_ROW, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_SIGTERM, EXIT_SIGHUP = 128 + signal.SIGTERM, 128 + signal.SIGHUP


def _bundled(name: str) -> Path:
    """A bundled sample file (package data: present in wheels and checkouts alike)."""
    return Path(str(resources.files("fastroute") / "data" / name))


def _cmd_demo(args: argparse.Namespace) -> int:
    """`fastroute route` on the bundled sample, summary only."""
    from .bulk import route_file, summary_table
    from .cluster import load_cluster

    sample = args.input or str(_bundled("sample_transactions.csv"))
    cluster = args.cluster or str(_bundled("sample_cluster.toml"))
    summary = route_file(sample, load_cluster(cluster), [args.key], protected=[cluster])
    print(f"fastroute {__version__}: {summary_table(summary)}")
    return EXIT_OK


def _load_cluster_arg(value: str):
    """CLUSTER: a TOML file, or CONFIG:NAME for nginx.conf upstreams / httpd.conf balancers."""
    from .cluster import load_cluster

    path = Path(value)
    if path.exists():
        return load_cluster(path), str(path)
    if ":" in value:
        file_part, name = value.rsplit(":", 1)
        if Path(file_part).exists():
            text = Path(file_part).read_text(encoding="utf-8")
            if "balancer://" in text.lower():
                return _cluster_from_apache(text, file_part, name), file_part
            return _cluster_from_nginx(Path(file_part), name), file_part
    raise UsageError(f"--cluster: no such file {quoted(value)}")


def _cluster_from_nginx(path: Path, upstream: str):
    """A keyed nginx upstream (hash ... consistent) as a cluster Snapshot for `route`."""
    from .config.nginx import parse_upstream
    from .membership import Member, Snapshot

    up = parse_upstream(path.read_text(encoding="utf-8"), upstream)
    if up.method != "hash_consistent":
        raise ValueError(f"--cluster: upstream {upstream} uses {up.method}; batch routing needs a keyed, "
                         "per-key deterministic upstream ('hash $var consistent')")
    # Down servers are left out of the ring: nginx skips their points, which is the same lookup.
    # Server names are kept verbatim ('unix:/run/app.sock' included): the placement hashes them.
    members = tuple(Member(s.name, float(s.weight), state="down" if s.down else "up") for s in up.servers)
    return Snapshot(members, 0, str(path), algorithm="nginx_chash")


def _cluster_from_apache(text: str, path: str, balancer: str):
    """An httpd balancer's stickysession routes (the keyed mode, docs/apache.md §8) as a Snapshot."""
    from .config.apache import parse_balancer
    from .httpd_balancer import DISABLED, HC_FAIL, HOT_STANDBY, IN_SHUTDOWN, STOPPED, parse_status
    from .membership import Member, Snapshot

    cfg = parse_balancer(text, balancer, source=path)
    if "stickysession" not in cfg.params:
        method = cfg.params.get("lbmethod", "byrequests")
        raise ValueError(f"--cluster: balancer://{cfg.name} has no stickysession: lbmethod={method} is a "
                         "request-time balancer (each pick depends on the requests before it), which batch "
                         "routing cannot reproduce; use fastroute.load_apache in the request path")
    rows, members = [], []
    for m in cfg.members:
        flags = parse_status(m.status) if m.status else 0
        # +E at start-up is retried at once (docs/apache.md §3); the other flags keep a member out
        usable = not flags & (DISABLED | STOPPED | HC_FAIL | IN_SHUTDOWN)
        rows.append((m.name, m.route, m.redirect, usable, bool(flags & HOT_STANDBY)))
        members.append(Member(m.name, m.lbfactor / 100.0, state="up" if usable else "down"))
    sep = cfg.params.get("stickysessionsep", ".")
    params = {"members": rows, "separator": None if sep.lower() == "off" else sep}
    return Snapshot(tuple(members), 0, path, algorithm="httpd_sticky", params=params)


class _Progress:
    """One-line progress on stderr (rows, rows/s, percentage and ETA when the size
    is known: bytes read for CSV files, row-group metadata for Parquet), only on
    a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.started = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def __call__(self, rows: int, fraction: float) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.last < 0.2:
            return
        self.last, self.shown = now, True
        rate = rows / max(now - self.started, 1e-9)
        known = fraction == fraction and fraction > 0
        pct = f" {min(fraction, 1.0):6.1%}" if known else ""
        eta = f" ETA {(now - self.started) * (1 - min(fraction, 1.0)) / fraction:5.0f}s" if known else ""
        sys.stderr.write(f"\r{rows:>12,} rows {rate:>12,.0f} rows/s{pct}{eta}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            self.shown = False


def _failure(exc: BaseException, committed: bool) -> tuple[str, int, str]:
    """(status, exit code, one-line message) for an exception that ended a command."""
    if isinstance(exc, KeyboardInterrupt):
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        after = ("after all outputs were committed (they are complete)" if committed
                 else "; nothing was committed, previous files are unchanged")
        return "interrupted", 128 + signum, f"interrupted by {signal.Signals(signum).name} {after}".replace(" ;", ";")
    if isinstance(exc, UsageError):
        return "usage", EXIT_USAGE, f"usage: {exc}"
    if isinstance(exc, BadRowError):
        return "bad_row", EXIT_BAD_ROW, f"bad row: {exc} (nothing was written; see --on-bad-row, --max-bad-rows)"
    if isinstance(exc, (OSError, ValueError, KeyError, TypeError, LookupError)):
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        return "error", EXIT_FAILURE, f"error: {text}"
    return "error", EXIT_FAILURE, f"internal error ({type(exc).__name__}): {exc}"


def _one_line(text: str) -> str:
    return mask_card_numbers(" ".join(str(text).split()))


def _with_placement_secret(spec, args: argparse.Namespace):
    """The cluster with the keyed placement secret of --secret-env/--secret-file
    (docs/algorithms.md §22); the secret is loaded by reference, never from argv."""
    if args.secret_env is None and args.secret_file is None:
        return spec
    import dataclasses

    from .tokens import load_secret

    if args.secret_env is not None and args.secret_file is not None:
        raise UsageError("--secret-env and --secret-file: give one")
    what = "--secret-env" if args.secret_env is not None else "--secret-file"
    if spec.secret is not None:
        raise UsageError(f"{what}: the cluster file already names a secret (secret_env/secret_file); give it once")
    try:
        secret = load_secret(env=args.secret_env, file=args.secret_file, what=what)
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    return dataclasses.replace(spec, secret=secret)


def _cmd_route(args: argparse.Namespace) -> int:
    from .bulk import make_plan, new_summary, run_plan, summary_table

    summary, doc, progress = None, {}, _Progress(False)
    try:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError("fastroute route needs pyarrow: pip install 'fastroute[arrow]'") from None
        spec, cluster_path = _load_cluster_arg(args.cluster)
        policy, route_to = args.on_bad_row, args.route_to
        if policy.startswith("route-to "):  # one argument: "route-to NODE"
            policy, route_to = "route-to", policy.split(None, 1)[1]
        token_secret = None
        if args.token_secret_env is not None or args.token_secret_file is not None:
            from .tokens import load_secret

            if args.token_secret_env is not None and args.token_secret_file is not None:
                raise UsageError("--token-secret-env and --token-secret-file: give one")
            try:
                token_secret = load_secret(env=args.token_secret_env, file=args.token_secret_file,
                                           what="--token-secret-env" if args.token_secret_env else "--token-secret-file")
            except (TypeError, ValueError) as exc:
                raise UsageError(str(exc)) from None
        spec = _with_placement_secret(spec, args)
        if not spec.serving and spec.placement_members:  # the backup rule, docs/cluster.md §5.1: said, not silent
            print("fastroute: note: no primary node is serving; routing to the backup nodes", file=sys.stderr)
        plan = make_plan(
            args.input, spec, [k.strip() for k in args.key.split(",")], args.output,
            split_dir=args.split, split_format=args.split_format, rejects=args.rejects, report=args.report,
            replicas=args.replicas, distinct=args.distinct, node_column=args.node_column, on_bad_row=policy, route_to=route_to,
            max_bad_rows=args.max_bad_rows, input_format=args.input_format, batch_rows=args.batch_rows,
            max_row_bytes=args.max_row_bytes, threads=args.threads, schema=args.schema, mkdir=args.mkdir,
            tokenize=args.tokenize or (), token_secret=token_secret, luhn=args.luhn,
            protected=[cluster_path] + [f for f in (args.token_secret_file, args.secret_file) if f],
        )
        summary = new_summary(plan)
        progress = _Progress(sys.stderr.isatty() and not args.json and args.output != "-")
        run_plan(plan, summary, progress)
        code = EXIT_OK
    except BaseException as exc:  # noqa: BLE001 - every ending gets its code, message and JSON
        if isinstance(exc, SystemExit):
            raise
        progress.done()
        status, code, message = _failure(exc, bool(summary and summary.committed))
        print(f"fastroute: {_one_line(message)}", file=sys.stderr)
        if summary is not None:
            summary.status, summary.exit_code, summary.error = status, code, _one_line(message)
        doc = {"status": status, "exit_code": code, "error": _one_line(message)}
    progress.done()
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.json:
        print(summary.to_json() if summary is not None else json.dumps(doc, indent=2, sort_keys=True), file=out)
    elif code == EXIT_OK:
        print(summary_table(summary), file=out)
    return code


def _cmd_bench(args: argparse.Namespace) -> int:
    import json

    from . import benchmark

    report = benchmark.run(quick=args.quick, compare=args.compare)
    print(json.dumps(report, indent=2) if args.json else benchmark.format_table(report))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fastroute",
        description="Routing engine for payment systems: place keys on nodes, balance requests, "
                    "reproduce nginx/HAProxy/Envoy routing offline.",
    )
    parser.add_argument("--version", action="version", version=f"fastroute {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="route the bundled sample transactions and print per-node counts")
    demo.add_argument("--input", help="CSV file (default: bundled sample)")
    demo.add_argument("--cluster", help="cluster TOML (default: bundled sample)")
    demo.add_argument("--key", default="card_id", help="key column (default: card_id)")
    demo.set_defaults(func=_cmd_demo)

    route = sub.add_parser(
        "route", help="route a CSV/Parquet file of transactions to the nodes of a cluster",
        description="Route every row of INPUT (CSV or Parquet, streamed with bounded memory; '-' = CSV on "
                    "stdin) with the cluster's placement and write the rows plus the node column. All outputs "
                    "are committed together at the end (never over an input); files holding rows are 0600. "
                    "A text key and an int64 key with the same digits hash differently: a CSV key column is "
                    "always text, a Parquet integer column is hashed as 8 little-endian bytes. "
                    "Exit codes: 0 ok, 1 failure, 2 usage, 3 bad row(s), 130/143/129 SIGINT/SIGTERM/SIGHUP.")
    route.add_argument("input", metavar="INPUT")
    route.add_argument("--cluster", required=True, help="cluster TOML file (see fastroute.cluster), or "
                                                        "nginx.conf:UPSTREAM")
    route.add_argument("--key", required=True, help="key column, or several separated by commas (composite key)")
    route.add_argument("-o", "--output", help="output file: .csv or .parquet by extension; '-' = CSV on stdout")
    route.add_argument("--split", metavar="DIR", help="write one file per node into DIR (new or empty) instead of -o")
    route.add_argument("--split-format", choices=["parquet", "csv"], help="with --split (default parquet)")
    route.add_argument("--mkdir", action="store_true", help="create missing output directories (else a usage error)")
    route.add_argument("--replicas", type=int, default=1, help="N: add N-1 replica columns (distinct nodes)")
    route.add_argument("--distinct", choices=["zone", "region"],
                       help="with --replicas: each replica in a zone (region) not yet taken, in the key's failover "
                            "order (nodes need locality = \"region/zone\")")
    route.add_argument("--node-column", default="node", help="name of the added column (default: node)")
    route.add_argument("--on-bad-row", default="error",
                       help="error (default: stop, write nothing) | skip | route-to (with --route-to NODE). Bad "
                            "rows: null/empty key, wrong field count, invalid UTF-8, unterminated quote, a row "
                            "over --max-row-bytes. Under route-to, rows that cannot be parsed are skipped")
    route.add_argument("--route-to", help="node for bad rows with --on-bad-row route-to")
    route.add_argument("--max-bad-rows", default="1%", metavar="N|P%",
                       help="under skip/route-to, stop (exit 3, nothing written) once bad rows exceed N, or P%% "
                            "of the lines read (checked from 10 000 lines on, and at the end); default 1%%")
    route.add_argument("--max-row-bytes", type=int,
                       help="CSV input: a row longer than this is a bad row (default 1 MiB)")
    route.add_argument("--rejects", help="CSV file (0600) for bad rows: columns line, reason, then the input's "
                                         "fields (binary as hex)")
    route.add_argument("--schema", metavar="COL=TYPE,...",
                       help="CSV to Parquet: column types (pyarrow names: string, int64, float64, bool, date32, "
                            "timestamp[us]); other columns are inferred from the first batch, key columns stay text")
    route.add_argument("--tokenize", metavar="COL[,COL]",
                       help="replace these card-number columns by HMAC-SHA-256 tokens (hex) in every output, "
                            "rejects included; --key may name them (rows are then routed by token). A value that "
                            "is not a card number (12-19 digits, spaces/dashes allowed) is a bad row")
    route.add_argument("--token-secret-env", metavar="NAME", help="environment variable holding the token secret")
    route.add_argument("--token-secret-file", metavar="PATH", help="file holding the token secret (mode 600)")
    route.add_argument("--secret-env", metavar="NAME",
                       help="environment variable holding the keyed placement secret (>= 16 bytes)")
    route.add_argument("--secret-file", metavar="PATH", help="file holding the keyed placement secret (mode 600)")
    route.add_argument("--luhn", action="store_true", help="with --tokenize: a card number failing the Luhn "
                                                           "check is a bad row")
    route.add_argument("--input-format", choices=["csv", "parquet"], help="override detection by extension")
    route.add_argument("--batch-rows", type=int, default=1 << 20, help="rows per batch (memory bound)")
    route.add_argument("--threads", type=int, help="routing threads (default: all cores)")
    route.add_argument("--json", action="store_true",
                       help="print one JSON document (status, error, counts, exit_code), also when the run fails "
                            "(on stderr when -o - writes CSV to stdout)")
    route.add_argument("--report", metavar="HTML", help="write an HTML report with expected vs actual shares")
    route.set_defaults(func=_cmd_route)

    bench = sub.add_parser("bench", help="measure every algorithm on this machine (per call, per batch, threads)")
    bench.add_argument("--quick", action="store_true", help="small batches: finishes in well under a minute")
    bench.add_argument("--compare", action="store_true",
                       help="also time installed peers (uhashring, jump-consistent-hash, numpy searchsorted ring)")
    bench.add_argument("--json", action="store_true", help="print a JSON document instead of the table")
    bench.set_defaults(func=_cmd_bench)

    from .cluster_cli import add_cluster_parser
    add_cluster_parser(sub)
    return parser


class _Parser(argparse.ArgumentParser):
    """Usage errors become UsageError, so they get the same exit code, one-line
    message and (with --json) JSON document as every other usage error."""

    def error(self, message: str):
        raise UsageError(message)


@contextlib.contextmanager
def _signals_interrupt():
    """SIGINT, SIGTERM and SIGHUP raise Interrupted in the main thread: every stage
    stops through the same path as an error. Repeats during cleanup are ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if not fired:
            fired.append(signum)
            raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    with _signals_interrupt():
        try:
            args = build_parser().parse_args(argv)
            if not getattr(args, "func", None):
                build_parser().print_help()
                return EXIT_USAGE
            return args.func(args)
        except BaseException as exc:  # noqa: BLE001 - one line and a documented exit code for everything
            if isinstance(exc, SystemExit):  # --help / --version
                raise
            status, code, message = _failure(exc, committed=False)
            print(f"fastroute: {_one_line(message)}", file=sys.stderr)
            if "--json" in argv and argv[:1] == ["route"]:
                print(json.dumps({"status": status, "exit_code": code, "error": _one_line(message)},
                                 indent=2, sort_keys=True))
            return code


def entry() -> None:
    """The `fastroute` console script. A run that did not succeed (error, bad row,
    usage, signal) ends, once every file is closed and cleaned up, without running
    C++ static destructors: Arrow's thread pools torn down at exit after a failed
    read can abort the process ("terminate called without an active exception")
    and turn exit 3 or 143 into 134."""
    code = main()
    if code != 0:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
