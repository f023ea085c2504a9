# SPDX-License-Identifier: Apache-2.0
"""Live agreement with a real Apache httpd 2.4 (Debian's apache2) on 127.0.0.1:
for each balancer config, >= 200 requests, and the member httpd sent each one
to (the backend answers its name) is the member load_apache's HttpdBalancer,
fed the same config text, predicts — 100 %. Where httpd's balancer-manager
shows its own state, lbstatus and busy counts are compared too. A missing
apache2 fails these tests (make test installs it)."""
from __future__ import annotations

import random
import threading
import time

import pytest

import fastroute
from fastroute.checks import ThreadCheckRunner
from tests._apache import Apache
from tests._backends import ERROR_500, HOLD, OK, Backend, Backends
from tests._nginx import PortClash, start_on_free_ports
from tests.test_apache import Clock

pytestmark = pytest.mark.integration
N = 240


class Live:
    """Backends named a, b, c, … behind httpd's balancer://c1 written by `members(urls)`."""

    def __init__(self, members, n=4, proxyset="", names=None):
        self.names = names or [chr(ord("a") + i) for i in range(n)]
        self.backends = Backends(self.names)
        self.url = {name: f"http://127.0.0.1:{b.port}" for name, b in self.backends.by_name.items()}
        self.name_of = {u: n for n, u in self.url.items()}
        lines = "".join(f"  BalancerMember {line}\n" for line in members([self.url[n] for n in self.names]))
        self.text = ('<Proxy "balancer://c1">\n' + lines
                     + (f"  ProxySet {proxyset}\n" if proxyset else "") + "</Proxy>\n")

        def start(ports):
            try:
                return Apache(self.text, "c1", ports[0])
            except RuntimeError as exc:
                if "Address already in use" in str(exc):
                    raise PortClash(str(exc)) from None
                raise
        try:
            self.httpd = start_on_free_ports(1, start)
        except BaseException:
            self.backends.stop()
            raise

    def get(self, path="/", cookie=None):
        status, body = self.httpd.get(path, {"Cookie": cookie} if cookie else None)
        return status, body

    def lbstatus(self):
        return {self.name_of[u]: int(w["lbstatus"]) for u, w in self.httpd.members().items()}

    def stop(self):
        self.httpd.stop()
        self.backends.stop()


@pytest.fixture
def live():
    started = []

    def make(*args, **kw):
        lv = Live(*args, **kw)
        started.append(lv)
        return lv
    yield make
    for lv in started:
        lv.stop()


def agree(lv, sel, requests, settle=False):
    """requests: (path, cookie) pairs sent one after another; every answer must be the predicted member.
    settle: wait after each answer until httpd's busy counts are back to fastroute's (bybusyness)."""
    live, predicted = [], []
    for path, cookie in requests:
        status, body = lv.get(path, cookie)
        assert status == 200, f"httpd answered {status}: {lv.httpd.error_log()[-800:]}"
        live.append(body)
        predicted.append(lv.name_of[sel.pick(url=path, cookie=cookie)])
        if settle:
            wait_busy(lv, {n: sel.busy(lv.url[n]) for n in lv.names})
    same = sum(a == b for a, b in zip(live, predicted))
    assert same == len(requests), f"{same}/{len(requests)} agree; first live {live[:16]} predicted {predicted[:16]}"
    return live


def test_httpd_version_is_2_4():
    assert Apache.version().startswith("Server version: Apache/2.4."), Apache.version()


@pytest.mark.parametrize("loadfactors", [(None, None, None, None), (1, 2, 3, 1), (1.5, 2.25, 1, 4.75), (100, 1, 50, 7)],
                         ids=["unweighted", "weighted", "decimal", "wide"])
def test_live_byrequests(live, loadfactors):
    lv = live(lambda urls: [u + (f" loadfactor={w}" if w else "") for u, w in zip(urls, loadfactors)])
    sel = fastroute.load_apache(lv.text, "c1")
    seen = agree(lv, sel, [("/", None)] * N)
    assert len(set(seen)) == 4
    assert lv.lbstatus() == {lv.name_of[n]: sel.lbstatus(n) for n in sel.nodes}


