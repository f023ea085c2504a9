# SPDX-License-Identifier: Apache-2.0
"""Active health checks: HAProxy's rise/fall counter, intervals and agent words
(expected values from HAProxy's documented rules, worked by hand), and the
HTTP / TCP / agent probes and both runners against real sockets on 127.0.0.1."""
import asyncio
import re
import threading
import time

import pytest

from fastroute import RoundRobin
from fastroute.checks import (AgentCheck, AgentReply, AsyncCheckRunner, CheckTarget, CheckTiming, HealthChecker,
                              HttpCheck, TcpCheck, ThreadCheckRunner, balancer_sink, parse_agent_reply)
from tests._checkservers import Agent, Backend, Silent, free_port


class RecordingSink:
    def __init__(self):
        self.calls = []

    def report_check(self, node, ok):
        self.calls.append(("check", node, ok))

    def set_state(self, node, state, *, source="admin"):
        self.calls.append(("state", node, state, source))

    def set_weight_percent(self, node, percent):
        self.calls.append(("weight", node, percent))

    def transition(self, change):
        self.calls.append(("transition", change.node, change.state))

    def states(self):
        return [c[1:] for c in self.calls if c[0] == "transition"]


class ViewSink:
    """Only the HealthView contract (no transition hook): gets raw results and agent words."""

    def __init__(self):
        self.calls = []

    def report_check(self, node, ok):
        self.calls.append(("check", node, ok))

    def set_state(self, node, state, *, source="admin"):
        self.calls.append(("state", node, state, source))

    def set_weight_percent(self, node, percent):
        self.calls.append(("weight", node, percent))


def _checker(n=1, **kw):
    targets = [CheckTarget(f"n{i}", "127.0.0.1", 1 + i, agent_port=9 + i) for i in range(n)]
    kw.setdefault("check", TcpCheck())
    return HealthChecker(targets, **kw)


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# ---------------------------------------------------------------- state machine

def test_defaults_are_haproxys():
    t = CheckTiming()
    assert (t.inter, t.fastinter, t.downinter, t.rise, t.fall, t.timeout, t.spread) == (2.0, None, None, 2, 3, None,
                                                                                       0.0)
    assert t.check_timeout == 2.0  # no `timeout check`: inter bounds connect + reply


def test_start_up_one_failure_marks_down_then_rise_brings_up():
    sink = RecordingSink()
    c = _checker(sink=sink)
    assert c.state("n0") == "up" and c.health("n0") == 2  # starts UP at health == rise
    assert c.record("n0", False) == "down" and c.health("n0") == 0
    assert c.record("n0", True) == "down" and c.health("n0") == 1
    assert c.record("n0", True) == "up" and c.health("n0") == 4  # rise reached: counter jumps to rise+fall-1
    assert sink.states() == [("n0", "down"), ("n0", "up")]
    assert [x for x in sink.calls if x[0] == "check"] == [("check", "n0", False), ("check", "n0", True),
                                                           ("check", "n0", True)]


def test_fall_consecutive_failures_take_a_fully_up_node_down():
    c = _checker(timing=CheckTiming(rise=2, fall=3))
    c.record("n0", True)  # 2 -> 4 (full)
    assert [c.record("n0", False) for _ in range(2)] == ["up", "up"]
    c.record("n0", True)  # one pass while UP refills the counter
    assert [c.record("n0", False) for _ in range(3)] == ["up", "up", "down"]


def test_interval_rule_inter_fastinter_downinter():
    c = _checker(timing=CheckTiming(inter=2, fastinter=0.5, downinter=7, rise=2, fall=3))
    assert c.interval("n0") == 0.5  # health 2 of 4: changing state
    c.record("n0", True)
    assert c.interval("n0") == 2.0  # full
    c.record("n0", False)
    assert c.interval("n0") == 0.5
    c.record("n0", False)
    c.record("n0", False)
    assert c.state("n0") == "down" and c.interval("n0") == 7.0
    c2 = _checker(timing=CheckTiming(inter=3))
    c2.record("n0", False)
    assert c2.interval("n0") == 3.0  # downinter defaults to inter


