# SPDX-License-Identifier: Apache-2.0
"""`fastroute bench`: measures this machine, every algorithm per call and per
batch, one thread and all threads; with `compare`, installed peers in the same
run and the ratios against them."""
from __future__ import annotations

import os
import platform
import time
import timeit
from collections.abc import Callable

import numpy as np

from ._version import __version__

NODE_COUNT = 100


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    import fastroute

    env = {
        "fastroute": __version__,
        "rust_build_profile": fastroute.RUST_BUILD_PROFILE,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }
    try:
        import pyarrow

        env["pyarrow"] = pyarrow.__version__
    except ImportError:
        pass
    return env


def _per_call_ns(fn: Callable, arg, number: int, repeat: int) -> float:
    timer = timeit.Timer("f(a)", globals={"f": fn, "a": arg})
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def _batch_seconds(fn: Callable, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run(quick: bool = False, compare: bool = False) -> dict:
    """Returns {"environment": ..., "results": [rows], "comparisons": [rows]}."""
    import fastroute

    n_batch = 200_000 if quick else 2_000_000
    number, repeat = (20_000, 3) if quick else (200_000, 5)
    names = [f"10.0.{i // 256}.{i % 256}:8443" for i in range(NODE_COUNT)]
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**64 - 1, size=n_batch, dtype=np.uint64, endpoint=True)
    str_keys = [f"card-{v:012d}" for v in rng.integers(0, 10**12, size=n_batch)]
    key = "card-000000123456"
    placements = {
        "ring": fastroute.HashRing(names),
        "maglev": fastroute.Maglev(names),
        "jump": fastroute.JumpHash(names),
        "rendezvous": fastroute.Rendezvous(names),
    }
    results = []
    for name, p in placements.items():
        batch_n = n_batch if name != "rendezvous" else n_batch // 20  # O(nodes) per key
        h, ks = hashes[:batch_n], str_keys[:batch_n]
        row = {"algorithm": name, "nodes": NODE_COUNT, "get_node_str_ns": _per_call_ns(p.get_node, key, number, repeat)}
        for threads, label in ((1, "1t"), (None, "all")):
            t = _batch_seconds(lambda: p.route_hashed(h, threads=threads), repeat)
            row[f"route_hashed_{label}_Mkeys_s"] = batch_n / t / 1e6
            t = _batch_seconds(lambda: p.route(ks, threads=threads), repeat)
            row[f"route_str_list_{label}_Mkeys_s"] = batch_n / t / 1e6
        results.append(row)
    build = {
        "ring_1000x160_ms": _batch_seconds(lambda: fastroute.HashRing([f"n{i}" for i in range(1000)]), repeat) * 1e3,
        "maglev_1000_ms": _batch_seconds(lambda: fastroute.Maglev([f"n{i}" for i in range(1000)]), repeat) * 1e3,
    }
    swrr = fastroute.SmoothWeightedRoundRobin([f"n{i}" for i in range(7)], [1, 2, 3, 5, 1, 8, 2])
    balancers = {
        "swrr_pick_ns": min(timeit.Timer("p()", globals={"p": swrr.pick}).repeat(repeat, number)) / number * 1e9,
        "swrr_pick_many_Mpicks_s": n_batch / _batch_seconds(lambda: swrr.pick_many(n_batch), repeat) / 1e6,
    }
    out = {"environment": environment(), "quick": quick, "batch_keys": n_batch, "results": results,
           "build": build, "balancers": balancers, "comparisons": []}
    if compare:
        out["comparisons"] = _compare(placements, names, key, hashes, number, repeat)
    return out


