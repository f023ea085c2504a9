# SPDX-License-Identifier: Apache-2.0
"""What the httpx transports and the aiohttp middleware share (docs/checks.md §4):
choosing a node per request (a balancer, or a placement keyed by a header,
query parameter or callable), the URL each node answers on, outcome reporting,
and the retry rule (idempotent requests only, another node, within a budget).
No HTTP library is imported here."""
from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from .balancers import NoHealthyNode
from .overload import CircuitBreaker, Overloaded
from .redact import quoted

#: RFC 9110 §9.2.2: repeating these has the same effect as sending them once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Statuses that say "this node could not serve it, another may": retried for idempotent requests.
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_RETRIES = 16
#: Exceptions that end a request without an outcome: the caller went away, not the node.
CANCELLATIONS = (KeyboardInterrupt, GeneratorExit, SystemExit)


@runtime_checkable
class RetryBudget(Protocol):
    """Any object with can_retry() -> bool (fastroute.RetryBudget fits): once per
    original request `record_request()` (when present); per retry `try_retry()`
    (withdraw one if allowed) when present, else `can_retry()` then
    `record_retry()` (when present) — Finagle's deposit / withdraw."""

    def can_retry(self) -> bool: ...


class NoRetryBudget:
    """Allows every retry that max_retries allows."""

    def can_retry(self) -> bool:
        return True


@dataclass(frozen=True)
class Header:
    """Placement key: the value of request header `name` (case-insensitive)."""

    name: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or any(c in self.name for c in "\r\n :"):
            raise ValueError(f"Header: expected a header name, got {quoted(self.name)}")


@dataclass(frozen=True)
class Query:
    """Placement key: the first value of URL query parameter `name`."""

    name: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Query: expected a parameter name, got {quoted(self.name)}")


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int
    path: str


def parse_origins(nodes, urls) -> dict[str, Origin]:
    """node name -> Origin. `urls` maps names to base URLs; without it each
    name must itself be `host:port` (http)."""
    if urls is None:
        urls = {n: f"http://{n}" for n in nodes}
    if not isinstance(urls, Mapping):
        raise TypeError(f"urls: expected a mapping node -> base URL, got {type(urls).__name__}")
    missing = [n for n in nodes if n not in urls]
    if missing:
        raise ValueError(f"urls: no base URL for nodes {quoted(missing)}")
    out = {}
    for node in nodes:
        url = urls[node]
        if not isinstance(url, str):
            raise TypeError(f"urls[{quoted(node)}]: expected a URL string, got {type(url).__name__}")
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"urls[{quoted(node)}]: bad port in {quoted(url)}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"urls[{quoted(node)}]: expected http(s)://host[:port][/prefix], got {quoted(url)}")
        out[node] = Origin(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80),
                           parts.path.rstrip("/"))
    return out


