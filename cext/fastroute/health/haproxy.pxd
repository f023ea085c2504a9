# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""HAProxy passive health, `observe` + `error-limit` + `on-error`
(doc/configuration.txt; docs/request_path.md §2): error_limit consecutive
request errors count as one failed check ("fail-check") or take the server
DOWN at once ("mark-down"). Active checks themselves are fastroute.health.core
(every policy takes them)."""
from libc.stdint cimport int64_t

from fastroute.health.core cimport CheckState, EventBuffer, NodeSet, check_mark_down, check_result


cdef struct HAProxyState:
    int64_t error_limit
    bint on_error_mark_down
    int64_t *error_run               # consecutive request errors


cdef inline bint haproxy_record(HAProxyState *s, CheckState *checks, const NodeSet *ns, EventBuffer *ev,
                                Py_ssize_t i, bint ok) noexcept nogil:
    """One outcome; True when the node's check state changed."""
    if ok:
        s.error_run[i] = 0
        return False
    s.error_run[i] += 1
    if s.error_run[i] < s.error_limit:
        return False
    s.error_run[i] = 0
    if s.on_error_mark_down:
        return check_mark_down(checks, ns, ev, i)
    return check_result(checks, ns, ev, i, False)
