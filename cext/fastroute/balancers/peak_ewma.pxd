# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Finagle's peak-sensitive EWMA (docs/algorithms.md §16.1) and its power of two
choices: cost jumps to a new peak RTT and otherwise decays with time constant
decay_s; load = cost × (in-flight + 1)."""
from libc.math cimport exp
from libc.stdint cimport int32_t, int64_t, uint64_t

from fastroute.balancers.rng cimport rng_below

cdef inline double peak_ewma_penalty() noexcept nogil:
    # Finagle's PeakEwma penalty for a node with pending requests and no RTT yet.
    return 140737488355327.0


cdef inline void peak_ewma_observe(double *cost, double *stamp, Py_ssize_t i, double rtt, double now,
                                   double decay_s) noexcept nogil:
    cdef double td = now - stamp[i]
    cdef double w
    if td < 0:
        td = 0
    w = exp(-td / decay_s)
    if rtt > cost[i]:
        cost[i] = rtt
    else:
        cost[i] = cost[i] * w + rtt * (1.0 - w)
    stamp[i] = now


cdef inline double peak_ewma_load(double *cost, double *stamp, const int64_t *inflight, Py_ssize_t i, double now,
                                  double decay_s) noexcept nogil:
    peak_ewma_observe(cost, stamp, i, 0.0, now, decay_s)
    if cost[i] == 0.0 and inflight[i] != 0:
        return peak_ewma_penalty() + inflight[i]
    return cost[i] * (inflight[i] + 1)


cdef inline Py_ssize_t peak_ewma_p2c(uint64_t *rng, const int32_t *candidates, Py_ssize_t m, double *cost,
                                     double *stamp, const int64_t *inflight, double now,
                                     double decay_s) noexcept nogil:
    # Two distinct candidates; the second wins only with a strictly lower load.
    cdef Py_ssize_t a, b
    if m == 1:
        return candidates[0]
    a = <Py_ssize_t>rng_below(rng, <uint64_t>m)
    b = <Py_ssize_t>rng_below(rng, <uint64_t>(m - 1))
    if b >= a:
        b += 1
    a = candidates[a]
    b = candidates[b]
    return b if (peak_ewma_load(cost, stamp, inflight, b, now, decay_s)
                 < peak_ewma_load(cost, stamp, inflight, a, now, decay_s)) else a