class Router:
    """Chooses nodes for one request and reports outcomes.

    target: a balancer (acquire/release/abandon) or a placement
    (get_node(key), optionally replicas(key, n) for failover order and
    report(node, ok, latency_s) for outcomes); with a placement, `key` is a
    Header, a Query or a callable(request) -> key.
    """

    def __init__(self, target, *, key=None, urls=None, max_retries=2, budget=None, retry_budget=None, breaker=None,
                 retry_statuses=RETRY_STATUSES, is_failure: Callable | None = None,
                 clock: Callable[[], float] | None = None):
        keyed = key is not None
        if keyed:
            if not callable(getattr(target, "get_node", None)):
                raise TypeError(f"target: key= needs a placement with get_node(key), got {type(target).__name__}")
            if not isinstance(key, (Header, Query)) and not callable(key):
                raise TypeError(f"key: expected Header(name), Query(name) or a callable(request), got "
                                f"{type(key).__name__}")
        elif not all(callable(getattr(target, m, None)) for m in ("acquire", "release", "abandon")):
            raise TypeError(f"target: expected a balancer (acquire/release/abandon) or a placement with key=, got "
                            f"{type(target).__name__}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, numbers.Integral) \
                or not 0 <= max_retries <= MAX_RETRIES:
            raise ValueError(f"max_retries: expected an int in [0, {MAX_RETRIES}], got {quoted(max_retries)}")
        if budget is not None and retry_budget is not None:
            raise TypeError("budget: the old name of retry_budget; pass one of them")
        name = "retry_budget" if retry_budget is not None else "budget"
        budget = retry_budget if retry_budget is not None else budget
        if budget is not None and not isinstance(budget, RetryBudget):
            raise TypeError(f"{name}: expected an object with can_retry() -> bool")
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"breaker: expected None or a fastroute.CircuitBreaker, got {type(breaker).__name__}")
        # defaults: the upstream's own (docs/request_path.md §5) when the target is over a fastroute.HealthView
        view = getattr(target, "view", None) if keyed else getattr(target, "upstream", None)
        if budget is None:
            budget = getattr(view, "retry_budget", None)
        if breaker is None:
            breaker = getattr(view, "breaker", None)
            if not isinstance(breaker, CircuitBreaker):
                breaker = None
        if isinstance(retry_statuses, (str, bytes)) or not all(
                isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in retry_statuses):
            raise TypeError("retry_statuses: expected a collection of int status codes")
        if is_failure is not None and not callable(is_failure):
            raise TypeError("is_failure: expected a callable(status) -> bool")
        self.target = target
        self.key = key
        nodes = tuple(target.nodes)
        self.origins = parse_origins(nodes, urls)
        self.max_retries = int(max_retries)
        self.budget = budget or NoRetryBudget()
        self.breaker = breaker
        self.retry_statuses = frozenset(int(s) for s in retry_statuses)
        self.is_failure = is_failure or (lambda status: status >= 500)
        self.clock = clock or time.perf_counter
        self._on_request = getattr(self.budget, "record_request", None)
        self._on_retry = getattr(self.budget, "record_retry", None)
        self._try_retry = getattr(self.budget, "try_retry", None)
        self._replicas = getattr(target, "replicas", None) if keyed else None
        self._report = getattr(target, "report", None) if keyed else None

    # -- key

    def request_key(self, request, headers: Mapping, query: Mapping):
        key = self.key
        if isinstance(key, Header):
            value = headers.get(key.name)
            if value is None:
                raise ValueError(f"key: the request has no {key.name!r} header to place it by")
            return value
        if isinstance(key, Query):
            value = query.get(key.name)
            if value is None:
                raise ValueError(f"key: the request URL has no {key.name!r} query parameter to place it by")
            return value
        return key(request)

    # -- choosing

    def choose(self, key, tried: list[str]) -> tuple[str, bool]:
        """(node, acquired): acquired when a balancer counts it in flight."""
        if self.key is not None:
            if not tried:
                return self.target.get_node(key), False
            if self._replicas is None:
                raise _NoMoreNodes
            n = len(self.origins)
            for node in self._replicas(key, n):
                if node not in tried:
                    return node, False
            raise _NoMoreNodes
        target = self.target
        for _ in range(2 * len(self.origins)):
            node = target.acquire()
            if node not in tried:
                return node, True
            target.abandon(node)  # already failed for this request: ask again
        raise _NoMoreNodes

    def finish(self, node: str, acquired: bool, ok: bool, latency: float | None) -> None:
        if not 0.0 <= latency < math.inf:  # a clock that went backwards or broke: no latency sample
            latency = None
        if acquired:
            self.target.release(node, ok=ok, latency_s=latency)
        elif self._report is not None:
            self._report(node, ok, latency)

    def cancel(self, node: str, acquired: bool) -> None:
        if acquired:
            self.target.abandon(node)

    def admit(self) -> None:
        """Fails fast (Overloaded) before any node is picked when the upstream's
        circuit breaker is at max_requests (Envoy overflow)."""
        breaker = self.breaker
        if breaker is not None:
            limit = breaker.check()
            if limit is not None:
                raise Overloaded(limit, getattr(breaker, limit))

    def first(self, key) -> "Attempt":
        """The first attempt of a request: the breaker's max_requests is checked
        before any pick (Overloaded, nothing sent); a node at its own limit
        (max_requests_per_node, nginx max_conns=, HAProxy maxconn) is skipped for
        the next one, as nginx and HAProxy skip full servers; Overloaded when
        every node the request may use is full."""
        self.admit()
        full: list[str] = []
        while True:
            try:
                node, acquired = self.choose(key, full)
            except _NoMoreNodes:
                raise Overloaded("max_requests_per_node", "each node's limit") from None
            breaker = self.breaker
            limit = breaker.acquire_or_refusal(node) if breaker is not None else None
            if limit is None:
                return Attempt(self, node, acquired, False)
            self.cancel(node, acquired)
            if limit != "max_requests_per_node":
                raise Overloaded(limit, getattr(breaker, limit))
            full.append(node)

    def begin(self, node: str, acquired: bool, retry: bool) -> "Attempt | None":
        """One retry attempt on `node` under the circuit breaker; a refused retry
        frees the node and returns None (the caller keeps its last answer)."""
        breaker = self.breaker
        if breaker is not None and not breaker.try_acquire(node, retry=retry):
            self.cancel(node, acquired)
            return None
        return Attempt(self, node, acquired, retry)

    def next_attempt(self, key, tried: list[str]) -> "Attempt | None":
        """A retry on a node the request has not tried (appended to `tried`); None when
        none is left, or the circuit breaker or the retry budget refuses. The breaker
        is asked first, so a retry it refuses spends no budget token."""
        try:
            node, acquired = self.choose(key, tried)
        except (_NoMoreNodes, NoHealthyNode):
            return None
        attempt = self.begin(node, acquired, retry=True)
        if attempt is None:
            return None
        if not self.withdraw():
            attempt.cancel()
            return None
        tried.append(node)
        return attempt

    def retry_status(self, status: int, method: str, replayable: bool, retries: int) -> bool:
        """A response with `status` may be answered by a retry on another node."""
        return status in self.retry_statuses and self.may_retry(method, replayable, retries)

    def may_retry(self, method: str, replayable: bool, attempt: int) -> bool:
        """The request itself may be retried (the budget is asked once a node is found)."""
        return attempt < self.max_retries and replayable and method.upper() in IDEMPOTENT_METHODS

    def withdraw(self) -> bool:
        """Takes one retry from the budget; False when the budget refuses."""
        if self._try_retry is not None:
            return bool(self._try_retry())
        if not self.budget.can_retry():
            return False
        if self._on_retry is not None:
            self._on_retry()
        return True

    def note_request(self) -> None:
        if self._on_request is not None:
            self._on_request()



