# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""fastroute._cext: request-time balancers (stateful, per request) and the
health and load view they share (docs/request_path.md §1).

Arguments arrive validated by the Python faces (`fastroute.balancers`,
`fastroute.upstream`); this module trusts their shape and type. All state of
one upstream — per node admin state, in-flight count, latency EWMA, passive
and active health, slow start — lives in one `HealthView`; every balancer is
built over a view (a standalone balancer makes a private one). Every state
change and every pick holds the view's mutex (`cython.pymutex`), so picks,
acquires, releases and reports from many threads and many balancers never
interleave, on free-threaded CPython too.

Eligibility (one rule set for every balancer):
  1. admin "down", "maintenance" and "draining" nodes, nodes the agent reports
     down and nodes at weight 0 % never take new requests;
  2. a node is healthy unless its passive policy or its active checks failed it;
  3. healthy primaries serve if they are at least `panic_threshold` of the
     primaries; if there are none, healthy backups serve; otherwise, with
     panic_threshold > 0, every primary that rule 1 allows serves (panic);
     otherwise the pick raises NoHealthyNode.
"""
cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport INFINITY, exp, floor, frexp, isfinite, isnan, ldexp, pow
from libc.stdint cimport UINT64_MAX, int32_t, int64_t, uint64_t
from libc.string cimport memset

import numpy as np

from fastroute.balancers.alias cimport alias_build, alias_pick
from fastroute.balancers.fwrr cimport fwrr_init, fwrr_pick, haproxy_eweight
from fastroute.balancers.haproxy_lb cimport chash_nearest, fas_first, fwlc_first, fwlc_place, rnd_pick
from fastroute.balancers.least_request cimport least_request_edf, least_request_p2c
from fastroute.balancers.peak_ewma cimport peak_ewma_observe, peak_ewma_p2c
from fastroute.balancers.rng cimport rng_below, rng_next
from fastroute.balancers.swrr cimport least_conn_pick, swrr_pick, swrr_pick_all
from fastroute.health.core cimport (
    ADMIN_DOWN, ADMIN_DRAINING, ADMIN_MAINT, ADMIN_UP, EVENT_PANIC_ENTERED, EVENT_PANIC_LEFT, POLICY_HAPROXY,
    POLICY_NONE, check_result, push_event,
)
from fastroute.health.nginx cimport nginx_picked
from fastroute.health.policy cimport health_select

cdef extern from *:
    # Defined by setup.py from src/fastroute/_version.py.
    const char *FASTROUTE_VERSION

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec *tp)
    int CLOCK_MONOTONIC

__version__ = FASTROUTE_VERSION.decode()

#: Largest pick_many(n): 2**28 int32 picks are 1 GiB.
MAX_PICK_MANY = 1 << 28

cdef double NAN_LATENCY = float("nan")

EVENT_NAMES = {1: "ejected", 2: "restored", 3: "panic_entered", 4: "panic_left"}
_ADMIN_WORDS = {"up": ADMIN_UP, "ready": ADMIN_UP, "down": ADMIN_DOWN, "draining": ADMIN_DRAINING,
                "drain": ADMIN_DRAINING, "maint": ADMIN_MAINT, "maintenance": ADMIN_MAINT}
# HAProxy agent-check words (doc/configuration.txt, agent-check): ready/drain/maint set
# the admin state, up/down/fail/stopped the agent's operational state.
_AGENT_ADMIN = {"ready": ADMIN_UP, "drain": ADMIN_DRAINING, "maint": ADMIN_MAINT}
_AGENT_OPERATIONAL = {"up": 0, "down": 1, "fail": 1, "stopped": 1}
_ADMIN_NAMES = {ADMIN_UP: "up", ADMIN_DOWN: "down", ADMIN_DRAINING: "draining", ADMIN_MAINT: "maintenance"}
#: set_weight_percent bound: HAProxy caps an effective weight at 256 = 25600 % of weight 1.
MAX_WEIGHT_PERCENT = 25600.0


class NoHealthyNode(RuntimeError):
    """No node can take a request: every node is down, draining or failed,
    no backup is healthy, and panic routing is off."""


cdef inline double monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


def _quoted(value):
    """repr for an error message, card-number runs masked (fastroute.redact; error paths only)."""
    from fastroute.redact import quoted
    return quoted(value)


cdef class HealthView:
    """The health and load state of one upstream, shared by any number of
    balancers and placements (docs/request_path.md §1). One report updates it
    once; every balancer over it sees the change on its next pick."""

    def __cinit__(self, tuple nodes, const unsigned char[::1] backups, dict policy, double panic_threshold=0.0,
                  clock=None, on_state_change=None, dict options=None, *args, **kwargs):
        cdef Py_ssize_t n = len(nodes), i
        if n == 0 or backups.shape[0] != n:
            raise ValueError("nodes and backups must be non-empty and of equal length")
        if options is None:
            options = {}
        self.nodes = nodes
        self.n = n
        self.index_of = {name: i for i, name in enumerate(nodes)}
        # One block: 18 arrays of 8 bytes, 1 of 4 bytes, 7 of 1 byte per node.
        cdef size_t size = n * (18 * 8 + 4 + 7) + 64
        self.memory = PyMem_Malloc(size)
        if self.memory == NULL:
            raise MemoryError()
        memset(self.memory, 0, size)
        cdef char *p = <char *>self.memory
        self.inflight = <int64_t *>p; p += 8 * n
        self.load_stamp = <uint64_t *>p; p += 8 * n
        self.cost = <double *>p; p += 8 * n
        self.stamp = <double *>p; p += 8 * n
        self.weight_percent = <double *>p; p += 8 * n
        self.up_since = <double *>p; p += 8 * n
        self.slow_start_factor = <double *>p; p += 8 * n
        self.h.nginx.fails = <int64_t *>p; p += 8 * n
        self.h.nginx.checked = <double *>p; p += 8 * n
        self.h.nginx.accessed = <double *>p; p += 8 * n
        self.h.nginx.weight_penalties = <int64_t *>p; p += 8 * n
        self.h.envoy.consecutive = <int64_t *>p; p += 8 * n
        self.h.envoy.eject_until = <double *>p; p += 8 * n
        self.h.envoy.ejections = <int64_t *>p; p += 8 * n
        self.h.envoy.restored_at = <double *>p; p += 8 * n
        self.h.haproxy.error_run = <int64_t *>p; p += 8 * n
        self.h.checks.ok_run = <int64_t *>p; p += 8 * n
        self.h.checks.fail_run = <int64_t *>p; p += 8 * n
        self.candidates = <int32_t *>p; p += 4 * n
        self.is_backup = <unsigned char *>p; p += n
        self.admin = <unsigned char *>p; p += n
        self.agent_down = <unsigned char *>p; p += n
        self.eligible_mask = <unsigned char *>p; p += n
        self.was_available = <unsigned char *>p; p += n
        self.h.envoy.ejected = <unsigned char *>p; p += n
        self.h.checks.down = <unsigned char *>p; p += n
        # Events: a refresh makes at most n + 1, a report one; every Python call
        # flushes, so this never fills from Python (C-level callers: see events_dropped).
        self.h.events.capacity = 2 * n + EVENT_SLACK
        self.h.events.kind = <int *>PyMem_Malloc(sizeof(int) * self.h.events.capacity)
        self.h.events.node = <Py_ssize_t *>PyMem_Malloc(sizeof(Py_ssize_t) * self.h.events.capacity)
        if self.h.events.kind == NULL or self.h.events.node == NULL:
            raise MemoryError()
        self.n_primary = 0
        for i in range(n):
            self.is_backup[i] = backups[i]
            self.weight_percent[i] = 100.0
            self.slow_start_factor[i] = 1.0
            self.was_available[i] = 1  # slow start is not applied at process start (HAProxy)
            if not backups[i]:
                self.n_primary += 1
        self.h.nodes.n = n
        self.h.nodes.n_primary = self.n_primary
        self.h.nodes.is_backup = self.is_backup
        health_select(&self.h, policy.get("kind", POLICY_NONE))
        self.h.nginx.max_fails = policy.get("max_fails", 1)
        self.h.nginx.fail_timeout = policy.get("fail_timeout", 10.0)
        self.h.envoy.consecutive_failures = policy.get("consecutive_failures", 5)
        self.h.envoy.interval = policy.get("interval", 10.0)
        self.h.envoy.base_ejection_time = policy.get("base_ejection_time", 30.0)
        self.h.envoy.max_ejection_time = policy.get("max_ejection_time", 300.0)
        self.h.envoy.max_ejection_percent = policy.get("max_ejection_percent", 10.0)
        self.h.haproxy.error_limit = policy.get("error_limit", 10)
        self.h.haproxy.on_error_mark_down = policy.get("on_error", "fail-check") == "mark-down"
        self.h.checks.rise = options.get("rise") or policy.get("rise", 2)
        self.h.checks.fall = options.get("fall") or policy.get("fall", 3)
        if options.get("initially_down"):
            for i in range(n):
                self.h.checks.down[i] = 1
        self.private = options.get("private", False)
        self.track_latency = options.get("track_latency", True)
        self.decay_s = options.get("latency_decay_s", 10.0)
        slow = options.get("slow_start") or {}
        self.slow_start_kind = slow.get("kind", SLOW_START_NONE)
        self.slow_start_window = slow.get("window_s", 0.0)
        self.slow_start_aggression = slow.get("aggression", 1.0)
        self.slow_start_min = slow.get("min_weight_percent", 10.0) / 100.0
        self.panic_threshold = panic_threshold
        self.clock = clock
        self.python_clock = clock is not None
        self.on_state_change = on_state_change
        self.next_expiry = INFINITY
        self.dirty = True
        self.generation = 0
        self.weight_generation = 0

    def __dealloc__(self):
        PyMem_Free(self.memory)
        PyMem_Free(self.h.events.kind)
        PyMem_Free(self.h.events.node)

    # ------------------------------------------------------------------ time
    cdef double now_c(self) noexcept nogil:
        cdef double t
        if not self.python_clock:
            return monotonic()
        with gil:
            try:
                t = float(self.clock())
            except BaseException:
                t = monotonic()
            if not isfinite(t):
                t = monotonic()  # C callers cannot take an exception; Python calls raise (_now)
        return t

    cdef double _now(self) except? -1.0:
        """The clock's reading, checked: health timers need finite seconds (a
        NaN would disable them, an infinity end every ejection at once)."""
        if not self.python_clock:
            return monotonic()
        reading = self.clock()
        if isinstance(reading, (bool, str, bytes)):
            raise TypeError(f"clock: must return a number of seconds, got {type(reading).__name__}")
        cdef double t
        try:
            t = float(reading)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f"clock: must return a finite number of seconds, got {type(reading).__name__}") from None
        if not isfinite(t):
            raise ValueError(f"clock: must return a finite number of seconds, got {t}")
        return t

    cdef bint pick_needs_clock(self) noexcept nogil:
        return self.dirty or self.next_expiry < INFINITY or self.h.nginx.failing != 0

    cdef bint outcome_needs_clock(self) noexcept nogil:
        return self.h.kind != POLICY_NONE or self.track_latency

    # ------------------------------------------------------------ eligibility
    cdef double ramp(self, Py_ssize_t i, double now) noexcept nogil:
        """Slow-start weight factor of node i at `now` (docs/request_path.md §4)."""
        cdef double t = now - self.up_since[i], f, elapsed
        if self.slow_start_kind == SLOW_START_NONE or t < 0:
            return 1.0
        if self.slow_start_kind == SLOW_START_ENVOY:
            if t >= self.slow_start_window:
                return 1.0
            # Envoy: max(min_weight_percent, (t / window) ^ (1 / aggression)).
            f = pow(t / self.slow_start_window, 1.0 / self.slow_start_aggression)
            return f if f > self.slow_start_min else self.slow_start_min
        # HAProxy server_recalc_eweight, in whole seconds: w = (16 * elapsed + slowstart)
        # / slowstart (integer division), weight × w / 16: at least 1/16 from the start.
        elapsed = floor(now) - floor(self.up_since[i])
        if elapsed >= self.slow_start_window:
            return 1.0
        return floor((16.0 * elapsed + self.slow_start_window) / self.slow_start_window) / 16.0

    cdef void refresh(self, double now) noexcept nogil:
        cdef Py_ssize_t i, healthy_primary = 0, healthy_backup = 0, ramping = 0
        cdef double expiry = INFINITY, factor
        cdef bint healthy, available, was_panic = self.panic
        for i in range(self.n):
            healthy = self.h.healthy(&self.h, i, now, &expiry) and not self.h.checks.down[i]
            available = healthy and self.admin[i] == ADMIN_UP and not self.agent_down[i]
            if self.slow_start_kind != SLOW_START_NONE:
                if available and not self.was_available[i]:
                    self.up_since[i] = now
                factor = self.ramp(i, now) if available else 1.0
                if factor != self.slow_start_factor[i]:
                    self.slow_start_factor[i] = factor
                    self.weight_generation += 1
                if factor < 1.0:
                    ramping += 1
            self.was_available[i] = available
            self.eligible_mask[i] = available and self.weight_percent[i] > 0.0
            if self.eligible_mask[i]:
                if self.is_backup[i]:
                    healthy_backup += 1
                else:
                    healthy_primary += 1
        if ramping:
            # Weights are recomputed in steps of window / 20 (HAProxy's warmup task
            # runs every max(1 s, slowstart / 20)).
            factor = now + self.slow_start_window / 20.0
            if factor < expiry:
                expiry = factor
        self.panic = False
        if healthy_primary > 0 and healthy_primary >= self.panic_threshold * self.n_primary:
            for i in range(self.n):
                if self.is_backup[i]:
                    self.eligible_mask[i] = 0
        elif healthy_backup > 0 and healthy_primary == 0:
            for i in range(self.n):
                if not self.is_backup[i]:
                    self.eligible_mask[i] = 0
        elif self.panic_threshold > 0.0:
            self.panic = True
            for i in range(self.n):
                # rule 1 holds in panic too: draining nodes take no new requests
                self.eligible_mask[i] = ((not self.is_backup[i]) and self.admin[i] == ADMIN_UP
                                         and not self.agent_down[i] and self.weight_percent[i] > 0.0)
        else:
            for i in range(self.n):
                if self.is_backup[i]:
                    self.eligible_mask[i] = 0
        if self.panic != was_panic:
            push_event(&self.h.events, EVENT_PANIC_ENTERED if self.panic else EVENT_PANIC_LEFT, -1)
        self.candidate_count = 0
        for i in range(self.n):
            if self.eligible_mask[i]:
                self.candidates[self.candidate_count] = <int32_t>i
                self.candidate_count += 1
        self.all_eligible = self.candidate_count == self.n
        self.next_expiry = expiry
        self.dirty = False
        self.generation += 1

    # -------------------------------------------------------------- outcomes
    cdef void record(self, Py_ssize_t i, bint ok, double now) noexcept nogil:
        if (self.dirty or now >= self.next_expiry) and self.h.end_expired(&self.h, now):
            self.dirty = True
        if self.h.record(&self.h, i, ok, now):
            self.dirty = True

    cdef void observe(self, Py_ssize_t i, double rtt, double now) noexcept nogil:
        peak_ewma_observe(self.cost, self.stamp, i, rtt, now, self.decay_s)

    cdef void check(self, Py_ssize_t i, bint ok) noexcept nogil:
        if check_result(&self.h.checks, &self.h.nodes, &self.h.events, i, ok):
            self.dirty = True

    cdef bint failed(self, Py_ssize_t i, double now) noexcept nogil:
        return self.h.failed(&self.h, i, now) or self.h.checks.down[i]

    cdef void load_changed(self, Py_ssize_t i) noexcept nogil:
        # Under the lock, at every in-flight or admin-state change: HAProxy leastconn
        # re-queues a server when it takes or drops a connection or comes up, so the
        # order of changes matters.
        self.load_stamp[i] = self.load_clock
        self.load_clock += 1

    cdef int end_request(self, Py_ssize_t i, int outcome, double latency, double now) except -1:
        """Under the lock: frees i's in-flight slot; OUTCOME_OK / OUTCOME_FAILED feed health."""
        if self.inflight[i] <= 0:
            raise ValueError(f"node: release of {_quoted(self.nodes[i])} without a matching acquire")
        self.inflight[i] -= 1
        self.load_changed(i)
        if outcome != OUTCOME_NONE:
            self.record(i, outcome == OUTCOME_OK, now)
            if latency == latency and self.track_latency:
                self.observe(i, latency, now)
        return 0

    # ------------------------------------------------------------ Python API
    cdef Py_ssize_t _index(self, node) except -1:
        try:
            return self.index_of[node]
        except (KeyError, TypeError):
            raise ValueError(f"node: unknown node {_quoted(node)}") from None

    @property
    def events_dropped(self):
        """State-change events lost because the buffer was full (only C-level
        callers that never return to Python can fill it); 0 otherwise."""
        return self.total_dropped_py + self.h.events.dropped

    def _flush_events(self):
        cdef Py_ssize_t k, count
        if self.h.events.count == 0 and self.h.events.dropped == 0:
            return
        with self.lock:
            count = self.h.events.count
            kinds = [self.h.events.kind[k] for k in range(count)]
            nodes = [self.h.events.node[k] for k in range(count)]
            self.h.events.count = 0
            dropped = self.h.events.dropped
            self.h.events.dropped = 0
        if dropped:
            import warnings
            warnings.warn(f"on_state_change: {dropped} state-change events were dropped (C-level callers made "
                          f"more than {self.h.events.capacity} without a Python call in between)", RuntimeWarning,
                          stacklevel=3)
            self.total_dropped_py += dropped
        if self.on_state_change is not None:
            for kind, node in zip(kinds, nodes):
                self.on_state_change(EVENT_NAMES[kind], self.nodes[node] if node >= 0 else None)

    cdef bint _ok(self, ok) except -1:
        if ok is True or ok is False or isinstance(ok, np.bool_):
            return bool(ok)
        raise TypeError(f"ok: expected True or False, got {type(ok).__name__}")

    cdef double _latency(self, latency_s) except? -2.0:
        if latency_s is None:
            return NAN_LATENCY
        if isinstance(latency_s, (bool, np.bool_)) or not isinstance(latency_s, (int, float, np.integer, np.floating)):
            raise TypeError(f"latency_s: expected None or a number of seconds, got {type(latency_s).__name__}")
        cdef double v
        try:
            v = float(latency_s)
        except OverflowError:
            v = INFINITY
        if not (v >= 0.0) or v == INFINITY:
            raise ValueError(f"latency_s: must be a finite number >= 0, got {_quoted(latency_s)}")
        return v

    def report(self, node, ok=True, latency_s=None):
        """Records an outcome for `node` without in-flight accounting."""
        cdef Py_ssize_t i = self._index(node)
        cdef bint success = self._ok(ok)
        cdef double latency = self._latency(latency_s)
        cdef double now = self._now()
        with self.lock:
            self.record(i, success, now)
            if latency == latency and self.track_latency:
                self.observe(i, latency, now)
        if self.h.events.count:
            self._flush_events()

    def report_check(self, node, ok):
        """Result of an active health check (HAProxy rise/fall semantics)."""
        cdef Py_ssize_t i = self._index(node)
        cdef bint success = self._ok(ok)
        with self.lock:
            self.check(i, success)
        if self.h.events.count:
            self._flush_events()

    def set_state(self, node, state, *, source="admin"):
        """Administrative state: "up"/"ready", "down", "draining"/"drain",
        "maint"/"maintenance"; with source="agent", HAProxy agent-check words
        (ready, drain, maint, up, down, fail, stopped; docs/request_path.md §1)."""
        cdef Py_ssize_t i = self._index(node)
        if source == "admin":
            if not isinstance(state, str) or state not in _ADMIN_WORDS:
                raise ValueError(f"state: expected one of {sorted(_ADMIN_WORDS)}, got {_quoted(state)}")
            with self.lock:
                if self.admin[i] != _ADMIN_WORDS[state]:
                    self.load_changed(i)  # HAProxy queues a server in leastconn's tree when it comes up
                self.admin[i] = _ADMIN_WORDS[state]
                self.dirty = True
        elif source == "agent":
            if not isinstance(state, str) or (state not in _AGENT_ADMIN and state not in _AGENT_OPERATIONAL):
                raise ValueError(f"state: expected an agent word among "
                                 f"{sorted(list(_AGENT_ADMIN) + list(_AGENT_OPERATIONAL))}, got {_quoted(state)}")
            with self.lock:
                if state in _AGENT_ADMIN:
                    self.admin[i] = _AGENT_ADMIN[state]
                else:
                    self.agent_down[i] = _AGENT_OPERATIONAL[state]
                self.dirty = True
        else:
            raise ValueError(f"source: expected 'admin' or 'agent', got {_quoted(source)}")

    def set_weight_percent(self, node, pct):
        """HAProxy agent `N%`: weighted balancers use weight × pct / 100; 0 takes no new requests."""
        cdef Py_ssize_t i = self._index(node)
        if isinstance(pct, (bool, np.bool_)) or not isinstance(pct, (int, float, np.integer, np.floating)):
            raise TypeError(f"pct: expected a number, got {type(pct).__name__}")
        cdef double v
        try:
            v = float(pct)
        except OverflowError:
            v = INFINITY
        if not (0.0 <= v <= MAX_WEIGHT_PERCENT):
            raise ValueError(f"pct: must be a finite number in [0, {MAX_WEIGHT_PERCENT:g}], got {_quoted(pct)}")
        with self.lock:
            if self.weight_percent[i] != v:
                self.weight_percent[i] = v
                self.weight_generation += 1
                self.dirty = True

    def acquire(self, node):
        """Counts one request in flight on `node` (chosen elsewhere, e.g. by a placement)."""
        cdef Py_ssize_t i = self._index(node)
        with self.lock:
            self.inflight[i] += 1
            self.load_changed(i)

    def release(self, node, ok=True, latency_s=None):
        """Ends a request acquired on `node`; its outcome feeds health, its latency the EWMA."""
        cdef Py_ssize_t i = self._index(node)
        cdef bint success = self._ok(ok)
        cdef double latency = self._latency(latency_s)
        cdef double now
        try:
            now = self._now()
        except BaseException:
            self.abandon(node)  # the request has ended either way
            raise
        with self.lock:
            self.end_request(i, OUTCOME_OK if success else OUTCOME_FAILED, latency, now)
        if self.h.events.count:
            self._flush_events()

    def abandon(self, node):
        """Ends a request acquired on `node` without an outcome (cancelled, or
        its result unknown): only the in-flight count drops."""
        cdef Py_ssize_t i = self._index(node)
        with self.lock:
            if self.inflight[i] <= 0:
                raise ValueError(f"node: abandon of {_quoted(node)} without a matching acquire")
            self.inflight[i] -= 1
            self.load_changed(i)

    cdef int _refresh_now(self) except -1:
        cdef double now = self._now()
        with self.lock:
            self.refresh(now)
        if self.h.events.count:
            self._flush_events()
        return 0

    cdef str _state_locked(self, Py_ssize_t i, double now):
        if self.admin[i] == ADMIN_DOWN or self.agent_down[i]:
            return "down"
        if self.admin[i] == ADMIN_MAINT:
            return "maintenance"
        if self.admin[i] == ADMIN_DRAINING or self.weight_percent[i] == 0.0:
            return "draining"
        if self.failed(i, now):
            return "ejected"
        if self.is_backup[i]:
            return "backup"
        return "up"

    def state(self, node):
        """"down", "maintenance", "draining", "ejected" (failed by health), "backup" or "up"."""
        cdef Py_ssize_t i = self._index(node)
        cdef double now = self._now()
        with self.lock:
            self.refresh(now)
            result = self._state_locked(i, now)
        if self.h.events.count:
            self._flush_events()
        return result

    def available(self, node):
        """Whether `node` would be considered for the next request."""
        cdef Py_ssize_t i = self._index(node)
        self._refresh_now()
        return bool(self.eligible_mask[i])

    def eligible(self):
        """Nodes that would be considered for the next request, in node order."""
        cdef double now = self._now()
        with self.lock:
            self.refresh(now)
            result = tuple(self.nodes[i] for i in range(self.n) if self.eligible_mask[i])
        if self.h.events.count:
            self._flush_events()
        return result

    def _eligible_mask(self):
        """numpy bool array over nodes: would take the next request (refreshed now)."""
        cdef double now = self._now()
        out = np.zeros(self.n, dtype=np.bool_)
        cdef unsigned char[::1] view = out.view(np.uint8)
        cdef Py_ssize_t i
        with self.lock:
            self.refresh(now)
            for i in range(self.n):
                view[i] = self.eligible_mask[i]
        if self.h.events.count:
            self._flush_events()
        return out

    def status(self, node):
        """Everything the view knows about `node`, as a dict (docs/request_path.md §1)."""
        cdef Py_ssize_t i = self._index(node)
        cdef double now = self._now()
        with self.lock:
            self.refresh(now)
            result = {
                "state": self._state_locked(i, now),
                "admin": _ADMIN_NAMES[self.admin[i]],
                "check": "down" if self.h.checks.down[i] else "up",
                "check_ok_run": self.h.checks.ok_run[i],
                "check_fail_run": self.h.checks.fail_run[i],
                "agent": "down" if self.agent_down[i] else "up",
                "passive_failed": bool(self.h.failed(&self.h, i, now)),
                "in_flight": self.inflight[i],
                "latency_s": self.cost[i],
                "weight_percent": self.weight_percent[i],
                "slow_start_factor": self.slow_start_factor[i],
            }
        if self.h.events.count:
            self._flush_events()
        return result

    def in_flight(self, node=None):
        """Requests in flight on `node` (or a dict over all nodes)."""
        if node is None:
            with self.lock:
                return {self.nodes[i]: self.inflight[i] for i in range(self.n)}
        cdef Py_ssize_t i = self._index(node)
        return self.inflight[i]

    def latency_estimate(self, node):
        """Peak-EWMA latency estimate of `node` in seconds (as of its last update)."""
        cdef Py_ssize_t i = self._index(node)
        return self.cost[i]

    @property
    def in_panic(self):
        """True while routing over all primaries because too few are healthy."""
        return self.panic

    @property
    def backups(self):
        return tuple(self.nodes[i] for i in range(self.n) if self.is_backup[i])

    @property
    def latency_decay_s(self):
        return self.decay_s


