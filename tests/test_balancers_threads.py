# SPDX-License-Identifier: Apache-2.0
"""Eight threads pick, acquire, release and report on one balancer at once."""
import threading

import numpy as np
import pytest

import fastroute as fr

FACTORIES = {
    "rr": lambda: fr.RoundRobin([f"n{i}" for i in range(5)], health="envoy"),
    "swrr": lambda: fr.SmoothWeightedRoundRobin([f"n{i}" for i in range(5)], [1, 2, 3, 4, 5]),
    "wrandom": lambda: fr.WeightedRandom([f"n{i}" for i in range(5)], [1, 2, 3, 4, 5], seed=1, health="haproxy"),
    "leastconn": lambda: fr.LeastConnections([f"n{i}" for i in range(5)]),
    "leastreq": lambda: fr.LeastRequest([f"n{i}" for i in range(5)], seed=2),
    "ewma": lambda: fr.PeakEWMA([f"n{i}" for i in range(5)], seed=3),
    "haproxy_leastconn": lambda: fr.HAProxyLeastConn([f"n{i}" for i in range(5)], [1, 2, 3, 4, 5]),
    "haproxy_first": lambda: fr.HAProxyFirst([f"n{i}" for i in range(5)], maxconn=[2, 2, 2, 2, 0]),
    "haproxy_random": lambda: fr.HAProxyRandom([f"n{i}" for i in range(5)], [1, 2, 3, 4, 5], seed=4),
}


@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_eight_threads_keep_counters_consistent(kind):
    sel = FACTORIES[kind]()
    errors, acquired = [], [0] * 8

    def worker(t):
        try:
            for k in range(3000):
                try:
                    node = sel.acquire()
                except fr.NoHealthyNode:
                    continue
                acquired[t] += 1
                sel.pick()
                sel.release(node, ok=(k + t) % 17 != 0, latency_s=0.001 * (t + 1))
                if k % 100 == 0:
                    sel.report(node, ok=True)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert sum(acquired) > 0
    assert sel.active() == {f"n{i}": 0 for i in range(5)}  # every acquire matched by one release


def test_smooth_sequence_is_not_torn_by_threads():
    sel = fr.SmoothWeightedRoundRobin(["a", "b", "c", "d"], [4, 3, 2, 1], health={"kind": "nginx", "max_fails": 0})
    out, lock = [], threading.Lock()

    def worker():
        local = [sel.pick_index() for _ in range(2500)] + sel.pick_many(2500).tolist()
        with lock:
            out.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 40 000 picks = 4 000 full periods of 10: exact counts only if no pick interleaved another.
    assert np.bincount(out, minlength=4).tolist() == [16000, 12000, 8000, 4000]