class Attempt:
    """One try of a request on one node: ends once, with an outcome (`finish`)
    or without (`cancel`), releasing the node and its circuit-breaker permit.
    The transports end it when the response body has been read or closed, so
    latency and in-flight counts cover the whole response."""

    __slots__ = ("router", "node", "acquired", "retry", "start", "done")

    def __init__(self, router: Router, node: str, acquired: bool, retry: bool):
        self.router, self.node, self.acquired, self.retry = router, node, acquired, retry
        self.start = router.clock()
        self.done = False

    def finish(self, ok: bool) -> None:
        if self.done:
            return
        self.done = True
        router = self.router
        try:
            router.finish(self.node, self.acquired, ok, router.clock() - self.start)
        finally:
            if router.breaker is not None:
                router.breaker.release(self.node, retry=self.retry)

    def cancel(self) -> None:
        if self.done:
            return
        self.done = True
        router = self.router
        try:
            router.cancel(self.node, self.acquired)
        finally:
            if router.breaker is not None:
                router.breaker.release(self.node, retry=self.retry)


class _NoMoreNodes(Exception):
    """Every node this request may use has been tried."""


def is_cancellation(exc: BaseException) -> bool:
    """asyncio.CancelledError (a BaseException since 3.8), KeyboardInterrupt,
    GeneratorExit, SystemExit: the caller stopped, the node did not fail."""
    import asyncio

    return isinstance(exc, (asyncio.CancelledError, *CANCELLATIONS))
