# SPDX-License-Identifier: Apache-2.0
"""fastroute.httpx transports and the fastroute.aiohttp middleware against
real HTTP backends on 127.0.0.1: URL rewriting, outcome reporting, retries of
idempotent requests on another node, the budget hook, cancellation."""
import asyncio
import subprocess
import sys

import pytest

import aiohttp  # both are in the test extra: a missing one is an error, not a skip
import httpx

from fastroute import HashRing, LeastRequest, NginxHealth, RoundRobin, SmoothWeightedRoundRobin
from fastroute.aiohttp import FastrouteMiddleware
from fastroute.httpx import AsyncFastrouteTransport, FastrouteTransport, Header, Query
from tests._checkservers import backend_urls, free_port, running_backends


@pytest.fixture
def backends():
    with running_backends("a", "b", "c") as bs:
        yield bs


class Budget:
    def __init__(self, allow):
        self.allow = allow
        self.requests = self.retries = 0

    def can_retry(self):
        return self.allow

    def record_request(self):
        self.requests += 1

    def record_retry(self):
        self.retries += 1


def test_extras_installed():
    import importlib.metadata as md

    assert md.version("httpx") and md.version("aiohttp") >= "3.12"


def test_import_fastroute_imports_no_http_library():
    code = "import sys, fastroute; print('httpx' in sys.modules, 'aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_httpx_routes_rewrites_and_keeps_host(backends):
    lb = RoundRobin(["a", "b", "c"])
    with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends)), base_url="http://payments") as client:
        seen = [client.get("/v1/x?q=1") for _ in range(6)]
    assert [r.text for r in seen] == ["a", "b", "c", "a", "b", "c"]
    assert [r.extensions["fastroute_node"] for r in seen] == ["a", "b", "c", "a", "b", "c"]
    assert backends[0].last_request.startswith(b"GET /v1/x?q=1 HTTP/1.1")
    assert b"\r\nhost: payments\r\n" in backends[0].last_request.lower()
    assert lb.active() == {"a": 0, "b": 0, "c": 0}


def test_httpx_url_prefix(backends):
    lb = RoundRobin(["a"])
    with httpx.Client(transport=FastrouteTransport(lb, urls={"a": backends[0].url + "/api"})) as client:
        client.get("http://svc/v1?x=2")
    assert backends[0].last_request.startswith(b"GET /api/v1?x=2 HTTP/1.1")


def test_httpx_dead_node_idempotent_retried_post_not(backends):
    urls = backend_urls(backends)
    urls["b"] = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    lb = SmoothWeightedRoundRobin(["a", "b", "c"], health=NginxHealth(max_fails=1, fail_timeout=30))
    with httpx.Client(transport=FastrouteTransport(lb, urls=urls)) as client:
        texts = [client.get("http://svc/").text for _ in range(6)]
        assert set(texts) <= {"a", "c"} and len(texts) == 6
        assert lb.state("b") == "ejected"  # the refused connection was reported as a failure
    lb2 = RoundRobin(["b", "a"])
    with httpx.Client(transport=FastrouteTransport(lb2, urls=urls)) as client:
        with pytest.raises(httpx.ConnectError):
            client.post("http://svc/", content=b"pay")  # not idempotent: never sent twice
        assert client.get("http://svc/").text == "a"


def test_httpx_503_retried_for_get_returned_for_post(backends):
    backends[0].status = 503
    lb = RoundRobin(["a", "b"])
    budget = Budget(True)
    with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends), budget=budget)) as client:
        r = client.get("http://svc/")
        assert (r.status_code, r.text) == (200, "b")
        r = client.post("http://svc/", content=b"x")  # round robin is back on a
        assert (r.status_code, r.text) == (503, "a")
    assert (budget.requests, budget.retries) == (2, 1)


def test_httpx_budget_refuses_retry(backends):
    backends[0].status = 503
    lb = RoundRobin(["a", "b"])
    with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends), budget=Budget(False))) as client:
        assert client.get("http://svc/").status_code == 503
    with httpx.Client(transport=FastrouteTransport(RoundRobin(["a", "b"]), urls=backend_urls(backends),
                                                   max_retries=0)) as client:
        assert client.get("http://svc/").status_code == 503