cdef class Balancer:
    """A policy for choosing nodes over a HealthView. Not used directly."""

    def __cinit__(self, tuple nodes, const double[::1] weights, const unsigned char[::1] backups,
                  dict policy, double panic_threshold=0.0, clock=None, on_state_change=None,
                  uint64_t seed=0, *args, HealthView upstream=None, bint tracks_latency=False,
                  double latency_decay_s=10.0, **kwargs):
        cdef Py_ssize_t n = len(nodes), i
        if n == 0 or weights.shape[0] != n:
            raise ValueError("nodes and weights must be non-empty and of equal length")
        if upstream is None:
            upstream = HealthView(nodes, backups, policy, panic_threshold, clock, on_state_change,
                                  {"private": True, "track_latency": tracks_latency,
                                   "latency_decay_s": latency_decay_s})
        elif upstream.nodes != nodes:
            raise ValueError("nodes: must be the upstream's nodes, in its order")
        self.view = upstream
        self.nodes = nodes
        self.n = n
        self.index_of = upstream.index_of
        self.inflight = upstream.inflight
        self.eligible_mask = upstream.eligible_mask
        self.candidates = upstream.candidates
        # One block: 7 arrays of 8 bytes per node.
        self.memory = PyMem_Malloc(n * 7 * 8 + 64)
        if self.memory == NULL:
            raise MemoryError()
        memset(self.memory, 0, n * 7 * 8 + 64)
        cdef char *p = <char *>self.memory
        self.swrr.count = n
        self.swrr.weight = <int64_t *>p; p += 8 * n
        self.swrr.effective_weight = <int64_t *>p; p += 8 * n
        self.swrr.current_weight = <int64_t *>p; p += 8 * n
        self.base_weight = <double *>p; p += 8 * n
        self.weight_f = <double *>p; p += 8 * n
        self.weight_scaled = <double *>p; p += 8 * n
        self.penalties_seen = <int64_t *>p; p += 8 * n
        cdef double max_w = 0.0
        cdef int exponent = 0
        for i in range(n):
            if weights[i] > max_w:
                max_w = weights[i]
        if max_w > 0.0:
            frexp(max_w, &exponent)  # max_w = m * 2**exponent, m in [0.5, 1)
        self.weight_exponent = exponent
        for i in range(n):
            self.base_weight[i] = weights[i]
            self.weight_f[i] = weights[i]
            self.swrr.weight[i] = <int64_t>weights[i]
            self.swrr.effective_weight[i] = <int64_t>weights[i]
            self.weight_scaled[i] = self.scaled(weights[i])
        self.rng = seed
        self.seen_generation = UINT64_MAX
        self.seen_weight_generation = 0
        self.needs_time = False
        with upstream.lock:
            # Attached to a view that already had failures: start from its penalties.
            for i in range(n):
                self.penalties_seen[i] = upstream.h.nginx.weight_penalties[i]
            self.penalty_total_seen = upstream.h.nginx.penalty_total

    def __dealloc__(self):
        PyMem_Free(self.memory)

    cdef double scaled(self, double w) noexcept nogil:
        # ldexp is exact unless the result leaves the normal range; a positive weight stays positive.
        cdef double s = ldexp(w, 1 - self.weight_exponent)
        if w > 0.0 and s == 0.0:
            s = 5e-324
        return s

    # ------------------------------------------------------------ the view
    cdef void sync(self) noexcept nogil:
        """Takes up the view's latest refresh: candidates, nginx weight penalties,
        weight percentages and slow-start factors; then the balancer's own rebuild."""
        cdef Py_ssize_t i
        if self.override_mask != NULL:
            # A subset of the view chosen by a LocalityBalancer (docs/multi_region.md §4).
            self.eligible_mask = self.override_mask
            self.candidates = self.override_candidates
            self.candidate_count = 0
            for i in range(self.n):
                if self.override_mask[i]:
                    self.candidates[self.candidate_count] = <int32_t>i
                    self.candidate_count += 1
            self.all_eligible = self.candidate_count == self.n
        else:
            self.candidate_count = self.view.candidate_count
            self.all_eligible = self.view.all_eligible
        self.apply_penalties()
        if self.view.weight_generation != self.seen_weight_generation:
            self.apply_weights()
            self.seen_weight_generation = self.view.weight_generation
        self.seen_generation = self.view.generation
        self.on_refresh()

    cdef void apply_penalties(self) noexcept nogil:
        # nginx lowers the effective weight by weight/max_fails per failure;
        # the view counts the failures, each balancer applies them to its weights.
        cdef Py_ssize_t i
        cdef int64_t d
        if self.view.h.nginx.penalty_total == self.penalty_total_seen:
            return
        for i in range(self.n):
            d = self.view.h.nginx.weight_penalties[i] - self.penalties_seen[i]
            if d:
                self.swrr.effective_weight[i] -= d * (self.swrr.weight[i] // self.view.h.nginx.max_fails)
                if self.swrr.effective_weight[i] < 0:
                    self.swrr.effective_weight[i] = 0
                self.penalties_seen[i] = self.view.h.nginx.weight_penalties[i]
        self.penalty_total_seen = self.view.h.nginx.penalty_total

    cdef void apply_weights(self) noexcept nogil:
        # weight = configured × agent percent × slow-start factor (docs/request_path.md §4).
        cdef Py_ssize_t i
        cdef double w
        cdef int64_t wi
        for i in range(self.n):
            w = self.base_weight[i] * (self.view.weight_percent[i] / 100.0) * self.view.slow_start_factor[i]
            self.weight_f[i] = w
            self.weight_scaled[i] = self.scaled(w)
            # Integer (nginx) weights: nearest integer, at least 1 while the node serves.
            wi = <int64_t>floor(w + 0.5)
            if wi == 0 and w > 0.0:
                wi = 1
            # The effective weight moves with the weight, keeping any nginx failure
            # penalty still to recover: a weight raise takes effect at once.
            self.swrr.effective_weight[i] += wi - self.swrr.weight[i]
            if self.swrr.effective_weight[i] < 0:
                self.swrr.effective_weight[i] = 0
            if self.swrr.effective_weight[i] > wi:
                self.swrr.effective_weight[i] = wi
            self.swrr.weight[i] = wi
        self.on_weights()

    cdef void on_weights(self) noexcept nogil:
        pass

    cdef void on_refresh(self) noexcept nogil:
        pass

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        return -1

    cdef void choose_many(self, int32_t *out, Py_ssize_t n, double now) noexcept nogil:
        cdef Py_ssize_t k
        for k in range(n):
            out[k] = <int32_t>self.choose(now)

    cdef Py_ssize_t pick_locked(self, double now) noexcept nogil:
        cdef Py_ssize_t idx
        if self.view.dirty or now >= self.view.next_expiry:
            self.view.refresh(now)
        if self.seen_generation != self.view.generation:
            self.sync()
        if self.candidate_count == 0:
            return -1
        idx = self.choose(now)
        if idx >= 0 and self.view.h.nginx.failing and nginx_picked(&self.view.h.nginx, idx, now):
            self.view.dirty = True  # failed again until this request succeeds or the window ends
        return idx

    cdef void observe(self, Py_ssize_t i, double latency_s, double now) noexcept nogil:
        if self.view.track_latency:
            self.view.observe(i, latency_s, now)

    cdef bint pick_needs_clock(self) noexcept nogil:
        return self.needs_time or self.view.pick_needs_clock()

    # ------------------------------------------------------------- C-level API
    cdef Py_ssize_t pick_index_c(self) noexcept nogil:
        cdef double now = self.view.now_c() if self.pick_needs_clock() else 0.0
        cdef Py_ssize_t idx
        with self.view.lock:
            idx = self.pick_locked(now)
        return idx

    cdef Py_ssize_t acquire_c(self) noexcept nogil:
        cdef double now = self.view.now_c() if self.pick_needs_clock() else 0.0
        cdef Py_ssize_t idx
        with self.view.lock:
            idx = self.pick_locked(now)
            if idx >= 0:
                self.inflight[idx] += 1
                self.view.load_changed(idx)
        return idx

    cdef int release_c(self, Py_ssize_t i, bint ok, double latency_s) noexcept nogil:
        if i < 0 or i >= self.n or (latency_s == latency_s and latency_s < 0):
            return -1
        cdef double now = self.view.now_c() if (self.view.outcome_needs_clock() or self.needs_time) else 0.0
        with self.view.lock:
            if self.inflight[i] <= 0:
                return -1
            self.inflight[i] -= 1
            self.view.load_changed(i)
            self.view.record(i, ok, now)
            if latency_s == latency_s:
                self.observe(i, latency_s, now)
        return 0

    # ------------------------------------------------------------ Python API
    cdef double _now_for_pick(self) except? -1.0:
        if self.pick_needs_clock():
            return self.view._now()
        return 0.0

    cdef double _now(self) except? -1.0:
        return self.view._now()

    cdef Py_ssize_t _index(self, node) except -1:
        return self.view._index(node)

    @property
    def upstream(self):
        """The HealthView this balancer reads (a private one for a standalone balancer)."""
        return self.view

    @property
    def events_dropped(self):
        """State-change events lost because the buffer was full (only C-level
        callers that never return to Python can fill it); 0 otherwise."""
        return self.view.events_dropped

    def _flush_events(self):
        self.view._flush_events()

    cdef Py_ssize_t _pick_or_raise(self, bint acquire) except -1:
        cdef double now = self._now_for_pick()
        cdef Py_ssize_t idx
        with self.view.lock:
            idx = self.pick_locked(now)
            if acquire and idx >= 0:
                self.inflight[idx] += 1
                self.view.load_changed(idx)
        if self.view.h.events.count:
            self.view._flush_events()
        if idx < 0:
            raise NoHealthyNode(f"no healthy node among {len(self.nodes)}")
        return idx

    def pick_index(self):
        """Index into `.nodes` of the node for the next request."""
        return self._pick_or_raise(False)

    def pick(self):
        """Name of the node for the next request."""
        # The hottest call: the body of _pick_or_raise, inlined (a cdef call
        # with an exception check costs ~20 ns here).
        cdef double now = self._now_for_pick()
        cdef Py_ssize_t idx
        with self.view.lock:
            idx = self.pick_locked(now)
        if self.view.h.events.count:
            self.view._flush_events()
        if idx < 0:
            raise NoHealthyNode(f"no healthy node among {len(self.nodes)}")
        return self.nodes[idx]

    def pick_many(self, n_picks):
        """The next `n` picks (0 <= n <= 2**28) as an int32 array of indices
        (GIL released; one clock reading)."""
        if isinstance(n_picks, bool) or not hasattr(n_picks, "__index__"):
            raise TypeError(f"n: expected an int, got {type(n_picks).__name__}")
        if n_picks < 0:
            raise ValueError(f"n: must be >= 0, got {n_picks}")
        if n_picks > MAX_PICK_MANY:
            raise ValueError(f"n: must be <= 2**28 (checked before allocating), got {n_picks}")
        cdef Py_ssize_t n = n_picks
        out = np.empty(n, dtype=np.int32)
        cdef int32_t[::1] view = out
        cdef double now = self._now_for_pick()
        cdef Py_ssize_t k, idx = 0
        cdef HealthView v = self.view
        if n:
            with nogil:
                with v.lock:
                    idx = self.pick_locked(now)
                    if idx >= 0:
                        view[0] = <int32_t>idx
                    if idx >= 0 and not (self.needs_time or v.pick_needs_clock()):
                        # Nothing can change eligibility within the batch: run the kernel alone.
                        self.choose_many(&view[0] + 1, n - 1, now)
                    else:
                        for k in range(1, n):
                            if idx < 0:
                                break
                            idx = self.pick_locked(now)
                            if idx >= 0:
                                view[k] = <int32_t>idx
        if v.h.events.count:
            v._flush_events()
        if idx < 0:
            raise NoHealthyNode(f"no healthy node among {len(self.nodes)}")
        return out

    def acquire(self):
        """Picks a node and counts one request in flight on it; pair with release()."""
        return self.nodes[self._pick_or_raise(True)]

    def release(self, node, ok=True, latency_s=None):
        """Ends a request acquired on `node`: its outcome feeds health, its
        latency (seconds) feeds latency-aware balancers."""
        cdef Py_ssize_t i = self._index(node)
        cdef bint success = self.view._ok(ok)
        cdef double latency = self.view._latency(latency_s)
        cdef double now
        try:
            now = self._now()
        except BaseException:
            # The request has ended either way: free its in-flight slot, then report the clock.
            self.abandon(node)
            raise
        with self.view.lock:
            self.view.end_request(i, OUTCOME_OK if success else OUTCOME_FAILED, latency, now)
        if self.view.h.events.count:
            self.view._flush_events()

    def report(self, node, ok=True, latency_s=None):
        """Records an outcome for `node` without in-flight accounting."""
        self.view.report(node, ok, latency_s)

    def report_check(self, node, ok):
        """Result of an active health check (HAProxy rise/fall semantics)."""
        if self.view.private and self.view.h.kind != POLICY_HAPROXY:
            raise ValueError("report_check: active checks need a HAProxy-style health policy (rise/fall) "
                             "or a balancer over a fastroute.HealthView")
        self.view.report_check(node, ok)

    def abandon(self, node):
        """Ends a request acquired on `node` without reporting an outcome (its
        result is unknown, e.g. the clock failed): only the in-flight count drops."""
        self.view.abandon(node)

    cdef int _finish(self, Py_ssize_t i, int outcome, double latency, double now) except -1:
        """End of a leased request on index i at `now`: OUTCOME_OK / OUTCOME_FAILED
        feed health (and latency, when not NaN); OUTCOME_NONE only frees the slot."""
        cdef HealthView v = self.view
        with v.lock:
            v.end_request(i, outcome, latency, now)
        if v.h.events.count:
            v._flush_events()
        return 0

    def lease(self):
        """A Lease for one request: `with b.lease() as node:` / `async with b.lease() as node:`."""
        cdef Lease lease = Lease.__new__(Lease)
        lease.balancer = self
        return lease

    cdef double _latency(self, latency_s) except? -2.0:
        return self.view._latency(latency_s)

    def set_state(self, node, state):
        """Administrative state from outside (membership, operators): "up",
        "down" (never serves), "draining" (no new requests), "maintenance"."""
        self.view.set_state(node, state)

    def state(self, node):
        """"down", "draining", "ejected" (failed by health), "backup" or "up"."""
        return self.view.state(node)

    def eligible(self):
        """Nodes that would be considered for the next request, in node order."""
        return self.view.eligible()

    @property
    def in_panic(self):
        """True while routing over all primaries because too few are healthy."""
        return self.view.panic

    def active(self, node=None):
        """Requests in flight on `node` (or a dict over all nodes)."""
        return self.view.in_flight(node)

    @property
    def weights(self):
        return tuple(self.base_weight[i] for i in range(self.n))

    @property
    def effective_weights(self):
        """nginx effective weights (lowered by failures, recovering by 1 per pick)."""
        with self.view.lock:
            self.apply_penalties()
            return tuple(self.swrr.effective_weight[i] for i in range(self.n))

    @property
    def backups(self):
        return self.view.backups


# Exceptions that end a request without saying anything about the node: the
# caller went away (asyncio cancellation, a timeout around the request, Ctrl-C,
# a closed generator). nginx likewise does not count a client abort (499) as an
# upstream failure (docs/request_path.md §3).
# asyncio is looked up, not imported: a program that never imported it cannot
# raise its CancelledError, and `import fastroute` stays light for the CLI.
import sys as _sys


def _is_cancellation(exc_type):
    """Whether an exception type ends a request without an outcome."""
    if issubclass(exc_type, (KeyboardInterrupt, GeneratorExit)):
        return True
    aio = _sys.modules.get("asyncio")
    return aio is not None and issubclass(exc_type, aio.CancelledError)

cdef enum:
    LEASE_NEW = 0
    LEASE_HELD = 1
    LEASE_DONE = 2


@cython.final
@cython.freelist(32)  # one per request: reuse the memory of finished leases
cdef class Lease:
    """One request on one node: `with b.lease() as node:` or `async with`.
    A normal exit reports success with the measured latency, an exception a
    failure, a cancellation (CancelledError, KeyboardInterrupt, GeneratorExit)
    or `cancel()` no outcome at all. Single use."""

    def __cinit__(self):
        self.idx = -1
        self.phase = LEASE_NEW

    @property
    def node(self):
        """The leased node's name (None before the lease is entered)."""
        return self.balancer.nodes[self.idx] if self.idx >= 0 else None

    cdef object _enter(self):
        if self.phase != LEASE_NEW:
            raise RuntimeError("lease: already used; call lease() once per request")
        cdef Balancer b = self.balancer
        self.idx = b._pick_or_raise(True)
        self.phase = LEASE_HELD
        try:
            self.start = b._now()
        except BaseException:
            self.phase = LEASE_DONE
            b._finish(self.idx, OUTCOME_NONE, NAN_LATENCY, 0.0)  # never leak the in-flight count
            raise
        return b.nodes[self.idx]

    cdef int _end(self, int outcome, double latency_s) except -1:
        cdef Balancer b = self.balancer
        cdef double now = 0.0
        if self.phase != LEASE_HELD:
            return 0
        self.phase = LEASE_DONE
        if outcome != OUTCOME_NONE:
            try:
                now = b._now()  # one reading: the latency and the health timers
            except BaseException:
                b._finish(self.idx, OUTCOME_NONE, NAN_LATENCY, 0.0)  # the request ended either way
                raise
            if latency_s != latency_s:
                latency_s = now - self.start if now > self.start else 0.0
        b._finish(self.idx, outcome, latency_s, now)
        return 0

    cdef int _exit(self, exc_type) except -1:
        if exc_type is None:
            return self._end(OUTCOME_OK, NAN_LATENCY)
        if _is_cancellation(exc_type):
            return self._end(OUTCOME_NONE, NAN_LATENCY)
        return self._end(OUTCOME_FAILED, NAN_LATENCY)

    def __enter__(self):
        return self._enter()

    def __exit__(self, exc_type, exc, tb):
        self._exit(exc_type)
        return False

    async def __aenter__(self):
        return self._enter()

    async def __aexit__(self, exc_type, exc, tb):
        self._exit(exc_type)
        return False

    def cancel(self):
        """Ends the request without an outcome (only the in-flight count drops); idempotent."""
        self._end(OUTCOME_NONE, NAN_LATENCY)

    def fail(self):
        """Ends the request now as a failure; the block's exit then does nothing."""
        self._end(OUTCOME_FAILED, NAN_LATENCY)

    def succeed(self, latency_s=None):
        """Ends the request now as a success (latency measured unless given)."""
        cdef double latency = self.balancer._latency(latency_s)
        self._end(OUTCOME_OK, latency)


cdef class RoundRobin(Balancer):
    """Plain round robin over the eligible nodes (Envoy's equal-weight path)."""

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        cdef Py_ssize_t idx = self.candidates[self.cursor % <uint64_t>self.candidate_count]
        self.cursor += 1
        return idx


cdef class SmoothWeightedRoundRobin(Balancer):
    """nginx's smooth weighted round robin (docs/algorithms.md §8.1)."""

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        if self.all_eligible:
            return swrr_pick_all(&self.swrr)
        return swrr_pick(&self.swrr, self.eligible_mask)

    cdef void choose_many(self, int32_t *out, Py_ssize_t n, double now) noexcept nogil:
        cdef Py_ssize_t k
        if self.all_eligible:
            for k in range(n):
                out[k] = <int32_t>swrr_pick_all(&self.swrr)
        else:
            for k in range(n):
                out[k] = <int32_t>swrr_pick(&self.swrr, self.eligible_mask)


cdef class Random(Balancer):
    """Uniform random over the eligible nodes (Envoy RANDOM, §8.4)."""

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        return self.candidates[rng_below(&self.rng, <uint64_t>self.candidate_count)]


cdef class WeightedRandom(Balancer):
    """P(i) = w_i / Σw over the eligible nodes; Vose alias table, O(1) per pick."""

    def __cinit__(self, *args, **kwargs):
        cdef Py_ssize_t n = self.n
        self.threshold = <uint64_t *>PyMem_Malloc(8 * n)
        self.alias = <int32_t *>PyMem_Malloc(4 * n)
        self.scratch = <double *>PyMem_Malloc(8 * n)
        self.small = <Py_ssize_t *>PyMem_Malloc(sizeof(Py_ssize_t) * n)
        self.large = <Py_ssize_t *>PyMem_Malloc(sizeof(Py_ssize_t) * n)
        if not (self.threshold and self.alias and self.scratch and self.small and self.large):
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self.threshold)
        PyMem_Free(self.alias)
        PyMem_Free(self.scratch)
        PyMem_Free(self.small)
        PyMem_Free(self.large)

    cdef void on_refresh(self) noexcept nogil:
        if self.candidate_count:
            alias_build(self.weight_scaled, self.eligible_mask, self.n, self.scratch, self.small, self.large,
                        self.threshold, self.alias)

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        return alias_pick(&self.rng, self.n, self.threshold, self.alias)

    cdef void choose_many(self, int32_t *out, Py_ssize_t n, double now) noexcept nogil:
        cdef Py_ssize_t k
        for k in range(n):
            out[k] = <int32_t>alias_pick(&self.rng, self.n, self.threshold, self.alias)


