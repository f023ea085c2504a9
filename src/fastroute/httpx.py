# SPDX-License-Identifier: Apache-2.0
"""httpx transports that route each request through a fastroute balancer or
placement (docs/checks.md §4). Extra: `pip install fastroute[httpx]`.

    lb = fastroute.PeakEWMA(["a", "b", "c"])
    urls = {"a": "http://10.0.0.1:8080", "b": ..., "c": ...}
    client = httpx.Client(transport=FastrouteTransport(lb, urls=urls), base_url="http://payments")
    async_client = httpx.AsyncClient(transport=AsyncFastrouteTransport(lb, urls=urls))

Per request: a node is chosen (`acquire()`, or `get_node(key)` with
`key=Header(...)`, `Query(...)` or a callable), the URL's scheme, host and
port become the node's (the Host header stays the one the client set), the
outcome and latency are reported when the response body has been read or
closed (`release`, or the placement's `report` when it has one), so in-flight
counts and latency cover the whole response; a transport error, a body that
breaks off or a 5xx status is a failure, a cancellation is not. Idempotent
requests with a replayable body are retried on another node after a transport
error or a 502/503/504, at most `max_retries` times, only while the retry
budget allows and within the circuit breaker's max_retries. `retry_budget=` and
`breaker=` default to the upstream's (`view.retry_budget`, `view.breaker`) when
the target is over a fastroute.HealthView; a request over the breaker's
max_requests (or per-node limit) fails fast with fastroute.Overloaded, nothing
sent (docs/request_path.md §5). The node that answered is in
`response.extensions["fastroute_node"]`.
"""
from __future__ import annotations

import httpx

from ._client import Header, Query, Router, is_cancellation
__all__ = ["AsyncFastrouteTransport", "FastrouteTransport", "Header", "Query"]



def _rewrite_public(original: httpx.URL, origin) -> httpx.URL:
    if origin.path:
        return original.copy_with(scheme=origin.scheme, host=origin.host, port=origin.port,
                                  raw_path=origin.path.encode("ascii") + original.raw_path)
    return original.copy_with(scheme=origin.scheme, host=origin.host, port=origin.port)


def _fast_path_available() -> bool:
    """httpx 0.28 keeps a URL's parts in a NamedTuple (`_uri_reference`): replacing
    scheme/host/port there skips copy_with's full re-parse (~0.1 ms, most of this
    transport's cost). Used only when that shape is present and agrees with copy_with."""
    try:
        probe = httpx.URL("http://a.example:81/p%20q?x=1")
        want = _rewrite_public(probe, _Probe)
        ref = probe._uri_reference
        if type(ref)._fields != ("scheme", "userinfo", "host", "port", "path", "query", "fragment"):
            return False
        fast = object.__new__(httpx.URL)
        fast._uri_reference = tuple.__new__(type(ref), ("https", ref.userinfo, "b.example", None, ref.path, ref.query,
                                                        ref.fragment))
        return fast == want and str(fast) == str(want)
    except Exception:
        return False


class _Probe:
    scheme, host, port, path = "https", "b.example", 443, ""


_FAST = _fast_path_available()
_new_url = object.__new__
_new_ref = tuple.__new__


class _Rewriter:
    """Per node: the parts its URLs get, normalised once by httpx itself."""

    __slots__ = ("origin", "scheme", "host", "port", "prefix")

    def __init__(self, origin):
        self.origin = origin
        host = f"[{origin.host}]" if ":" in origin.host else origin.host
        ref = httpx.URL(f"{origin.scheme}://{host}:{origin.port}{origin.path}")._uri_reference
        self.scheme, self.host, self.port, self.prefix = ref.scheme, ref.host, ref.port, origin.path and ref.path

    def __call__(self, original: httpx.URL) -> httpx.URL:
        if not _FAST:
            return _rewrite_public(original, self.origin)
        ref = original._uri_reference
        url = _new_url(httpx.URL)
        url._uri_reference = _new_ref(type(ref), (self.scheme, ref.userinfo, self.host, self.port,
                                                  self.prefix + ref.path if self.prefix else ref.path,
                                                  ref.query, ref.fragment))
        return url


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)


class _ReleasingStream(httpx.SyncByteStream):
    """The response body; ends the attempt (node released, outcome and latency
    reported, breaker permit returned) when the body is closed — httpx closes
    it after read(), or the caller does for stream=True."""

    __slots__ = ("_inner", "_attempt", "_ok")

    def __init__(self, inner, attempt, ok: bool):
        self._inner, self._attempt, self._ok = inner, attempt, ok

    def __iter__(self):
        try:
            yield from self._inner
        except Exception:
            self._attempt.finish(False)  # the body broke off: the node failed this request
            raise

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._attempt.finish(self._ok)