def test_live_bybusyness_sequential(live):
    lv = live(lambda urls: [urls[0], urls[1] + " loadfactor=2", urls[2], urls[3] + " loadfactor=3"],
              proxyset="lbmethod=bybusyness")
    sel = fastroute.load_apache(lv.text, "c1")
    agree(lv, sel, [("/", None)] * N, settle=True)
    assert lv.lbstatus() == {lv.name_of[n]: sel.lbstatus(n) for n in sel.nodes}


def test_live_bytraffic(live):
    """bytraffic picks the smallest (transferred + read) / lbfactor. The byte counts
    are httpd's own (balancer-manager, after each request, fed to the lease's
    report_bytes); the choice among them is fastroute's. Paths of random length
    make the request bytes differ."""
    lv = live(lambda urls: [urls[0], urls[1] + " loadfactor=2", urls[2], urls[3] + " loadfactor=3.5"],
              proxyset="lbmethod=bytraffic")
    sel = fastroute.load_apache(lv.text, "c1")
    rng = random.Random(7)
    counted = {n: (0, 0) for n in lv.names}
    live_names, predicted = [], []
    for _ in range(N):
        path = "/" + "x" * rng.randrange(0, 3000)
        status, body = lv.get(path)
        assert status == 200
        live_names.append(body)
        with sel.lease(path) as lease:
            predicted.append(lv.name_of[lease.node])
            now = {lv.name_of[u]: (int(w["transferred"]), int(w["read"])) for u, w in lv.httpd.members().items()}
            changed = [n for n in lv.names if now[n] != counted[n]]
            assert changed == [body], (changed, body)
            sent, received = (now[body][0] - counted[body][0]), (now[body][1] - counted[body][1])
            lease.report_bytes(sent, received)
            counted = now
    same = sum(a == b for a, b in zip(live_names, predicted))
    assert same == N, f"{same}/{N} agree"
    assert len(set(live_names)) == 4


def wait_busy(lv, expected, timeout=10.0):
    """httpd drops a member's busy count in the request pool's cleanup, just after the
    answer went out: wait until balancer-manager shows the counts fastroute holds."""
    deadline = time.time() + timeout
    while True:
        busy = {lv.name_of[u]: int(w["busy"]) for u, w in lv.httpd.members().items()}
        if busy == expected:
            return
        if time.time() > deadline:
            raise AssertionError(f"httpd busy {busy}, fastroute {expected}")
        time.sleep(0.01)


def test_live_bybusyness_with_requests_held_open(live):
    """Requests held open at the backends raise their member's busy count: new
    requests go to the least busy (ties by lbstatus). A seeded random mix of
    holding a request, answering the oldest held one and plain requests."""
    lv = live(lambda urls: [urls[0], urls[1] + " loadfactor=2", urls[2], urls[3]], proxyset="lbmethod=bybusyness")
    sel = fastroute.load_apache(lv.text, "c1")
    rng = random.Random(16)
    held: list[tuple[str, threading.Thread]] = []
    answers: list[str] = []
    agreed = total = 0
    for step in range(N):
        action = rng.choice(["hold", "hold", "answer", "plain", "plain"]) if len(held) < 12 else "answer"
        if action == "answer" and not held:
            action = "plain"
        if action == "hold":
            for name in lv.names:
                lv.backends.set_mode(name, HOLD)
            arrived = len(lv.backends.log.names)
            t = threading.Thread(target=lambda: answers.append(lv.get()[1]), daemon=True)
            t.start()
            name = lv.backends.log.wait_for(arrived + 1)[arrived]
            for n in lv.names:
                lv.backends.set_mode(n, OK)
            predicted = lv.name_of[sel.acquire()]
            held.append((predicted, t))
        elif action == "answer":
            node, t = held.pop(0)
            lv.backends[node].answer_oldest()
            t.join(10)
            sel.release(lv.url[node])
            wait_busy(lv, {n: sel.busy(lv.url[n]) for n in lv.names})
            continue
        else:
            status, name = lv.get()
            predicted = lv.name_of[sel.pick()]
            wait_busy(lv, {n: sel.busy(lv.url[n]) for n in lv.names})
        total += 1
        agreed += name == predicted
        assert name == predicted, f"step {step}: httpd {name}, fastroute {predicted}"
    assert agreed == total >= 150
    for node, t in held:
        lv.backends[node].answer_oldest()
        t.join(10)