cdef class LeastConnections(Balancer):
    """nginx least_conn: least in-flight/weight, ties by smooth weighted round robin."""

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        return least_conn_pick(&self.swrr, NULL if self.all_eligible else self.eligible_mask, self.inflight)


cdef class LeastRequest(Balancer):
    """Envoy LEAST_REQUEST (§8.3): equal weights → best of `choice_count`
    random draws (with replacement; a later draw wins only with strictly fewer
    active requests); unequal weights → earliest-deadline-first over
    w / (active + 1) ** active_request_bias."""

    def __cinit__(self, *args, Py_ssize_t choice_count=2, double active_request_bias=1.0, **kwargs):
        cdef Py_ssize_t i
        self.choice_count = choice_count
        self.edf.active_request_bias = active_request_bias
        self.weighted = False
        for i in range(1, self.n):
            if self.weight_f[i] != self.weight_f[0]:
                self.weighted = True
        self.edf.deadline = <double *>PyMem_Malloc(8 * self.n)
        self.edf.order = <uint64_t *>PyMem_Malloc(8 * self.n)
        if self.edf.deadline == NULL or self.edf.order == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.edf.deadline[i] = 1.0 / self.weight_scaled[i] if self.weight_scaled[i] > 0 else INFINITY
            self.edf.order[i] = <uint64_t>i
        self.edf.next_order = <uint64_t>self.n
        self.edf.edf_time = 0.0

    def __dealloc__(self):
        PyMem_Free(self.edf.deadline)
        PyMem_Free(self.edf.order)

    cdef void on_weights(self) noexcept nogil:
        # Slow start or agent percentages can make equal weights unequal (and back).
        cdef Py_ssize_t i
        self.weighted = False
        for i in range(1, self.n):
            if self.weight_f[i] != self.weight_f[0]:
                self.weighted = True

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        if not self.weighted:
            return least_request_p2c(&self.rng, self.candidates, self.candidate_count, self.inflight,
                                     self.choice_count)
        return least_request_edf(&self.edf, self.candidates, self.candidate_count, self.weight_scaled,
                                 self.inflight)