def test_httpx_keyed_placement_by_header_and_query(backends):
    ring = HashRing(["a", "b", "c"])
    with httpx.Client(transport=FastrouteTransport(ring, key=Header("X-Card"), urls=backend_urls(backends))) as client:
        for card in ("4111111111111111", "5500000000000004", "tok_1", "tok_2"):
            r = client.get("http://svc/", headers={"X-Card": card})
            assert r.text == ring.get_node(card)
        with pytest.raises(ValueError, match="X-Card") as info:
            client.get("http://svc/")
        assert "4111" not in str(info.value)
    with httpx.Client(transport=FastrouteTransport(ring, key=Query("card"), urls=backend_urls(backends))) as client:
        assert client.get("http://svc/", params={"card": "tok_9"}).text == ring.get_node("tok_9")


def test_httpx_keyed_failover_follows_replica_order(backends):
    ring = HashRing(["a", "b", "c"])
    key = next(k for k in (f"k{i}" for i in range(1000)) if ring.get_node(k) == "a")
    second = ring.replicas(key, 3)[1]
    urls = backend_urls(backends)
    urls["a"] = f"http://127.0.0.1:{free_port()}"
    with httpx.Client(transport=FastrouteTransport(ring, key=lambda req: req.headers["k"], urls=urls)) as client:
        assert client.get("http://svc/", headers={"k": key}).text == second


def test_httpx_async_cancellation_is_not_a_failure(backends):
    backends[0].delay = backends[1].delay = 1.0
    lb = SmoothWeightedRoundRobin(["a"], health=NginxHealth(max_fails=1, fail_timeout=30))
    lb2 = SmoothWeightedRoundRobin(["a", "b"], health=NginxHealth(max_fails=1, fail_timeout=30))

    async def main():
        for sel in (lb, lb2):
            async with httpx.AsyncClient(transport=AsyncFastrouteTransport(sel, urls=backend_urls(backends))) as client:
                for _ in range(3):
                    task = asyncio.ensure_future(client.get("http://svc/"))
                    await asyncio.sleep(0.1)
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task

    asyncio.run(main())
    assert lb2.state("a") == lb2.state("b") == "up" and lb2.active() == {"a": 0, "b": 0}
    assert lb.state("a") == "up" and lb.active() == {"a": 0}


def test_httpx_async_retry(backends):
    urls = backend_urls(backends)
    urls["a"] = f"http://127.0.0.1:{free_port()}"

    async def main():
        async with httpx.AsyncClient(transport=AsyncFastrouteTransport(RoundRobin(["a", "b"]), urls=urls)) as client:
            return [(await client.get("http://svc/")).text for _ in range(4)]

    assert asyncio.run(main()) == ["b"] * 4


def test_router_argument_errors(backends):
    with pytest.raises(TypeError, match="target"):
        FastrouteTransport(object(), urls={})
    with pytest.raises(ValueError, match="urls"):
        FastrouteTransport(RoundRobin(["a", "z"]), urls=backend_urls(backends))
    with pytest.raises(ValueError, match="max_retries"):
        FastrouteTransport(RoundRobin(["a"]), urls=backend_urls(backends), max_retries=-1)
    with pytest.raises(TypeError, match="key"):
        FastrouteTransport(HashRing(["a"]), key=3, urls=backend_urls(backends))
    with pytest.raises(ValueError, match="urls"):
        FastrouteTransport(RoundRobin(["a"]), urls={"a": "ftp://x"})


# ---------------------------------------------------------------- aiohttp

