# SPDX-License-Identifier: Apache-2.0
"""End to end (issue #14): three real HTTP backends on 127.0.0.1, clients
through the httpx transport and the aiohttp middleware, active checks feeding
the balancer. One backend is killed under load (no idempotent request may
fail), one is slowed down (its share drops under a latency-aware balancer),
one flaps (held down and brought back exactly per rise/fall)."""
import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import httpx
import pytest

from fastroute import NginxHealth, PeakEWMA, RoundRobin, SmoothWeightedRoundRobin
from fastroute.aiohttp import FastrouteMiddleware
from fastroute.checks import (AsyncCheckRunner, CheckTarget, CheckTiming, HealthChecker, HttpCheck, ThreadCheckRunner,
                              balancer_sink)
from fastroute.httpx import AsyncFastrouteTransport, FastrouteTransport
from tests._checkservers import backend_urls, running_backends
from tests.test_checks import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def backends():
    with running_backends("a", "b", "c") as bs:
        yield bs


def _checker(bs, balancer, **timing):
    timing = CheckTiming(**{"inter": 0.05, "rise": 2, "fall": 2, "timeout": 0.5, **timing})
    return HealthChecker([CheckTarget(b.name, "127.0.0.1", b.port) for b in bs], sink=balancer_sink(balancer),
                         check=HttpCheck(path="/health"), timing=timing)


def test_httpx_kill_one_backend_under_load_no_failed_request(backends):
    lb = SmoothWeightedRoundRobin(["a", "b", "c"], health=NginxHealth(max_fails=1, fail_timeout=5))
    checker = _checker(backends, lb)
    statuses = []
    lock = threading.Lock()
    killed = threading.Event()

    def worker(client, count):
        for i in range(count):
            r = client.get("http://payments/v1/authorize")
            with lock:
                statuses.append((r.status_code, r.extensions["fastroute_node"], killed.is_set()))

    with ThreadCheckRunner(checker), \
            httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends), max_retries=2)) as client:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(worker, client, 150) for _ in range(4)]
            wait_until(lambda: len(statuses) >= 150)
            backends[1].kill()
            killed.set()
            for f in futures:
                f.result()  # any exception (a failed request) fails the test here
        assert wait_until(lambda: checker.state("b") == "down")
    assert len(statuses) == 600 and all(s == 200 for s, _, _ in statuses)
    after = [node for _, node, k in statuses if k]
    assert after and "b" not in after[len(after) // 2:]  # once noticed, b gets nothing
    assert {"a", "c"} <= {node for _, node, _ in statuses}


def test_aiohttp_kill_one_backend_under_load_no_failed_request(backends):
    lb = SmoothWeightedRoundRobin(["a", "b", "c"], health=NginxHealth(max_fails=1, fail_timeout=5))
    checker = _checker(backends, lb)

    async def main():
        results = []
        async with AsyncCheckRunner(checker), \
                aiohttp.ClientSession(middlewares=(FastrouteMiddleware(lb, urls=backend_urls(backends)),)) as session:
            async def worker(count):
                for _ in range(count):
                    async with session.get("http://payments/v1/status") as resp:
                        results.append((resp.status, await resp.text()))

            tasks = [asyncio.create_task(worker(100)) for _ in range(4)]
            while len(results) < 100:
                await asyncio.sleep(0.005)
            await asyncio.to_thread(backends[2].kill)
            await asyncio.gather(*tasks)
            for _ in range(200):
                if checker.state("c") == "down":
                    break
                await asyncio.sleep(0.01)
        return results

    results = asyncio.run(main())
    assert len(results) == 400 and all(s == 200 for s, _ in results)
    assert checker.state("c") == "down"


@pytest.mark.parametrize("client", ["httpx", "aiohttp"])
def test_slow_backend_share_drops_with_peak_ewma(backends, client):
    backends[2].delay = 0.25  # far above scheduling noise: on a loaded 2-core machine 0.08 s was not (share 0.22)
    urls = backend_urls(backends)
    n = 60  # RoundRobin sends n/3 requests to the slow backend: keep the test short

    def share(lb):
        if client == "httpx":
            with httpx.Client(transport=FastrouteTransport(lb, urls=urls)) as c:
                nodes = [c.get("http://svc/").text for _ in range(n)]
        else:
            async def main():
                out = []
                async with aiohttp.ClientSession(middlewares=(FastrouteMiddleware(lb, urls=urls),)) as s:
                    for _ in range(n):
                        async with s.get("http://svc/") as resp:
                            out.append(await resp.text())
                return out

            nodes = asyncio.run(main())
        return nodes.count("c") / n

    assert share(RoundRobin(["a", "b", "c"])) == pytest.approx(1 / 3, abs=0.01)  # the baseline: equal shares
    assert share(PeakEWMA(["a", "b", "c"], seed=3)) < 0.2


def test_flapping_backend_held_down_per_rise_fall(backends):
    """Checks of `a` see, in order: pass, fail, fail, pass, fail, fail, fail, pass, fail, pass, pass.
    HAProxy's counter (rise 2, fall 3; starts at 2, full at 4), by hand: pass 4, fail 3, fail 2, pass 4,
    fail 3, fail 2, fail 0 -> DOWN, pass 1, fail 0, pass 1, pass 4 -> UP. Client traffic runs all along:
    between the two transitions `a` gets no request (at most the one already in flight)."""
    a = backends[0]
    a.health_script = [200, 500, 500, 200, 500, 500, 500, 200, 500, 200, 200]
    lb = RoundRobin(["a", "b", "c"])
    seen = []

    def snapshot(t):
        seen.append((t.node, t.state, a.app_requests, sum(b.app_requests for b in backends)))

    checker = HealthChecker([CheckTarget(b.name, "127.0.0.1", b.port) for b in backends],
                            sink=balancer_sink(lb), check=HttpCheck(path="/health"),
                            timing=CheckTiming(inter=0.05, rise=2, fall=3, timeout=0.5), on_transition=snapshot)
    stop = threading.Event()
    failures = []

    def traffic(client):
        while not stop.is_set():
            if client.get("http://svc/").status_code != 200:
                failures.append(1)

    with httpx.Client(transport=FastrouteTransport(lb, urls=backend_urls(backends))) as client:
        t = threading.Thread(target=traffic, args=(client,))
        t.start()
        try:
            with ThreadCheckRunner(checker):
                assert wait_until(lambda: len([s for s in seen if s[0] == "a"]) >= 2, timeout=20)
        finally:
            stop.set()
            t.join()
    a_seen = [s for s in seen if s[0] == "a"]
    assert [(n, st) for n, st, _, _ in a_seen] == [("a", "down"), ("a", "up")]
    assert checker.health("a") == 4 and checker.state("b") == checker.state("c") == "up"
    (_, _, a_at_down, all_at_down), (_, _, a_at_up, all_at_up) = a_seen
    assert all_at_up - all_at_down >= 10  # traffic did flow while a was down ...
    assert a_at_up - a_at_down <= 1  # ... but not to a
    assert not failures