cdef class PeakEWMA(Balancer):
    """Latency-aware power of two choices with Finagle's peak-sensitive EWMA
    (§16.1): cost jumps to a new peak RTT and otherwise decays with time
    constant `decay_s`; load = cost × (in-flight + 1). The cost per node is the
    view's latency estimate, shared by every balancer over the view."""

    def __cinit__(self, *args, **kwargs):
        self.needs_time = True

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        return peak_ewma_p2c(&self.rng, self.candidates, self.candidate_count, self.view.cost, self.view.stamp,
                             self.inflight, now, self.view.decay_s)

    def latency_estimate(self, node):
        """Current EWMA latency estimate of `node` in seconds (as of its last update)."""
        return self.view.latency_estimate(node)


cdef class HAProxyRoundRobin(Balancer):
    """HAProxy `balance roundrobin` (fastroute.balancers.fwrr): reproduces
    HAProxy's request sequence for a static server set; a change of
    eligibility or weights restarts the schedule."""

    def __cinit__(self, *args, **kwargs):
        cdef Py_ssize_t n = self.n
        self.fwrr.n = n
        self.fwrr.eweight = <int64_t *>PyMem_Malloc(8 * n)
        self.fwrr.npos = <int64_t *>PyMem_Malloc(8 * n)
        self.fwrr.rweight = <int64_t *>PyMem_Malloc(8 * n)
        self.fwrr.key = <int64_t *>PyMem_Malloc(8 * n)
        self.fwrr.seq = <uint64_t *>PyMem_Malloc(8 * n)
        self.fwrr.tree = <unsigned char *>PyMem_Malloc(n)
        if not (self.fwrr.eweight and self.fwrr.npos and self.fwrr.rweight and self.fwrr.key and self.fwrr.seq
                and self.fwrr.tree):
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self.fwrr.eweight)
        PyMem_Free(self.fwrr.npos)
        PyMem_Free(self.fwrr.rweight)
        PyMem_Free(self.fwrr.key)
        PyMem_Free(self.fwrr.seq)
        PyMem_Free(self.fwrr.tree)

    cdef void on_refresh(self) noexcept nogil:
        fwrr_init(&self.fwrr, self.weight_f, self.eligible_mask)

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        return fwrr_pick(&self.fwrr)


