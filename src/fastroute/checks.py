# SPDX-License-Identifier: Apache-2.0
"""Active health checks (docs/checks.md §1): HTTP, TCP connect and HAProxy's
agent-check, with HAProxy's rise/fall counter, intervals and defaults, run by
an asyncio runner or a bounded thread runner. Results go to a `CheckSink`.

    checker = HealthChecker(targets, sink=balancer_sink(balancer), check=HttpCheck(path="/health"))
    with ThreadCheckRunner(checker):          # synchronous programs
        ...
    async with AsyncCheckRunner(checker):     # asyncio programs
        ...

The checker keeps HAProxy's per-node state machine (docs/checks.md §2) for its
intervals and its record of transitions, and feeds the sink raw: every
health-check result (`report_check`), every agent word (`set_state(...,
source="agent")`) and weight (`set_weight_percent`).
"""
from __future__ import annotations

import asyncio
import heapq
import math
import numbers
import random
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .redact import quoted, snippet

__all__ = [
    "AgentCheck", "AgentMaxconnWarning", "AgentReply", "AsyncCheckRunner", "CheckSink", "CheckTarget", "CheckTiming", "HealthChecker",
    "HttpCheck", "TcpCheck", "ThreadCheckRunner", "Transition", "balancer_sink", "parse_agent_reply",
]

#: Effective node states the checker reports (HAProxy's UP / DOWN / DRAIN / MAINT).
STATES = ("up", "down", "drain", "maint")
#: A response or agent reply larger than this is cut: a check never buffers without bound.
MAX_REPLY_BYTES = 64 * 1024
MAX_SECONDS = 86400.0
#: HAProxy caps a server's effective weight at 256, i.e. 25600 % of weight 1.
MAX_WEIGHT_PERCENT = 25600
MAX_COUNT = 2**16
#: Agent words HAProxy knows (its agent parser, docs/checks.md §3).
_AGENT_HEALTH = {"up": "up", "down": "down", "stopped": "down", "fail": "down"}
_AGENT_ADMIN = ("ready", "drain", "maint")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class AgentMaxconnWarning(UserWarning):
    """An agent's `maxconn:N` reply the sink cannot apply (it has no circuit breaker)."""


@runtime_checkable
class CheckSink(Protocol):
    """Where results go (the contract of fastroute.HealthView, docs/checks.md §1):
    `report_check(node, ok)` per health-check result (the sink applies its own
    rise/fall), `set_state(node, word, source="agent")` per agent word (`ready`,
    `drain`, `maint`, `up`, `down`), `set_weight_percent(node, pct)` per agent
    `N%`. A sink that also has `transition(Transition)` gets the checker's own
    effective state changes (how today's standalone balancers are driven)."""

    def report_check(self, node: str, ok: bool) -> None: ...

    def set_state(self, node: str, state: str, *, source: str = "admin") -> None: ...

    def set_weight_percent(self, node: str, percent: float) -> None: ...


class _BalancerSink:
    """Adapts a standalone balancer (`set_state(node, "up"|"down"|"draining")`):
    the checker's effective state drives it, so raw results and agent words are
    not forwarded (the balancer's own policy would count them a second time)."""

    _MAP = {"up": "up", "down": "down", "maint": "down", "drain": "draining"}

    def __init__(self, balancer):
        self.balancer = balancer
        #: Agent weight requests the balancer cannot apply (it has no weight setter).
        self.weight_percent: dict[str, float] = {}

    def report_check(self, node: str, ok: bool) -> None:
        pass

    def set_state(self, node: str, state: str, *, source: str = "admin") -> None:
        pass

    def set_weight_percent(self, node: str, percent: float) -> None:
        setter = getattr(self.balancer, "set_weight_percent", None)
        if setter is not None:
            setter(node, percent)
        else:
            self.weight_percent[node] = percent

    def transition(self, change: Transition) -> None:
        self.balancer.set_state(change.node, self._MAP[change.state])


