# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""nginx passive health: `max_fails` / `fail_timeout` (ngx_http_upstream_round_robin.c;
docs/request_path.md §2). A server is failed while fails >= max_fails and
now - checked <= fail_timeout; each failure also lowers its effective weight by
weight / max_fails (applied by each balancer from `weight_penalties`)."""
from libc.stdint cimport int64_t

from fastroute.health.core cimport EVENT_EJECTED, EVENT_RESTORED, EventBuffer, NodeSet, push_event


cdef struct NginxState:
    int64_t max_fails
    double fail_timeout
    int64_t *fails
    double *checked
    double *accessed
    Py_ssize_t failing               # nodes with fails > 0: their check windows need the time
    int64_t *weight_penalties        # failures that lowered the effective weight, per node (cumulative)
    int64_t penalty_total


cdef inline bint nginx_failed(const NginxState *s, const NodeSet *ns, Py_ssize_t i, double now) noexcept nogil:
    # A single-server group is never marked down. A backup makes two servers:
    # ngx_http_upstream_init_round_robin clears peers->single.
    return (s.max_fails and s.fails[i] >= s.max_fails and ns.n > 1
            and now - s.checked[i] <= s.fail_timeout)


cdef inline bint nginx_healthy(NginxState *s, const NodeSet *ns, EventBuffer *ev, Py_ssize_t i, double now,
                               double *expiry) noexcept nogil:
    cdef double until
    if s.max_fails and s.fails[i] >= s.max_fails and ns.n > 1:
        if now - s.checked[i] <= s.fail_timeout:
            until = s.checked[i] + s.fail_timeout
            if until < expiry[0]:
                expiry[0] = until
            return False
    return True


cdef inline bint nginx_record(NginxState *s, const NodeSet *ns, EventBuffer *ev, Py_ssize_t i, bint ok,
                              double now) noexcept nogil:
    """One outcome; True when eligibility may have changed."""
    if not ok:
        if s.fails[i] == 0:
            s.failing += 1
        s.fails[i] += 1
        s.accessed[i] = now
        s.checked[i] = now
        if s.max_fails:
            s.weight_penalties[i] += 1
            s.penalty_total += 1
            if s.fails[i] == s.max_fails and ns.n > 1:
                push_event(ev, EVENT_EJECTED, i)
        return True
    if s.accessed[i] < s.checked[i]:
        if s.max_fails and s.fails[i] >= s.max_fails:
            push_event(ev, EVENT_RESTORED, i)
        if s.fails[i] > 0:
            s.failing -= 1
        s.fails[i] = 0
        return True
    return False


cdef inline bint nginx_picked(NginxState *s, Py_ssize_t i, double now) noexcept nogil:
    """nginx: a pick after the timeout starts a new check window; True when the
    node is failed again until this request succeeds or the window ends. Only a
    node with fails > 0 ever reads `checked`, so others skip the clock."""
    if s.fails[i] > 0 and now - s.checked[i] > s.fail_timeout:
        s.checked[i] = now
        return s.max_fails and s.fails[i] >= s.max_fails
    return False
