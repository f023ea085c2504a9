# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Declarations of fastroute's request-time balancers and health view for `cimport`.

A Cython proxy can hold a balancer created in Python and call, without the
GIL and without Python objects:
    idx = balancer.pick_index_c()              # -1: no node can serve
    idx = balancer.acquire_c()                 # pick + in-flight count
    rc  = balancer.release_c(idx, ok, latency) # 0 ok, -1 rejected (state unchanged)
Node names are `balancer.nodes[idx]`.
"""
cimport cython
from libc.stdint cimport int32_t, int64_t, uint64_t

from fastroute.balancers.fwrr cimport FwrrState
from fastroute.balancers.haproxy_lb cimport FwlcState
from fastroute.balancers.least_request cimport EdfState
from fastroute.balancers.swrr cimport SwrrState
from fastroute.health.policy cimport Health

cdef enum:
    EVENT_SLACK = 64                 # event capacity = 2 * nodes + EVENT_SLACK

cdef enum Outcome:
    OUTCOME_NONE = -1                # the request ended without saying anything (cancelled)
    OUTCOME_FAILED = 0
    OUTCOME_OK = 1


cdef enum SlowStartKind:
    SLOW_START_NONE = 0
    SLOW_START_ENVOY = 1             # slow_start_window, aggression, min_weight_percent
    SLOW_START_HAPROXY = 2           # slowstart


cdef class HealthView:
    cdef readonly tuple nodes
    cdef Py_ssize_t n
    cdef dict index_of
    cdef void *memory
    cdef Health h                    # node set, events, checks, the passive policy (selected once)
    cdef unsigned char *is_backup
    cdef Py_ssize_t n_primary
    cdef unsigned char *admin        # AdminState
    cdef unsigned char *agent_down   # HAProxy agent said down / fail / stopped
    cdef double *weight_percent      # HAProxy agent N% (100 by default)
    cdef int64_t *inflight
    cdef uint64_t *load_stamp        # load_clock at each node's last in-flight change (HAProxy leastconn order)
    cdef uint64_t load_clock
    cdef double *cost                # latency peak EWMA (seconds) and its time stamp
    cdef double *stamp
    cdef double decay_s
    cdef bint track_latency
    # slow start
    cdef int slow_start_kind
    cdef double slow_start_window, slow_start_aggression, slow_start_min
    cdef double *up_since
    cdef double *slow_start_factor
    cdef unsigned char *was_available
    # eligibility, rebuilt when state changes or a timer expires
    cdef double panic_threshold
    cdef bint panic
    cdef unsigned char *eligible_mask
    cdef int32_t *candidates
    cdef Py_ssize_t candidate_count
    cdef bint all_eligible
    cdef double next_expiry
    cdef bint dirty
    cdef uint64_t generation         # +1 per refresh: balancers re-read the view when it moves
    cdef uint64_t weight_generation  # +1 per weight-factor change
    # time, notifications
    cdef object clock
    cdef bint python_clock
    cdef object on_state_change
    cdef Py_ssize_t total_dropped_py
    cdef bint private                # made by a standalone balancer
    cdef cython.pymutex lock
    cdef object __weakref__

    cdef double now_c(self) noexcept nogil
    cdef double _now(self) except? -1.0
    cdef bint pick_needs_clock(self) noexcept nogil
    cdef bint outcome_needs_clock(self) noexcept nogil
    cdef double ramp(self, Py_ssize_t i, double now) noexcept nogil
    cdef void refresh(self, double now) noexcept nogil
    cdef void record(self, Py_ssize_t i, bint ok, double now) noexcept nogil
    cdef void observe(self, Py_ssize_t i, double rtt, double now) noexcept nogil
    cdef void check(self, Py_ssize_t i, bint ok) noexcept nogil
    cdef bint failed(self, Py_ssize_t i, double now) noexcept nogil
    cdef void load_changed(self, Py_ssize_t i) noexcept nogil
    cdef int end_request(self, Py_ssize_t i, int outcome, double latency, double now) except -1
    cdef Py_ssize_t _index(self, node) except -1
    cdef bint _ok(self, ok) except -1
    cdef double _latency(self, latency_s) except? -2.0
    cdef int _refresh_now(self) except -1
    cdef str _state_locked(self, Py_ssize_t i, double now)


cdef class Balancer:
    cdef readonly tuple nodes
    cdef Py_ssize_t n
    cdef dict index_of
    cdef HealthView view
    cdef void *memory
    # weights: configured, effective (× agent percent × slow start), scaled
    cdef SwrrState swrr              # weight / effective / current (nginx family)
    cdef double *base_weight
    cdef double *weight_f
    cdef double *weight_scaled       # weight_f × one power of two (max configured in [1, 2)): exact
    cdef int weight_exponent
    cdef int64_t *penalties_seen     # nginx failure penalties already applied to effective weights
    cdef int64_t penalty_total_seen
    cdef uint64_t seen_generation
    cdef uint64_t seen_weight_generation
    # the view's arrays (same memory) and its last refresh as this balancer took it up
    cdef int64_t *inflight
    cdef unsigned char *eligible_mask
    cdef int32_t *candidates
    cdef Py_ssize_t candidate_count
    cdef bint all_eligible           # every node eligible: kernels may skip the mask
    cdef bint needs_time
    cdef uint64_t rng
    # Set by a LocalityBalancer (fastroute._locality, docs/multi_region.md §4): this
    # balancer's eligibility is that mask (a locality or priority subset of the view).
    cdef unsigned char *override_mask
    cdef int32_t *override_candidates

    cdef double scaled(self, double w) noexcept nogil
    cdef void sync(self) noexcept nogil
    cdef void apply_penalties(self) noexcept nogil
    cdef void apply_weights(self) noexcept nogil
    cdef void on_weights(self) noexcept nogil
    cdef void on_refresh(self) noexcept nogil
    cdef Py_ssize_t choose(self, double now) noexcept nogil
    cdef void choose_many(self, int32_t *out, Py_ssize_t n, double now) noexcept nogil
    cdef Py_ssize_t pick_locked(self, double now) noexcept nogil
    cdef void observe(self, Py_ssize_t i, double latency_s, double now) noexcept nogil
    cdef bint pick_needs_clock(self) noexcept nogil
    cdef double _now_for_pick(self) except? -1.0
    cdef double _now(self) except? -1.0
    cdef Py_ssize_t _pick_or_raise(self, bint acquire) except -1
    cdef Py_ssize_t _index(self, node) except -1
    cdef double _latency(self, latency_s) except? -2.0
    cdef int _finish(self, Py_ssize_t i, int outcome, double latency, double now) except -1
    cdef Py_ssize_t pick_index_c(self) noexcept nogil
    cdef Py_ssize_t acquire_c(self) noexcept nogil
    cdef int release_c(self, Py_ssize_t i, bint ok, double latency_s) noexcept nogil


cdef class RoundRobin(Balancer):
    cdef uint64_t cursor


cdef class SmoothWeightedRoundRobin(Balancer):
    pass


cdef class Random(Balancer):
    pass


cdef class WeightedRandom(Balancer):
    cdef uint64_t *threshold
    cdef int32_t *alias
    cdef double *scratch
    cdef Py_ssize_t *small
    cdef Py_ssize_t *large


cdef class LeastConnections(Balancer):
    pass


cdef class LeastRequest(Balancer):
    cdef Py_ssize_t choice_count
    cdef bint weighted
    cdef EdfState edf


cdef class PeakEWMA(Balancer):
    pass


cdef class HAProxyRoundRobin(Balancer):
    cdef FwrrState fwrr


cdef class HAProxyBalancer(Balancer):
    cdef int64_t *lb_eweight         # HAProxy eweight: weight x 16
    cdef int64_t *conn_limit         # per server maxconn, 0: no limit
    cdef Py_ssize_t first_backup(self) noexcept nogil


cdef class HAProxyLeastConn(HAProxyBalancer):
    cdef FwlcState fwlc


cdef class HAProxyFirst(HAProxyBalancer):
    cdef int32_t *by_id              # node indices in server-id order


cdef class HAProxyRandom(HAProxyBalancer):
    cdef int64_t *points             # the chash tree's points, sorted, and their servers
    cdef int32_t *owners
    cdef Py_ssize_t point_count
    cdef Py_ssize_t draws


cdef class Lease:
    cdef Balancer balancer
    cdef Py_ssize_t idx
    cdef double start
    cdef int phase

    cdef object _enter(self)
    cdef int _end(self, int outcome, double latency_s) except -1
    cdef int _exit(self, exc_type) except -1
