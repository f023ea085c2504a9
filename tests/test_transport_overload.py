# SPDX-License-Identifier: Apache-2.0
"""Overload protection and whole-response accounting in fastroute.httpx and
fastroute.aiohttp, against real HTTP backends on 127.0.0.1
(docs/request_path.md §5, docs/checks.md §4): the circuit breaker's max_requests and
per-node limit fail fast with fastroute.Overloaded before anything is sent,
retries stay within the breaker's max_retries and the retry budget (both by
default the view's), and the node is released when the response body has been
read or closed, not at the response head."""
import asyncio

import pytest

import aiohttp
import httpx

import fastroute as fr
from fastroute.aiohttp import FastrouteMiddleware
from fastroute.httpx import AsyncFastrouteTransport, FastrouteTransport
from tests._checkservers import backend_urls, running_backends


@pytest.fixture
def backends():
    with running_backends("a", "b") as bs:
        yield bs


def _in_flight(view):
    return sum(view.in_flight().values())


def test_httpx_over_max_requests_fails_fast_without_picking(backends):
    view = fr.HealthView(["a", "b"], breaker=fr.CircuitBreaker(max_requests=1))
    lb = fr.RoundRobin(upstream=view)
    with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends))) as client:  # breaker: the view's
        with client.stream("GET", "http://svc/") as held:
            assert view.breaker.active == 1 and _in_flight(view) == 1
            with pytest.raises(fr.Overloaded, match="max_requests=1") as info:
                client.get("http://svc/")
            assert info.value.limit == "max_requests"
            assert _in_flight(view) == 1  # no node was picked for the refused request
            held.read()
        assert view.breaker.active == 0 and view.breaker.overflows == 1
        assert client.get("http://svc/").status_code == 200
    assert sum(b.app_requests for b in backends) == 2  # the refused one was never sent
    assert view.state("a") == view.state("b") == "up"  # an overflow is not a node failure


def test_httpx_per_node_limit_refuses_and_frees_the_node(backends):
    breaker = fr.CircuitBreaker(max_requests_per_node=1)
    lb = fr.LeastConnections(["a"], health="nginx")
    with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends), breaker=breaker)) as client:
        with client.stream("GET", "http://svc/"):
            with pytest.raises(fr.Overloaded) as info:
                client.get("http://svc/")
            assert info.value.limit == "max_requests_per_node"
            assert lb.active() == {"a": 1}
        assert lb.active() == {"a": 0} and breaker.active == 0
    assert lb.state("a") == "up"


def test_httpx_retries_stay_within_the_breakers_max_retries(backends):
    backends[0].status = 503
    for max_retries, want in ((0, (503, "a")), (3, (200, "b"))):
        breaker = fr.CircuitBreaker(max_retries=max_retries)
        lb = fr.RoundRobin(["a", "b"], health="none")
        with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends), breaker=breaker)) as client:
            r = client.get("http://svc/")
            assert (r.status_code, r.text) == want
        assert breaker.active == breaker.retries == 0
        assert breaker.overflows == (1 if max_retries == 0 else 0)


@pytest.mark.parametrize("client_kind", ["httpx", "aiohttp"])
def test_a_retry_the_breaker_refuses_spends_no_budget_token(backends, client_kind):
    # The breaker is asked before the budget (docs/request_path.md §5): a retry the
    # breaker refuses is never sent and must leave the budget as it was.
    backends[0].status = 503
    budget = fr.RetryBudget(ratio=0.0, min_per_second=1, ttl_s=10.0, clock=lambda: 100.0)
    before = budget.balance
    breaker = fr.CircuitBreaker(max_retries=0)
    lb = fr.RoundRobin(["a", "b"], health="none")
    if client_kind == "httpx":
        with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends), breaker=breaker,
                                                       retry_budget=budget)) as client:
            r = client.get("http://svc/")
            status, text = r.status_code, r.text
    else:
        async def one():
            async with aiohttp.ClientSession(middlewares=(FastrouteMiddleware(lb, urls=backend_urls(backends), breaker=breaker,
                                                                               retry_budget=budget),)) as session:
                async with session.get("http://svc/") as resp:
                    return resp.status, await resp.text()
        status, text = asyncio.run(one())
    assert (status, text) == (503, "a") and breaker.overflows == 1
    assert budget.balance == before == 10.0
    assert sum(b.app_requests for b in backends) == 1


def test_httpx_retry_budget_defaults_to_the_views(backends):
    backends[0].status = 503
    view = fr.HealthView(["a", "b"], health="none", retry_budget=fr.RetryBudget(ratio=0.0, min_per_second=0))
    with httpx.Client(transport=FastrouteTransport(fr.RoundRobin(upstream=view), urls=backend_urls(backends))) as client:
        assert client.get("http://svc/").status_code == 503  # the view's budget allows no retry
    generous = fr.RetryBudget()
    with httpx.Client(transport=FastrouteTransport(fr.RoundRobin(upstream=view), urls=backend_urls(backends),
                                                   retry_budget=generous)) as client:
        assert client.get("http://svc/").text == "b"
    with pytest.raises(TypeError, match="breaker"):
        FastrouteTransport(fr.RoundRobin(upstream=view), urls=backend_urls(backends), breaker=object())


