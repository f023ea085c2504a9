# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""nginx smooth weighted round robin and least_conn kernels (docs/algorithms.md §8.1).

Plain C state plus `noexcept nogil` inline functions, so any Cython module can
`cimport` and run them without Python objects. `eligible` (NULL: every node)
marks the peers nginx would consider: not down, not failed.
"""
from libc.stdint cimport int32_t, int64_t

cdef struct SwrrState:
    Py_ssize_t count
    int64_t *weight            # configured weight (nginx `weight=`)
    int64_t *effective_weight  # lowered on failures, recovers by 1 per pick
    int64_t *current_weight    # running score; the pick is the strict maximum


cdef inline Py_ssize_t swrr_pick(SwrrState *s, const unsigned char *eligible) noexcept nogil:
    # nginx ngx_http_upstream_get_peer: every eligible peer gains its effective
    # weight, the strict maximum wins (ties: earliest in config order) and pays the total.
    cdef Py_ssize_t i, best = -1
    cdef int64_t total = 0
    for i in range(s.count):
        if eligible != NULL and not eligible[i]:
            continue
        s.current_weight[i] += s.effective_weight[i]
        total += s.effective_weight[i]
        if s.effective_weight[i] < s.weight[i]:
            s.effective_weight[i] += 1
        if best == -1 or s.current_weight[i] > s.current_weight[best]:
            best = i
    if best != -1:
        s.current_weight[best] -= total
    return best


cdef inline Py_ssize_t swrr_pick_all(SwrrState *s) noexcept nogil:
    # swrr_pick with every peer eligible: no per-peer mask test in the loop.
    cdef Py_ssize_t i, best = 0
    cdef int64_t total = 0
    for i in range(s.count):
        s.current_weight[i] += s.effective_weight[i]
        total += s.effective_weight[i]
        if s.effective_weight[i] < s.weight[i]:
            s.effective_weight[i] += 1
        if s.current_weight[i] > s.current_weight[best]:
            best = i
    s.current_weight[best] -= total
    return best


cdef inline Py_ssize_t least_conn_pick(SwrrState *s, const unsigned char *eligible,
                                       const int64_t *conns) noexcept nogil:
    # nginx ngx_http_upstream_get_least_conn_peer: least conns/weight (compared
    # as cross products); ties among the least go to smooth weighted round robin
    # over the tied peers, starting at the first of them.
    cdef Py_ssize_t i, best = -1, first
    cdef bint many = False
    cdef int64_t total = 0
    for i in range(s.count):
        if eligible != NULL and not eligible[i]:
            continue
        if best == -1 or conns[i] * s.weight[best] < conns[best] * s.weight[i]:
            best = i
            many = False
        elif conns[i] * s.weight[best] == conns[best] * s.weight[i]:
            many = True
    if best == -1 or not many:
        return best
    first = best
    for i in range(first, s.count):
        if eligible != NULL and not eligible[i]:
            continue
        if conns[i] * s.weight[best] != conns[best] * s.weight[i]:
            continue
        s.current_weight[i] += s.effective_weight[i]
        total += s.effective_weight[i]
        if s.effective_weight[i] < s.weight[i]:
            s.effective_weight[i] += 1
        if s.current_weight[i] > s.current_weight[best]:
            best = i
    s.current_weight[best] -= total
    return best