class _AsyncReleasingStream(httpx.AsyncByteStream):
    """Async twin of _ReleasingStream; a cancellation while reading is no outcome."""

    __slots__ = ("_inner", "_attempt", "_ok")

    def __init__(self, inner, attempt, ok: bool):
        self._inner, self._attempt, self._ok = inner, attempt, ok

    async def __aiter__(self):
        try:
            async for chunk in self._inner:
                yield chunk
        except BaseException as exc:
            if is_cancellation(exc):
                self._attempt.cancel()
            elif isinstance(exc, Exception):
                self._attempt.finish(False)
            raise

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._attempt.finish(self._ok)


def _end_with_body(response: httpx.Response, attempt, ok: bool, wrapper) -> None:
    """Ends the attempt when the body ends: now when the inner transport returned it
    already in memory (an httpx.ByteStream, e.g. MockTransport: httpx never closes
    such a response), else when the wrapped stream is closed."""
    if isinstance(response.stream, httpx.ByteStream):
        attempt.finish(ok)
    else:
        response.stream = wrapper(response.stream, attempt, ok)


class _Common:
    def __init__(self, target, *, transport, key=None, urls=None, max_retries=2, budget=None, retry_budget=None,
                 breaker=None, retry_statuses=(502, 503, 504), is_failure=None, clock=None):
        self._router = Router(target, key=key, urls=urls, max_retries=max_retries, budget=budget,
                              retry_budget=retry_budget, breaker=breaker, retry_statuses=retry_statuses,
                              is_failure=is_failure, clock=clock)
        self._inner = transport
        self._rewrite = {node: _Rewriter(origin) for node, origin in self._router.origins.items()}

    @property
    def router(self) -> Router:
        return self._router

    def _start(self, request: httpx.Request):
        """The first attempt: breaker admission, then a node (NoHealthyNode / Overloaded
        here are the caller's answer)."""
        router = self._router
        key = router.request_key(request, request.headers, request.url.params) if router.key is not None else None
        router.note_request()
        original = request.url
        attempt = router.first(key)
        request.url = self._rewrite[attempt.node](original)
        return key, original, _replayable(request), [attempt.node], attempt

    def _next(self, key, tried, request, original):
        """The next attempt, with the request pointed at its node; None when none may be made."""
        attempt = self._router.next_attempt(key, tried)
        if attempt is not None:
            request.url = self._rewrite[attempt.node](original)
        return attempt


def _retry_after_error(common, exc, attempt, request, key, original, replayable, tried, retries):
    """Ends `attempt` after the inner transport raised `exc`: a cancellation releases it
    without an outcome, anything else counts as a failure. Returns the next attempt when
    the request may be retried on another node, else None (the caller re-raises)."""
    if is_cancellation(exc):
        attempt.cancel()
        return None
    attempt.finish(False)
    if not isinstance(exc, httpx.TransportError) or not common._router.may_retry(request.method, replayable, retries):
        return None
    return common._next(key, tried, request, original)


class FastrouteTransport(_Common, httpx.BaseTransport):
    """Synchronous transport; `transport` (default httpx.HTTPTransport()) does the I/O."""

    def __init__(self, target, *, transport: httpx.BaseTransport | None = None, **options):
        super().__init__(target, transport=transport if transport is not None else httpx.HTTPTransport(), **options)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        router = self._router
        key, original, replayable, tried, attempt = self._start(request)
        retries = 0
        while True:
            try:
                response = self._inner.handle_request(request)
            except BaseException as exc:
                attempt = _retry_after_error(self, exc, attempt, request, key, original, replayable, tried, retries)
                if attempt is None:
                    raise
                retries += 1
                continue
            status = response.status_code
            _end_with_body(response, attempt, not router.is_failure(status), _ReleasingStream)
            if router.retry_status(status, request.method, replayable, retries):
                following = self._next(key, tried, request, original)
                if following is not None:
                    response.close()
                    attempt = following
                    retries += 1
                    continue
            response.extensions["fastroute_node"] = attempt.node
            return response

    def close(self) -> None:
        self._inner.close()


class AsyncFastrouteTransport(_Common, httpx.AsyncBaseTransport):
    """asyncio transport; `transport` (default httpx.AsyncHTTPTransport()) does the I/O.
    A cancelled request (client timeout, task cancelled) releases its node
    without an outcome."""

    def __init__(self, target, *, transport: httpx.AsyncBaseTransport | None = None, **options):
        super().__init__(target, transport=transport if transport is not None else httpx.AsyncHTTPTransport(),
                         **options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        router = self._router
        key, original, replayable, tried, attempt = self._start(request)
        retries = 0
        while True:
            try:
                response = await self._inner.handle_async_request(request)
            except BaseException as exc:
                attempt = _retry_after_error(self, exc, attempt, request, key, original, replayable, tried, retries)
                if attempt is None:
                    raise
                retries += 1
                continue
            status = response.status_code
            _end_with_body(response, attempt, not router.is_failure(status), _AsyncReleasingStream)
            if router.retry_status(status, request.method, replayable, retries):
                following = self._next(key, tried, request, original)
                if following is not None:
                    await response.aclose()
                    attempt = following
                    retries += 1
                    continue
            response.extensions["fastroute_node"] = attempt.node
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()
