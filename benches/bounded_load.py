# SPDX-License-Identifier: Apache-2.0
"""Cost of bounded loads per request (docs/algorithms.md §5.3): a lease through
fastroute.BoundedLoad against the health-aware placement lease it extends
(HealthAware.lease, docs/request_path.md §6) over the same HealthView and ring,
and the standalone counter form, as ratios within one run (best of 7
interleaved rounds).

    .venv/bin/python benches/bounded_load.py [N]
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402,F401 - refuses a debug build

import fastroute as fr  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
NODES = [f"10.0.0.{i}:8443" for i in range(16)]


def leases(lease_of, keys) -> float:
    t = time.perf_counter()
    for k in keys:
        with lease_of(k):
            pass
    return (time.perf_counter() - t) / len(keys) * 1e9


def main() -> None:
    keys = common.string_keys(N)
    ring = fr.HashRing(NODES)
    view = fr.HealthView(NODES, health="none")
    aware = view.placement(ring)
    bounded_view = fr.BoundedLoad(ring, balance_factor=1.25, view=view)
    bounded_counter = fr.BoundedLoad(ring, balance_factor=1.25)
    rows = {"HealthAware.lease (baseline)": aware.lease, "BoundedLoad.lease, view": bounded_view.lease,
            "BoundedLoad.lease, counter": bounded_counter.lease}
    best = dict.fromkeys(rows, float("inf"))
    for _ in range(7):
        for label, lease_of in rows.items():
            best[label] = min(best[label], leases(lease_of, keys))
    base = best["HealthAware.lease (baseline)"]
    print(f"{N} leases, {len(NODES)} nodes, one thread")
    for label, ns in best.items():
        print(f"  {label:30s} {ns:8.0f} ns   {ns / base:5.2f}x the baseline")


if __name__ == "__main__":
    main()
