# SPDX-License-Identifier: Apache-2.0
"""The `fastroute` command line.

Exit codes: 0 success; 1 failure (I/O, bad configuration, routing error);
2 usage error; 3 a bad row stopped `route` (--on-bad-row error);
130 interrupted (no partial output is left behind).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from importlib import resources
from pathlib import Path

from ._version import __version__

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_BAD_ROW, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _bundled(name: str) -> Path:
    """Bundled sample file: a checkout's data/ folder, else the copy packaged in the wheel."""
    checkout = Path(__file__).resolve().parents[2] / "data" / name
    if checkout.exists():
        return checkout
    return Path(str(resources.files("fastroute") / "data" / name))


def _cmd_demo(args: argparse.Namespace) -> int:
    """`fastroute route` on the bundled sample, summary only."""
    from .bulk import route_file, summary_table
    from .cluster import load_cluster

    sample = args.input or str(_bundled("sample_transactions.csv"))
    spec = load_cluster(args.cluster or _bundled("sample_cluster.toml"))
    summary = route_file(sample, spec, [args.key])
    print(f"fastroute {__version__}: {summary_table(summary)}")
    return EXIT_OK


def _load_cluster_arg(value: str):
    """CLUSTER: a TOML file, or CONFIG:NAME for nginx.conf upstreams / haproxy.cfg backends."""
    from .cluster import load_cluster

    path = Path(value)
    if path.exists():
        return load_cluster(path)
    if ":" in value:
        file_part, name = value.rsplit(":", 1)
        if Path(file_part).exists():
            return _cluster_from_nginx(Path(file_part), name)
    raise ValueError(f"--cluster: no such file {value!r}")


def _cluster_from_nginx(path: Path, upstream: str):
    """A keyed nginx upstream (hash ... consistent) as a cluster spec for `route`."""
    from .cluster import PLACEMENTS, ClusterSpec, NodeSpec
    from .config.nginx import parse_upstream

    up = parse_upstream(path.read_text(encoding="utf-8"), upstream)
    if up.method != "hash_consistent":
        raise ValueError(f"--cluster: upstream {upstream} uses {up.method}; batch routing needs a keyed, "
                         "per-key deterministic upstream ('hash $var consistent')")
    PLACEMENTS.setdefault("nginx_chash", _nginx_chash_factory)
    return ClusterSpec("nginx_chash", tuple(NodeSpec(s.name, float(s.weight), down=s.down) for s in up.servers))


def _nginx_chash_factory(names, weights, params):
    from .config.nginx import NginxHash, NginxServer, NginxUpstream

    up = NginxUpstream("cli", [NginxServer(n, int(w)) for n, w in zip(names, weights)], "hash_consistent")
    return _NginxPlacementAdapter(NginxHash(up, consistent=True))


class _NginxPlacementAdapter:
    """The slice of the placement API `route` uses, over an nginx hash ring."""

    def __init__(self, selector):
        self._s = selector
        self.nodes = selector.nodes

    def route(self, keys, threads=None):
        return self._s.route(keys)

    def route_replicas(self, keys, n, threads=None):
        from ._keys import key_batch_arg

        return self._s._table._route_replicas(key_batch_arg(keys)[0], n, threads)


class _Progress:
    """One-line progress on stderr (rows, rows/s, ETA), only on a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.started = time.perf_counter()
        self.last = 0.0

    def __call__(self, rows: int, fraction: float) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.last < 0.2:
            return
        self.last = now
        rate = rows / max(now - self.started, 1e-9)
        eta = f" ETA {(now - self.started) * (1 - fraction) / fraction:5.0f}s" if fraction == fraction and fraction > 0 else ""
        pct = f" {fraction:6.1%}" if fraction == fraction else ""
        sys.stderr.write(f"\r{rows:>12,} rows {rate:>12,.0f} rows/s{pct}{eta}")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _cmd_route(args: argparse.Namespace) -> int:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ValueError("fastroute route needs pyarrow: pip install 'fastroute[arrow]'") from None
    from .bulk import BadRowError, html_report, route_file, summary_table

    spec = _load_cluster_arg(args.cluster)
    policy, route_to = args.on_bad_row, None
    if policy.startswith("route-to"):
        parts = policy.split(None, 1) if " " in policy else [policy, args.route_to]
        policy, route_to = "route-to", (parts[1] if len(parts) > 1 else None)
        if not route_to:
            raise ValueError("--on-bad-row route-to needs a node: --on-bad-row route-to --route-to NODE")
    progress = _Progress(sys.stdout.isatty() and sys.stderr.isatty() and not args.json and args.output != "-")
    try:
        summary = route_file(
            args.input, spec, [k.strip() for k in args.key.split(",")], args.output,
            split_dir=args.split, split_format=args.split_format, replicas=args.replicas,
            node_column=args.node_column, on_bad_row=policy, route_to=route_to, rejects=args.rejects,
            input_format=args.input_format, batch_rows=args.batch_rows, threads=args.threads, progress=progress,
        )
    except BadRowError as exc:
        progress.done()
        print(f"fastroute: bad row: {exc} (nothing was written; see --on-bad-row)", file=sys.stderr)
        return EXIT_BAD_ROW
    progress.done()
    if args.report:
        Path(args.report).write_text(html_report(summary), encoding="utf-8")
    out = sys.stderr if args.output == "-" else sys.stdout
    print(summary.to_json() if args.json else summary_table(summary), file=out)
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    import json

    from . import benchmark

    report = benchmark.run(quick=args.quick, compare=args.compare)
    print(json.dumps(report, indent=2) if args.json else benchmark.format_table(report))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
                    "stdin) with the cluster's placement and write the rows plus the node column. Output "
                    "files appear atomically. Exit codes: 0 ok, 1 failure, 2 usage, 3 bad row, 130 interrupted.")
    route.add_argument("input", metavar="INPUT")
    route.add_argument("--cluster", required=True, help="cluster TOML file (see fastroute.cluster)")
    route.add_argument("--key", required=True, help="key column, or several separated by commas (composite key)")
    route.add_argument("-o", "--output", help="output file: .csv or .parquet by extension; '-' = CSV on stdout")
    route.add_argument("--split", metavar="DIR", help="write one file per node into DIR instead of -o")
    route.add_argument("--split-format", choices=["parquet", "csv"], default="parquet")
    route.add_argument("--replicas", type=int, default=1, help="N: add N-1 replica columns (distinct nodes)")
    route.add_argument("--node-column", default="node", help="name of the added column (default: node)")
    route.add_argument("--on-bad-row", default="error",
                       help="error (default) | skip | route-to (with --route-to NODE): rows with a null/empty "
                            "key or an unparsable line")
    route.add_argument("--route-to", help="node for bad rows with --on-bad-row route-to")
    route.add_argument("--rejects", help="file that receives skipped rows / unparsable lines (CSV text)")
    route.add_argument("--input-format", choices=["csv", "parquet"], help="override detection by extension")
    route.add_argument("--batch-rows", type=int, default=1 << 20, help="rows per batch (memory bound)")
    route.add_argument("--threads", type=int, help="routing threads (default: all cores)")
    route.add_argument("--json", action="store_true", help="print a machine-readable summary")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("fastroute: interrupted; no partial output was left", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"fastroute: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