def test_jitter_stays_within_spread_and_is_seeded():
    c = _checker(timing=CheckTiming(inter=2, spread=0.25), seed=7)
    values = [c.jittered(2.0) for _ in range(500)]
    assert min(values) >= 1.5 and max(values) <= 2.5
    assert max(values) - min(values) > 0.5  # it does vary
    c2 = _checker(timing=CheckTiming(inter=2, spread=0.25), seed=7)
    assert [c2.jittered(2.0) for _ in range(500)] == values
    assert _checker(n=4).first_delays() == {"n0": 0.0, "n1": 0.5, "n2": 1.0, "n3": 1.5}


@pytest.mark.parametrize("line, expected", [
    ("75%", AgentReply(weight_percent=75.0)),
    ("drain", AgentReply(admin="drain")),
    ("maint", AgentReply(admin="maint")),
    ("ready", AgentReply(admin="ready")),
    ("up", AgentReply(health="up")),
    ("down", AgentReply(health="down")),
    ("stopped", AgentReply(health="down")),
    ("fail", AgentReply(health="down")),
    ("UP 50%", AgentReply(health="up", weight_percent=50.0)),
    ("ready,up\n", AgentReply(health="up", admin="ready")),
    ("drain 10% maxconn:30", AgentReply(admin="drain", weight_percent=10.0, maxconn=30)),
    ("down#disk full", AgentReply(health="down", reason="disk full")),
    ("up drain down", AgentReply(health="down", admin="drain")),  # the last word of a kind wins
    ("weight:50", AgentReply(unknown=("weight:50",))),  # not a HAProxy agent word
    ("12.5%", AgentReply(unknown=("12.5%",))),
    ("25601%", AgentReply(unknown=("25601%",))),  # over HAProxy's weight cap (256 x 100 %)
    ("25600%", AgentReply(weight_percent=25600.0)),
])
def test_agent_words(line, expected):
    assert parse_agent_reply(line) == expected


def test_agent_reply_masks_card_numbers():
    reply = parse_agent_reply("4111111111111111 #card 4111111111111111")
    assert "4111111111111111" not in repr(reply)


def test_agent_admin_and_health_words_combine():
    sink = RecordingSink()
    c = _checker(sink=sink, agent=AgentCheck())
    c.record("n0", True)
    assert c.record_agent("n0", parse_agent_reply("drain 75%")) == "drain"
    assert c.record_agent("n0", parse_agent_reply("maint")) == "maint"
    assert c.record_agent("n0", parse_agent_reply("ready")) == "up"
    assert c.record_agent("n0", parse_agent_reply("down#bad")) == "down"
    assert c.health("n0") == 0
    assert c.record_agent("n0", parse_agent_reply("ready")) == "down"  # admin ready does not undo health down
    c.record("n0", True)
    assert c.record("n0", True) == "up"  # back by rise passes
    c.record_agent("n0", parse_agent_reply("down"))
    assert c.record_agent("n0", parse_agent_reply("up")) == "up" and c.health("n0") == 4
    assert sink.states() == [("n0", "drain"), ("n0", "maint"), ("n0", "up"), ("n0", "down"), ("n0", "up"),
                             ("n0", "down"), ("n0", "up")]
    assert ("weight", "n0", 75.0) in sink.calls


def test_view_sink_gets_raw_results_and_agent_words_in_haproxy_order():
    sink = ViewSink()
    c = _checker(sink=sink, agent=AgentCheck())
    c.record("n0", False)
    c.record_agent("n0", parse_agent_reply("up 50% drain"))
    c.record_agent("n0", parse_agent_reply("fail#gone"))
    assert sink.calls == [("check", "n0", False), ("state", "n0", "drain", "agent"), ("weight", "n0", 50.0),
                          ("state", "n0", "up", "agent"), ("state", "n0", "down", "agent")]


def test_balancer_sink_drives_todays_balancer():
    rr = RoundRobin(["a", "b", "c"])
    c = HealthChecker([CheckTarget(n, "127.0.0.1", 1) for n in "abc"], sink=balancer_sink(rr), check=TcpCheck())
    c.record("b", False)
    assert rr.state("b") == "down" and "b" not in rr.eligible()
    c.record("b", True)
    c.record("b", True)
    assert rr.state("b") == "up"
    c.record_agent("c", parse_agent_reply("drain"))
    assert rr.state("c") == "draining"


