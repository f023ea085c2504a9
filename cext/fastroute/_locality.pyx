# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""fastroute._locality: priority levels, per-level panic, zone-aware and
locality-weighted choice over one HealthView (docs/multi_region.md §2–§5).

A `LocalityCore` holds ordinary balancers built over the same view; each one is
restricted to a subset of the view's nodes (a locality's healthy or degraded
members, a level's members, a level in panic) through `Balancer.override_mask`.
A pick, under the view's mutex and without Python objects: refresh the view if
due; when the view moved, recount health per level and locality and recompute
Envoy's loads; choose the level, then the locality, then let that subset's
balancer choose the node. Arguments arrive validated by fastroute.locality.
"""
cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject
from libc.stdint cimport UINT64_MAX, int32_t, int64_t, uint64_t
from libc.string cimport memset

from fastroute._cext cimport Balancer, HealthView
from fastroute.balancers.locality cimport (
    ZONE_NO_ROUTING, choose_priority, locality_effective_weight, pick_weighted, priority_loads, zone_choose,
    zone_routing_state,
)
from fastroute.balancers.rng cimport rng_below, rng_next
from fastroute.health.core cimport ADMIN_UP

from fastroute._cext import NoHealthyNode

# Sub-balancer slots: per locality group g: 2g healthy, 2g + 1 degraded; per level l,
# after the groups: healthy, degraded, all (panic).
cdef enum:
    LEVEL_HEALTHY = 0
    LEVEL_DEGRADED = 1
    LEVEL_ALL = 2


def envoy_priority_loads(healthy, degraded, hosts, long long overprovisioning=140, long long panic_threshold=50):
    """(health, degraded_health, healthy_load, degraded_load, panic) per level for
    host counts per level, as Envoy computes them (docs/multi_region.md §2)."""
    cdef Py_ssize_t levels = len(hosts), i
    if levels == 0 or len(healthy) != levels or len(degraded) != levels:
        raise ValueError("hosts, healthy, degraded: one count per level, at least one level")
    cdef int64_t *buf = <int64_t *>PyMem_Malloc(sizeof(int64_t) * 7 * levels)
    cdef unsigned char *panic = <unsigned char *>PyMem_Malloc(levels)
    if buf == NULL or panic == NULL:
        PyMem_Free(buf)
        PyMem_Free(panic)
        raise MemoryError()
    try:
        for i in range(levels):
            buf[i] = healthy[i]
            buf[levels + i] = degraded[i]
            buf[2 * levels + i] = hosts[i]
        priority_loads(levels, buf, buf + levels, buf + 2 * levels, overprovisioning, panic_threshold,
                       buf + 3 * levels, buf + 4 * levels, buf + 5 * levels, buf + 6 * levels, panic)
        return (tuple(buf[3 * levels + i] for i in range(levels)), tuple(buf[4 * levels + i] for i in range(levels)),
                tuple(buf[5 * levels + i] for i in range(levels)), tuple(buf[6 * levels + i] for i in range(levels)),
                tuple(bool(panic[i]) for i in range(levels)))
    finally:
        PyMem_Free(buf)
        PyMem_Free(panic)


def envoy_zone_routing(local_hosts, upstream_healthy, long long min_cluster_size=6):
    """(state, local_percent_to_route, residual_capacity) of Envoy's zone-aware
    routing; index 0 is the local locality; state 0 none, 1 direct, 2 residual."""
    cdef Py_ssize_t k = len(local_hosts), i
    if k == 0 or len(upstream_healthy) != k:
        raise ValueError("local_hosts, upstream_healthy: one count per locality, local first")
    cdef int64_t *buf = <int64_t *>PyMem_Malloc(sizeof(int64_t) * 3 * k)
    cdef int64_t local_percent = 0
    cdef int state
    if buf == NULL:
        raise MemoryError()
    try:
        for i in range(k):
            buf[i] = local_hosts[i]
            buf[k + i] = upstream_healthy[i]
            buf[2 * k + i] = 0
        state = zone_routing_state(k, buf, buf + k, min_cluster_size, &local_percent, buf + 2 * k)
        return state, local_percent, tuple(buf[2 * k + i] for i in range(k))
    finally:
        PyMem_Free(buf)


cdef class LocalityCore:
    """The compiled part of fastroute.LocalityBalancer (subclassed there)."""

    cdef readonly HealthView view
    cdef readonly tuple nodes
    cdef list subs                        # keeps the sub-balancers alive
    cdef Balancer first_sub               # typed: the clock question needs no cast per pick
    cdef PyObject **sub                   # borrowed from `subs`
    cdef Py_ssize_t n, levels, groups, n_subs
    cdef void *memory
    # per node
    cdef int32_t *level_of
    cdef int32_t *group_of
    cdef unsigned char *degraded
    # per locality group (groups of one level are contiguous, in level order)
    cdef int32_t *group_level
    cdef double *group_weight
    cdef int64_t *group_hosts
    cdef int64_t *group_healthy
    cdef int64_t *group_degraded
    cdef double *eff_healthy
    cdef double *eff_degraded
    # per level
    cdef int32_t *level_first_group
    cdef int32_t *level_group_count
    cdef int64_t *level_hosts
    cdef int64_t *level_healthy
    cdef int64_t *level_degraded
    cdef int64_t *health
    cdef int64_t *degraded_health
    cdef int64_t *healthy_load
    cdef int64_t *degraded_load
    cdef unsigned char *panic
    # per sub-balancer: its eligibility mask and candidate array
    cdef unsigned char *masks
    cdef int32_t *candidates
    # settings
    cdef int64_t overprovisioning, panic_threshold
    cdef bint locality_weighted
    cdef bint zone_aware
    cdef int64_t *local_hosts             # per P=0 group (the local one first)
    cdef int64_t *residual
    cdef int64_t min_cluster_size, routing_enabled
    cdef int zone_state
    cdef int64_t local_percent
    # state
    cdef uint64_t seen_generation
    cdef bint stale
    cdef Py_ssize_t whole_level            # a level with 100 % healthy load, else -1 (skips the draw)
    cdef uint64_t rng

    def __cinit__(self, HealthView view, list subs, const int32_t[::1] level_of, const int32_t[::1] group_of,
                  const int32_t[::1] group_level, const double[::1] group_weight, long long overprovisioning,
                  long long panic_threshold, bint locality_weighted, local_hosts, long long min_cluster_size,
                  long long routing_enabled, unsigned long long seed):
        cdef Py_ssize_t n = len(view.nodes), i, g, l, s
        cdef Py_ssize_t groups = group_level.shape[0]
        cdef Py_ssize_t levels = 0
        if level_of.shape[0] != n or group_of.shape[0] != n or group_weight.shape[0] != groups or groups == 0:
            raise ValueError("level_of, group_of: one entry per node; group_level, group_weight: one per group")
        for g in range(groups):
            if group_level[g] + 1 > levels:
                levels = group_level[g] + 1
        if view.panic_threshold != 0.0:
            # The view's own panic would mark unhealthy nodes eligible and hide the health
            # the levels are computed from; panic is per level here (docs/multi_region.md §2.2).
            raise ValueError("view: its panic_threshold must be 0; LocalityBalancer applies Envoy's panic per "
                             "priority level (panic_threshold= on the LocalityBalancer)")
        self.view, self.nodes, self.n, self.groups, self.levels = view, view.nodes, n, groups, levels
        self.n_subs = 2 * groups + 3 * levels
        if len(subs) != self.n_subs:
            raise ValueError(f"subs: expected {self.n_subs} balancers over the view")
        for b in subs:
            if not isinstance(b, Balancer) or (<Balancer>b).view is not view or (<Balancer>b).override_mask != NULL:
                raise ValueError("subs: balancers over this view, not already restricted")
        self.subs = subs
        self.first_sub = <Balancer>subs[0]
        cdef size_t size = (n * (4 + 4 + 1) + groups * (4 + 8 * 6) + levels * (4 * 2 + 8 * 7 + 1)
                            + self.n_subs * n * (1 + 4) + groups * 8 * 2 + 64 + self.n_subs * sizeof(PyObject *))
        self.memory = PyMem_Malloc(size)
        if self.memory == NULL:
            raise MemoryError()
        memset(self.memory, 0, size)
        cdef char *p = <char *>self.memory
        self.sub = <PyObject **>p; p += self.n_subs * sizeof(PyObject *)
        self.group_weight = <double *>p; p += 8 * groups
        self.group_hosts = <int64_t *>p; p += 8 * groups
        self.group_healthy = <int64_t *>p; p += 8 * groups
        self.group_degraded = <int64_t *>p; p += 8 * groups
        self.eff_healthy = <double *>p; p += 8 * groups
        self.eff_degraded = <double *>p; p += 8 * groups
        self.local_hosts = <int64_t *>p; p += 8 * groups
        self.residual = <int64_t *>p; p += 8 * groups
        self.level_hosts = <int64_t *>p; p += 8 * levels
        self.level_healthy = <int64_t *>p; p += 8 * levels
        self.level_degraded = <int64_t *>p; p += 8 * levels
        self.health = <int64_t *>p; p += 8 * levels
        self.degraded_health = <int64_t *>p; p += 8 * levels
        self.healthy_load = <int64_t *>p; p += 8 * levels
        self.degraded_load = <int64_t *>p; p += 8 * levels
        self.candidates = <int32_t *>p; p += 4 * n * self.n_subs
        self.level_of = <int32_t *>p; p += 4 * n
        self.group_of = <int32_t *>p; p += 4 * n
        self.group_level = <int32_t *>p; p += 4 * groups
        self.level_first_group = <int32_t *>p; p += 4 * levels
        self.level_group_count = <int32_t *>p; p += 4 * levels
        self.masks = <unsigned char *>p; p += n * self.n_subs
        self.degraded = <unsigned char *>p; p += n
        self.panic = <unsigned char *>p; p += levels
        for i in range(n):
            self.level_of[i] = level_of[i]
            self.group_of[i] = group_of[i]
        for l in range(levels):
            self.level_first_group[l] = -1
        for g in range(groups):
            self.group_level[g] = group_level[g]
            self.group_weight[g] = group_weight[g]
            l = group_level[g]
            if self.level_first_group[l] < 0:
                self.level_first_group[l] = <int32_t>g
            self.level_group_count[l] += 1
        self.overprovisioning, self.panic_threshold = overprovisioning, panic_threshold
        self.locality_weighted = locality_weighted
        self.zone_aware = local_hosts is not None
        if self.zone_aware:
            if len(local_hosts) != self.level_group_count[0]:
                raise ValueError("local_hosts: one count per locality of priority 0")
            for g in range(self.level_group_count[0]):
                self.local_hosts[g] = local_hosts[g]
        self.min_cluster_size, self.routing_enabled = min_cluster_size, routing_enabled
        self.rng = seed
        self.seen_generation = UINT64_MAX
        self.stale = True
        for s in range(self.n_subs):
            self.sub[s] = <PyObject *>subs[s]
            (<Balancer>subs[s]).override_mask = self.masks + s * n
            (<Balancer>subs[s]).override_candidates = self.candidates + s * n
            (<Balancer>subs[s]).seen_generation = UINT64_MAX

    def __dealloc__(self):
        cdef Py_ssize_t s
        if self.subs is not None and self.memory != NULL:
            for s in range(self.n_subs):
                (<Balancer>self.subs[s]).override_mask = NULL
                (<Balancer>self.subs[s]).override_candidates = NULL
        PyMem_Free(self.memory)

    # ------------------------------------------------------------ recompute
    cdef void recompute(self) noexcept:
        """Health per locality and level from the view's last refresh, Envoy's
        loads and panic flags, zone state, locality weights, subset masks."""
        cdef HealthView v = self.view
        cdef Py_ssize_t i, g, l, s, first
        cdef bint eligible, serves
        cdef unsigned char *m
        for g in range(self.groups):
            self.group_hosts[g] = 0
            self.group_healthy[g] = 0
            self.group_degraded[g] = 0
        for l in range(self.levels):
            self.level_hosts[l] = 0
            self.level_healthy[l] = 0
            self.level_degraded[l] = 0
        memset(self.masks, 0, self.n * self.n_subs)
        for i in range(self.n):
            g = self.group_of[i]
            l = self.level_of[i]
            self.group_hosts[g] += 1
            self.level_hosts[l] += 1
            eligible = v.eligible_mask[i] != 0
            if eligible and self.degraded[i]:
                self.group_degraded[g] += 1
                self.level_degraded[l] += 1
                self.masks[(2 * g + 1) * self.n + i] = 1
                self.masks[(2 * self.groups + 3 * l + LEVEL_DEGRADED) * self.n + i] = 1
            elif eligible:
                self.group_healthy[g] += 1
                self.level_healthy[l] += 1
                self.masks[(2 * g) * self.n + i] = 1
                self.masks[(2 * self.groups + 3 * l + LEVEL_HEALTHY) * self.n + i] = 1
            # Panic serves every member of the level the view's rule 1 allows (not down,
            # draining, in maintenance, agent-down or at 0 %), healthy or not.
            serves = v.admin[i] == ADMIN_UP and not v.agent_down[i] and v.weight_percent[i] > 0.0
            if serves:
                self.masks[(2 * self.groups + 3 * l + LEVEL_ALL) * self.n + i] = 1
        priority_loads(self.levels, self.level_healthy, self.level_degraded, self.level_hosts, self.overprovisioning,
                       self.panic_threshold, self.health, self.degraded_health, self.healthy_load, self.degraded_load,
                       self.panic)
        for g in range(self.groups):
            self.eff_healthy[g] = locality_effective_weight(self.group_weight[g], self.overprovisioning,
                                                            self.group_healthy[g], self.group_hosts[g])
            self.eff_degraded[g] = locality_effective_weight(self.group_weight[g], self.overprovisioning,
                                                             self.group_degraded[g], self.group_hosts[g])
        if self.zone_aware:
            first = self.level_first_group[0]
            self.zone_state = zone_routing_state(self.level_group_count[0], self.local_hosts,
                                                 self.group_healthy + first, self.min_cluster_size,
                                                 &self.local_percent, self.residual)
        self.whole_level = -1
        for l in range(self.levels):
            if self.healthy_load[l] == 100:
                self.whole_level = l
        for s in range(self.n_subs):
            (<Balancer>self.sub[s]).seen_generation = UINT64_MAX
        self.seen_generation = v.generation
        self.stale = False

    cdef Py_ssize_t choose_sub(self) noexcept nogil:
        """The sub-balancer for the next request (Envoy hostSourceToUse)."""
        cdef bint use_degraded = False
        cdef Py_ssize_t p = self.whole_level
        if p < 0:
            p = choose_priority(rng_next(&self.rng), self.healthy_load, self.degraded_load, self.levels,
                                &use_degraded)
        cdef Py_ssize_t first = self.level_first_group[p], count = self.level_group_count[p], k
        cdef double total = 0.0
        cdef double *eff
        cdef Py_ssize_t level_slot = 2 * self.groups + 3 * p
        if self.panic[p]:
            return level_slot + LEVEL_ALL
        if self.locality_weighted:
            eff = self.eff_degraded if use_degraded else self.eff_healthy
            for k in range(count):
                total += eff[first + k]
            if total > 0.0:
                k = pick_weighted(&self.rng, eff + first, count, total)
                return 2 * (first + k) + (1 if use_degraded else 0)
        elif p == 0 and self.zone_aware and self.zone_state != ZONE_NO_ROUTING:
            if self.routing_enabled >= 100 or <int64_t>rng_below(&self.rng, 100) < self.routing_enabled:
                k = zone_choose(&self.rng, self.zone_state, count, self.local_percent, self.residual)
                return 2 * (first + k) + (1 if use_degraded else 0)
        return level_slot + (LEVEL_DEGRADED if use_degraded else LEVEL_HEALTHY)

    cdef Py_ssize_t pick_locked(self, double now) noexcept:
        # Holds the GIL (sub-balancers are Python objects) and the view's mutex; the
        # kernels it calls are nogil.
        cdef HealthView v = self.view
        cdef Py_ssize_t s, idx
        if v.dirty or now >= v.next_expiry:
            v.refresh(now)
        if self.stale or self.seen_generation != v.generation:
            self.recompute()
        s = self.choose_sub()
        idx = (<Balancer>self.sub[s]).pick_locked(now)
        if idx < 0:
            # A locality chosen by Envoy's rounding fallback may have no eligible member:
            # the level's healthy, degraded, then panic subsets, in that order.
            s = 2 * self.groups + 3 * self.level_of_slot(s)
            idx = (<Balancer>self.sub[s + LEVEL_HEALTHY]).pick_locked(now)
            if idx < 0:
                idx = (<Balancer>self.sub[s + LEVEL_DEGRADED]).pick_locked(now)
        return idx

    cdef Py_ssize_t level_of_slot(self, Py_ssize_t s) noexcept nogil:
        if s < 2 * self.groups:
            return self.group_level[s // 2]
        return (s - 2 * self.groups) // 3

    cdef double _now(self, bint for_pick) except? -1.0:
        if for_pick and not self.first_sub.pick_needs_clock():
            return 0.0
        return self.view._now()

    # ------------------------------------------------------------ Python API
    cdef Py_ssize_t _pick_or_raise(self, bint acquire) except -1:
        cdef double now = self._now(True)
        cdef Py_ssize_t idx
        with self.view.lock:
            idx = self.pick_locked(now)
            if acquire and idx >= 0:
                self.view.inflight[idx] += 1
        if self.view.h.events.count:
            self.view._flush_events()
        if idx < 0:
            raise NoHealthyNode(f"no healthy node among {self.n} at any priority")
        return idx

    def pick_index(self):
        """Index into `.nodes` of the node for the next request."""
        return self._pick_or_raise(False)

    def pick(self):
        """Name of the node for the next request."""
        return self.nodes[self._pick_or_raise(False)]

    def acquire(self):
        """Picks a node and counts one request in flight on it."""
        return self.nodes[self._pick_or_raise(True)]

    def set_degraded(self, Py_ssize_t i, bint flag):
        with self.view.lock:
            if self.degraded[i] != flag:
                self.degraded[i] = flag
                self.stale = True

    def is_degraded(self, Py_ssize_t i):
        return bool(self.degraded[i])

    def loads(self):
        """Envoy's state after the view's latest refresh (docs/multi_region.md §2)."""
        cdef double now = self.view._now()
        cdef Py_ssize_t l, g
        with self.view.lock:
            if self.view.dirty or now >= self.view.next_expiry:
                self.view.refresh(now)
            if self.stale or self.seen_generation != self.view.generation:
                self.recompute()
            out = {
                "health": tuple(self.health[l] for l in range(self.levels)),
                "degraded_health": tuple(self.degraded_health[l] for l in range(self.levels)),
                "healthy_load": tuple(self.healthy_load[l] for l in range(self.levels)),
                "degraded_load": tuple(self.degraded_load[l] for l in range(self.levels)),
                "panic": tuple(bool(self.panic[l]) for l in range(self.levels)),
                "locality_healthy_weight": tuple(self.eff_healthy[g] for g in range(self.groups)),
                "locality_degraded_weight": tuple(self.eff_degraded[g] for g in range(self.groups)),
                "zone_state": self.zone_state if self.zone_aware else 0,
                "local_percent_to_route": self.local_percent if self.zone_aware else 0,
                "residual_capacity": tuple(self.residual[g] for g in range(self.level_group_count[0]))
                if self.zone_aware else (),
            }
        if self.view.h.events.count:
            self.view._flush_events()
        return out