def balancer_sink(balancer) -> CheckSink:
    """A sink that drives a standalone balancer's `set_state` from the checker's
    transitions. A fastroute.HealthView is a sink itself: pass it directly."""
    if not callable(getattr(balancer, "set_state", None)):
        raise TypeError(f"balancer: expected an object with set_state(node, state), got {type(balancer).__name__}")
    return _BalancerSink(balancer)


# ---------------------------------------------------------------- settings

def _seconds(value, name: str, *, allow_none: bool = False, minimum: float = 0.001):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not minimum <= value <= MAX_SECONDS:
        raise ValueError(f"{name}: expected seconds in [{minimum}, {MAX_SECONDS:g}]"
                         f"{' or None' if allow_none else ''}, got {quoted(value)}")
    return float(value)


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_COUNT:
        raise ValueError(f"{name}: expected an int in [1, {MAX_COUNT}], got {quoted(value)}")
    return int(value)


@dataclass(frozen=True)
class CheckTiming:
    """HAProxy's server check knobs, in seconds (docs/checks.md §2).

    inter 2 s; fastinter (while a node is changing state) and downinter
    (while it is fully down) default to inter; rise 2, fall 3; timeout
    (connect + reply) defaults to inter, as HAProxy without `timeout check`.
    spread: HAProxy's `spread-checks` as a fraction in [0, 0.5]; each delay
    is multiplied by 1 + U(-spread, +spread). First checks of the nodes are
    spread evenly over one inter (HAProxy's start-up rule).
    """

    inter: float = 2.0
    fastinter: float | None = None
    downinter: float | None = None
    rise: int = 2
    fall: int = 3
    timeout: float | None = None
    spread: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "inter", _seconds(self.inter, "inter"))
        object.__setattr__(self, "fastinter", _seconds(self.fastinter, "fastinter", allow_none=True))
        object.__setattr__(self, "downinter", _seconds(self.downinter, "downinter", allow_none=True))
        object.__setattr__(self, "timeout", _seconds(self.timeout, "timeout", allow_none=True))
        object.__setattr__(self, "rise", _count(self.rise, "rise"))
        object.__setattr__(self, "fall", _count(self.fall, "fall"))
        s = self.spread
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not 0 <= s <= 0.5:
            raise ValueError(f"spread: expected a fraction in [0, 0.5] (HAProxy spread-checks 0-50 %), got {quoted(s)}")
        object.__setattr__(self, "spread", float(s))

    @property
    def check_timeout(self) -> float:
        return self.timeout if self.timeout is not None else self.inter


@dataclass(frozen=True)
class CheckTarget:
    """One node to check: its name (as the balancer knows it), address, and
    optionally a separate check port and an agent port."""

    node: str
    host: str
    port: int
    check_port: int | None = None
    agent_port: int | None = None
    #: this node's knobs when they differ from the checker's (HAProxy sets them per server)
    timing: CheckTiming | None = None
    agent_inter: float | None = None

    def __post_init__(self):
        if self.timing is not None and not isinstance(self.timing, CheckTiming):
            raise TypeError(f"timing: expected CheckTiming or None, got {type(self.timing).__name__}")
        if self.agent_inter is not None:
            object.__setattr__(self, "agent_inter", _seconds(self.agent_inter, "agent_inter"))
        if not isinstance(self.node, str) or not self.node:
            raise ValueError(f"node: expected a non-empty str, got {quoted(self.node)}")
        if not isinstance(self.host, str) or not self.host or any(c in self.host for c in "\r\n /"):
            raise ValueError(f"host: expected a host name or address, got {quoted(self.host)}")
        for name in ("port", "check_port", "agent_port"):
            value = getattr(self, name)
            if value is None and name != "port":
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= 65535:
                raise ValueError(f"{name}: expected an int in [1, 65535], got {quoted(value)}")

    @property
    def probe_port(self) -> int:
        return self.check_port or self.port