# ---------------------------------------------------------------- HAProxy leastconn, first, random
cdef class HAProxyBalancer(Balancer):
    """Shared by HAProxy's stateful balancers (docs/algorithms.md §8.6):
    eweights (weight × 16), per-server `maxconn` (0: none) and the backup rule:
    with no usable primary the first usable backup serves alone."""

    def __cinit__(self, *args, const int64_t[::1] maxconn=None, **kwargs):
        cdef Py_ssize_t i
        self.lb_eweight = <int64_t *>PyMem_Malloc(8 * self.n)
        self.conn_limit = <int64_t *>PyMem_Malloc(8 * self.n)
        if self.lb_eweight == NULL or self.conn_limit == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.conn_limit[i] = maxconn[i] if maxconn is not None else 0
        self.on_weights()

    def __dealloc__(self):
        PyMem_Free(self.lb_eweight)
        PyMem_Free(self.conn_limit)

    cdef void on_weights(self) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(self.n):
            self.lb_eweight[i] = haproxy_eweight(self.weight_f[i])

    cdef Py_ssize_t first_backup(self) noexcept nogil:
        # lbprm.fbck (recount_servers): -2 while primaries serve.
        cdef Py_ssize_t k, i
        if not self.view.is_backup[self.candidates[0]]:
            return -2
        for k in range(self.candidate_count):
            i = self.candidates[k]
            if self.lb_eweight[i] > 0:
                return i
        return -1

    @property
    def maxconn(self):
        """Per-server connection limit (0: none), in node order."""
        return tuple(self.conn_limit[i] for i in range(self.n))


