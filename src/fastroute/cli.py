# SPDX-License-Identifier: Apache-2.0
"""The `fastroute` command line.

Exit codes: 0 success, 1 routing or I/O failure, 2 usage error.
"""
from __future__ import annotations

import argparse
import csv
import sys
from importlib import resources
from pathlib import Path

from ._version import __version__

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _bundled(name: str) -> Path:
    """Bundled sample file: from a checkout's data/ folder."""
    checkout = Path(__file__).resolve().parents[2] / "data" / name
    if checkout.exists():
        return checkout
    return Path(str(resources.files("fastroute") / "data" / name))


def _cmd_demo(args: argparse.Namespace) -> int:
    from .cluster import load_cluster

    sample = Path(args.input) if args.input else _bundled("sample_transactions.csv")
    spec = load_cluster(Path(args.cluster) if args.cluster else _bundled("sample_cluster.toml"))
    placement = spec.build_placement()
    nodes = list(placement.nodes)
    with sample.open(newline="") as f:
        keys = [row[args.key] for row in csv.DictReader(f)]
    counts = [0] * len(nodes)
    for index in placement.route(keys).tolist():
        counts[index] += 1
    total = len(keys)
    print(f"fastroute {__version__}: routed {total} transactions from {sample.name} by {args.key!r} "
          f"with {spec.algorithm!r} placement over {len(nodes)} nodes")
    print(f"{'node':<12} {'rows':>8} {'share':>8} {'expected':>9}")
    weights = {n.name: n.weight for n in spec.serving}
    weight_sum = sum(weights.values())
    for name, count in zip(nodes, counts):
        print(f"{name:<12} {count:>8} {count / total:>8.2%} {weights[name] / weight_sum:>9.2%}")
    worst = max(count / total / (weights[name] / weight_sum) for name, count in zip(nodes, counts))
    print(f"max actual/expected share: {worst:.3f}")
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
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"fastroute: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