@pytest.mark.parametrize("statuses, only", [
    (("+D", "", "+S", "+H"), {"b"}),          # disabled and stopped skipped, standby unused
    (("+D", "+S", "+H", "+H"), {"c", "d"}),   # no primary: the hot standbys serve
    (("", "+N", "+R", ""), {"a", "c", "d"}),  # draining b replaced by the spare c
    (("+E", "+I", "", "+R"), {"a", "b", "c"}),  # +E at start-up has no error time: retried at once
], ids=["disabled-stopped-standby", "standbys-serve", "drain-spare", "error-ignore"])
def test_live_status_flags(live, statuses, only):
    lv = live(lambda urls: [u + (f" status={s}" if s else "") for u, s in zip(urls, statuses)])
    sel = fastroute.load_apache(lv.text, "c1")
    assert set(agree(lv, sel, [("/", None)] * N)) == only


@pytest.mark.parametrize("lbsets, first_down, only", [
    ((0, 1, 1, 2), False, {"a"}),
    ((0, 1, 1, 2), True, {"b", "c"}),
    ((1, 1, 2, 2), False, {"a", "b"}),       # no member in set 0: set 1 serves
], ids=["lowest-serves", "next-tier", "gap"])
def test_live_lbset_tiers(live, lbsets, first_down, only):
    lv = live(lambda urls: [u + f" lbset={s}" + (" status=+D" if first_down and i == 0 else "")
                            for i, (u, s) in enumerate(zip(urls, lbsets))])
    sel = fastroute.load_apache(lv.text, "c1")
    assert set(agree(lv, sel, [("/", None)] * N)) == only


def sticky_requests(seed, routes, url_param=None):
    rng = random.Random(seed)
    out = []
    for _ in range(N):
        r = rng.choice(routes + ["zz", "", None])  # unknown route, empty route, no separator
        value = None if r is None and rng.random() < 0.5 else (f"s{rng.randrange(10**6)}" + ("" if r is None else "." + r))
        if url_param and value is not None and rng.random() < 0.5:
            out.append((f"/p?x=1&{url_param}={value}", None if rng.random() < 0.5 else f"SID=other.{rng.choice(routes)}"))
        else:
            out.append(("/", None if value is None else f"SID={value}"))
    return out


def test_live_sticky_cookie(live):
    lv = live(lambda urls: [f"{u} route=r{i}" for i, u in enumerate(urls)] , proxyset="stickysession=SID")
    sel = fastroute.load_apache(lv.text, "c1")
    agree(lv, sel, sticky_requests(1, ["r0", "r1", "r2", "r3"]))
    assert lv.lbstatus() == {lv.name_of[n]: sel.lbstatus(n) for n in sel.nodes}


def test_live_sticky_url_parameter_and_cookie(live):
    # route r1's member disabled: its sessions are balanced (no nofailover); lbset and weights mixed in
    lv = live(lambda urls: [f"{urls[0]} route=r0", f"{urls[1]} route=r1 status=+D", f"{urls[2]} route=r2 loadfactor=2",
                            f"{urls[3]} route=r3"], proxyset="stickysession=SID|sid")
    sel = fastroute.load_apache(lv.text, "c1")
    agree(lv, sel, sticky_requests(2, ["r0", "r1", "r2", "r3"], url_param="sid"))
    assert lv.lbstatus() == {lv.name_of[n]: sel.lbstatus(n) for n in sel.nodes}


def test_live_sticky_redirect_of_a_disabled_member(live):
    lv = live(lambda urls: [f"{urls[0]} route=r0", f"{urls[1]} route=r1 status=+D redirect=r3", f"{urls[2]} route=r2",
                            f"{urls[3]} route=r3 loadfactor=2"], proxyset="stickysession=SID")
    sel = fastroute.load_apache(lv.text, "c1")
    agree(lv, sel, sticky_requests(4, ["r0", "r1", "r2", "r3"]))
    assert lv.get("/", "SID=x.r1")[1] == "d" == lv.name_of[sel.pick(cookie="SID=x.r1")]
    assert lv.lbstatus() == {lv.name_of[n]: sel.lbstatus(n) for n in sel.nodes}