cdef class HAProxyLeastConn(HAProxyBalancer):
    """HAProxy `balance leastconn` (fastroute.balancers.haproxy_lb fwlc_*)."""

    def __cinit__(self, *args, **kwargs):
        cdef Py_ssize_t n = self.n, i
        self.fwlc.n = n
        self.fwlc.key = <int64_t *>PyMem_Malloc(8 * n)
        self.fwlc.seq = <uint64_t *>PyMem_Malloc(8 * n)
        self.fwlc.stamp_seen = <uint64_t *>PyMem_Malloc(8 * n)
        self.fwlc.eweight = <int64_t *>PyMem_Malloc(8 * n)
        if not (self.fwlc.key and self.fwlc.seq and self.fwlc.stamp_seen and self.fwlc.eweight):
            raise MemoryError()
        memset(self.fwlc.eweight, 0, 8 * n)  # the tree starts empty: the first pick queues in server order
        memset(self.fwlc.key, 0, 8 * n)
        memset(self.fwlc.seq, 0, 8 * n)
        with self.view.lock:
            for i in range(n):
                self.fwlc.stamp_seen[i] = self.view.load_stamp[i]

    def __dealloc__(self):
        PyMem_Free(self.fwlc.key)
        PyMem_Free(self.fwlc.seq)
        PyMem_Free(self.fwlc.stamp_seen)
        PyMem_Free(self.fwlc.eweight)

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        cdef Py_ssize_t idx = self.first_backup()
        if idx != -2:
            return idx
        fwlc_place(&self.fwlc, self.lb_eweight, self.eligible_mask, self.inflight, self.view.load_stamp,
                   &self.view.load_clock)
        idx = fwlc_first(&self.fwlc, self.inflight, self.conn_limit)
        if idx >= 0:
            # A pick without acquire is a request that came and went: HAProxy re-queued
            # the server twice (take, then drop a connection), behind its equals.
            self.fwlc.seq[idx] = self.view.load_clock
            self.view.load_clock += 1
        return idx


