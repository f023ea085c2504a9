# SPDX-License-Identifier: Apache-2.0
"""Overload protection for transports (docs/request_path.md §5): a retry
budget (Finagle / Linkerd semantics) and Envoy-style circuit-breaker limits.

    budget = RetryBudget()              # 20 % of requests + 10 retries/s, over 10 s
    budget.record_request()             # every original request
    if budget.try_retry(): ...          # a retry, if the budget allows one

    breaker = CircuitBreaker()          # Envoy defaults: 1024 requests, 1024 pending, 3 retries
    if breaker.try_acquire(node):       # False: overflow, fail fast
        try: ... finally: breaker.release(node)
"""
from __future__ import annotations

import math
import numbers
import threading
import time
from collections.abc import Mapping

from .redact import quoted

#: Finagle accepts TTLs of 1 to 60 seconds.
MIN_TTL_S, MAX_TTL_S = 1.0, 60.0
#: Deposits and withdrawals are counted in this many slices of the TTL (Finagle's WindowedAdder).
SLICES = 10
MAX_LIMIT = 2**31 - 1


def _finite(value, name, low, high):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or not low <= v <= high:
        raise ValueError(f"{name}: must be a finite number in [{low:g}, {high:g}], got {quoted(value)}")
    return v


def _limit(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= MAX_LIMIT:
        raise ValueError(f"{name}: expected an int in [0, {MAX_LIMIT}]{' or None' if allow_none else ''}, "
                         f"got {quoted(value)}")
    return int(value)


class RetryBudget:
    """Retries allowed over the last `ttl_s` seconds: min_per_second × ttl_s +
    ratio × requests − retries already made (Finagle RetryBudget; Linkerd
    retryRatio / minRetriesPerSecond / ttl). Thread-safe."""

    def __init__(self, ratio: float = 0.2, min_per_second: float = 10, ttl_s: float = 10.0, *, clock=None):
        self.ratio = _finite(ratio, "ratio", 0.0, 1000.0)
        self.min_per_second = _finite(min_per_second, "min_per_second", 0.0, 1e9)
        self.ttl_s = _finite(ttl_s, "ttl_s", MIN_TTL_S, MAX_TTL_S)
        if clock is not None and not callable(clock):
            raise TypeError(f"clock: expected a callable returning seconds, got {type(clock).__name__}")
        self._clock = clock or time.monotonic
        self._slice_s = self.ttl_s / SLICES
        self._requests = [0] * SLICES
        self._retries = [0] * SLICES
        self._slice = None  # index of the current slice since the epoch
        self._lock = threading.Lock()

    def _advance(self) -> int:
        now = float(self._clock())
        if not math.isfinite(now):
            raise ValueError(f"clock: must return a finite number of seconds, got {now}")
        current = math.floor(now / self._slice_s)
        if self._slice is None:
            self._slice = current
        elif current > self._slice:
            for k in range(self._slice + 1, min(current, self._slice + SLICES) + 1):
                self._requests[k % SLICES] = 0
                self._retries[k % SLICES] = 0
            self._slice = current
        return self._slice % SLICES

    def _balance(self) -> float:
        return self.min_per_second * self.ttl_s + self.ratio * sum(self._requests) - sum(self._retries)

    def record_request(self) -> None:
        """Counts one original (non-retry) request."""
        with self._lock:
            self._requests[self._advance()] += 1

    def can_retry(self) -> bool:
        """Whether one more retry fits in the budget now (no side effect)."""
        with self._lock:
            self._advance()
            return self._balance() >= 1.0

    def try_retry(self) -> bool:
        """Takes one retry from the budget if it fits; False otherwise."""
        with self._lock:
            slot = self._advance()
            if self._balance() < 1.0:
                return False
            self._retries[slot] += 1
            return True

    @property
    def balance(self) -> float:
        """Retries the budget would allow now."""
        with self._lock:
            self._advance()
            return max(0.0, self._balance())

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio:g}, min_per_second={self.min_per_second:g}, ttl_s={self.ttl_s:g})"


class Overloaded(RuntimeError):
    """A request refused by a circuit-breaker limit before any node was tried
    (Envoy's overflow: fail fast instead of queueing). `limit` names the
    threshold ("max_requests", "max_requests_per_node", "max_pending_requests")."""

    def __init__(self, limit: str, value):
        self.limit = limit
        super().__init__(f"upstream overloaded: {limit}={value} reached; the request was not sent "
                         "(fastroute.CircuitBreaker, docs/request_path.md §5)")