# ---------------------------------------------------------------- checks

@dataclass(frozen=True)
class TcpCheck:
    """A successful TCP connect within the timeout is a pass."""

    def request(self, target: CheckTarget) -> bytes | None:
        return None

    def judge(self, reply: bytes) -> bool:
        return True


def _status_rule(expect):
    if expect is None:
        return lambda code: 200 <= code < 400  # HAProxy `option httpchk`: 2xx and 3xx pass
    if isinstance(expect, bool):
        raise TypeError("expect_status: expected an int, a range or a collection of ints, got bool")
    if isinstance(expect, numbers.Integral):
        expect = (expect,)
    if isinstance(expect, (str, bytes)) or not isinstance(expect, Iterable):
        raise TypeError(f"expect_status: expected an int, a range or a collection of ints, got {type(expect).__name__}")
    codes = frozenset(expect)  # membership only: order cannot change a result
    bad = [c for c in codes if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 100 <= c <= 599]
    if bad or not codes:
        raise ValueError(f"expect_status: HTTP status codes in [100, 599] needed, got {quoted(sorted(map(str, bad)))}")
    return codes.__contains__


@dataclass(frozen=True)
class HttpCheck:
    """HTTP/1.1 check: `method path`, `Host:` (default the target's host),
    passes when the status is expected (default 2xx/3xx, as HAProxy's
    `option httpchk`) and, when `body` is given, the body contains it
    (bytes/str substring, or a compiled regular expression)."""

    method: str = "GET"
    path: str = "/"
    host: str | None = None
    expect_status: object = None
    body: object = None
    _status_ok: Callable = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.method, str) or not _TOKEN.fullmatch(self.method):
            raise ValueError(f"method: expected an HTTP method token such as 'GET', got {quoted(self.method)}")
        if not isinstance(self.path, str) or not self.path.startswith("/") or \
                any(c in self.path for c in "\r\n \t"):
            raise ValueError(f"path: expected a path starting with '/' and no spaces or line breaks, got "
                             f"{quoted(self.path)}")
        if self.host is not None and (not isinstance(self.host, str) or not self.host
                                      or any(c in self.host for c in "\r\n \t")):
            raise ValueError(f"host: expected a Host header value without spaces or line breaks, got {quoted(self.host)}")
        if self.body is not None and not isinstance(self.body, (str, bytes, re.Pattern)):
            raise TypeError(f"body: expected str, bytes or a compiled regex, got {type(self.body).__name__}")
        object.__setattr__(self, "_status_ok", _status_rule(self.expect_status))

    def request(self, target: CheckTarget) -> bytes:
        host = self.host or (f"[{target.host}]" if ":" in target.host else target.host)
        if self.host is None and target.probe_port != 80:
            host = f"{host}:{target.probe_port}"
        return (f"{self.method} {self.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: fastroute-check\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n").encode("latin-1")

    def judge(self, reply: bytes) -> bool:
        head, sep, body = reply.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if not m or not self._status_ok(int(m.group(1))):
            return False
        if self.body is None:
            return True
        if re.search(rb"(?im)^transfer-encoding:\s*chunked", head):
            body = _dechunk(body)
        if isinstance(self.body, re.Pattern):
            text = body if isinstance(self.body.pattern, bytes) else body.decode("utf-8", "replace")
            return self.body.search(text) is not None
        needle = self.body.encode() if isinstance(self.body, str) else self.body
        return needle in body

    def complete(self, reply: bytes) -> bool:
        """True once the whole response is in (status only, or Content-Length read)."""
        head, sep, body = reply.partition(b"\r\n\r\n")
        if not sep:
            return False
        if self.body is None:
            return True
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        return bool(m) and len(body) >= int(m.group(1))


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, sep, rest = body.partition(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0], 16)
        except ValueError:
            break
        if size == 0 or not sep:
            break
        out += rest[:size]
        body = rest[size + 2:]
    return bytes(out)