def _compare(placements, names, key, hashes, number, repeat) -> list[dict]:
    rows = []
    ours = _per_call_ns(placements["ring"].get_node, key, number, repeat)
    try:
        import uhashring

        theirs = _per_call_ns(uhashring.HashRing(names).get_node, key, max(number // 10, 1000), repeat)
        rows.append({"what": "get_node(str), 100-node ring", "peer": "uhashring", "peer_ns": theirs,
                     "fastroute_ns": ours, "speedup": theirs / ours})
    except ImportError:
        rows.append({"what": "get_node(str)", "peer": "uhashring", "missing": True})
    try:
        import jump

        sample = hashes[:100_000].tolist()
        t_peer = _batch_seconds(lambda: [jump.hash(k, len(names)) for k in sample], repeat) / len(sample)
        t_ours = _batch_seconds(lambda: placements["jump"].route_hashed(hashes[:100_000], threads=1), repeat) / len(sample)
        rows.append({"what": "jump per key (batch of 100k)", "peer": "jump-consistent-hash", "peer_ns": t_peer * 1e9,
                     "fastroute_ns": t_ours * 1e9, "speedup": t_peer / t_ours})
    except ImportError:
        rows.append({"what": "jump", "peer": "jump-consistent-hash", "missing": True})
    route = _searchsorted_ring(names)
    t_peer = _batch_seconds(lambda: route(hashes), repeat) / len(hashes)
    t_ours = _batch_seconds(lambda: placements["ring"].route_hashed(hashes, threads=1), repeat) / len(hashes)
    rows.append({"what": f"ring route_hashed ({len(hashes)} keys, 1 thread)", "peer": "numpy searchsorted ring",
                 "peer_ns": t_peer * 1e9, "fastroute_ns": t_ours * 1e9, "speedup": t_peer / t_ours})
    return rows


def _searchsorted_ring(names: list[str], points_per_node: int = 160):
    import fastroute

    keys = [f"{name}_{j}" for name in names for j in range(points_per_node)]
    points = fastroute.hash_keys(keys)
    owners = np.repeat(np.arange(len(names), dtype=np.int32), points_per_node)
    order = np.argsort(points, kind="stable")
    points, owners = points[order], owners[order]

    def route(h: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(points, h, side="left")
        idx[idx == len(points)] = 0
        return owners[idx]

    return route


def format_table(report: dict) -> str:
    env = report["environment"]
    lines = [
        f"fastroute {env['fastroute']} ({env['rust_build_profile']}) on {env['cpu_model']}, "
        f"{env['affinity']} cores, Python {env['python']}, numpy {env['numpy']}",
        f"batches of {report['batch_keys']:,} keys (rendezvous: 1/20), {NODE_COUNT} nodes",
        f"{'algorithm':<11} {'get_node ns':>11} {'hashed 1t':>10} {'hashed all':>11} {'str 1t':>8} {'str all':>8}  (M keys/s)",
    ]
    for r in report["results"]:
        lines.append(f"{r['algorithm']:<11} {r['get_node_str_ns']:>11.0f} {r['route_hashed_1t_Mkeys_s']:>10.1f} "
                     f"{r['route_hashed_all_Mkeys_s']:>11.1f} {r['route_str_list_1t_Mkeys_s']:>8.1f} "
                     f"{r['route_str_list_all_Mkeys_s']:>8.1f}")
    b = report["build"]
    lines.append(f"build: ring 1000x160 {b['ring_1000x160_ms']:.1f} ms, maglev 1000 nodes {b['maglev_1000_ms']:.1f} ms")
    s = report["balancers"]
    lines.append(f"smooth weighted RR: pick {s['swrr_pick_ns']:.0f} ns, pick_many {s['swrr_pick_many_Mpicks_s']:.0f} M picks/s")
    for c in report["comparisons"]:
        if c.get("missing"):
            lines.append(f"compare {c['what']}: {c['peer']} not installed")
        else:
            lines.append(f"compare {c['what']}: {c['peer']} {c['peer_ns']:.1f} ns vs fastroute "
                         f"{c['fastroute_ns']:.1f} ns -> {c['speedup']:.1f}x")
    return "\n".join(lines)
