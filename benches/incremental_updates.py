# SPDX-License-Identifier: Apache-2.0
"""Incremental membership updates (docs/algorithms.md §25) against a from-scratch
build of the same membership, as same-run ratios, best of interleaved rounds.

    .venv/bin/python benches/incremental_updates.py

For each kind, 100 nodes: `with_node(x)` then `without_node(x)` on the table (one
add + one remove) against two constructor calls building the same two memberships.
The fastring drop-in's add_node + remove_node against fastring 0.2.1 itself is in
benches/compat_rings.py (fastring needs CPython 3.13).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROUNDS = 7
PAIRS = 40
NODES = [f"10.0.{i // 256}.{i % 256}:11211" for i in range(100)]


def add_remove(table, **node_options) -> float:
    t = time.perf_counter()
    for i in range(PAIRS):
        table.with_node(f"extra-{i}", **node_options).without_node(f"extra-{i}")
    return (time.perf_counter() - t) / PAIRS * 1e6


def rebuild(make) -> float:
    t = time.perf_counter()
    for i in range(PAIRS):
        make(NODES + [f"extra-{i}"])
        make(NODES)
    return (time.perf_counter() - t) / PAIRS * 1e6


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common  # noqa: F401 - refuses a debug build

    from fastroute.placement import HashRing, JumpHash, Ketama, Maglev, Rendezvous

    kinds = {
        "HashRing (160 points/node)": lambda n: HashRing(n),
        "Ketama fastring (128 vnodes)": lambda n: Ketama(n, flavor="fastring", vnodes=[128] * len(n)),
        "Maglev (65537 slots)": lambda n: Maglev(n),
        "Rendezvous": lambda n: Rendezvous(n),
        "JumpHash": lambda n: JumpHash(n),
    }
    print(f"{len(NODES)} nodes, one add + one remove, µs (best of {ROUNDS} interleaved rounds of {PAIRS})")
    for label, make in kinds.items():
        table = make(NODES)
        fresh, incremental = [], []
        for _ in range(ROUNDS):
            fresh.append(rebuild(make))
            incremental.append(add_remove(table, **({"vnodes": 128} if isinstance(table, Ketama) else {})))
        f, i = min(fresh), min(incremental)
        print(f"  {label:29s} rebuild {f:9.1f}  with_node+without_node {i:8.1f}  rebuild/incremental {f / i:5.1f}x")


if __name__ == "__main__":
    main()