@dataclass(frozen=True)
class AgentReply:
    """A parsed agent-check line: health (up/down or None), admin
    (ready/drain/maint or None), weight percent, maxconn, unknown words."""

    health: str | None = None
    admin: str | None = None
    weight_percent: float | None = None
    maxconn: int | None = None
    unknown: tuple[str, ...] = ()
    reason: str = ""


def parse_agent_reply(line: bytes | str) -> AgentReply:
    """HAProxy agent-check words (docs/checks.md §3): separated by spaces,
    tabs, commas or newlines, case-insensitive, `#` starts a description;
    the last word of each kind wins, as in HAProxy's parser."""
    if isinstance(line, bytes):
        line = line.decode("ascii", "replace")
    if not isinstance(line, str):
        raise TypeError(f"line: expected bytes or str, got {type(line).__name__}")
    words, _, reason = line.partition("#")
    health = admin = None
    weight = maxconn = None
    unknown = []
    for word in re.split(r"[ \t\r\n,]+", words.strip()):
        low = word.lower()
        if not low:
            continue
        if low in _AGENT_HEALTH:
            health = _AGENT_HEALTH[low]
        elif low in _AGENT_ADMIN:
            admin = low
        elif low[0].isdigit() and "%" in low:
            m = re.fullmatch(r"(\d+)%", low)
            if m and int(m.group(1)) <= MAX_WEIGHT_PERCENT:
                weight = float(m.group(1))
            else:
                unknown.append(snippet(word, 32))
        elif low.startswith("maxconn:"):
            value = low[len("maxconn:"):]
            if value.isdigit():
                maxconn = int(value)
            else:
                unknown.append(snippet(word, 32))
        else:
            unknown.append(snippet(word, 32))
    return AgentReply(health, admin, weight, maxconn, tuple(unknown), snippet(reason.strip()))


@dataclass(frozen=True)
class AgentCheck:
    """HAProxy `agent-check`: connect to the target's agent_port, optionally
    send `send`, read one line. An unreachable agent changes nothing."""

    inter: float = 2.0
    send: bytes | None = None

    def __post_init__(self):
        object.__setattr__(self, "inter", _seconds(self.inter, "agent inter"))
        if self.send is not None and not isinstance(self.send, bytes):
            raise TypeError(f"send: expected bytes or None, got {type(self.send).__name__}")


# ---------------------------------------------------------------- state machine

@dataclass(frozen=True)
class Transition:
    at: float
    node: str
    state: str
    cause: str


class _Node:
    __slots__ = ("target", "timing", "health", "agent_admin", "state", "checks", "failures")

    def __init__(self, target: CheckTarget, timing: CheckTiming):
        self.target = target
        self.timing = timing
        self.health = timing.rise  # HAProxy starts a server UP with health == rise: one failure marks it down
        self.agent_admin = "ready"
        self.state = "up"
        self.checks = 0
        self.failures = 0


