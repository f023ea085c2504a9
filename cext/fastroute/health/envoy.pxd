# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Envoy outlier detection, consecutive failures (source/common/upstream/outlier_detection_impl.cc;
docs/request_path.md §2): eject for base_ejection_time × times ejected, capped
at max_ejection_time, never more than max_ejection_percent of the nodes (one
is always ejectable); the multiplier decays by one per `interval` healthy."""
from libc.math cimport floor
from libc.stdint cimport int64_t

from fastroute.health.core cimport EVENT_EJECTED, EVENT_RESTORED, EventBuffer, NodeSet, push_event


cdef struct EnvoyState:
    int64_t consecutive_failures
    double interval
    double base_ejection_time
    double max_ejection_time
    double max_ejection_percent
    int64_t *consecutive             # consecutive failures
    unsigned char *ejected
    double *eject_until
    int64_t *ejections               # the ejection-time multiplier
    double *restored_at


cdef inline void envoy_end_ejection(EnvoyState *s, EventBuffer *ev, Py_ssize_t i, double now) noexcept nogil:
    s.ejected[i] = 0
    s.restored_at[i] = now
    # Envoy checkHostForUneject resets the consecutive-failure counter, so
    # failures counted while ejected cannot re-eject after a few new ones.
    s.consecutive[i] = 0
    push_event(ev, EVENT_RESTORED, i)


cdef inline bint envoy_end_expired(EnvoyState *s, const NodeSet *ns, EventBuffer *ev, double now) noexcept nogil:
    # Envoy ends an ejection when its time is up, whether or not anything
    # was picked since: an outcome after that counts for a restored host.
    cdef Py_ssize_t i
    cdef bint changed = False
    for i in range(ns.n):
        if s.ejected[i] and now >= s.eject_until[i]:
            envoy_end_ejection(s, ev, i, now)
            changed = True
    return changed


cdef inline bint envoy_healthy(EnvoyState *s, const NodeSet *ns, EventBuffer *ev, Py_ssize_t i, double now,
                               double *expiry) noexcept nogil:
    if s.ejected[i]:
        if now >= s.eject_until[i]:
            envoy_end_ejection(s, ev, i, now)
        else:
            if s.eject_until[i] < expiry[0]:
                expiry[0] = s.eject_until[i]
            return False
    return True


cdef inline bint envoy_record(EnvoyState *s, const NodeSet *ns, EventBuffer *ev, Py_ssize_t i, bint ok,
                              double now) noexcept nogil:
    """One outcome (expired ejections already ended by the caller); True when
    the node was ejected."""
    cdef Py_ssize_t k, ejected_count
    cdef double decay
    if ok:
        s.consecutive[i] = 0
        return False
    s.consecutive[i] += 1
    if s.consecutive[i] < s.consecutive_failures or s.ejected[i] or ns.n_primary <= 1:
        return False
    ejected_count = 0
    for k in range(ns.n):
        ejected_count += s.ejected[k]
    # max_ejection_percent caps ejections, but one host is always ejectable.
    if ejected_count > 0 and (ejected_count + 1) * 100.0 > s.max_ejection_percent * ns.n:
        # Envoy onConsecutiveErrorWorker resets the counter once the detector
        # has acted, ejection refused or not: a later ejection needs a new run.
        s.consecutive[i] = 0
        return False
    if s.ejections[i] > 0 and s.interval > 0:
        # The ejection multiplier decays by one per interval spent healthy.
        decay = floor((now - s.restored_at[i]) / s.interval)
        s.ejections[i] = max(0, s.ejections[i] - <int64_t>decay)
    # Envoy ejectHost: the multiplier grows only while base × multiplier <
    # max + base, so it stays within one step of the cap and decays from there.
    if s.base_ejection_time * s.ejections[i] < s.max_ejection_time + s.base_ejection_time:
        s.ejections[i] += 1
    s.eject_until[i] = now + min(s.base_ejection_time * s.ejections[i],
                                 max(s.base_ejection_time, s.max_ejection_time))
    s.ejected[i] = 1
    s.consecutive[i] = 0
    push_event(ev, EVENT_EJECTED, i)
    return True