class CircuitBreaker:
    """Envoy cluster circuit-breaker thresholds (circuit_breaker.proto):
    max_requests, max_pending_requests, max_retries per upstream, and
    max_requests_per_node (Envoy per_host_thresholds). A refused acquire is an
    overflow: the caller fails fast instead of queueing. Thread-safe."""

    def __init__(self, max_requests: int = 1024, max_pending_requests: int = 1024, max_retries: int = 3,
                 max_requests_per_node=None):
        self.max_requests = _limit(max_requests, "max_requests")
        self.max_pending_requests = _limit(max_pending_requests, "max_pending_requests")
        self.max_retries = _limit(max_retries, "max_retries")
        if isinstance(max_requests_per_node, Mapping):
            # one limit per node (nginx max_conns=, HAProxy server maxconn): nodes left out have none
            self.max_requests_per_node = None
            self._node_limits = {}
            for node, value in max_requests_per_node.items():
                if not isinstance(node, str):
                    raise TypeError(f"max_requests_per_node: keys must be node names (str), got "
                                    f"{type(node).__name__}")
                self._node_limits[node] = _limit(value, f"max_requests_per_node[{quoted(node)}]")
        else:
            self.max_requests_per_node = _limit(max_requests_per_node, "max_requests_per_node", allow_none=True)
            self._node_limits = {}
        self._requests = 0
        self._pending = 0
        self._retries = 0
        self._per_node: dict[str, int] = {}
        self.overflows = 0
        self._lock = threading.Lock()

    def node_limit(self, node: str) -> int | None:
        """The per-node request limit of `node` (None: none)."""
        return self._node_limits.get(node, self.max_requests_per_node)

    def set_node_limit(self, node: str, limit: int | None) -> None:
        """Replaces `node`'s own limit (HAProxy agent `maxconn:N`); None: back to max_requests_per_node."""
        if not isinstance(node, str):
            raise TypeError(f"node: expected a node name (str), got {type(node).__name__}")
        with self._lock:
            if limit is None:
                self._node_limits.pop(node, None)
            else:
                self._node_limits[node] = _limit(limit, "limit")

    def try_acquire(self, node: str | None = None, *, retry: bool = False) -> bool:
        """One active request (a retry if `retry`), on `node` if given; False
        (nothing counted) when a limit is reached."""
        return self.acquire_or_refusal(node, retry=retry) is None

    def acquire_or_refusal(self, node: str | None = None, *, retry: bool = False) -> str | None:
        """try_acquire that names the limit it hit ("max_requests", "max_retries",
        "max_requests_per_node"); None: acquired."""
        if not isinstance(retry, bool):
            raise TypeError(f"retry: expected True or False, got {type(retry).__name__}")
        with self._lock:
            limit = self._refusal(node, retry)
            if limit is not None:
                self.overflows += 1
                return limit
            self._requests += 1
            if retry:
                self._retries += 1
            if node is not None:
                self._per_node[node] = self._per_node.get(node, 0) + 1
            return None

    def _refusal(self, node, retry):
        if self._requests >= self.max_requests:
            return "max_requests"
        if retry and self._retries >= self.max_retries:
            return "max_retries"
        if node is not None:
            cap = self._node_limits.get(node, self.max_requests_per_node)
            if cap is not None and self._per_node.get(node, 0) >= cap:
                return "max_requests_per_node"
        return None

    def check(self, node: str | None = None, *, retry: bool = False) -> str | None:
        """The limit a try_acquire with these arguments would hit now (None: none).
        A refusal counts as an overflow; nothing is acquired either way."""
        with self._lock:
            limit = self._refusal(node, retry)
            if limit is not None:
                self.overflows += 1
            return limit

    def release(self, node: str | None = None, *, retry: bool = False) -> None:
        """Ends a request counted by a successful try_acquire with the same arguments."""
        with self._lock:
            if self._requests <= 0 or (retry and self._retries <= 0) \
                    or (node is not None and self._per_node.get(node, 0) <= 0):
                raise ValueError("release: without a matching try_acquire "
                                 f"(node={quoted(node)}, retry={retry})")
            self._requests -= 1
            if retry:
                self._retries -= 1
            if node is not None:
                left = self._per_node[node] - 1
                if left:
                    self._per_node[node] = left
                else:
                    del self._per_node[node]

    def try_enqueue(self) -> bool:
        """One request waiting for a permit; False when max_pending_requests are waiting."""
        with self._lock:
            if self._pending >= self.max_pending_requests:
                self.overflows += 1
                return False
            self._pending += 1
            return True

    def dequeue(self) -> None:
        """The waiting request got its permit or gave up."""
        with self._lock:
            if self._pending <= 0:
                raise ValueError("dequeue: without a matching try_enqueue")
            self._pending -= 1

    @property
    def active(self) -> int:
        return self._requests

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def retries(self) -> int:
        return self._retries

    def in_flight(self, node: str) -> int:
        return self._per_node.get(node, 0)

    def __repr__(self) -> str:
        return (f"CircuitBreaker(max_requests={self.max_requests}, max_pending_requests={self.max_pending_requests}, "
                f"max_retries={self.max_retries}, max_requests_per_node={self.max_requests_per_node})")