class HealthChecker:
    """Per-node HAProxy check state plus the probes. Thread-safe: both runners
    and any thread may feed it; the sink is called outside the lock, in order.

    targets: CheckTarget objects (a sequence; names distinct).
    check: HttpCheck, TcpCheck or None (agent only). agent: AgentCheck or None.
    clock: seconds (default time.monotonic). seed: for the jitter.
    on_transition: called with each Transition.
    """

    def __init__(self, targets: Sequence[CheckTarget], *, sink: CheckSink | None = None,
                 check: TcpCheck | HttpCheck | None = None, agent: AgentCheck | None = None,
                 timing: CheckTiming | None = None, clock: Callable[[], float] | None = None,
                 seed: int | None = None, on_transition: Callable[[Transition], None] | None = None):
        if isinstance(targets, (str, bytes)) or not isinstance(targets, Sequence):
            raise TypeError(f"targets: expected a sequence of CheckTarget, got {type(targets).__name__}")
        if not targets:
            raise ValueError("targets: at least one CheckTarget is needed")
        for i, t in enumerate(targets):
            if not isinstance(t, CheckTarget):
                raise TypeError(f"targets[{i}]: expected a CheckTarget, got {type(t).__name__}")
        names = [t.node for t in targets]
        if len(set(names)) != len(names):
            raise ValueError("targets: node names must be distinct")
        if check is not None and not isinstance(check, (TcpCheck, HttpCheck)):
            raise TypeError(f"check: expected HttpCheck, TcpCheck or None, got {type(check).__name__}")
        if agent is not None and not isinstance(agent, AgentCheck):
            raise TypeError(f"agent: expected AgentCheck or None, got {type(agent).__name__}")
        if check is None and agent is None:
            raise ValueError("check, agent: at least one of them is needed")
        if agent is not None and all(t.agent_port is None for t in targets):
            raise ValueError("agent: no target has an agent_port (targets without one get no agent queries)")
        if sink is not None and not isinstance(sink, CheckSink):
            raise TypeError("sink: expected an object with report_check, set_state and set_weight_percent")
        if on_transition is not None and not callable(on_transition):
            raise TypeError("on_transition: expected a callable(Transition)")
        self.timing = timing if timing is not None else CheckTiming()
        if not isinstance(self.timing, CheckTiming):
            raise TypeError(f"timing: expected CheckTiming, got {type(self.timing).__name__}")
        self.check = check
        self.agent = agent
        self.sink = sink
        self._sink_transition = getattr(sink, "transition", None)
        self._maxconn_warned = False
        self.clock = clock or time.monotonic
        self.on_transition = on_transition
        self._rng = random.Random(seed)
        self._nodes = {t.node: _Node(t, t.timing or self.timing) for t in targets}
        self._lock = threading.Lock()
        self._sink_lock = threading.Lock()  # keeps sink calls in transition order across threads
        self.transitions: list[Transition] = []

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self._nodes)

    def state(self, node: str) -> str:
        return self._node(node).state

    def health(self, node: str) -> int:
        """HAProxy's counter: 0..rise+fall-1; the node is UP while it is >= rise."""
        return self._node(node).health

    def _node(self, node: str) -> _Node:
        try:
            return self._nodes[node]
        except (KeyError, TypeError):
            raise ValueError(f"node: {quoted(node)} is not checked here") from None

    def interval(self, node: str) -> float:
        """Delay before the next health check (HAProxy's srv_getinter rule)."""
        n = self._node(node)
        t = n.timing
        if n.health == t.rise + t.fall - 1:
            return t.inter
        if n.health == 0:
            return t.downinter or t.inter
        return t.fastinter or t.inter

    def has_agent(self, node: str) -> bool:
        return self.agent is not None and self._node(node).target.agent_port is not None

    def agent_interval(self, node: str) -> float:
        """Delay between agent queries: the target's agent_inter, else the AgentCheck's."""
        return self._node(node).target.agent_inter or self.agent.inter

    def timeout(self, node: str) -> float:
        return self._node(node).timing.check_timeout

    def jittered(self, delay: float) -> float:
        s = self.timing.spread
        if not s:
            return delay
        with self._lock:
            return delay * (1.0 + self._rng.uniform(-s, s))

    def first_delays(self) -> dict[str, float]:
        """HAProxy spreads the first checks evenly over one inter (node i at i/n)."""
        inter = self.timing.inter
        n = len(self._nodes)
        return {name: self.jittered(inter * i / n) for i, name in enumerate(self._nodes)}

    def _effective(self, n: _Node) -> str:
        if n.agent_admin == "maint":
            return "maint"
        if n.health < n.timing.rise:
            return "down"
        if n.agent_admin == "drain":
            return "drain"
        return "up"

    def record(self, node: str, ok: bool, cause: str = "check") -> str:
        """One health-check result (HAProxy's rise/fall counter); returns the state."""
        if ok is not True and ok is not False:
            raise TypeError(f"ok: expected True or False, got {type(ok).__name__}")
        n = self._node(node)
        t = n.timing
        with self._lock:
            n.checks += 1
            if ok:
                if n.health < t.rise + t.fall - 1:
                    n.health += 1
                    if n.health >= t.rise:
                        n.health = t.rise + t.fall - 1
            else:
                n.failures += 1
                if n.health > 0:
                    n.health -= 1
                    if n.health < t.rise:
                        n.health = 0
            change = self._settle(n, cause)
        self._emit(node, change, check_ok=ok)
        return n.state

    def record_agent(self, node: str, reply: AgentReply) -> str:
        """Applies an agent reply: admin word first, then weight, then up/down
        (HAProxy's order); `up` sets the counter full, `down` empties it."""
        if not isinstance(reply, AgentReply):
            raise TypeError(f"reply: expected AgentReply, got {type(reply).__name__}")
        n = self._node(node)
        t = n.timing
        with self._lock:
            if reply.admin is not None:
                n.agent_admin = reply.admin
            if reply.health == "up":
                n.health = t.rise + t.fall - 1
            elif reply.health == "down":
                n.health = 0
            change = self._settle(n, "agent")
        self._emit(node, change, agent=reply)
        return n.state

    def _settle(self, n: _Node, cause: str):
        new = self._effective(n)
        if new == n.state:
            return None
        n.state = new
        tr = Transition(float(self.clock()), n.target.node, new, cause)
        self.transitions.append(tr)
        return tr

    def _emit(self, node: str, change, *, check_ok=None, agent=None) -> None:
        sink = self.sink
        with self._sink_lock:
            if sink is not None:
                if check_ok is not None:
                    sink.report_check(node, check_ok)
                if agent is not None:  # HAProxy's order: admin word, weight, then health word
                    if agent.admin is not None:
                        sink.set_state(node, agent.admin, source="agent")
                    if agent.weight_percent is not None:
                        sink.set_weight_percent(node, agent.weight_percent)
                    if agent.maxconn is not None:
                        self._agent_maxconn(sink, node, agent.maxconn)
                    if agent.health is not None:
                        sink.set_state(node, agent.health, source="agent")
                if change is not None and self._sink_transition is not None:
                    self._sink_transition(change)
            if change is not None and self.on_transition is not None:
                self.on_transition(change)

    def _agent_maxconn(self, sink, node: str, maxconn: int) -> None:
        """HAProxy agent `maxconn:N` sets the server's maxconn (0: no limit): here the
        per-node limit of the sink's circuit breaker (`view.breaker`, which the
        transports apply). A sink without one cannot apply it: warned once."""
        from .overload import CircuitBreaker

        breaker = getattr(sink, "breaker", None)
        if isinstance(breaker, CircuitBreaker):
            breaker.set_node_limit(node, maxconn or None)
        elif not self._maxconn_warned:
            self._maxconn_warned = True
            warnings.warn(f"agent-check reply 'maxconn:{maxconn}' for node {quoted(node)}: the sink has no "
                          "circuit breaker (a fastroute.HealthView has one), so agent maxconn is not applied "
                          "(warned once per checker)", AgentMaxconnWarning, stacklevel=2)

    # -- probes (blocking; the thread runner)

    def probe(self, node: str, cancel: _Cancel | None = None) -> bool:
        """Runs the health check once, blocking; records and returns the result."""
        target = self._node(node).target
        try:
            ok = _blocking_probe(self.check, target, target.probe_port, self.timeout(node), cancel)
        except OSError:
            ok = False
        self.record(node, ok)
        return ok

    def probe_agent(self, node: str, cancel: _Cancel | None = None) -> AgentReply | None:
        """Queries the agent once; None (and no change) when it cannot be reached."""
        target = self._node(node).target
        try:
            raw = _blocking_exchange(target.host, target.agent_port, self.agent.send, self.timeout(node),
                                     cancel, lambda data: b"\n" in data)
        except OSError:
            return None
        if not raw:
            return None
        reply = parse_agent_reply(raw.split(b"\n", 1)[0])
        self.record_agent(node, reply)
        return reply

    # -- probes (asyncio)

    async def probe_async(self, node: str) -> bool:
        target = self._node(node).target
        try:
            ok = await asyncio.wait_for(_async_probe(self.check, target), self.timeout(node))
        except (OSError, asyncio.TimeoutError):
            ok = False
        self.record(node, ok)
        return ok

    async def probe_agent_async(self, node: str) -> AgentReply | None:
        target = self._node(node).target
        try:
            raw = await asyncio.wait_for(_async_exchange(target.host, target.agent_port, self.agent.send,
                                                         lambda data: b"\n" in data), self.timeout(node))
        except (OSError, asyncio.TimeoutError):
            return None
        if not raw:
            return None
        reply = parse_agent_reply(raw.split(b"\n", 1)[0])
        self.record_agent(node, reply)
        return reply


