# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Envoy LEAST_REQUEST kernels (docs/algorithms.md §8.3): best of `choice_count`
random draws by active requests (equal weights), earliest-deadline-first over
w / (active + 1) ** active_request_bias (unequal weights)."""
from libc.math cimport INFINITY, pow
from libc.stdint cimport int32_t, int64_t, uint64_t

from fastroute.balancers.rng cimport rng_below


cdef struct EdfState:
    double *deadline
    uint64_t *order                  # ties: earlier insertion first (Envoy's EDF queue)
    uint64_t next_order
    double edf_time
    double active_request_bias


cdef inline Py_ssize_t least_request_p2c(uint64_t *rng, const int32_t *candidates, Py_ssize_t count,
                                         const int64_t *inflight, Py_ssize_t choice_count) noexcept nogil:
    # With replacement; a later draw wins only with strictly fewer active requests.
    cdef Py_ssize_t k, c
    cdef Py_ssize_t best = candidates[rng_below(rng, <uint64_t>count)]
    for k in range(1, choice_count):
        c = candidates[rng_below(rng, <uint64_t>count)]
        if inflight[c] < inflight[best]:
            best = c
    return best


cdef inline double _edf_step(EdfState *s, const double *weight, const int64_t *inflight, Py_ssize_t c) noexcept nogil:
    cdef double w = weight[c] / pow(<double>(inflight[c] + 1), s.active_request_bias)
    return 1.0 / w if w > 0 else INFINITY


cdef inline Py_ssize_t least_request_edf(EdfState *s, const int32_t *candidates, Py_ssize_t count,
                                         const double *weight, const int64_t *inflight) noexcept nogil:
    cdef Py_ssize_t k, c, best = -1
    for k in range(count):
        c = candidates[k]
        if s.deadline[c] < s.edf_time:
            # c sat out (down, draining, ejected) while time moved on: it rejoins
            # at the current time, as Envoy's EDF scheduler adds a host, not with
            # a backlog of past deadlines that would send it a burst.
            s.deadline[c] = s.edf_time + _edf_step(s, weight, inflight, c)
            s.order[c] = s.next_order
            s.next_order += 1
        if best == -1 or s.deadline[c] < s.deadline[best] or (
                s.deadline[c] == s.deadline[best] and s.order[c] < s.order[best]):
            best = c
    s.edf_time = s.deadline[best]
    s.deadline[best] = s.edf_time + _edf_step(s, weight, inflight, best)
    s.order[best] = s.next_order
    s.next_order += 1
    return best
