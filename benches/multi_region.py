# SPDX-License-Identifier: Apache-2.0
"""Multi-region (docs/multi_region.md §8), ratios within one run, best of 9
interleaved rounds:

  1. LocalityBalancer pick (2 priority levels × 9 zones, locality-weighted, one
     zone degraded-free) vs a plain pick of the same balancer over the same 45
     nodes — target ≤ 1.5×;
  2. replicas(key, 3, distinct="zone") vs replicas(key, 3) on the same table —
     target ≤ 2×;
  3. balance and movement of replicas(key, 3, distinct="zone"|"region") on a
     3-region, 9-zone, 45-node cluster: per-node load (max / mean) over 200 000
     keys, and the share of keys whose replica set changes when one node leaves
     (and the minimum any scheme must move: keys that had the node in their set).

Run: .venv/bin/python benches/multi_region.py [N]
"""
import sys

import numpy as np

import fastroute as fr
from fastroute.membership import Member
from fastroute.placement import HashRing, JumpHash, Maglev, Rendezvous

try:  # benches/common refuses a debug Rust core
    from benches import common  # noqa: F401
    from benches.request_path import pair
except ImportError:  # run as a script from benches/
    import common  # noqa: F401
    from request_path import pair

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
NODES = [f"n{i:02d}" for i in range(45)]
LOCALITIES = [f"r{i % 3}/r{i % 3}-z{(i // 3) % 3}" for i in range(45)]


def picks(sel, n):
    pick = sel.pick

    def run():
        for _ in range(n):
            pick()
    return run


def replicas_loop(table, keys, **kw):
    rep = table.replicas

    def run():
        for k in keys:
            rep(k, 3, **kw)
    return run


def pick_ratios():
    members = [Member(n, metadata={"locality": loc, "priority": 0 if i < 27 else 1})
               for i, (n, loc) in enumerate(zip(NODES, LOCALITIES))]
    weights = {loc: 1 for loc in set(LOCALITIES)}
    print(f"pick, {N} picks, 45 nodes (27 at P=0 in 9 zones, 18 at P=1), locality-weighted:")
    for name, cls in (("least_request", fr.LeastRequest), ("round_robin", fr.RoundRobin),
                      ("weighted_random", fr.WeightedRandom), ("swrr", fr.SmoothWeightedRoundRobin)):
        plain = cls(NODES)
        lb = fr.LocalityBalancer(members, name, locality_weights=weights, seed=1)
        base, other = pair(picks(plain, N), picks(lb, N))
        print(f"  {name:16s} plain {base / N * 1e9:6.1f} ns  priorities+localities {other / N * 1e9:6.1f} ns  "
              f"ratio {other / base:.2f}x (target <= 1.5x)")


def replicas_ratios(keys):
    print(f"replicas(key, 3, distinct='zone') vs replicas(key, 3), {len(keys)} keys, 45 nodes / 9 zones:")
    for cls in (HashRing, Maglev, JumpHash, Rendezvous):
        table = cls(NODES).with_localities(LOCALITIES)
        base, other = pair(replicas_loop(table, keys), replicas_loop(table, keys, distinct="zone"))
        print(f"  {cls.__name__:10s} plain {base / len(keys) * 1e9:6.0f} ns  distinct {other / len(keys) * 1e9:6.0f} ns"
              f"  ratio {other / base:.2f}x (target <= 2x)")


def balance_and_movement(keys):
    print(f"balance and movement, {len(keys)} keys, replicas(key, 3), one node removed (n07; JumpHash: the"
          f" last, n44, the only removal jump hash keeps consistent):")
    for cls in (HashRing, Maglev, JumpHash, Rendezvous):
        table = cls(NODES).with_localities(LOCALITIES)
        gone = "n44" if cls is JumpHash else "n07"
        smaller = table.without_node(gone)
        for distinct in (None, "zone", "region"):
            a = np.array(table.nodes)[table.route_replicas(keys, 3, distinct=distinct)]
            b = np.array(smaller.nodes)[smaller.route_replicas(keys, 3, distinct=distinct)]
            counts = np.unique(a, return_counts=True)[1]
            # A set "moves" when its membership changes; every key that held the node must move.
            moved = np.mean([set(x) != set(y) for x, y in zip(a, b)])
            must = np.mean((a == gone).any(axis=1))
            primary_moved = np.mean(a[:, 0] != b[:, 0])
            print(f"  {cls.__name__:10s} distinct={str(distinct):6s} load max/mean {counts.max() / counts.mean():.3f}"
                  f"  sets moved {moved * 100:5.2f} % (minimum {must * 100:5.2f} %)"
                  f"  primaries moved {primary_moved * 100:5.2f} %")


def main():
    rng = np.random.default_rng(18)
    keys = [f"card-{v:012d}" for v in rng.integers(0, 10**12, size=max(N // 5, 1000))]
    pick_ratios()
    replicas_ratios(keys)
    balance_and_movement([f"card-{v:012d}" for v in rng.integers(0, 10**12, size=200_000)])


if __name__ == "__main__":
    main()
