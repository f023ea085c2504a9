# SPDX-License-Identifier: Apache-2.0
"""JumpBackHash and JumpBackAnchorHash against JumpHash in the same run
(docs/algorithms.md §23, §24; issue 15 target: JumpBackHash.route_hashed ≥ 3×
JumpHash.route_hashed, 1 M keys, one thread).

Each pair is timed alternately (best of ROUNDS) so both see the same machine
load; figures are ratios, never absolute assertions. Node counts: 100 (the
issue's), 10 000 and 1 000 000 (jump's cost grows with log n, JumpBackHash's
does not). JumpBackAnchorHash is measured with 10 % of its nodes removed.

Run: .venv/bin/python benches/jumpback_vs_jump.py [KEYS] [ROUNDS]
"""
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import u64_keys  # noqa: E402  (refuses a debug build)

from fastroute import JumpBackAnchorHash, JumpBackHash, JumpHash  # noqa: E402

KEYS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 9


def best_alternating(fns, rounds=ROUNDS) -> list[float]:
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def anchor_with_removals(names):
    """Every 10th bucket removed (in index order), built from the state bytes at once."""
    removed = list(range(1, len(names), 10))
    gone = set(removed)
    state = struct.pack(f"<{1 + len(removed)}I", len(names), *removed)
    return JumpBackAnchorHash.from_bytes([n for i, n in enumerate(names) if i not in gone], state)


def main() -> None:
    hashes = u64_keys(KEYS, seed=15)
    print(f"route_hashed, {KEYS:,} uint64 hashes, threads=1, best of {ROUNDS} (alternating)")
    print(f"{'nodes':>9}  {'JumpHash':>10}  {'JumpBack':>10}  {'ratio':>6}  {'Anchor-10%':>10}  {'ratio':>6}")
    for n in (100, 10_000, 1_000_000):
        names = [f"n{i}" for i in range(n)]
        jump, back, anchor = JumpHash(names), JumpBackHash(names), anchor_with_removals(names)
        t_jump, t_back, t_anchor = best_alternating([
            lambda: jump.route_hashed(hashes, threads=1),
            lambda: back.route_hashed(hashes, threads=1),
            lambda: anchor.route_hashed(hashes, threads=1),
        ])
        ns = lambda t: t / KEYS * 1e9  # noqa: E731
        print(f"{n:>9,}  {ns(t_jump):>8.2f}ns  {ns(t_back):>8.2f}ns  {t_jump / t_back:>5.2f}x  "
              f"{ns(t_anchor):>8.2f}ns  {t_jump / t_anchor:>5.2f}x")
    names = [f"n{i}" for i in range(100)]
    jump, back = JumpHash(names), JumpBackHash(names)
    t_jump, t_back = best_alternating([lambda: [jump.get_node("card-000000123456") for _ in range(100_000)],
                                       lambda: [back.get_node("card-000000123456") for _ in range(100_000)]])
    print(f"get_node (100 nodes, 100 000 calls): JumpHash {t_jump * 1e4:.1f} ns, JumpBackHash {t_back * 1e4:.1f} ns")


if __name__ == "__main__":
    main()
