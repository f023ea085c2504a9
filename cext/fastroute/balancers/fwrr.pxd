# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""HAProxy `balance roundrobin` (src/lb_fwrr.c; docs/algorithms.md §8): weights
× 16, servers ordered in an "init" tree by weight, then scheduled by next
position in the "current" tree; trees swap when a round ends. Equal keys keep
insertion order (eb32 duplicates). The trees are arrays scanned linearly: a
pick is O(n), exact for any n."""
from libc.math cimport floor
from libc.stdint cimport int64_t, uint64_t

# HAProxy fwrr constants (include/haproxy/backend-t.h, server-t.h).
cdef enum:
    FWRR_WEIGHT_SCALE = 16          # BE_WEIGHT_SCALE
    FWRR_EWGHT_MAX = 256 * 16       # SRV_EWGHT_MAX
    FWRR_UWGHT_RANGE = 256          # SRV_UWGHT_RANGE
    TREE_NONE = 0
    TREE_CURR = 1
    TREE_T0 = 2
    TREE_T1 = 3


cdef struct FwrrState:
    Py_ssize_t n
    int64_t *eweight
    int64_t *npos
    int64_t *rweight
    int64_t *key
    uint64_t *seq
    unsigned char *tree
    int64_t curr_pos
    int64_t curr_weight
    int64_t next_weight
    unsigned char init_tree
    unsigned char next_tree
    uint64_t next_seq


cdef inline int64_t haproxy_eweight(double weight) noexcept nogil:
    # Configured weights are integers (exact); agent percentages and slow start
    # round to HAProxy's 1/16 steps, at least 1 while the server serves.
    cdef int64_t e = <int64_t>floor(weight * FWRR_WEIGHT_SCALE + 0.5)
    if e == 0 and weight > 0.0:
        e = 1
    return e


cdef inline void _fwrr_insert(FwrrState *s, Py_ssize_t i, unsigned char tree, int64_t key) noexcept nogil:
    s.tree[i] = tree
    s.key[i] = key
    s.seq[i] = s.next_seq
    s.next_seq += 1


cdef inline Py_ssize_t _fwrr_first(FwrrState *s, unsigned char tree) noexcept nogil:
    cdef Py_ssize_t i, best = -1
    for i in range(s.n):
        if s.tree[i] == tree and (best == -1 or s.key[i] < s.key[best]
                                  or (s.key[i] == s.key[best] and s.seq[i] < s.seq[best])):
            best = i
    return best


cdef inline void fwrr_init(FwrrState *s, const double *weight, const unsigned char *eligible) noexcept nogil:
    # fwrr_init_server_groups over the eligible servers, in declaration order.
    cdef Py_ssize_t i
    cdef int64_t total = 0
    s.next_seq = 0
    for i in range(s.n):
        s.eweight[i] = haproxy_eweight(weight[i])
        s.npos[i] = 0
        s.rweight[i] = 0
        s.tree[i] = TREE_NONE
        if eligible[i]:
            total += s.eweight[i]
    s.next_weight = total
    s.curr_pos = total
    s.curr_weight = total
    s.init_tree = TREE_T0
    s.next_tree = TREE_T1
    for i in range(s.n):
        if eligible[i] and s.eweight[i] > 0:
            _fwrr_insert(s, i, s.init_tree, FWRR_EWGHT_MAX - s.eweight[i])


cdef inline Py_ssize_t fwrr_pick(FwrrState *s) noexcept nogil:
    cdef Py_ssize_t srv = -1, i2
    cdef bint switched = False
    cdef unsigned char swap
    if s.curr_weight == 0:
        s.curr_pos = s.curr_weight = s.next_weight
    while True:
        srv = _fwrr_first(s, TREE_CURR)
        if not (srv >= 0 and s.eweight[srv] and s.npos[srv] <= s.curr_pos):
            i2 = _fwrr_first(s, s.init_tree)
            if i2 >= 0 and s.eweight[i2]:
                s.npos[i2] = 0
                s.rweight[i2] = 0
                srv = i2
        if srv >= 0:
            break
        if switched:
            return -1
        switched = True
        swap = s.init_tree
        s.init_tree = s.next_tree
        s.next_tree = swap
        s.curr_weight = s.next_weight
        s.curr_pos = s.curr_weight
    # fwrr_update_position
    if s.npos[srv] == 0:
        s.npos[srv] = s.curr_pos
    s.npos[srv] += s.next_weight // s.eweight[srv]
    s.rweight[srv] += s.next_weight % s.eweight[srv]
    if s.rweight[srv] >= s.eweight[srv]:
        s.rweight[srv] -= s.eweight[srv]
        s.npos[srv] += 1
    s.tree[srv] = TREE_NONE
    s.curr_pos += 1
    # fwrr_queue_srv
    if s.npos[srv] >= 2 * s.curr_weight or s.npos[srv] >= s.curr_weight + s.next_weight:
        s.npos[srv] -= s.curr_weight
        _fwrr_insert(s, srv, s.next_tree, FWRR_EWGHT_MAX - s.eweight[srv])
    else:
        _fwrr_insert(s, srv, TREE_CURR, FWRR_UWGHT_RANGE * s.npos[srv]
                     + (FWRR_EWGHT_MAX + s.rweight[srv] - s.eweight[srv]) // FWRR_WEIGHT_SCALE)
    return srv
