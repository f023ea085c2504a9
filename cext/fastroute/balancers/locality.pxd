# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Priority levels, panic per level, zone-aware and locality-weighted choice:
Envoy's rules as plain `noexcept nogil` functions over C arrays
(docs/multi_region.md §2–§4). Integer arithmetic where Envoy uses integers, so
the loads are the same numbers Envoy computes."""
from libc.stdint cimport int32_t, int64_t, uint64_t

from fastroute.balancers.rng cimport rng_below

cdef enum:
    ZONE_NO_ROUTING = 0          # Envoy LocalityRoutingState::NoLocalityRouting
    ZONE_DIRECT = 1              # LocalityDirect: every request to the local zone
    ZONE_RESIDUAL = 2            # LocalityResidual: a share local, the rest by residual capacity


cdef inline int64_t level_availability(int64_t overprovisioning, int64_t count, int64_t hosts) noexcept nogil:
    # Envoy recalculatePerPriorityState: min(100, factor% × count / hosts), integer division.
    cdef int64_t v
    if hosts <= 0:
        return 0
    v = overprovisioning * count // hosts
    return 100 if v > 100 else v


cdef inline int32_t distribute_load(int64_t *load, const int64_t *availability, Py_ssize_t levels,
                                    int64_t *total_load, int64_t normalized) noexcept nogil:
    """Envoy distributeLoad: each level takes min(left, availability × 100 / normalized),
    highest priority first; returns the first level with availability > 0 (-1 if none)."""
    cdef int32_t first = -1
    cdef Py_ssize_t i
    cdef int64_t share
    for i in range(levels):
        if first < 0 and availability[i] > 0:
            first = <int32_t>i
        share = availability[i] * 100 // normalized
        if share > total_load[0]:
            share = total_load[0]
        load[i] = share
        total_load[0] -= share
    return first


cdef inline bint level_in_panic(int64_t healthy, int64_t degraded, int64_t hosts, int64_t threshold) noexcept nogil:
    # Envoy isHostSetInPanic: (100·healthy/hosts + 100·degraded/hosts) < threshold, in doubles.
    cdef double h = 0.0, d = 0.0
    if threshold == 0:
        return False
    if hosts > 0:
        h = 100.0 * healthy / hosts
        d = 100.0 * degraded / hosts
    return h + d < threshold


cdef inline void priority_loads(Py_ssize_t levels, const int64_t *healthy, const int64_t *degraded,
                                const int64_t *hosts, int64_t overprovisioning, int64_t panic_threshold,
                                int64_t *health, int64_t *degraded_health, int64_t *healthy_load,
                                int64_t *degraded_load, unsigned char *panic) noexcept nogil:
    """Per level: health, degraded availability, healthy and degraded load (percent,
    summing to 100) and panic flag, as Envoy's LoadBalancerBase computes them
    (recalculatePerPriorityState, recalculatePerPriorityPanic, recalculateLoadInTotalPanic)."""
    cdef Py_ssize_t i
    cdef int64_t normalized = 0, left = 100, all_hosts = 0
    cdef int32_t first_healthy, first_degraded, first_nonempty = -1
    cdef bint total_panic = True
    for i in range(levels):
        health[i] = level_availability(overprovisioning, healthy[i], hosts[i])
        degraded_health[i] = level_availability(overprovisioning, degraded[i], hosts[i])
        normalized += health[i] + degraded_health[i]
        healthy_load[i] = 0
        degraded_load[i] = 0
        panic[i] = 0
        all_hosts += hosts[i]
    if normalized > 100:
        normalized = 100
    if normalized > 0:
        first_healthy = distribute_load(healthy_load, health, levels, &left, normalized)
        first_degraded = distribute_load(degraded_load, degraded_health, levels, &left, normalized)
        if left != 0:  # rounding: to the first healthy level, else the first degraded one
            if first_healthy >= 0:
                healthy_load[first_healthy] += left
            else:
                degraded_load[first_degraded] += left
    if panic_threshold == 0 and normalized == 0:
        healthy_load[0] = 100  # nothing can serve; Envoy keeps the loads summing to 100
        return
    for i in range(levels):
        # Never panic while the levels together can take all the load.
        panic[i] = normalized != 100 and level_in_panic(healthy[i], degraded[i], hosts[i], panic_threshold)
        total_panic = total_panic and panic[i]
    if not total_panic:
        return
    # Every level in panic: load by host count, regardless of health; rounding to the first non-empty level.
    if all_hosts == 0:
        healthy_load[0] = 100
        return
    left = 100
    for i in range(levels):
        if first_nonempty < 0 and hosts[i] != 0:
            first_nonempty = <int32_t>i
        healthy_load[i] = 100 * hosts[i] // all_hosts
        degraded_load[i] = 0
        left -= healthy_load[i]
    healthy_load[first_nonempty] += left


cdef inline Py_ssize_t choose_priority(uint64_t draw, const int64_t *healthy_load, const int64_t *degraded_load,
                                       Py_ssize_t levels, bint *use_degraded) noexcept nogil:
    """Envoy choosePriority: draw % 100 + 1 against the running sum, healthy loads
    first, then degraded loads."""
    cdef int64_t point = <int64_t>(draw % 100) + 1, running = 0
    cdef Py_ssize_t i
    use_degraded[0] = False
    for i in range(levels):
        running += healthy_load[i]
        if point <= running:
            return i
    use_degraded[0] = True
    for i in range(levels):
        running += degraded_load[i]
        if point <= running:
            return i
    use_degraded[0] = False
    return 0


cdef inline double locality_effective_weight(double weight, int64_t overprovisioning, int64_t eligible,
                                             int64_t hosts) noexcept nogil:
    # Envoy HostSetImpl::effectiveLocalityWeight: weight × min(1, factor/100 × eligible/hosts).
    cdef double ratio
    if hosts <= 0:
        return 0.0
    ratio = (overprovisioning / 100.0) * (1.0 * eligible / hosts)
    return weight * (1.0 if ratio > 1.0 else ratio)


cdef inline Py_ssize_t pick_weighted(uint64_t *rng, const double *weights, Py_ssize_t count,
                                     double total) noexcept nogil:
    """Index in [0, count) with probability weights[i] / total (total > 0): one
    53-bit uniform draw, linear scan (localities are few)."""
    cdef double point = (rng_below(rng, <uint64_t>1 << 53) * (1.0 / 9007199254740992.0)) * total
    cdef double running = 0.0
    cdef Py_ssize_t i, last = -1
    for i in range(count):
        if weights[i] > 0.0:
            running += weights[i]
            last = i
            if point < running:
                return i
    return last


cdef inline int zone_routing_state(Py_ssize_t localities, const int64_t *local_hosts,
                                   const int64_t *upstream_healthy, int64_t min_cluster_size,
                                   int64_t *local_percent_to_route, int64_t *residual) noexcept nogil:
    """Envoy regenerateLocalityRoutingStructures + earlyExitNonLocalityRouting for
    P=0; index 0 is the local locality. Percentages in basis points (10000)."""
    cdef Py_ssize_t i
    cdef int64_t local_total = 0, upstream_total = 0, lp, up
    if localities < 2 or upstream_healthy[0] == 0:
        return ZONE_NO_ROUTING
    for i in range(localities):
        local_total += local_hosts[i]
        upstream_total += upstream_healthy[i]
    if upstream_total < min_cluster_size:
        return ZONE_NO_ROUTING
    lp = 10000 * local_hosts[0] // local_total if local_total > 0 else 0
    up = 10000 * upstream_healthy[0] // upstream_total
    if up >= lp:
        return ZONE_DIRECT
    local_percent_to_route[0] = up * 10000 // lp
    residual[0] = 0
    for i in range(1, localities):
        lp = 10000 * local_hosts[i] // local_total if local_total > 0 else 0
        up = 10000 * upstream_healthy[i] // upstream_total
        residual[i] = residual[i - 1] + (up - lp if up > lp else 0)
    return ZONE_RESIDUAL


cdef inline Py_ssize_t zone_choose(uint64_t *rng, int state, Py_ssize_t localities,
                                   int64_t local_percent_to_route, const int64_t *residual) noexcept nogil:
    """Envoy tryChooseLocalLocalityHosts: the local locality for the routable share,
    else by residual capacity — `while threshold > residual[i]` as Envoy scans, so a
    threshold of 0 lands on the local locality (Envoy's own TODO notes it)."""
    cdef uint64_t threshold
    cdef Py_ssize_t i = 0
    if state == ZONE_DIRECT:
        return 0
    if <int64_t>rng_below(rng, 10000) < local_percent_to_route:
        return 0
    if residual[localities - 1] == 0:
        return <Py_ssize_t>rng_below(rng, <uint64_t>localities)
    threshold = rng_below(rng, <uint64_t>residual[localities - 1])
    while <int64_t>threshold > residual[i]:
        i += 1
    return i
