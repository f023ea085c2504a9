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
to the response headers are reported; a connection error, timeout or 5xx is
a failure, a cancellation is not; idempotent requests with a replayable body
are retried on another node after a connection error or 502/503/504 within
`max_retries` and the budget. `response.fastroute_node` names the node.
"""
from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import payload as _payload

from . import balancers as _balancers
from ._client import Header, Query, Router, _NoMoreNodes, is_cancellation

__all__ = ["FastrouteMiddleware", "Header", "Query"]

_NoHealthyNode = _balancers.NoHealthyNode
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


class FastrouteMiddleware:
    """`ClientSession(middlewares=(FastrouteMiddleware(target, ...),))`."""

    def __init__(self, target, *, key=None, urls=None, max_retries=2, budget=None, retry_statuses=(502, 503, 504),
                 is_failure=None, clock=None):
        self._router = Router(target, key=key, urls=urls, max_retries=max_retries, budget=budget,
                              retry_statuses=retry_statuses, is_failure=is_failure, clock=clock)

    @property
    def router(self) -> Router:
        return self._router

    async def __call__(self, req, handler):
        router = self._router
        original = req.url
        key = router.request_key(req, req.headers, original.query) if router.key is not None else None
        router.note_request()
        replayable = _replayable(req)
        tried: list[str] = []
        node, acquired = router.choose(key, tried)
        tried.append(node)
        req.url = _rewrite(original, router.origins[node])
        attempt = 0
        while True:
            start = router.clock()
            try:
                resp = await handler(req)
            except BaseException as exc:
                if is_cancellation(exc):
                    router.cancel(node, acquired)
                    raise
                router.finish(node, acquired, False, router.clock() - start)
                if not isinstance(exc, _RETRYABLE) or not router.may_retry(req.method, replayable, attempt):
                    raise
                following = self._next(key, tried, req, original)
                if following is None:
                    raise
                node, acquired = following
                attempt += 1
                continue
            status = resp.status
            router.finish(node, acquired, not router.is_failure(status), router.clock() - start)
            if status in router.retry_statuses and router.may_retry(req.method, replayable, attempt):
                following = self._next(key, tried, req, original)
                if following is not None:
                    resp.release()
                    node, acquired = following
                    attempt += 1
                    continue
            resp.fastroute_node = node
            return resp

    def _next(self, key, tried, req, original):
        try:
            node, acquired = self._router.choose(key, tried)
        except (_NoMoreNodes, _NoHealthyNode):
            return None
        if not self._router.withdraw():
            self._router.cancel(node, acquired)
            return None
        tried.append(node)
        req.url = _rewrite(original, self._router.origins[node])
        return node, acquired
