# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Pieces every health policy shares (docs/request_path.md §2): named event
kinds, admin states, the node facts a policy may read, the event buffer and
the active-check (HAProxy rise/fall) state, which works under every policy.

Plain C structs and `noexcept nogil` inline functions: any Cython module can
cimport them and run them without Python objects or the GIL.
"""
from libc.stdint cimport int64_t

cdef enum EventKind:
    EVENT_EJECTED = 1        # passive policy failed the node, or checks took it DOWN
    EVENT_RESTORED = 2
    EVENT_PANIC_ENTERED = 3  # node -1
    EVENT_PANIC_LEFT = 4

cdef enum PolicyKind:
    POLICY_NONE = 0
    POLICY_NGINX = 1
    POLICY_ENVOY = 2
    POLICY_HAPROXY = 3

cdef enum AdminState:
    ADMIN_UP = 0             # HAProxy READY
    ADMIN_DOWN = 1
    ADMIN_DRAINING = 2       # no new requests; in-flight ones finish
    ADMIN_MAINT = 3          # HAProxy MAINT: never serves


cdef struct NodeSet:
    Py_ssize_t n                     # nodes, backups included
    Py_ssize_t n_primary
    const unsigned char *is_backup


cdef struct EventBuffer:
    int *kind
    Py_ssize_t *node
    Py_ssize_t capacity
    Py_ssize_t count
    Py_ssize_t dropped               # since the last flush


cdef inline void push_event(EventBuffer *ev, int kind, Py_ssize_t node) noexcept nogil:
    if ev.count < ev.capacity:
        ev.kind[ev.count] = kind
        ev.node[ev.count] = node
        ev.count += 1
    else:
        ev.dropped += 1


cdef struct CheckState:
    int64_t rise
    int64_t fall
    int64_t *ok_run
    int64_t *fail_run
    unsigned char *down              # check DOWN


cdef inline bint check_result(CheckState *c, const NodeSet *ns, EventBuffer *ev, Py_ssize_t i,
                              bint ok) noexcept nogil:
    """One active check result; True when the node's check state changed.
    HAProxy: `fall` consecutive failed checks take a server DOWN, `rise`
    consecutive good ones bring it back UP. A lone primary is never taken down."""
    if ok:
        c.ok_run[i] += 1
        c.fail_run[i] = 0
        if c.down[i] and c.ok_run[i] >= c.rise:
            c.down[i] = 0
            push_event(ev, EVENT_RESTORED, i)
            return True
        return False
    c.fail_run[i] += 1
    c.ok_run[i] = 0
    if not c.down[i] and c.fail_run[i] >= c.fall and ns.n_primary > 1:
        c.down[i] = 1
        push_event(ev, EVENT_EJECTED, i)
        return True
    return False


cdef inline bint check_mark_down(CheckState *c, const NodeSet *ns, EventBuffer *ev, Py_ssize_t i) noexcept nogil:
    """HAProxy on-error mark-down: DOWN at once, as after `fall` failed checks."""
    c.ok_run[i] = 0
    c.fail_run[i] = c.fall
    if not c.down[i] and ns.n_primary > 1:
        c.down[i] = 1
        push_event(ev, EVENT_EJECTED, i)
        return True
    return False
