# SPDX-License-Identifier: Apache-2.0
"""Keyed placement (docs/algorithms.md §22): the crafted-key attack and the
defence, then the speed of keyed lookups against unkeyed ones in the same run.

Attack: the attacker knows the node names and the algorithm (fastroute is
public), so they build the same unkeyed table and brute-force keys until
ATTACK_KEYS of them land on one node. Routed through the unkeyed table those
keys all hit that node (max/mean load = the node count); routed through a table
keyed with a secret the attacker does not have, they spread like random keys
(max/mean near 1).

Speed: keyed `route` on 1 M str keys (list of str) against unkeyed, and keyed
`get_node` against unkeyed, best of several runs, as ratios.

Run: .venv/bin/python benches/keyed_placement_attack.py [NODES] [ATTACK_KEYS]
"""
import os
import sys
import time

import numpy as np

from fastroute import HashRing, JumpHash, Maglev, Rendezvous

NODES = int(sys.argv[1]) if len(sys.argv) > 1 else 100
ATTACK_KEYS = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
SPEED_KEYS = 1_000_000
GET_NODE_KEYS = 200_000


def paired(plain, keyed, rounds=7) -> tuple[float, float]:
    """Best time of each, run alternately so both see the same machine load."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for i, fn in enumerate((plain, keyed)):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best[0], best[1]


def crafted_keys(public_table, target: int, wanted: int) -> list[str]:
    """Brute force: candidate keys through the attacker's copy of the public table."""
    found: list[str] = []
    start, step = 0, 1_000_000
    while len(found) < wanted:
        candidates = [f"acct-{i:012d}" for i in range(start, start + step)]
        hits = np.flatnonzero(public_table.route(candidates) == target)
        found.extend(candidates[i] for i in hits[: wanted - len(found)])
        start += step
    return found


def load(table, keys) -> tuple[int, float]:
    counts = np.bincount(table.route(keys), minlength=len(table))
    return int(counts.max()), float(counts.mean())


def attack(kind, nodes, secret) -> None:
    public = kind(nodes)  # what the attacker can build: same names, same algorithm
    t = time.perf_counter()
    keys = crafted_keys(public, target=0, wanted=ATTACK_KEYS)
    searched = time.perf_counter() - t
    keyed = kind(nodes, secret=secret)
    for label, table in (("unkeyed", public), ("keyed", keyed)):
        mx, mean = load(table, keys)
        print(f"  {kind.__name__:<10} {label:<8} max {mx:6d}  mean {mean:7.1f}  max/mean {mx / mean:6.2f}")
    random_keys = [f"rand-{i}" for i in range(ATTACK_KEYS)]
    mx, mean = load(keyed, random_keys)
    print(f"  {kind.__name__:<10} keyed, random keys: max/mean {mx / mean:6.2f}   (search took {searched:.1f} s)")


def speed(nodes, secret) -> None:
    keys = [f"card-{i:012d}" for i in range(SPEED_KEYS)]
    plain, keyed = HashRing(nodes), HashRing(nodes, secret=secret)
    t_plain, t_keyed = paired(lambda: plain.route(keys), lambda: keyed.route(keys))
    print(f"  HashRing.route, 1 M str keys: unkeyed {SPEED_KEYS / t_plain / 1e6:6.2f} M/s, "
          f"keyed {SPEED_KEYS / t_keyed / 1e6:6.2f} M/s, keyed/unkeyed throughput {t_plain / t_keyed:5.2f}x "
          f"(target >= 0.6)")
    t_plain, t_keyed = paired(lambda: plain.route(keys, threads=1), lambda: keyed.route(keys, threads=1))
    print(f"  HashRing.route, 1 M str keys, threads=1: keyed/unkeyed throughput {t_plain / t_keyed:5.2f}x")
    arr = np.array(keys)
    t_plain, t_keyed = paired(lambda: plain.route(arr), lambda: keyed.route(arr))
    print(f"  HashRing.route, numpy U16:    keyed/unkeyed throughput {t_plain / t_keyed:5.2f}x")
    sample = keys[:GET_NODE_KEYS]

    def lookups(table):
        get = table.get_node
        for k in sample:
            get(k)

    t_plain, t_keyed = paired(lambda: lookups(plain), lambda: lookups(keyed))
    print(f"  HashRing.get_node: unkeyed {t_plain / GET_NODE_KEYS * 1e9:6.1f} ns, keyed "
          f"{t_keyed / GET_NODE_KEYS * 1e9:6.1f} ns, keyed/unkeyed time {t_keyed / t_plain:5.2f}x (target <= 1.3)")


def main():
    nodes = [f"shard-{i:03d}" for i in range(NODES)]
    secret = os.urandom(32)  # the defender's; the attacker never sees it
    print(f"attack: {ATTACK_KEYS:,} keys crafted for node 0 of {NODES} (ideal max/mean for random keys ~1)")
    for kind in (HashRing, Maglev, JumpHash, Rendezvous):
        attack(kind, nodes, secret)
    print(f"speed (cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}: shared machine)")
    speed(nodes, secret)


if __name__ == "__main__":
    main()