def test_aiohttp_middleware_routes_retries_and_cancels(backends):
    urls = backend_urls(backends)
    urls["c"] = f"http://127.0.0.1:{free_port()}"
    lb = LeastRequest(["a", "b", "c"], seed=1)
    health_lb = SmoothWeightedRoundRobin(["a", "b"], health=NginxHealth(max_fails=1, fail_timeout=30))

    async def main():
        route = FastrouteMiddleware(lb, urls=urls)
        async with aiohttp.ClientSession(middlewares=(route,)) as session:
            texts = []
            for _ in range(9):
                async with session.get("http://payments/v1") as resp:
                    texts.append(await resp.text())
                    assert resp.fastroute_node in ("a", "b")
            with pytest.raises(aiohttp.ClientConnectionError):
                async with RoundRobinSession(urls) as s2:
                    await s2.post("http://payments/v1", data=b"pay")
        backends[0].delay = backends[1].delay = 1.0
        async with aiohttp.ClientSession(middlewares=(FastrouteMiddleware(health_lb, urls=urls),)) as session:
            for _ in range(3):
                task = asyncio.ensure_future(session.get("http://payments/"))
                await asyncio.sleep(0.1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
        return texts

    texts = asyncio.run(main())
    assert set(texts) == {"a", "b"}
    assert b"host: payments" in backends[1].last_request.lower()
    assert health_lb.state("a") == health_lb.state("b") == "up" and health_lb.active() == {"a": 0, "b": 0}
    assert lb.active() == {"a": 0, "b": 0, "c": 0}


class RoundRobinSession:
    """A session whose first pick is the dead node `c`."""

    def __init__(self, urls):
        self._session = aiohttp.ClientSession(middlewares=(FastrouteMiddleware(RoundRobin(["c", "a"]), urls=urls),))

    async def __aenter__(self):
        return self._session

    async def __aexit__(self, *exc):
        await self._session.close()


def test_aiohttp_keyed_and_503_retry(backends):
    backends[1].status = 503
    ring = HashRing(["a", "b", "c"])

    async def main():
        out = []
        mw = FastrouteMiddleware(ring, key=Header("X-Card"), urls=backend_urls(backends))
        async with aiohttp.ClientSession(middlewares=(mw,)) as session:
            for i in range(30):
                card = f"tok_{i}"
                async with session.get("http://svc/", headers={"X-Card": card}) as resp:
                    out.append((card, resp.status, await resp.text()))
        return out

    for card, status, text in asyncio.run(main()):
        primary = ring.get_node(card)
        expected = ring.replicas(card, 3)[1] if primary == "b" else primary
        assert (status, text) == (200, expected)


@pytest.mark.parametrize("origin, url", [
    ("http://127.0.0.1:8080", "http://payments/v1/x?q=1&r=%20"),
    ("https://10.0.0.1", "http://svc:9000/a%2Fb"),
    ("http://[::1]:81/pre", "http://svc/v1?x=2"),
    ("http://Node.Example:80", "http://user:pw@svc/"),
])
def test_httpx_fast_rewrite_equals_httpx_copy_with(origin, url):
    from tests._internals import httpx_rewrites

    fast, public = httpx_rewrites(origin, url)
    assert fast == public


class WithdrawBudget:
    """The shape of fastroute.RetryBudget (record_request / can_retry / try_retry)."""

    def __init__(self, retries_left):
        self.left = retries_left
        self.requests = self.withdrawn = 0

    def record_request(self):
        self.requests += 1

    def can_retry(self):
        return self.left > 0

    def try_retry(self):
        if self.left <= 0:
            return False
        self.left -= 1
        self.withdrawn += 1
        return True


def test_httpx_budget_withdraws_one_per_retry_and_refusal_frees_the_node(backends):
    backends[0].status = backends[1].status = 503
    lb = RoundRobin(["a", "b", "c"])
    budget = WithdrawBudget(1)
    with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends), budget=budget)) as client:
        r = client.get("http://svc/")  # a: 503, retry on b (budget 1 -> 0): 503, c refused by the budget
        assert (r.status_code, r.text) == (503, "b")
    assert (budget.requests, budget.withdrawn) == (1, 1)
    assert lb.active() == {"a": 0, "b": 0, "c": 0}


def test_aiohttp_url_prefix_and_query_kept(backends):
    async def main():
        mw = FastrouteMiddleware(RoundRobin(["a"]), urls={"a": backends[0].url + "/api"})
        async with aiohttp.ClientSession(middlewares=(mw,)) as session:
            async with session.get("http://svc/v1/x%20y?card=tok_1&z=2") as resp:
                return resp.status

    assert asyncio.run(main()) == 200
    assert backends[0].last_request.startswith(b"GET /api/v1/x%20y?card=tok_1&z=2 HTTP/1.1")
