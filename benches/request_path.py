# SPDX-License-Identifier: Apache-2.0
"""Request path (docs/request_path.md §7): pick + report through a shared
HealthView against a standalone balancer's pick + report, and lease() against
acquire() + release(), as ratios within one run.

Run: .venv/bin/python benches/request_path.py [N]
(With an older fastroute that has no HealthView, only the baselines print.)
"""
import sys
import time

import fastroute as fr

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
NODES = [f"10.0.0.{i}:8443" for i in range(8)]


def best(fn, repeats=7):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def pair(base_fn, fn, repeats=9):
    """Best of `repeats` for each, interleaved so machine load hits both alike."""
    base, other = [], []
    for _ in range(repeats):
        for fn_, out in ((base_fn, base), (fn, other)):
            t = time.perf_counter()
            fn_()
            out.append(time.perf_counter() - t)
    return min(base), min(other)


def pick_report(sel):
    pick, report = sel.pick, sel.report

    def run():
        for _ in range(N):
            report(pick(), True, 0.001)
    return run


def two_balancers_standalone(a, b):
    # Without a shared view a service reports every outcome to each balancer.
    def run():
        for _ in range(N // 2):
            node = a.pick()
            a.report(node, True, 0.001)
            b.report(node, True, 0.001)
            node = b.pick()
            a.report(node, True, 0.001)
            b.report(node, True, 0.001)
    return run


def two_balancers_shared(a, b, view):
    def run():
        for _ in range(N // 2):
            view.report(a.pick(), True, 0.001)
            view.report(b.pick(), True, 0.001)
    return run


def acquire_release(sel):
    acquire, release = sel.acquire, sel.release

    def run():
        for _ in range(N):
            release(acquire(), True)
    return run


def lease(sel):
    def run():
        for _ in range(N):
            with sel.lease():
                pass
    return run


def row(label, t, base=None):
    ratio = f"{t / base:5.2f}x" if base else "  1.00x (baseline)"
    print(f"{label:58s} {t / N * 1e9:8.0f} ns/op  {ratio}")


def main():
    print(f"fastroute {fr.__version__}, N={N:,}, {len(NODES)} nodes")
    for name, make in (("LeastRequest", lambda **k: fr.LeastRequest(None if "upstream" in k else NODES, seed=1, **k)),
                       ("SmoothWeightedRoundRobin",
                        lambda **k: fr.SmoothWeightedRoundRobin(None if "upstream" in k else NODES, **k))):
        for health in ("envoy", "none"):
            if health == "none" and not hasattr(fr, "HealthView"):
                continue
            if not hasattr(fr, "HealthView"):
                row(f"{name} standalone pick+report [{health}]", best(pick_report(make(health=health))))
                continue
            view = fr.HealthView(NODES, health=health)
            base, t = pair(pick_report(make(health=health)), pick_report(make(upstream=view)))
            row(f"{name} standalone pick+report [{health}]", base)
            row(f"{name} over a HealthView pick+report [{health}]", t, base)
    a, b = fr.LeastRequest(NODES, seed=1, health="envoy"), fr.PeakEWMA(NODES, seed=2, health="envoy")
    if hasattr(fr, "HealthView"):
        view = fr.HealthView(NODES)
        base, t = pair(two_balancers_standalone(a, b), two_balancers_shared(
            fr.LeastRequest(upstream=view, seed=1), fr.PeakEWMA(upstream=view, seed=2), view))
        row("2 standalone balancers, each outcome reported to both", base)
        row("2 balancers over one HealthView, one report per outcome", t, base)
    for health in ("nginx", "envoy"):
        sel = fr.LeastConnections(NODES, health=health)
        base, t = pair(acquire_release(sel), lease(sel))
        row(f"LeastConnections acquire+release [{health}]", base)
        row(f"LeastConnections with lease() [{health}]", t, base)


if __name__ == "__main__":
    main()
