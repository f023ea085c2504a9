# SPDX-License-Identifier: Apache-2.0
"""Pure-Python reference of Envoy's priority load, panic and zone-aware rules
(envoyproxy/envoy source/common/upstream/load_balancer_impl.cc, v1.14+:
recalculatePerPriorityState, recalculatePerPriorityPanic, recalculateLoadInTotalPanic,
isHostSetInPanic, regenerateLocalityRoutingStructures, tryChooseLocalLocalityHosts;
docs/multi_region.md §2–§4). Written from the prose and pseudo-code; the
compiled kernel (cext/fastroute/balancers/locality.pxd) must agree exactly."""
from __future__ import annotations


def priority_loads(healthy, degraded, hosts, overprovisioning=140, panic_threshold=50):
    levels = len(hosts)
    health = [min(100, overprovisioning * h // n) if n else 0 for h, n in zip(healthy, hosts)]
    dhealth = [min(100, overprovisioning * d // n) if n else 0 for d, n in zip(degraded, hosts)]
    normalized = min(100, sum(health) + sum(dhealth))
    hload, dload = [0] * levels, [0] * levels
    if normalized:
        left = 100
        for i in range(levels):
            hload[i] = min(left, health[i] * 100 // normalized)
            left -= hload[i]
        for i in range(levels):
            dload[i] = min(left, dhealth[i] * 100 // normalized)
            left -= dload[i]
        if left:
            first_h = next((i for i in range(levels) if health[i] > 0), None)
            if first_h is not None:
                hload[first_h] += left
            else:
                dload[next(i for i in range(levels) if dhealth[i] > 0)] += left
    panic = [False] * levels
    if panic_threshold == 0 and normalized == 0:
        hload[0] = 100
        return tuple(health), tuple(dhealth), tuple(hload), tuple(dload), tuple(panic)
    for i in range(levels):
        pct = (100.0 * healthy[i] / hosts[i] + 100.0 * degraded[i] / hosts[i]) if hosts[i] else 0.0
        panic[i] = normalized != 100 and panic_threshold != 0 and pct < panic_threshold
    if all(panic):
        total = sum(hosts)
        hload = [100 * n // total for n in hosts]
        dload = [0] * levels
        hload[next(i for i in range(levels) if hosts[i])] += 100 - sum(hload)
    return tuple(health), tuple(dhealth), tuple(hload), tuple(dload), tuple(panic)


def zone_routing(local_hosts, upstream_healthy, min_cluster_size=6):
    """(state, local_percent_to_route, residual) — state 0 none, 1 direct, 2 residual."""
    k = len(local_hosts)
    if k < 2 or upstream_healthy[0] == 0 or sum(upstream_healthy) < min_cluster_size:
        return 0, 0, (0,) * k
    lt, ut = sum(local_hosts), sum(upstream_healthy)
    lp = [10000 * x // lt if lt else 0 for x in local_hosts]
    up = [10000 * x // ut for x in upstream_healthy]
    if up[0] >= lp[0]:
        return 1, 0, (0,) * k
    residual = [0] * k
    for i in range(1, k):
        residual[i] = residual[i - 1] + max(0, up[i] - lp[i])
    return 2, up[0] * 10000 // lp[0], tuple(residual)


def zone_shares(state, local_percent, residual):
    """Exact probability of each locality under tryChooseLocalLocalityHosts, with
    uniform draws: % 10000 for the local share, then a threshold uniform in
    [0, residual[-1]) scanned with `while threshold > residual[i]`."""
    k = len(residual)
    if state == 1:
        return [1.0] + [0.0] * (k - 1)
    local = local_percent / 10000
    cross = 1 - local
    total = residual[-1]
    shares = [0.0] * k
    shares[0] = local
    if total == 0:
        for i in range(k):
            shares[i] += cross / k
        return shares
    for t in range(total):  # small totals in tests; exact count of thresholds per locality
        i = 0
        while t > residual[i]:
            i += 1
        shares[i] += cross / total
    return shares