def test_live_failonstatus(live):
    """failonstatus=500: b's 500 answers put it in error (retry 60 s: out for the rest)."""
    lv = live(lambda urls: list(urls), proxyset="failonstatus=500,503")
    sel = fastroute.load_apache(lv.text, "c1")
    agree(lv, sel, [("/", None)] * 40)
    lv.backends.set_mode("b", ERROR_500)
    live_names, predicted = [], []
    for _ in range(N - 40):
        status, body = lv.get()
        live_names.append(body)
        predicted.append(lv.name_of[sel.request(status=lambda n: 500 if lv.name_of[n] == "b" else 200)])
    assert live_names == predicted
    assert live_names.count("b") == 1 and "E" in sel.status(lv.url["b"])


def test_live_sticky_nofailover_answers_503(live):
    lv = live(lambda urls: [f"{u} route=r{i}" + (" status=+D" if i == 1 else "") for i, u in enumerate(urls)],
              proxyset="stickysession=SID nofailover=On")
    sel = fastroute.load_apache(lv.text, "c1")
    assert lv.get("/", "SID=x.r1")[0] == 503
    with pytest.raises(fastroute.StickyRouteUnavailable):
        sel.pick(cookie="SID=x.r1")
    agree(lv, sel, sticky_requests(3, ["r0", "r2", "r3"]))


def test_live_failover_and_retry_recovery(live):
    """b dies: httpd puts it in error and fails over; `retry=5` later it is tried
    again (still dead: error again), and once back it serves again. fastroute's
    clock is stepped to match the phases; each phase runs well inside the 5 s retry."""
    lv = live(lambda urls: [f"{u} retry=5" for u in urls])
    clock = Clock()
    sel = fastroute.load_apache(lv.text, "c1", clock=clock)
    dead: set[str] = set()
    results = []

    def phase(count):
        started = time.time()
        for _ in range(count):
            status, body = lv.get()
            assert status == 200, lv.httpd.error_log()[-800:]
            predicted = lv.name_of[sel.request(reachable=lambda n: lv.name_of[n] not in dead)]
            results.append((body, predicted))
        assert time.time() - started < 4.5, "a phase took longer than the retry window"

    phase(40)
    port = lv.backends["b"].port
    lv.backends["b"].stop()
    dead.add("b")
    phase(60)
    assert "E" in sel.status(lv.url["b"])
    time.sleep(5.3)
    clock.now += 5.3
    phase(40)            # b retried once, still dead: back in error at once
    lv.backends.by_name["b"] = Backend("b", lv.backends.log, port=port)
    dead.discard("b")
    time.sleep(5.3)
    clock.now += 5.3
    phase(80)            # b retried and serving again
    same = sum(a == b for a, b in results)
    assert same == len(results) == 220, [r for r in results if r[0] != r[1]][:5]
    assert "b" in {body for body, _ in results[-80:]}
    assert lv.lbstatus() == {lv.name_of[n]: sel.lbstatus(n) for n in sel.nodes}


def wait_for(condition, what, timeout=15.0):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_live_hcheck_transitions(live):
    """b's health check (GET /health every 200 ms, hcfails=2, hcpasses=2) fails
    while b answers 500 and passes again after: httpd (balancer-manager shows
    HcFl) and fastroute (apache_checks feeding the HttpdBalancer) both take b
    out and put it back; between the transitions every request agrees."""
    lv = live(lambda urls: [f"{u} hcmethod=GET hcuri=/health hcinterval=200ms hcfails=2 hcpasses=2" for u in urls])
    sel = fastroute.load_apache(lv.text, "c1")
    checker = fastroute.apache_checks(lv.text, "c1", sink=sel)
    b = lv.url["b"]

    def httpd_hcfail():
        return "HcFl" in lv.httpd.members()[b]["status"]

    with ThreadCheckRunner(checker, max_workers=4):
        seen = agree(lv, sel, [("/", None)] * 80)
        assert "b" in seen
        lv.backends.set_mode("b", ERROR_500)
        wait_for(lambda: httpd_hcfail() and "C" in sel.status(b), "b to fail its health checks")
        seen = agree(lv, sel, [("/", None)] * 80)
        assert "b" not in seen
        lv.backends.set_mode("b", OK)
        wait_for(lambda: not httpd_hcfail() and "C" not in sel.status(b), "b to pass its health checks")
        seen = agree(lv, sel, [("/", None)] * 80)
        assert "b" in seen
