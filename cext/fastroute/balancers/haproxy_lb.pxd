# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""HAProxy 2.6 stateful balancers (docs/algorithms.md §8.6): `leastconn`
(src/lb_fwlc.c), `first` (src/lb_fas.c) and `random(<draws>)`
(src/backend.c get_server_rnd over the chash tree of src/lb_chash.c).

The eb32 trees are arrays scanned linearly (O(n) per pick, exact for any n):
an entry's place is (key, seq), seq being the moment it was (re)inserted, as
eb32 keeps duplicates in insertion order."""
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from fastroute.balancers.rng cimport rng_next

cdef enum:
    LB_EWGHT_MAX = 256 * 16         # SRV_EWGHT_MAX = SRV_UWGHT_MAX * BE_WEIGHT_SCALE


cdef struct FwlcState:
    Py_ssize_t n
    int64_t *key                     # eb32 key: (inflight + 1) * SRV_EWGHT_MAX / eweight, 0 when idle
    uint64_t *seq                    # when the entry was last (re)inserted: later = after equal keys
    uint64_t *stamp_seen             # the view's load stamp of the node when the entry was last placed
    int64_t *eweight                 # the eweight the entry was placed with (0: not in the tree)


cdef inline int64_t fwlc_key(int64_t inflight, int64_t eweight) noexcept nogil:
    # fwlc_queue_srv: "+1" so a server is ordered by its load once picked; idle servers come first.
    if inflight <= 0:
        return 0
    return (inflight + 1) * LB_EWGHT_MAX // eweight


cdef inline void fwlc_place(FwlcState *s, const int64_t *eweight, const unsigned char *usable,
                            const int64_t *inflight, const uint64_t *load_stamp, uint64_t *clock) noexcept nogil:
    """Brings the tree up to date: servers that left are dequeued; servers that
    joined or changed eweight are queued (fwlc_set_server_status_up /
    fwlc_update_server_weight) at their last admin or load change, else now, in
    server order; a server whose in-flight count changed since it was placed
    moves as fwlc_srv_reposition moved it, at the moment of its last change
    (the view's load stamp)."""
    cdef Py_ssize_t i
    for i in range(s.n):
        if not usable[i] or eweight[i] <= 0:
            s.eweight[i] = 0
        elif s.eweight[i] != eweight[i]:
            s.eweight[i] = eweight[i]
            s.key[i] = fwlc_key(inflight[i], eweight[i])
            if s.stamp_seen[i] != load_stamp[i]:
                s.seq[i] = load_stamp[i]  # set up (or loaded) since: queued at that moment
            else:
                s.seq[i] = clock[0]  # came back by health or weight: queued now
                clock[0] += 1
            s.stamp_seen[i] = load_stamp[i]
        elif s.stamp_seen[i] != load_stamp[i]:
            s.key[i] = fwlc_key(inflight[i], eweight[i])
            s.seq[i] = load_stamp[i]
            s.stamp_seen[i] = load_stamp[i]


cdef inline Py_ssize_t fwlc_first(FwlcState *s, const int64_t *inflight, const int64_t *maxconn) noexcept nogil:
    """fwlc_get_next_server: the first tree entry (smallest key, earliest
    inserted among equal keys) not saturated (maxconn 0: no limit)."""
    cdef Py_ssize_t i, best = -1
    for i in range(s.n):
        if s.eweight[i] <= 0 or (maxconn[i] and inflight[i] >= maxconn[i]):
            continue
        if best == -1 or s.key[i] < s.key[best] or (s.key[i] == s.key[best] and s.seq[i] < s.seq[best]):
            best = i
    return best


cdef inline Py_ssize_t fas_first(const int32_t *by_id, Py_ssize_t n, const unsigned char *usable,
                                 const int64_t *eweight, const int64_t *inflight,
                                 const int64_t *maxconn) noexcept nogil:
    """fas_get_next_server: the usable server with the lowest id whose served
    count is below its maxconn (weights only decide usability)."""
    cdef Py_ssize_t k, i
    for k in range(n):
        i = by_id[k]
        if usable[i] and eweight[i] > 0 and (not maxconn[i] or inflight[i] < maxconn[i]):
            return i
    return -1


cdef inline Py_ssize_t chash_nearest(const int64_t *points, const int32_t *owners, Py_ssize_t count,
                                     const unsigned char *usable, uint64_t h) noexcept nogil:
    """chash_get_server_hash over the points of usable servers: the point at or
    after h and the one before it (both wrapping), the closer wins, ties to the one
    before. -1 when no usable server has a point."""
    cdef Py_ssize_t lo = 0, hi = count, mid, nxt, prv, k
    while lo < hi:  # first point >= h
        mid = (lo + hi) >> 1
        if <uint64_t>points[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    nxt = -1
    for k in range(count):
        mid = (lo + k) % count
        if usable[owners[mid]]:
            nxt = mid
            break
    if nxt < 0:
        return -1
    prv = nxt
    for k in range(1, count + 1):
        mid = (nxt - k + count) % count
        if usable[owners[mid]]:
            prv = mid
            break
    # unsigned 32-bit distances, as HAProxy computes them (the circle wraps)
    cdef uint32_t dp = <uint32_t>(h - <uint64_t>points[prv])
    cdef uint32_t dn = <uint32_t>(<uint64_t>points[nxt] - h)
    return owners[prv] if dp <= dn else owners[nxt]


cdef inline Py_ssize_t rnd_pick(uint64_t *rng, const int64_t *points, const int32_t *owners, Py_ssize_t count,
                                const unsigned char *usable, const int64_t *eweight, const int64_t *inflight,
                                const int64_t *maxconn, Py_ssize_t draws) noexcept nogil:
    """get_server_rnd: `draws` uniform 32-bit draws on the ring; a later draw
    replaces the best so far unless it serves more per eweight (ties: the later
    draw). A full chosen server means no server (HAProxy queues the request)."""
    cdef Py_ssize_t prev, curr = -1, k
    for k in range(draws):
        prev = curr
        curr = chash_nearest(points, owners, count, usable, rng_next(rng) >> 32)
        if curr < 0:
            break
        if prev >= 0 and prev != curr and inflight[curr] * eweight[prev] > inflight[prev] * eweight[curr]:
            curr = prev
    if curr >= 0 and maxconn[curr] and inflight[curr] >= maxconn[curr]:
        return -1
    return curr
