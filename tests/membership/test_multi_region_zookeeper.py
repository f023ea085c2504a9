# SPDX-License-Identifier: Apache-2.0
"""A whole zone goes dark and comes back over a real ZooKeeper (docs/multi_region.md
§1, §7): localities travel in the registration payload, a LiveLocalityBalancer
shifts traffic within one refresh of the snapshot, and no pick fails meanwhile."""
from __future__ import annotations

import threading

import pytest

from fastroute.locality import LiveLocalityBalancer, Locality
from fastroute.membership import Member, ZooKeeperCoordinator, ZooKeeperMembership

from .._zookeeper import ZooKeeperServer

pytestmark = pytest.mark.integration
ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory):
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper"))
    server.start()
    yield server
    server.stop()


def test_zone_goes_dark_and_comes_back(zookeeper):
    dark = ZONES[1]
    with ZooKeeperCoordinator(zookeeper.hosts, "multi-region", session_timeout=2.0) as coord:
        regs = [coord.register(Member(f"{z[-2:]}-{i}", 1, f"10.0.{k}.{i}:8443",
                                      metadata={"locality": f"eu-west/{z}"}))
                for k, z in enumerate(ZONES) for i in range(3)]
        with ZooKeeperMembership(coord) as membership:
            membership.wait_for(lambda s: len(s) == 9)
            live = LiveLocalityBalancer(membership, "least_request",
                                        locality_weights={f"eu-west/{z}": 1 for z in ZONES}, seed=4)
            assert set(live.balancer.localities) == {Locality("eu-west", z) for z in ZONES}
            failures, picks, stop = [], [], threading.Event()

            def hammer():
                while not stop.is_set():
                    try:
                        picks.append(live.pick())
                    except Exception as exc:  # counted, never expected
                        failures.append(exc)

            worker = threading.Thread(target=hammer)
            worker.start()
            try:
                assert {live.pick()[:2] for _ in range(600)} == {"1a", "1b", "1c"}
                with coord.change_membership(timeout=10) as change:
                    for i in range(3):
                        change.set_state(f"{dark[-2:]}-{i}", "down")
                applied = live.follower.wait_applied(
                    lambda s: all(s.member(f"{dark[-2:]}-{i}").state == "down" for i in range(3)))
                # One refresh: the first pick after the snapshot is applied avoids the zone.
                after = [live.pick() for _ in range(3000)]
                assert {p[:2] for p in after} == {"1a", "1c"}
                assert live.balancer.loads()["locality_healthy_weight"] == (1.0, 0.0, 1.0)
                with coord.change_membership(timeout=10) as change:
                    for i in range(3):
                        change.set_state(f"{dark[-2:]}-{i}", "up")
                back = live.follower.wait_applied(lambda s: s.epoch > applied.epoch
                                                  and all(m.state == "up" for m in s.members))
                assert back.epoch > applied.epoch
                assert "1b" in {live.pick()[:2] for _ in range(600)}
            finally:
                stop.set()
                worker.join(10)
                live.close()
            assert not failures, failures[:3]
            assert len(picks) > 100
        for r in regs:
            r.close()
