# SPDX-License-Identifier: Apache-2.0
"""Active checks and the httpx transport over the shared fastroute.HealthView
(issue #14 part 1, the H14 API contract): the view is the checker's sink as it
is, balancers over it stop picking a node the checks took down, agent words
and weights land in the view, retries draw on view.retry_budget. Skipped
(not passed) on a tree without HealthView; runs once both halves are merged."""
import httpx
import pytest

import fastroute
from fastroute.checks import AgentCheck, CheckTarget, CheckTiming, HealthChecker, HttpCheck, ThreadCheckRunner, parse_agent_reply
from fastroute.httpx import FastrouteTransport
from tests._checkservers import free_port, running_backends
from tests.test_checks import wait_until

HealthView = getattr(fastroute, "HealthView", None)
pytestmark = pytest.mark.skipif(HealthView is None, reason="needs fastroute.HealthView (issue #14 part 1)")


@pytest.fixture
def backends():
    with running_backends("a", "b", "c") as bs:
        yield bs


def test_checks_take_a_node_out_of_every_balancer_over_the_view(backends):
    view = HealthView(["a", "b", "c"], rise=2, fall=2)
    reads = fastroute.LeastRequest(upstream=view)
    rr = fastroute.RoundRobin(upstream=view)
    checker = HealthChecker([CheckTarget(b.name, "127.0.0.1", b.port) for b in backends], sink=view,
                            check=HttpCheck(path="/health"), timing=CheckTiming(inter=0.05, rise=2, fall=2))
    with ThreadCheckRunner(checker):
        assert wait_until(lambda: checker.health("a") == 3)
        backends[0].status = 500
        assert wait_until(lambda: "a" not in view.eligible())
        assert "a" not in {reads.pick() for _ in range(50)} | {rr.pick() for _ in range(50)}
        backends[0].status = 200
        assert wait_until(lambda: "a" in view.eligible())
    assert checker.state("a") == "up"


def test_agent_words_and_weight_reach_the_view():
    view = HealthView(["a"], rise=2, fall=3)
    checker = HealthChecker([CheckTarget("a", "127.0.0.1", 1, agent_port=2)], sink=view,
                            check=None, agent=AgentCheck())
    checker.record_agent("a", parse_agent_reply("drain 50%"))
    assert view.state("a") == "draining" and view.status("a")["weight_percent"] == 50.0
    checker.record_agent("a", parse_agent_reply("maint"))
    assert view.state("a") == "maintenance"
    checker.record_agent("a", parse_agent_reply("ready 100%"))
    assert view.state("a") == "up"


def test_httpx_over_the_view_retries_within_its_budget(backends):
    view = HealthView(["a", "b", "c"])
    urls = {b.name: b.url for b in backends}
    urls["b"] = f"http://127.0.0.1:{free_port()}"
    lb = fastroute.RoundRobin(upstream=view)
    with httpx.Client(transport=FastrouteTransport(lb, urls=urls, budget=view.retry_budget)) as client:
        texts = [client.get("http://svc/").text for _ in range(9)]
    assert set(texts) == {"a", "c"}
    assert view.in_flight() == {"a": 0, "b": 0, "c": 0}


def test_agent_maxconn_sets_the_views_per_node_limit_and_warns_once_without_one():
    view = HealthView(["a"])
    checker = HealthChecker([CheckTarget("a", "127.0.0.1", 1, agent_port=2)], sink=view,
                            check=None, agent=AgentCheck())
    checker.record_agent("a", parse_agent_reply("up maxconn:7"))
    assert view.breaker.node_limit("a") == 7
    checker.record_agent("a", parse_agent_reply("maxconn:0"))  # HAProxy: 0 is no limit
    assert view.breaker.node_limit("a") is None

    class NoBreaker:
        def report_check(self, node, ok): pass
        def set_state(self, node, state, *, source="admin"): pass
        def set_weight_percent(self, node, pct): pass

    plain = HealthChecker([CheckTarget("a", "127.0.0.1", 1, agent_port=2)], sink=NoBreaker(),
                          check=None, agent=AgentCheck())
    from fastroute.checks import AgentMaxconnWarning

    with pytest.warns(AgentMaxconnWarning, match="maxconn:3") as seen:
        plain.record_agent("a", parse_agent_reply("maxconn:3"))
        plain.record_agent("a", parse_agent_reply("maxconn:4"))
    assert len([w for w in seen if issubclass(w.category, AgentMaxconnWarning)]) == 1
