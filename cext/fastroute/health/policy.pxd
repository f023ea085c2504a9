# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""The health state of one upstream and its policy, selected once
(docs/request_path.md §2): `health_select` sets the function pointers of the
chosen policy; callers never branch on the policy kind."""
from fastroute.health.core cimport (
    POLICY_ENVOY, POLICY_HAPROXY, POLICY_NGINX, CheckState, EventBuffer, NodeSet,
)
from fastroute.health.envoy cimport EnvoyState, envoy_end_expired, envoy_healthy, envoy_record
from fastroute.health.haproxy cimport HAProxyState, haproxy_record
from fastroute.health.nginx cimport NginxState, nginx_failed, nginx_healthy, nginx_record


cdef struct Health:
    int kind                         # PolicyKind
    NodeSet nodes
    EventBuffer events
    CheckState checks
    NginxState nginx
    EnvoyState envoy
    HAProxyState haproxy
    # The policy, selected once:
    bint (*record)(Health *h, Py_ssize_t i, bint ok, double now) noexcept nogil
    bint (*healthy)(Health *h, Py_ssize_t i, double now, double *expiry) noexcept nogil
    bint (*failed)(Health *h, Py_ssize_t i, double now) noexcept nogil
    bint (*end_expired)(Health *h, double now) noexcept nogil


cdef inline bint _none_record(Health *h, Py_ssize_t i, bint ok, double now) noexcept nogil:
    return False

cdef inline bint _none_healthy(Health *h, Py_ssize_t i, double now, double *expiry) noexcept nogil:
    return True

cdef inline bint _none_failed(Health *h, Py_ssize_t i, double now) noexcept nogil:
    return False

cdef inline bint _none_end_expired(Health *h, double now) noexcept nogil:
    return False

cdef inline bint _nginx_record(Health *h, Py_ssize_t i, bint ok, double now) noexcept nogil:
    return nginx_record(&h.nginx, &h.nodes, &h.events, i, ok, now)

cdef inline bint _nginx_healthy(Health *h, Py_ssize_t i, double now, double *expiry) noexcept nogil:
    return nginx_healthy(&h.nginx, &h.nodes, &h.events, i, now, expiry)

cdef inline bint _nginx_failed(Health *h, Py_ssize_t i, double now) noexcept nogil:
    return nginx_failed(&h.nginx, &h.nodes, i, now)

cdef inline bint _envoy_record(Health *h, Py_ssize_t i, bint ok, double now) noexcept nogil:
    return envoy_record(&h.envoy, &h.nodes, &h.events, i, ok, now)

cdef inline bint _envoy_healthy(Health *h, Py_ssize_t i, double now, double *expiry) noexcept nogil:
    return envoy_healthy(&h.envoy, &h.nodes, &h.events, i, now, expiry)

cdef inline bint _envoy_failed(Health *h, Py_ssize_t i, double now) noexcept nogil:
    return h.envoy.ejected[i]

cdef inline bint _envoy_end_expired(Health *h, double now) noexcept nogil:
    return envoy_end_expired(&h.envoy, &h.nodes, &h.events, now)

cdef inline bint _haproxy_record(Health *h, Py_ssize_t i, bint ok, double now) noexcept nogil:
    return haproxy_record(&h.haproxy, &h.checks, &h.nodes, &h.events, i, ok)


cdef inline void health_select(Health *h, int kind) noexcept nogil:
    h.kind = kind
    h.record = _none_record
    h.healthy = _none_healthy
    h.failed = _none_failed
    h.end_expired = _none_end_expired
    if kind == POLICY_NGINX:
        h.record = _nginx_record
        h.healthy = _nginx_healthy
        h.failed = _nginx_failed
    elif kind == POLICY_ENVOY:
        h.record = _envoy_record
        h.healthy = _envoy_healthy
        h.failed = _envoy_failed
        h.end_expired = _envoy_end_expired
    elif kind == POLICY_HAPROXY:
        h.record = _haproxy_record  # failed-by-checks is the view's check state, for every policy