# ---------------------------------------------------------------- I/O

class _Cancel:
    """Open sockets of in-flight blocking probes, shut down on stop so a
    blocked recv returns at once instead of after the timeout."""

    def __init__(self):
        self._lock = threading.Lock()
        self._socks: set = set()
        self.stopped = False

    def add(self, sock) -> None:
        with self._lock:
            if self.stopped:
                raise OSError("check runner stopped")
            self._socks.add(sock)

    def discard(self, sock) -> None:
        with self._lock:
            self._socks.discard(sock)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _blocking_exchange(host, port, payload, timeout, cancel, done) -> bytes:
    deadline = time.monotonic() + timeout
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if cancel is not None:
            cancel.add(sock)
        if payload:
            sock.sendall(payload)
        data = bytearray()
        while len(data) < MAX_REPLY_BYTES and not done(data):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("check timed out")
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return bytes(data[:MAX_REPLY_BYTES])
    finally:
        if cancel is not None:
            cancel.discard(sock)
        sock.close()


def _blocking_probe(check, target, port, timeout, cancel) -> bool:
    if isinstance(check, HttpCheck):
        reply = _blocking_exchange(target.host, port, check.request(target), timeout, cancel, check.complete)
        return check.judge(reply)
    sock = socket.create_connection((target.host, port), timeout=timeout)
    sock.close()
    return True


