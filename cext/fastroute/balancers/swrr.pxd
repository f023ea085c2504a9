# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""nginx smooth weighted round robin kernel (ALGORITHMS.md §8.1).

Plain C state plus `noexcept nogil` inline functions, so any Cython module can
`cimport` and run it without Python objects.
"""
from libc.stdint cimport int32_t, int64_t

cdef struct SwrrState:
    Py_ssize_t count
    int64_t *weight            # configured weight (nginx `weight=`)
    int64_t *effective_weight  # lowered on failures, recovers by 1 per pick
    int64_t *current_weight    # running score; the pick is the strict maximum


cdef inline Py_ssize_t swrr_pick(SwrrState *s) noexcept nogil:
    # nginx ngx_http_upstream_get_peer: every peer gains its effective weight,
    # the strict maximum wins (ties: earliest in config order) and pays the total.
    cdef Py_ssize_t i, best = -1
    cdef int64_t total = 0
    for i in range(s.count):
        s.current_weight[i] += s.effective_weight[i]
        total += s.effective_weight[i]
        if s.effective_weight[i] < s.weight[i]:
            s.effective_weight[i] += 1
        if best == -1 or s.current_weight[i] > s.current_weight[best]:
            best = i
    if best != -1:
        s.current_weight[best] -= total
    return best


cdef inline void swrr_pick_many(SwrrState *s, int32_t *out, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(n):
        out[k] = <int32_t>swrr_pick(s)
