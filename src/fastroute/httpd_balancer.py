# SPDX-License-Identifier: Apache-2.0
"""`HttpdBalancer`: Apache httpd 2.4 mod_proxy_balancer's member choice,
reproduced step for step (docs/apache.md §2–§5).

One balancer holds the members in config order with httpd's per-member
shared state (status flags, lbstatus, busy, bytes transferred/read, error
time, health-check counters) and the balancer settings (lbmethod, sticky
session names, nofailover, failonstatus, failontimeout, forcerecovery,
maxattempts). A request is `acquire(url, cookie)` … `release(node, …)`, or
`with sel.lease(url, cookie) as lease:`; `pick()` is one whole successful
request; `request(url, cookie, reachable=…)` runs httpd's failover loop.

Python-level (not a Cython kernel): a pick walks every member as httpd does
(O(members), ~1–3 µs per member, docs/apache.md §7); every call holds one lock.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ._validate import check_bool, check_finite, check_int, node_names, reject_unordered
from .balancers import NoHealthyNode
from .redact import mask_card_numbers, quoted

# mod_proxy.h PROXY_WORKER_* status bits (httpd 2.4), by their status letters.
INITIALIZED, IGNORE_ERRORS, DRAIN, GENERIC, IN_SHUTDOWN = 0x1, 0x2, 0x4, 0x8, 0x10
DISABLED, STOPPED, IN_ERROR, HOT_STANDBY, FREE, HC_FAIL, HOT_SPARE = 0x20, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
STATUS_LETTERS = {"O": INITIALIZED, "I": IGNORE_ERRORS, "N": DRAIN, "G": GENERIC, "U": IN_SHUTDOWN,
                  "D": DISABLED, "S": STOPPED, "E": IN_ERROR, "H": HOT_STANDBY, "F": FREE, "C": HC_FAIL,
                  "R": HOT_SPARE}
_NOT_USABLE = IN_SHUTDOWN | DISABLED | STOPPED | IN_ERROR | HC_FAIL
#: flags that take a member off get_best_worker's plain path (anything but usable and ordinary)
_PLAIN_MASK = _NOT_USABLE | DRAIN | HOT_SPARE | HOT_STANDBY | INITIALIZED
LBMETHODS = ("byrequests", "bybusyness", "bytraffic")
DEFAULT_RETRY = 60.0  # PROXY_WORKER_DEFAULT_RETRY
MAX_MEMBERS = 65536


class StickyRouteUnavailable(NoHealthyNode):
    """nofailover=On and the session's route names a member that cannot serve: httpd answers 503."""


def parse_status(text: str, flags: int = 0, *, name: str = "status") -> int:
    """Applies an httpd `status=` value (`+H`, `D`, `-E+I`, …) to `flags` as
    set_worker_param does: each letter sets (after `+` or at the start) or
    clears (after `-`) its flag; an unknown letter is an error."""
    if not isinstance(text, str):
        raise TypeError(f"{name}: expected a str such as '+H', got {type(text).__name__}")
    mode, i = True, 0
    if not text:
        raise ValueError(f"{name}: empty status value")
    while i < len(text):
        c = text[i]
        if c in "+-":
            mode = c == "+"
            i += 1
            if i == len(text):
                raise ValueError(f"{name}: {quoted(text)} ends with {c!r} (a status letter must follow)")
            c = text[i]
        bit = STATUS_LETTERS.get(c.upper())
        if bit is None:
            raise ValueError(f"{name}: unknown status letter {c!r} in {quoted(text)} "
                             f"(httpd knows {''.join(STATUS_LETTERS)})")
        flags = flags | bit if mode else flags & ~bit
        i += 1
    return flags