def test_httpx_node_released_when_the_body_is_closed_not_at_the_head(backends):
    backends[0].body_delay = 0.3
    view = fr.HealthView(["a"])
    lb = fr.PeakEWMA(upstream=view)
    with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends))) as client:
        with client.stream("GET", "http://svc/") as r:
            assert view.in_flight("a") == 1 and view.breaker.in_flight("a") == 1
            assert r.read() == b"a"
        assert view.in_flight("a") == 0 and view.breaker.active == 0
    assert view.latency_estimate("a") >= 0.25  # the sample covers the slow body


def test_httpx_async_body_accounting_and_overload(backends):
    backends[0].body_delay = 0.3
    view = fr.HealthView(["a"], breaker=fr.CircuitBreaker(max_requests=1))
    lb = fr.LeastRequest(upstream=view)

    async def main():
        async with httpx.AsyncClient(transport=AsyncFastrouteTransport(lb, urls=backend_urls(backends))) as client:
            async with client.stream("GET", "http://svc/") as r:
                assert view.in_flight("a") == 1
                with pytest.raises(fr.Overloaded):
                    await client.get("http://svc/")
                assert await r.aread() == b"a"
            assert view.in_flight("a") == 0 and view.breaker.active == 0
            r = await client.get("http://svc/")
            return r.text

    assert asyncio.run(main()) == "a"
    assert view.latency_estimate("a") >= 0.25


def test_aiohttp_breaker_and_release_on_body_read(backends):
    backends[0].body_delay = 0.3
    view = fr.HealthView(["a"], breaker=fr.CircuitBreaker(max_requests=1))
    lb = fr.RoundRobin(upstream=view)

    async def main():
        route = FastrouteMiddleware(lb, urls=backend_urls(backends))
        async with aiohttp.ClientSession(middlewares=(route,)) as session:
            async with session.get("http://svc/") as resp:
                assert view.in_flight("a") == 1 and view.breaker.active == 1
                with pytest.raises(fr.Overloaded):
                    await session.get("http://svc/")
                assert await resp.read() == b"a"
                assert view.in_flight("a") == 0 and view.breaker.active == 0
            async with session.get("http://svc/") as resp:
                return await resp.text()

    assert asyncio.run(main()) == "a"
    assert backends[0].app_requests == 2
    assert view.latency_estimate("a") >= 0.25


def test_aiohttp_retries_within_breaker_max_retries(backends):
    backends[0].status = 503

    async def main(max_retries):
        breaker = fr.CircuitBreaker(max_retries=max_retries)
        route = FastrouteMiddleware(fr.RoundRobin(["a", "b"], health="none"), urls=backend_urls(backends), breaker=breaker)
        async with aiohttp.ClientSession(middlewares=(route,)) as session:
            async with session.get("http://svc/") as resp:
                out = (resp.status, await resp.text())
        return out, breaker.active, breaker.overflows

    assert asyncio.run(main(0)) == ((503, "a"), 0, 1)
    assert asyncio.run(main(3)) == ((200, "b"), 0, 0)


def test_per_node_limits_mapping_validation():
    breaker = fr.CircuitBreaker(max_requests_per_node={"a": 1})
    assert breaker.node_limit("a") == 1 and breaker.node_limit("b") is None
    assert breaker.try_acquire("a") and not breaker.try_acquire("a") and breaker.try_acquire("b")
    assert breaker.acquire_or_refusal("a") == "max_requests_per_node"
    with pytest.raises(ValueError, match=r"max_requests_per_node\['a'\]"):
        fr.CircuitBreaker(max_requests_per_node={"a": -1})
    with pytest.raises(TypeError, match="node names"):
        fr.CircuitBreaker(max_requests_per_node={1: 1})
    with pytest.raises(ValueError, match="limit"):
        breaker.set_node_limit("a", 2.5)


def test_httpx_in_memory_response_releases_at_once():
    """An inner transport that returns the body in memory (MockTransport): httpx never
    closes such a response, so the node must be released when it is returned."""
    view = fr.HealthView(["a"], breaker=fr.CircuitBreaker(max_requests=1))
    transport = FastrouteTransport(fr.RoundRobin(upstream=view), urls={"a": "http://127.0.0.1:1"},
                                   transport=httpx.MockTransport(lambda request: httpx.Response(200, content=b"ok")))
    with httpx.Client(transport=transport) as client:
        for _ in range(3):
            assert client.get("http://svc/").text == "ok"
    assert view.in_flight("a") == 0 and view.breaker.active == 0
