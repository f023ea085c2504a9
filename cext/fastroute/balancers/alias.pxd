# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Vose's alias method (docs/algorithms.md §15): O(n) build, O(1) weighted pick.

Build discipline fixed for reproducibility: Small and Large are LIFO stacks
filled in index order; p_g = (p_g + p_l) - 1 (the stable grouping).
Thresholds are u64 fractions (prob * 2^64) compared with one random u64.
"""
from libc.stdint cimport int32_t, uint64_t

from fastroute.balancers.rng cimport rng_below, rng_next


cdef inline void alias_build(const double *weights, const unsigned char *eligible, Py_ssize_t n,
                             double *scratch, Py_ssize_t *small, Py_ssize_t *large,
                             uint64_t *threshold, int32_t *alias) noexcept nogil:
    cdef Py_ssize_t i, ns = 0, nl = 0, l, g, fallback = 0
    cdef double total = 0.0
    for i in range(n):
        if (eligible == NULL or eligible[i]) and weights[i] > 0.0:
            total += weights[i]
            fallback = i
    for i in range(n):
        scratch[i] = (weights[i] * n / total) if (eligible == NULL or eligible[i]) else 0.0
        alias[i] = <int32_t>i
    for i in range(n):
        if scratch[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        l = small[ns]
        g = large[nl - 1]
        threshold[l] = _fraction(scratch[l])
        alias[l] = <int32_t>g
        scratch[g] = (scratch[g] + scratch[l]) - 1.0
        if scratch[g] < 1.0:
            nl -= 1
            small[ns] = g
            ns += 1
    while nl > 0:
        nl -= 1
        threshold[large[nl]] = <uint64_t>0xFFFFFFFFFFFFFFFF
    while ns > 0:  # leftovers from rounding: whole if they carry weight, else never chosen
        ns -= 1
        if scratch[small[ns]] > 0.0:
            threshold[small[ns]] = <uint64_t>0xFFFFFFFFFFFFFFFF
        else:
            threshold[small[ns]] = 0
            alias[small[ns]] = <int32_t>fallback


cdef inline uint64_t _fraction(double p) noexcept nogil:
    if p <= 0.0:
        return 0
    if p >= 1.0:
        return <uint64_t>0xFFFFFFFFFFFFFFFF
    return <uint64_t>(p * 18446744073709551616.0)


cdef inline Py_ssize_t alias_pick(uint64_t *rng, Py_ssize_t n, const uint64_t *threshold,
                                  const int32_t *alias) noexcept nogil:
    cdef Py_ssize_t i = <Py_ssize_t>rng_below(rng, <uint64_t>n)
    if rng_next(rng) < threshold[i] or threshold[i] == <uint64_t>0xFFFFFFFFFFFFFFFF:
        return i
    return alias[i]