@pytest.mark.parametrize("kwargs, message", [
    (dict(inter=0), "inter"), (dict(inter=float("nan")), "inter"), (dict(rise=0), "rise"),
    (dict(fall=True), "fall"), (dict(spread=0.6), "spread"), (dict(timeout=-1), "timeout"),
])
def test_timing_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CheckTiming(**kwargs)


def test_argument_validation():
    with pytest.raises(ValueError, match="path"):
        HttpCheck(path="/a\r\nX: y")
    with pytest.raises(ValueError, match="method"):
        HttpCheck(method="GET /")
    with pytest.raises(ValueError, match="expect_status"):
        HttpCheck(expect_status=[200, 700])
    with pytest.raises(ValueError, match="port"):
        CheckTarget("a", "127.0.0.1", 0)
    with pytest.raises(ValueError, match="distinct"):
        HealthChecker([CheckTarget("a", "127.0.0.1", 1)] * 2, check=TcpCheck())
    with pytest.raises(ValueError, match="agent_port"):
        HealthChecker([CheckTarget("a", "127.0.0.1", 1)], agent=AgentCheck())
    with pytest.raises(ValueError, match="node"):
        _checker().record("zz", True)
    with pytest.raises(TypeError, match="ok"):
        _checker().record("n0", 1)


# ---------------------------------------------------------------- probes on real sockets

@pytest.fixture
def backend():
    b = Backend("alpha")
    yield b
    b.stop()


def test_http_check_status_host_and_body(backend):
    target = CheckTarget("a", "127.0.0.1", backend.port)
    c = HealthChecker([target], check=HttpCheck(method="HEAD", path="/health", host="svc.local"))
    assert c.probe("a") is True
    assert backend.last_request.startswith(b"HEAD /health HTTP/1.1\r\n")
    assert b"\r\nHost: svc.local\r\n" in backend.last_request
    backend.status = 503
    assert c.probe("a") is False
    backend.status = 302
    assert c.probe("a") is True  # 3xx passes by default, as `option httpchk`
    strict = HealthChecker([target], check=HttpCheck(expect_status=(200,)))
    assert strict.probe("a") is False
    backend.status = 200
    body = HealthChecker([target], check=HttpCheck(body="lph"))
    assert body.probe("a") is True
    backend.chunked = True
    assert body.probe("a") is True  # chunked framing removed before matching
    assert HealthChecker([target], check=HttpCheck(body=re.compile(rb"^al.ha$"))).probe("a") is True
    assert HealthChecker([target], check=HttpCheck(body="omega")).probe("a") is False


def test_tcp_check_open_and_closed_port(backend):
    c = HealthChecker([CheckTarget("open", "127.0.0.1", backend.port), CheckTarget("shut", "127.0.0.1", free_port())],
                      check=TcpCheck())
    assert c.probe("open") is True
    assert c.probe("shut") is False


def test_agent_probe_and_unreachable_agent_changes_nothing():
    agent = Agent("drain 50%")
    try:
        sink = RecordingSink()
        c = HealthChecker([CheckTarget("a", "127.0.0.1", 1, agent_port=agent.port),
                           CheckTarget("b", "127.0.0.1", 1, agent_port=free_port())], agent=AgentCheck(), sink=sink)
        assert c.probe_agent("a") == AgentReply(admin="drain", weight_percent=50.0)
        assert c.state("a") == "drain"
        assert c.probe_agent("b") is None and c.state("b") == "up"
        assert sink.calls == [("state", "a", "drain", "agent"), ("weight", "a", 50.0), ("transition", "a", "drain")]
    finally:
        agent.stop()


def test_http_check_times_out_on_a_hung_backend():
    silent = Silent()
    try:
        c = HealthChecker([CheckTarget("a", "127.0.0.1", silent.port)], check=HttpCheck(),
                          timing=CheckTiming(timeout=0.2))
        start = time.monotonic()
        assert c.probe("a") is False
        assert time.monotonic() - start < 5
    finally:
        silent.stop()