def loadfactor_units(value, *, name: str = "loadfactor") -> int:
    """httpd 2.4's scaled lbfactor: `(int)(atof(value) * 100.0)`, which must be
    100..10000 (mod_proxy.c set_worker_param: decimals accepted, truncated to 1/100)."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name}: expected a number between 1 and 100, got {quoted(value)}") from None
    else:
        number = check_finite(value, name)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{name}: expected a number between 1 and 100, got {quoted(value)}")
    units = int(number * 100.0)  # C's double → int conversion truncates toward zero
    if units < 100 or units > 10000:
        raise ValueError(f"{name}: LoadFactor must be a number between 1..100, got {quoted(value)}")
    return units


@dataclass
class HttpdMember:
    """One BalancerMember as the config sets it. `lbfactor` is httpd's scaled
    value (loadfactor × 100); `status` the initial flag string (e.g. '+H')."""
    name: str
    lbfactor: int = 100
    lbset: int = 0
    status: str = ""
    route: str = ""
    redirect: str = ""
    retry: float = DEFAULT_RETRY
    hcpasses: int = 1
    hcfails: int = 1
    extra: dict = field(default_factory=dict)


class _State:
    __slots__ = ("flags", "lbstatus", "busy", "transferred", "read", "error_time", "pcount", "fcount", "elected")

    def __init__(self, flags: int):
        self.flags = flags | INITIALIZED
        self.lbstatus = 0
        self.busy = 0
        self.transferred = 0
        self.read = 0
        self.error_time: float | None = None  # httpd's 0: a member configured +E is retried at its first consideration
        self.pcount = 0
        self.fcount = 0
        self.elected = 0


class HttpdLease:
    """One request in flight on `node` (from `HttpdBalancer.lease`)."""

    def __init__(self, balancer: "HttpdBalancer", node: str):
        self._balancer, self.node = balancer, node
        self.status: int | None = None
        self.timed_out = False
        self.ok = True
        self._sent = self._received = 0

    def report_bytes(self, sent: int, received: int) -> None:
        """Bytes sent to and read from the member (bytytraffic counts them at release)."""
        self._sent += check_int(sent, "sent", 0, 2**62)
        self._received += check_int(received, "received", 0, 2**62)

    def report_status(self, status: int) -> None:
        self.status = check_int(status, "status", 100, 999)

    def fail(self) -> None:
        """The member could not be reached (httpd: the scheme handler's 503): it goes into error."""
        self.ok = False

    def __enter__(self) -> "HttpdLease":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        import asyncio
        cancelled = exc_type is not None and issubclass(exc_type, (asyncio.CancelledError, KeyboardInterrupt))
        ok = self.ok and (exc_type is None or cancelled)
        self._balancer.release(self.node, ok=ok, status=None if cancelled else self.status,
                               timed_out=self.timed_out, sent=self._sent, received=self._received)


def _cookie_value(cookie: str, name: str) -> str | None:
    """mod_proxy_balancer get_cookie_param: the first `name` that starts the
    header or follows ';', ',' or whitespace, then optional spaces and '=';
    the value ends at ';' or ','."""
    start = cookie.find(name)
    while start != -1:
        if start == 0 or cookie[start - 1] in ";," or cookie[start - 1].isspace():
            j = start + len(name)
            while j < len(cookie) and cookie[j].isspace():
                j += 1
            if j < len(cookie) and cookie[j] == "=" and j + 1 < len(cookie):
                value = cookie[j + 1:]
                for stop in ";,":
                    k = value.find(stop)
                    if k != -1:
                        value = value[:k]
                return value
        start = cookie.find(name, start + 1)
    return None


def _path_param(url: str, name: str, scolon: bool) -> str | None:
    """mod_proxy_balancer get_path_param: `name=` anywhere in the URL; the value
    is apr_strtok's first token over '?&' (and ';' with scolonpathdelim) —
    leading delimiters skipped, so `name=&x` yields `x`."""
    delims = ";?&" if scolon else "?&"
    start = url.find(name)
    while start != -1:
        j = start + len(name)
        if j < len(url) and url[j] == "=" and j + 1 < len(url):
            rest = url[j + 1:].lstrip(delims)
            if not rest:
                return None
            end = min((rest.find(d) for d in delims if d in rest), default=len(rest))
            return rest[:end]
        start = url.find(name, start + 1)
    return None


class HttpdBalancer:
    """Apache httpd 2.4's balancer over `members` (HttpdMember, config order)."""

    def __init__(self, members: Sequence[HttpdMember], lbmethod: str = "byrequests", *,
                 stickysession: str | None = None, stickysessionsep: str | None = ".",
                 scolonpathdelim: bool = False, nofailover: bool = False,
                 failonstatus: Sequence[int] = (), failontimeout: bool = False, forcerecovery: bool = True,
                 maxattempts: int | None = None, clock: Callable[[], float] | None = None, name: str = ""):
        reject_unordered(members, "members")
        members = tuple(members)
        if not members:
            raise ValueError("members: a balancer needs at least one BalancerMember")
        if len(members) > MAX_MEMBERS:
            raise ValueError(f"members: at most {MAX_MEMBERS} members, got {len(members)}")
        for i, m in enumerate(members):
            if not isinstance(m, HttpdMember):
                raise TypeError(f"members[{i}]: expected an HttpdMember, got {type(m).__name__}")
        self.nodes = node_names([m.name for m in members], name="members")
        self.members = members
        if lbmethod not in LBMETHODS:
            raise ValueError(f"lbmethod: expected one of {LBMETHODS}, got {quoted(lbmethod)}")
        self.lbmethod = lbmethod
        self._method = LBMETHODS.index(lbmethod)
        self.name = name
        self._label = mask_card_numbers(str(name))
        for i, m in enumerate(members):
            check_int(m.lbfactor, f"members[{i}].lbfactor", 100, 10000)
            check_int(m.lbset, f"members[{i}].lbset", 0, 99)
            check_finite(m.retry, f"members[{i}].retry", minimum=0)
            check_int(m.hcpasses, f"members[{i}].hcpasses", 0, 2**31 - 1)
            check_int(m.hcfails, f"members[{i}].hcfails", 0, 2**31 - 1)
            for attr in ("route", "redirect"):
                value = getattr(m, attr)
                if not isinstance(value, str) or len(value) >= 64:
                    raise ValueError(f"members[{i}].{attr}: expected a str shorter than 64 characters "
                                     "(PROXY_WORKER_MAX_ROUTE_SIZE)")
        self.sticky, self.sticky_path = "", ""
        if stickysession is not None:
            if not isinstance(stickysession, str) or not stickysession:
                raise ValueError("stickysession: expected a non-empty str such as 'JSESSIONID|jsessionid'")
            # set_balancer_param: 'name|urlname' → cookie name, URL parameter name; else both the same
            self.sticky, _, path = stickysession.partition("|")
            self.sticky_path = path if "|" in stickysession else stickysession
        if stickysessionsep is not None and (not isinstance(stickysessionsep, str) or len(stickysessionsep) != 1):
            raise ValueError("stickysessionsep: expected one character, or None for httpd's Off")
        self.sticky_separator = stickysessionsep
        self.scolonsep = check_bool(scolonpathdelim, "scolonpathdelim")
        self.sticky_force = check_bool(nofailover, "nofailover")
        reject_unordered(failonstatus, "failonstatus")
        self.errstatuses = tuple(check_int(s, "failonstatus", 100, 599) for s in failonstatus)
        self.failontimeout = check_bool(failontimeout, "failontimeout")
        self.forcerecovery = check_bool(forcerecovery, "forcerecovery")
        if maxattempts is None:
            # init_balancer_members: default attempts = members - 1 (when more than one)
            maxattempts = len(members) - 1
        self.maxattempts = check_int(maxattempts, "maxattempts", 0, 2**31 - 1)
        if clock is not None and not callable(clock):
            raise TypeError(f"clock: expected a callable returning seconds, got {type(clock).__name__}")
        self._clock = clock or time.monotonic
        self._lock = threading.RLock()
        self._index = {n: i for i, n in enumerate(self.nodes)}
        self._lbf = [m.lbfactor for m in members]
        self._lbsets = [m.lbset for m in members]
        self.not_enforced: tuple[str, ...] = ()
        self.hcheck: dict = {}
        self._state = [_State(parse_status(m.status, 0, name=f"members[{i}].status") if m.status else 0)
                       for i, m in enumerate(members)]

    # -- member state --------------------------------------------------------------------------
    def _i(self, node) -> int:
        try:
            if type(node) is not str:
                raise KeyError(node)
            return self._index[node]
        except KeyError:
            raise ValueError(f"node: {quoted(node)} is not a member of this balancer") from None

    def status(self, node: str) -> str:
        """The member's status letters (httpd's balancer-manager order), e.g. 'OH'."""
        flags = self._state[self._i(node)].flags
        return "".join(c for c, bit in STATUS_LETTERS.items() if flags & bit)

    def set_status(self, node: str, status: str) -> None:
        """Changes flags as balancer-manager or a config `status=` does (`+D`, `-E`, …)."""
        i = self._i(node)
        with self._lock:
            st = self._state[i]
            # ap_proxy_set_wstatus only flips bits: +E keeps the old error time (none: retried at once)
            st.flags = parse_status(status, st.flags)

    def lbstatus(self, node: str) -> int:
        return self._state[self._i(node)].lbstatus

    def busy(self, node: str) -> int:
        return self._state[self._i(node)].busy

    def _now(self) -> float:
        now = self._clock()
        if type(now) is float and now - now == 0.0:  # the common case, checked without the slow path
            return now
        return check_finite(now, "clock()")

    @staticmethod
    def _usable(st: _State) -> bool:
        return not (st.flags & _NOT_USABLE) and bool(st.flags & INITIALIZED)

    def _retry(self, i: int, now: float) -> None:
        # proxy_util.c ap_proxy_retry_worker: an errored member (not stopped) leaves the error state
        # once `retry` seconds have passed since the error (strictly later), or at once with +I
        st = self._state[i]
        if st.flags & IN_ERROR and not st.flags & STOPPED:
            if st.flags & IGNORE_ERRORS or st.error_time is None or now > st.error_time + self.members[i].retry:
                st.flags &= ~IN_ERROR

    def _mark_error(self, i: int) -> None:
        st = self._state[i]
        if not st.flags & IGNORE_ERRORS:
            st.flags |= IN_ERROR
            st.error_time = self._now()

    # -- the lbmethods (mod_lbmethod_*.c is_best_* callbacks) -----------------------------------
    def _is_best(self, i: int, best: int | None, baton: list) -> bool:
        st = self._state[i]
        lbf = self._lbf[i]
        if self._method == 2:  # bytraffic: (transferred / lbfactor) + (read / lbfactor), smallest
            traffic = st.transferred // lbf + st.read // lbf
            if best is None or traffic < baton[0]:
                baton[0] = traffic
                return True
            return False
        st.lbstatus += lbf  # byrequests and bybusyness both add lbfactor to every candidate
        baton[0] += lbf
        if best is None:
            return True
        other = self._state[best]
        if self._method == 1:  # bybusyness: fewest busy, ties by lbstatus
            return st.busy < other.busy or (st.busy == other.busy and st.lbstatus > other.lbstatus)
        return st.lbstatus > other.lbstatus  # strict: the first in config order keeps a tie

    def _find_best(self, now: float | None) -> int | None:
        # proxy_util.c proxy_balancer_get_best_worker: lbsets in order; in each, the usable
        # members compete, spares replace unusable (or draining) members one for one, and
        # hot standbys serve only when nothing else in the set could
        baton = [0]
        best = None
        states, lbsets, is_best = self._state, self._lbsets, self._is_best
        cur, max_lbset = 0, 0
        while best is None and cur <= max_lbset:
            unusable = 0
            spares, standbys = [], []
            for i, st in enumerate(states):
                lbset = lbsets[i]
                if lbset > max_lbset:
                    max_lbset = lbset
                if lbset != cur:
                    continue
                flags = st.flags
                if flags & _PLAIN_MASK == INITIALIZED:  # usable, not draining, no spare/standby role
                    if is_best(i, best, baton):
                        best = i
                    continue
                if flags & DRAIN:
                    if not flags & (HOT_SPARE | HOT_STANDBY):
                        unusable += 1
                    continue
                if flags & _NOT_USABLE:
                    self._retry(i, self._now() if now is None else now)
                usable = self._usable(st)
                if st.flags & HOT_SPARE:
                    if usable:
                        spares.append(i)
                elif st.flags & HOT_STANDBY:
                    if usable:
                        standbys.append(i)
                elif usable:
                    if is_best(i, best, baton):
                        best = i
                else:
                    unusable += 1
            for i in spares[:unusable]:
                if is_best(i, best, baton):
                    best = i
            if best is None:
                for i in standbys:
                    if is_best(i, best, baton):
                        best = i
            cur += 1
        if best is not None and self._method != 2:
            states[best].lbstatus -= baton[0]  # find_best_byrequests / find_best_bybusyness
        return best

    # -- sticky sessions (mod_proxy_balancer.c find_session_route / find_route_worker) -----------
    def _route_worker(self, route: str, now: float | None, recursion: int) -> int | None:
        for standby_pass in (False, True):
            for i, m in enumerate(self.members):
                st = self._state[i]
                if bool(st.flags & HOT_STANDBY) != standby_pass:
                    continue
                if not m.route or m.route != route:
                    continue
                if self._usable(st):
                    return i
                if now is not None:
                    self._retry(i, now)
                if self._usable(st):
                    return i
                if m.redirect and recursion < len(self.members):
                    r = self._route_worker(m.redirect, now, recursion + 1)
                    if r is not None and not self._usable(self._state[r]) and now is not None:
                        self._retry(r, now)
                    if r is not None and self._usable(self._state[r]):
                        return r
        return None

    def session_route(self, url: str | None = None, cookie: str | None = None) -> str | None:
        """The route a request carries: the URL parameter first, else the cookie;
        the part after the first stickysessionsep ('.'); None when there is none."""
        if not self.sticky:
            return None
        value = _path_param(url, self.sticky_path, self.scolonsep) if url else None
        if value is None and cookie:
            value = _cookie_value(cookie, self.sticky)
        if value is not None and self.sticky_separator is not None:
            k = value.find(self.sticky_separator)
            value = value[k + 1:] if k != -1 else None
        return value

    def _force_recovery(self, now: float) -> None:
        # mod_proxy_balancer.c force_recovery: when every member is in error (after trying
        # each one's retry in order) and forcerecovery is on, all leave the error state
        for i in range(len(self.members)):
            if not self._state[i].flags & IN_ERROR:
                return
            self._retry(i, now)
            if not self._state[i].flags & IN_ERROR:
                return
        if self.forcerecovery:
            for st in self._state:
                st.flags &= ~IN_ERROR

    def _choose(self, url, cookie) -> int:
        # the clock is read only when some member is in error (its retry time matters)
        now = self._now() if any(st.flags & IN_ERROR for st in self._state) else None
        if now is not None:
            self._force_recovery(now)
        route = self.session_route(url, cookie)
        if route:
            i = self._route_worker(route, now, 1)
            if i is not None:
                # proxy_balancer_pre_request's default updatelbstatus: a routed request
                # still moves every usable member's lbstatus, as if byrequests had picked it
                total = 0
                for st, m in zip(self._state, self.members):
                    if self._usable(st):
                        st.lbstatus += m.lbfactor
                        total += m.lbfactor
                self._state[i].lbstatus -= total
                return i
            if self.sticky_force and any(m.route and m.route == route for m in self.members):
                raise StickyRouteUnavailable(f"balancer {self._label}: every member for the session's route is "
                                             "unavailable and nofailover is On (httpd answers 503)")
        best = self._find_best(now)
        if best is None:
            raise NoHealthyNode(f"balancer {self._label}: all workers are in error state (httpd answers 503)")
        return best

    # -- requests ---------------------------------------------------------------------------------
    @staticmethod
    def _check_request(url, cookie):
        if url is not None and not isinstance(url, str):
            raise TypeError(f"url: expected the request URI as str, got {type(url).__name__}")
        if cookie is not None and not isinstance(cookie, str):
            raise TypeError(f"cookie: expected the Cookie header as str, got {type(cookie).__name__}")

    def acquire(self, url: str | None = None, cookie: str | None = None) -> str:
        """The member httpd sends this request to (its busy count goes up until release)."""
        self._check_request(url, cookie)
        with self._lock:
            i = self._choose(url, cookie)
            st = self._state[i]
            st.elected += 1
            st.busy += 1
            return self.nodes[i]

    def release(self, node: str, ok: bool = True, *, status: int | None = None, timed_out: bool = False,
                sent: int = 0, received: int = 0) -> None:
        """Ends a request: ok=False = the member could not be reached (into error unless +I);
        `status` against failonstatus, `timed_out` against failontimeout (proxy_balancer_post_request);
        `sent` / `received` bytes count for bytraffic."""
        i = self._i(node)
        if ok is not True and ok is not False:
            check_bool(ok, "ok")
        if timed_out is not False:
            check_bool(timed_out, "timed_out")
        if status is not None:
            check_int(status, "status", 100, 999)
        if sent or received:
            sent = check_int(sent, "sent", 0, 2**62)
            received = check_int(received, "received", 0, 2**62)
        elif type(sent) is not int or type(received) is not int:
            check_int(sent, "sent", 0, 2**62)
            check_int(received, "received", 0, 2**62)
        with self._lock:
            st = self._state[i]
            st.transferred += sent
            st.read += received
            if not ok:
                self._mark_error(i)
            elif not st.flags & IGNORE_ERRORS and (
                    (status is not None and status in self.errstatuses) or (self.failontimeout and timed_out)):
                self._mark_error(i)
            if st.busy:
                st.busy -= 1

    def lease(self, url: str | None = None, cookie: str | None = None) -> HttpdLease:
        """`with sel.lease(url, cookie) as lease:` — lease.node; lease.report_bytes(sent, received);
        lease.report_status(code); lease.fail(). An exception out of the block is a failure
        (a cancellation is not)."""
        return HttpdLease(self, self.acquire(url, cookie))

    def pick(self, url: str | None = None, cookie: str | None = None) -> str:
        """One whole successful request: acquire then release."""
        node = self.acquire(url, cookie)
        self.release(node)
        return node

    def request(self, url: str | None = None, cookie: str | None = None, *,
                reachable: Callable[[str], bool] | None = None, status: Callable[[str], int] | None = None) -> str:
        """One request with httpd's failover (mod_proxy.c proxy_handler): while the member
        cannot be reached it goes into error and another pick follows, at most
        maxattempts more times. Returns the member that served; NoHealthyNode if none could."""
        tried: list[str] = []
        try:
            attempts = 0
            while True:
                node = self.acquire(url, cookie)
                tried.append(node)
                if reachable is None or reachable(node):
                    code = status(node) if status is not None else None
                    self.release(tried.pop(), status=code)
                    return node
                with self._lock:
                    self._mark_error(self._i(node))
                    still_usable = self._usable(self._state[self._i(node)])
                if still_usable:
                    # +I: the member stays usable, so proxy_handler's loop ends with the 503
                    raise NoHealthyNode(f"balancer {self._label}: member {quoted(node)} unreachable (status +I: "
                                        "no failover, httpd answers 503)")
                if attempts >= self.maxattempts:
                    raise NoHealthyNode(f"balancer {self._label}: no member reachable after {attempts + 1} attempts")
                attempts += 1
        finally:
            for node in tried:  # every attempt's busy count drops when the request ends
                i = self._i(node)
                with self._lock:
                    if self._state[i].busy:
                        self._state[i].busy -= 1

    # -- mod_proxy_hcheck results ------------------------------------------------------------
    def report_check(self, node: str, ok: bool) -> None:
        """One health-check result (mod_proxy_hcheck.c hc_check): a failed member (hcheck or
        error) needs hcpasses passes — counted without reset by failures — to be enabled
        again (clears both); a healthy one goes to HC_FAIL after hcfails failures, also
        counted without reset by passes."""
        i = self._i(node)
        check_bool(ok, "ok")
        with self._lock:
            st, m = self._state[i], self.members[i]
            if st.flags & (HC_FAIL | IN_ERROR):
                if ok:
                    st.pcount += 1
                    if st.pcount >= m.hcpasses:
                        st.flags &= ~(HC_FAIL | IN_ERROR)
                        st.pcount = 0
            elif not ok:
                st.error_time = self._now()
                st.fcount += 1
                if st.fcount >= m.hcfails:
                    st.flags |= HC_FAIL
                    st.fcount = 0

    # CheckSink for an agent (httpd has none; these map HAProxy's words onto httpd flags)
    def set_state(self, node: str, word: str, source: str = "agent") -> None:
        flags = {"up": "-D", "ready": "-N", "down": "+D", "maint": "+D", "drain": "+N"}.get(word)
        if flags is None:
            raise ValueError(f"word: expected up, ready, down, maint or drain, got {quoted(word)}")
        self.set_status(node, flags)

    def set_weight_percent(self, node: str, pct) -> None:
        raise ValueError("set_weight_percent: httpd members have no agent weight; change loadfactor instead")

    def eligible(self) -> list[str]:
        """Members usable right now (no error, disabled, stopped or hcheck-failed flag)."""
        with self._lock:
            return [n for n, st in zip(self.nodes, self._state) if self._usable(st)]

    def __getstate__(self) -> dict:
        with self._lock:
            state = dict(self.__dict__)
        del state["_lock"]
        state["_state"] = [{k: getattr(st, k) for k in _State.__slots__} for st in self._state]
        return state

    def __setstate__(self, state: dict) -> None:
        states = []
        for fields in state.pop("_state"):
            st = _State.__new__(_State)
            for k, v in fields.items():
                setattr(st, k, v)
            states.append(st)
        self.__dict__.update(state, _state=states, _lock=threading.RLock())

    def __repr__(self) -> str:
        return f"HttpdBalancer({self.name!r}, lbmethod={self.lbmethod!r}, members={len(self.nodes)})"
