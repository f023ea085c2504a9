# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Declarations of fastroute's request-time balancers for `cimport`.

A Cython proxy can hold a balancer created in Python and call, without the
GIL and without Python objects:
    idx = balancer.pick_index_c()              # -1: no node can serve
    idx = balancer.acquire_c()                 # pick + in-flight count
    rc  = balancer.release_c(idx, ok, latency) # 0 ok, -1 rejected (state unchanged)
Node names are `balancer.nodes[idx]`.
"""
cimport cython
from libc.stdint cimport int32_t, int64_t, uint64_t

from fastroute.balancers.swrr cimport SwrrState

cdef enum:
    EVENT_SLACK = 64                 # event capacity = 2 * nodes + EVENT_SLACK

cdef enum Outcome:
    OUTCOME_NONE = -1                # the request ended without saying anything (cancelled)
    OUTCOME_FAILED = 0
    OUTCOME_OK = 1


cdef class Balancer:
    cdef readonly tuple nodes
    cdef Py_ssize_t n
    cdef dict index_of
    cdef void *memory
    # configuration
    cdef SwrrState swrr              # weight / effective / current (nginx family)
    cdef double *weight_f
    cdef double *weight_scaled       # weight_f × one power of two, max in [1, 2): exact, sums cannot overflow
    cdef unsigned char *is_backup
    cdef unsigned char *admin        # 0 up, 1 down, 2 draining
    cdef Py_ssize_t n_primary
    # in-flight requests
    cdef int64_t *inflight
    # health policy (one implementation for every balancer)
    cdef int policy                  # 0 none, 1 nginx, 2 envoy, 3 haproxy
    cdef int64_t max_fails
    cdef double fail_timeout
    cdef int64_t consecutive_failures
    cdef double interval, base_ejection_time, max_ejection_time, max_ejection_percent
    cdef int64_t rise, fall, error_limit
    cdef int on_error_mark_down
    cdef int64_t *fails              # nginx fails / consecutive failures / consecutive errors
    cdef double *checked
    cdef double *accessed
    cdef unsigned char *ejected      # envoy ejection or HAProxy check DOWN
    cdef double *eject_until
    cdef int64_t *ejections
    cdef double *restored_at
    cdef int64_t *check_ok_run
    cdef int64_t *check_fail_run
    cdef double panic_threshold
    cdef bint panic
    # eligibility cache, rebuilt when state changes or a timer expires
    cdef unsigned char *eligible_mask
    cdef int32_t *candidates
    cdef Py_ssize_t candidate_count
    cdef bint all_eligible            # every node eligible: kernels may skip the mask
    cdef double next_expiry
    cdef bint dirty
    cdef bint needs_time
    cdef Py_ssize_t nginx_failing     # nodes with nginx fails > 0: their check windows need the time
    # randomness, time, notifications
    cdef uint64_t rng
    cdef object clock
    cdef bint python_clock
    cdef object on_state_change
    cdef int *event_kind             # pending events; room for every event one call can make
    cdef Py_ssize_t *event_node
    cdef Py_ssize_t event_capacity
    cdef Py_ssize_t event_count
    cdef Py_ssize_t events_dropped   # since the last flush
    cdef Py_ssize_t total_dropped_py  # reported by earlier flushes
    cdef cython.pymutex lock

    cdef double now_c(self) noexcept nogil
    cdef void refresh(self, double now) noexcept nogil
    cdef void end_ejection(self, Py_ssize_t i, double now) noexcept nogil
    cdef void end_expired_ejections(self, double now) noexcept nogil
    cdef void on_refresh(self) noexcept nogil
    cdef Py_ssize_t choose(self, double now) noexcept nogil
    cdef void choose_many(self, int32_t *out, Py_ssize_t n, double now) noexcept nogil
    cdef Py_ssize_t pick_locked(self, double now) noexcept nogil
    cdef void record(self, Py_ssize_t i, bint ok, double now) noexcept nogil
    cdef void health_check(self, Py_ssize_t i, bint ok) noexcept nogil
    cdef bint _failed(self, Py_ssize_t i, double now) noexcept nogil
    cdef double _now_for_pick(self) except? -1.0
    cdef double _now(self) except? -1.0
    cdef Py_ssize_t _pick_or_raise(self, bint acquire) except -1
    cdef Py_ssize_t _index(self, node) except -1
    cdef double _latency(self, latency_s) except? -2.0
    cdef bint _ok(self, ok) except -1
    cdef int _finish(self, Py_ssize_t i, int outcome, double latency) except -1
    cdef void observe(self, Py_ssize_t i, double latency_s, double now) noexcept nogil
    cdef void push_event(self, int kind, Py_ssize_t node) noexcept nogil
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
    cdef double active_request_bias
    cdef bint weighted
    cdef double *deadline
    cdef uint64_t *order
    cdef uint64_t next_order
    cdef double edf_time


cdef class PeakEWMA(Balancer):
    cdef double decay_s
    cdef double *cost
    cdef double *stamp

    cdef double load(self, Py_ssize_t i, double now) noexcept nogil


cdef class HAProxyRoundRobin(Balancer):
    cdef int64_t *eweight
    cdef int64_t *npos
    cdef int64_t *rweight
    cdef int64_t *key
    cdef uint64_t *seq
    cdef unsigned char *tree
    cdef int64_t curr_pos, curr_weight, next_weight
    cdef unsigned char init_tree, next_tree
    cdef uint64_t next_seq

    cdef void _insert(self, Py_ssize_t i, unsigned char tree, int64_t key) noexcept nogil
    cdef Py_ssize_t _first(self, unsigned char tree) noexcept nogil


cdef class Lease:
    cdef Balancer balancer
    cdef Py_ssize_t idx
    cdef double start
    cdef int phase

    cdef object _enter(self)
    cdef int _end(self, int outcome, double latency_s) except -1
    cdef int _exit(self, exc_type) except -1