async def _async_exchange(host, port, payload, done) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        if payload:
            writer.write(payload)
            await writer.drain()
        data = bytearray()
        while len(data) < MAX_REPLY_BYTES and not done(data):
            chunk = await reader.read(65536)
            if not chunk:
                break
            data += chunk
        return bytes(data[:MAX_REPLY_BYTES])
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, asyncio.CancelledError):
            pass


async def _async_probe(check, target) -> bool:
    if isinstance(check, HttpCheck):
        reply = await _async_exchange(target.host, target.probe_port, check.request(target), check.complete)
        return check.judge(reply)
    reader, writer = await asyncio.open_connection(target.host, target.probe_port)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


# ---------------------------------------------------------------- runners

#: Default bound on concurrent probes of one thread runner.
DEFAULT_WORKERS = 8


class ThreadCheckRunner:
    """Runs a HealthChecker on one scheduler thread plus a bounded pool of
    probe threads. stop() returns promptly: in-flight sockets are shut down
    and every thread is joined (no leaked threads or sockets)."""

    def __init__(self, checker: HealthChecker, *, max_workers: int = DEFAULT_WORKERS):
        if not isinstance(checker, HealthChecker):
            raise TypeError(f"checker: expected a HealthChecker, got {type(checker).__name__}")
        if isinstance(max_workers, bool) or not isinstance(max_workers, numbers.Integral) \
                or not 1 <= max_workers <= 256:
            raise ValueError(f"max_workers: expected an int in [1, 256], got {quoted(max_workers)}")
        self.checker = checker
        self.max_workers = int(max_workers)
        self._stop = threading.Event()
        self._cancel = _Cancel()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.errors: list[BaseException] = []

    def start(self) -> ThreadCheckRunner:
        if self._thread is not None:
            raise RuntimeError("ThreadCheckRunner: already started (a runner runs once)")
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="fastroute-check")
        self._thread = threading.Thread(target=self._loop, name="fastroute-check-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._cancel.stop()
        if self._thread is not None:
            self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _loop(self) -> None:
        c = self.checker
        now = time.monotonic()
        due: list = []
        first = c.first_delays()
        for name in c.nodes:
            if c.check is not None:
                heapq.heappush(due, (now + first[name], name, "check"))
            if c.agent is not None and c.has_agent(name):
                heapq.heappush(due, (now + first[name], name, "agent"))
        lock = threading.Lock()
        wake = threading.Event()

        def run(name, kind):
            try:
                if kind == "check":
                    c.probe(name, self._cancel)
                else:
                    c.probe_agent(name, self._cancel)
            except BaseException as exc:  # a sink error must not kill the schedule silently
                if not self._stop.is_set():
                    self.errors.append(exc)
            finally:
                delay = c.interval(name) if kind == "check" else c.agent_interval(name)
                with lock:
                    heapq.heappush(due, (time.monotonic() + c.jittered(delay), name, kind))
                wake.set()

        while not self._stop.is_set():
            with lock:
                ready = []
                while due and due[0][0] <= time.monotonic():
                    ready.append(heapq.heappop(due)[1:])
                next_at = due[0][0] if due else None
            for name, kind in ready:
                try:
                    self._pool.submit(run, name, kind)
                except RuntimeError:
                    return  # pool shut down: stopping
            wait = 0.05 if next_at is None else max(0.0, min(next_at - time.monotonic(), 0.5))
            wake.wait(wait)
            wake.clear()


class AsyncCheckRunner:
    """Runs a HealthChecker as asyncio tasks (one per node and kind), at most
    `max_concurrency` probes at a time. `async with` starts and stops it;
    stop() cancels the tasks and awaits them."""

    def __init__(self, checker: HealthChecker, *, max_concurrency: int = 64):
        if not isinstance(checker, HealthChecker):
            raise TypeError(f"checker: expected a HealthChecker, got {type(checker).__name__}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, numbers.Integral) \
                or not 1 <= max_concurrency <= 4096:
            raise ValueError(f"max_concurrency: expected an int in [1, 4096], got {quoted(max_concurrency)}")
        self.checker = checker
        self.max_concurrency = int(max_concurrency)
        self._tasks: list[asyncio.Task] = []
        self.errors: list[BaseException] = []

    async def start(self) -> AsyncCheckRunner:
        if self._tasks:
            raise RuntimeError("AsyncCheckRunner: already started")
        c = self.checker
        gate = asyncio.Semaphore(self.max_concurrency)
        first = c.first_delays()
        for name in c.nodes:
            if c.check is not None:
                self._tasks.append(asyncio.create_task(self._node_loop(name, "check", first[name], gate)))
            if c.agent is not None and c.has_agent(name):
                self._tasks.append(asyncio.create_task(self._node_loop(name, "agent", first[name], gate)))
        return self

    async def _node_loop(self, name, kind, delay, gate) -> None:
        c = self.checker
        while True:
            await asyncio.sleep(delay)
            try:
                async with gate:
                    if kind == "check":
                        await c.probe_async(name)
                    else:
                        await c.probe_agent_async(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a sink error is kept, the schedule goes on
                self.errors.append(exc)
            delay = c.jittered(c.interval(name) if kind == "check" else c.agent_interval(name))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()
