# SPDX-License-Identifier: Apache-2.0
"""aiohttp (>= 3.12) client middleware that routes each request through a
fastroute balancer or placement (docs/checks.md §4). Extra:
`pip install fastroute[aiohttp]`.

    lb = fastroute.PeakEWMA(["a", "b", "c"])
    route = FastrouteMiddleware(lb, urls={"a": "http://10.0.0.1:8080", ...})
    async with aiohttp.ClientSession(middlewares=(route,)) as session:
        async with session.get("http://payments/v1/status") as resp: ...

Same rules as fastroute.httpx: the node's scheme, host and port replace the
URL's (the Host header keeps the name the caller used); outcome and latency
are reported when the response's connection is released (body read, or
`release()` / `close()`); a connection error, timeout or 5xx is a failure, a
cancellation is not; idempotent requests with a replayable body are retried
on another node after a connection error or 502/503/504 within `max_retries`,
the retry budget and the breaker's max_retries; `retry_budget=` / `breaker=`
default to the upstream's; over the breaker's limits a request fails fast
with fastroute.Overloaded. `response.fastroute_node` names the node.
"""
from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import payload as _payload

from ._client import Header, Query, Router, is_cancellation

__all__ = ["FastrouteMiddleware", "Header", "Query"]

#: Errors after which another node may well succeed.
_RETRYABLE = (aiohttp.ClientConnectionError, asyncio.TimeoutError)


def _rewrite(original, origin):
    url = original.with_scheme(origin.scheme).with_host(origin.host).with_port(origin.port)
    if origin.path:
        url = url.with_path(origin.path + original.path, encoded=False).with_query(original.query)
    return url


def _replayable(req) -> bool:
    body = req.body
    return body is None or isinstance(body, (bytes, bytearray, _payload.BytesPayload)) or \
        getattr(body, "size", None) == 0


def _end_with_body(resp, attempt, ok: bool) -> None:
    """Ends the attempt when aiohttp releases the response's connection (body
    read to the end, `release()` or `close()`), so latency and in-flight cover
    the whole response; a body that broke off (the stream holds an error) is a
    failure. A response whose body is already complete ends it now."""
    connection = resp.connection
    if connection is None:
        attempt.finish(ok)
        return

    def released():
        error = resp.content.exception() if resp.content is not None else None
        if error is not None and is_cancellation(error):
            attempt.cancel()
        else:
            attempt.finish(ok and error is None)

    connection.add_callback(released)


class FastrouteMiddleware:
    """`ClientSession(middlewares=(FastrouteMiddleware(target, ...),))`."""

    def __init__(self, target, *, key=None, urls=None, max_retries=2, budget=None, retry_budget=None, breaker=None,
                 retry_statuses=(502, 503, 504), is_failure=None, clock=None):
        self._router = Router(target, key=key, urls=urls, max_retries=max_retries, budget=budget,
                              retry_budget=retry_budget, breaker=breaker, retry_statuses=retry_statuses,
                              is_failure=is_failure, clock=clock)

    @property
    def router(self) -> Router:
        return self._router

    async def __call__(self, req, handler):
        router = self._router
        original = req.url
        key = router.request_key(req, req.headers, original.query) if router.key is not None else None
        router.note_request()
        replayable = _replayable(req)
        attempt = router.first(key)
        tried = [attempt.node]
        req.url = _rewrite(original, router.origins[attempt.node])
        retries = 0
        while True:
            try:
                resp = await handler(req)
            except BaseException as exc:
                if is_cancellation(exc):
                    attempt.cancel()
                    raise
                attempt.finish(False)
                if not isinstance(exc, _RETRYABLE) or not router.may_retry(req.method, replayable, retries):
                    raise
                following = self._next(key, tried, req, original)
                if following is None:
                    raise
                attempt = following
                retries += 1
                continue
            status = resp.status
            _end_with_body(resp, attempt, not router.is_failure(status))
            if router.retry_status(status, req.method, replayable, retries):
                following = self._next(key, tried, req, original)
                if following is not None:
                    resp.release()
                    attempt.finish(not router.is_failure(status))  # no-op when release() ended it
                    attempt = following
                    retries += 1
                    continue
            resp.fastroute_node = attempt.node
            return resp

    def _next(self, key, tried, req, original):
        """The next attempt, with the request pointed at its node; None when none may be made."""
        attempt = self._router.next_attempt(key, tried)
        if attempt is not None:
            req.url = _rewrite(original, self._router.origins[attempt.node])
        return attempt