def _check_threads():
    return [t for t in threading.enumerate() if t.name.startswith("fastroute-check")]


def test_thread_runner_follows_a_flapping_backend_and_stops_cleanly(backend):
    sink = RecordingSink()
    c = HealthChecker([CheckTarget("a", "127.0.0.1", backend.port)], check=HttpCheck(), sink=sink,
                      timing=CheckTiming(inter=0.05, rise=2, fall=2))
    with ThreadCheckRunner(c, max_workers=2):
        assert wait_until(lambda: c.health("a") == 3)
        backend.status = 500
        assert wait_until(lambda: c.state("a") == "down")
        backend.status = 200
        assert wait_until(lambda: c.state("a") == "up")
    assert sink.states() == [("a", "down"), ("a", "up")]
    assert [t.cause for t in c.transitions] == ["check", "check"]
    assert _check_threads() == []


def test_thread_runner_stop_is_prompt_with_a_hung_probe():
    silent = Silent()
    try:
        c = HealthChecker([CheckTarget("a", "127.0.0.1", silent.port)], check=HttpCheck(),
                          timing=CheckTiming(inter=0.01, timeout=60))
        runner = ThreadCheckRunner(c).start()
        time.sleep(0.2)  # the probe is now blocked in recv for up to 60 s
        start = time.monotonic()
        runner.stop()
        assert time.monotonic() - start < 5
        assert _check_threads() == []
        assert runner.errors == []
    finally:
        silent.stop()


def test_async_runner_health_and_agent(backend):
    agent = Agent("ready")  # not "up": an agent's "up" refills the check counter (HAProxy) and would race the 500s

    async def main():
        sink = RecordingSink()
        c = HealthChecker([CheckTarget("a", "127.0.0.1", backend.port, agent_port=agent.port)], check=HttpCheck(),
                          agent=AgentCheck(inter=0.05), sink=sink, timing=CheckTiming(inter=0.05, fall=2))

        async def until(predicate):
            for _ in range(500):
                if predicate():
                    return True
                await asyncio.sleep(0.01)
            return False

        async with AsyncCheckRunner(c) as runner:
            backend.status = 500
            assert await until(lambda: c.state("a") == "down")
            backend.status = 200
            agent.reply = "maint"
            assert await until(lambda: c.state("a") == "maint")
            agent.reply = "ready"
            assert await until(lambda: c.state("a") == "up")
        assert runner._tasks == [] and runner.errors == []
        return sink.states()

    try:
        states = asyncio.run(main())
    finally:
        agent.stop()
    assert ("a", "down") in states and ("a", "maint") in states and states[-1] == ("a", "up")


def test_async_runner_stop_is_prompt_with_a_hung_probe():
    silent = Silent()

    async def main():
        c = HealthChecker([CheckTarget("a", "127.0.0.1", silent.port)], check=HttpCheck(),
                          timing=CheckTiming(inter=0.01, timeout=60))
        runner = await AsyncCheckRunner(c).start()
        await asyncio.sleep(0.2)
        start = time.monotonic()
        await runner.stop()
        return time.monotonic() - start

    try:
        assert asyncio.run(main()) < 5
    finally:
        silent.stop()


def test_per_target_timing_overrides_the_checkers():
    slow = CheckTarget("s", "127.0.0.1", 1, timing=CheckTiming(inter=5, rise=1, fall=1), agent_inter=7, agent_port=2)
    c = HealthChecker([slow, CheckTarget("d", "127.0.0.1", 1, agent_port=3)], check=TcpCheck(), agent=AgentCheck(),
                      timing=CheckTiming(inter=2))
    assert (c.interval("s"), c.interval("d")) == (5.0, 2.0)
    assert (c.agent_interval("s"), c.agent_interval("d")) == (7.0, 2.0)
    assert c.record("s", False) == "down" and c.record("s", True) == "up"  # rise 1, fall 1
    assert (c.timeout("s"), c.timeout("d")) == (5.0, 2.0)