cdef class HAProxyFirst(HAProxyBalancer):
    """HAProxy `balance first` (fastroute.balancers.haproxy_lb fas_first)."""

    def __cinit__(self, *args, const int32_t[::1] by_id=None, **kwargs):
        cdef Py_ssize_t i
        self.by_id = <int32_t *>PyMem_Malloc(4 * self.n)
        if self.by_id == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.by_id[i] = by_id[i] if by_id is not None else <int32_t>i

    def __dealloc__(self):
        PyMem_Free(self.by_id)

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        cdef Py_ssize_t idx = self.first_backup()
        if idx != -2:
            return idx
        return fas_first(self.by_id, self.n, self.eligible_mask, self.lb_eweight, self.inflight, self.conn_limit)


cdef class HAProxyRandom(HAProxyBalancer):
    """HAProxy `balance random(<draws>)` (fastroute.balancers.haproxy_lb rnd_pick)
    over the points of HAProxy's consistent-hash tree."""

    def __cinit__(self, *args, const int64_t[::1] points=None, const int32_t[::1] owners=None,
                  Py_ssize_t draws=2, **kwargs):
        cdef Py_ssize_t i, count = points.shape[0]
        if owners.shape[0] != count or count == 0:
            raise ValueError("points and owners must be non-empty and of equal length")
        self.draws = draws
        self.point_count = count
        self.points = <int64_t *>PyMem_Malloc(8 * count)
        self.owners = <int32_t *>PyMem_Malloc(4 * count)
        if self.points == NULL or self.owners == NULL:
            raise MemoryError()
        for i in range(count):
            self.points[i] = points[i]
            self.owners[i] = owners[i]

    def __dealloc__(self):
        PyMem_Free(self.points)
        PyMem_Free(self.owners)

    cdef Py_ssize_t choose(self, double now) noexcept nogil:
        cdef Py_ssize_t idx = self.first_backup()
        if idx != -2:
            return -1 if idx >= 0 and self.conn_limit[idx] and self.inflight[idx] >= self.conn_limit[idx] else idx
        return rnd_pick(&self.rng, self.points, self.owners, self.point_count, self.eligible_mask,
                        self.lb_eweight, self.inflight, self.conn_limit, self.draws)

    def _ring_owners(self, const uint64_t[::1] values):
        """The server each 32-bit value lands on, over the servers eligible now."""
        out = np.empty(values.shape[0], dtype=np.int32)
        cdef int32_t[::1] o = out
        cdef Py_ssize_t k
        self.pick_index()  # takes up the view's latest eligibility
        with self.view.lock:
            for k in range(values.shape[0]):
                o[k] = <int32_t>chash_nearest(self.points, self.owners, self.point_count, self.eligible_mask,
                                              values[k])
        return out
