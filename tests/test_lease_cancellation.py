# SPDX-License-Identifier: Apache-2.0
"""Issue 14, trial failure 3: a cancelled request (client went away, timeout)
is not a backend failure. Three cancelled leases once ejected every node of a
three-node LeastConnections (nginx max_fails=1) and the service answered
NoHealthyNode for 10 s."""
import asyncio

import pytest

import fastroute as fr

NODES = ["a", "b", "c"]


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _nothing_ejected(sel):
    assert [sel.state(n) for n in NODES] == ["up", "up", "up"]
    assert sel.active() == {n: 0 for n in NODES}
    assert {sel.pick() for _ in range(9)} == set(NODES)


@pytest.mark.parametrize("exc", [asyncio.CancelledError, KeyboardInterrupt, GeneratorExit])
def test_three_cancelled_sync_leases_eject_nothing(exc):
    sel = fr.LeastConnections(NODES, health="nginx", clock=Clock())
    for _ in range(3):
        with pytest.raises(exc):
            with sel.lease():
                raise exc()
    _nothing_ejected(sel)


def test_three_cancelled_async_leases_eject_nothing():
    # The trial: an aiohttp handler awaiting a backend is cancelled when its client goes away.
    sel = fr.LeastConnections(NODES, health="nginx", clock=Clock())

    async def handler(started):
        async with sel.lease() as node:
            assert node in NODES
            started.set()
            await asyncio.sleep(3600)

    async def main():
        for _ in range(3):
            started = asyncio.Event()
            task = asyncio.create_task(handler(started))
            await asyncio.wait([task, asyncio.ensure_future(started.wait())], timeout=10,
                               return_when=asyncio.FIRST_COMPLETED)
            assert started.is_set(), task.exception() if task.done() else "handler did not start"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    _nothing_ejected(sel)


def test_timeout_inside_the_lease_is_a_cancellation_not_a_failure():
    sel = fr.LeastConnections(NODES, health="nginx", clock=Clock())

    async def main():
        for _ in range(3):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.001):
                    async with sel.lease():
                        await asyncio.sleep(3600)

    asyncio.run(main())
    _nothing_ejected(sel)


def test_explicit_cancel_releases_without_an_outcome():
    sel = fr.LeastConnections(NODES, health="nginx", clock=Clock())
    for _ in range(3):
        lease = sel.lease()
        with lease as node:
            assert sel.active(node) == 1
            lease.cancel()
            assert sel.active(node) == 0
            lease.cancel()  # idempotent
    _nothing_ejected(sel)


def test_ordinary_exceptions_still_count_as_failures():
    sel = fr.LeastConnections(NODES, health="nginx", clock=Clock())
    with pytest.raises(ConnectionError):
        with sel.lease():
            raise ConnectionError("backend reset")
    assert sorted(sel.state(n) for n in NODES) == ["ejected", "up", "up"]
    assert sel.active() == {n: 0 for n in NODES}


def test_async_failure_counts_and_explicit_outcomes():
    clock = Clock()
    sel = fr.LeastConnections(NODES, health="nginx", clock=clock)

    async def main():
        with pytest.raises(ConnectionError):
            async with sel.lease():
                raise ConnectionError("reset")
        lease = sel.lease()
        async with lease as node:
            lease.fail()
            assert sel.active(node) == 0
        return node

    failed_second = asyncio.run(main())
    assert sum(sel.state(n) == "ejected" for n in NODES) == 2
    assert sel.state(failed_second) == "ejected"


def test_lease_is_single_use_and_measures_latency():
    clock = Clock()
    sel = fr.PeakEWMA(NODES, seed=3, clock=clock)
    lease = sel.lease()
    with lease as node:
        assert lease.node == node
        clock.t += 0.25
    assert sel.latency_estimate(node) == 0.25  # peak EWMA: the first sample is the cost
    with pytest.raises(RuntimeError, match="lease"):
        with lease:
            pass
    assert sel.active() == {n: 0 for n in NODES}


def test_lease_on_no_healthy_node_raises_and_holds_nothing():
    sel = fr.RoundRobin(["a"])
    sel.set_state("a", "down")
    with pytest.raises(fr.NoHealthyNode):
        with sel.lease():
            pass
    sel.set_state("a", "up")
    assert sel.active() == {"a": 0}
