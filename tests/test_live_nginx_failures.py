# SPDX-License-Identifier: Apache-2.0
"""Live nginx under failures and held-open requests, against load_nginx fed the
same upstream block. Backends are tests/_backends.py servers the test steers
(answer, fail, hold); each request nginx forwards is logged at its backend, so
the arrival log is nginx's pick sequence.

nginx rules exercised (ngx_http_upstream_round_robin.c, least_conn module):
a failure counts toward max_fails and lowers effective_weight by
weight/max_fails; max_fails failures within fail_timeout make the server
unavailable for fail_timeout; afterwards exactly one request probes it (a
failed probe disables it again, a good one clears the count); backup servers
serve only while no primary is available; least_conn compares
active connections / weight, ties by weighted round robin.

`proxy_next_upstream_tries 1` makes every client request exactly one pick, so
the two sides can be stepped together. nginx keeps time in whole seconds; the
schedule waits fail_timeout + 1.3 s between phases and runs each phase within
well under a second, so no decision falls near a boundary on either side."""
import random
import threading
import time

import pytest

import fastroute
from tests._backends import FAIL, HOLD, OK, Backends, settle
from tests._backends import http_get_status as get
from tests._nginx import Nginx, start_on_free_ports

pytestmark = pytest.mark.integration
FAIL_TIMEOUT_S = 2
PHASE_GAP_S = FAIL_TIMEOUT_S + 1.3


def start_nginx(backends, server_params, method="", location_extra="proxy_next_upstream_tries 1;"):
    """server_params: label → 'weight=… max_fails=…' text. Returns (nginx, selector, label of server string)."""
    lines = ([method] if method else []) + [f"server 127.0.0.1:{backends[label].port} {params};"
                                            for label, params in server_params.items()]
    block = "upstream up {\n" + "".join(f"    {line}\n" for line in lines) + "}\n"
    nginx = start_on_free_ports(1, lambda ports: Nginx("  " + block, (), ports[0], location_extra))
    label = {f"127.0.0.1:{backends[name].port}": name for name in server_params}
    return nginx, fastroute.load_nginx(block, "up"), label


class Stepper:
    """Sends one request at a time to nginx and steps the fastroute selector alongside."""

    def __init__(self, nginx, selector, label, backends):
        self.nginx, self.selector, self.label, self.backends = nginx, selector, label, backends
        self.predicted, self.phases = [], []

    def phase(self, requests: int) -> None:
        start = len(self.predicted)
        for _ in range(requests):
            node = self.selector.acquire()
            name = self.label[node]
            failing = self.backends[name].mode == FAIL
            status = get(self.nginx.proxy_port)
            self.selector.release(node, ok=not failing)
            self.predicted.append(name)
            assert status == (502 if failing else 200), (name, status)
        self.phases.append((start, len(self.predicted)))

    def live_phases(self):
        live = self.backends.log.wait_for(len(self.predicted))
        return live, [live[a:b] for a, b in self.phases]


def test_live_nginx_max_fails_fail_timeout_and_single_probe():
    backends = Backends(["A", "B", "C"])
    params = {name: f"weight={w} max_fails=2 fail_timeout={FAIL_TIMEOUT_S}s" for name, w in (("A", 3), ("B", 4), ("C", 1))}
    nginx, selector, label = start_nginx(backends, params)
    steps = Stepper(nginx, selector, label, backends)
    try:
        steps.phase(16)                     # healthy: smooth WRR 3/4/1
        backends.set_mode("B", FAIL)
        steps.phase(16)                     # B fails twice (effective weight 4 → 2 → 0), then is skipped
        settle(PHASE_GAP_S)
        steps.phase(12)                     # fail_timeout over: exactly one probe to B, which fails again
        backends.set_mode("B", OK)
        settle(PHASE_GAP_S)
        steps.phase(24)                     # one probe succeeds: B is back, its effective weight recovering
        live, phases = steps.live_phases()
    finally:
        nginx.stop()
        backends.stop()
    print("nginx picks per phase:", ["".join(p) for p in phases])
    # What nginx itself did (independent of fastroute): the documented rules.
    assert phases[1].count("B") == 2, phases[1]
    assert phases[2].count("B") == 1, phases[2]
    assert phases[3].count("B") >= 2, phases[3]
    assert live == steps.predicted, ("".join(live), "".join(steps.predicted))


def test_live_nginx_backup_takes_over_and_hands_back():
    backends = Backends(["A", "B", "C"])
    params = {"A": f"max_fails=1 fail_timeout={FAIL_TIMEOUT_S}s", "B": f"max_fails=1 fail_timeout={FAIL_TIMEOUT_S}s",
              "C": f"max_fails=1 fail_timeout={FAIL_TIMEOUT_S}s backup"}
    nginx, selector, label = start_nginx(backends, params)
    steps = Stepper(nginx, selector, label, backends)
    try:
        steps.phase(6)                      # A, B alternate; the backup is idle
        backends.set_mode("A", FAIL)
        backends.set_mode("B", FAIL)
        steps.phase(8)                      # A and B fail once each, then the backup serves
        backends.set_mode("A", OK)
        settle(PHASE_GAP_S)
        steps.phase(8)                      # probes: A answers and takes over, B fails again
        live, phases = steps.live_phases()
    finally:
        nginx.stop()
        backends.stop()
    print("nginx picks per phase:", ["".join(p) for p in phases])
    assert "C" not in phases[0] and phases[1][2:] == ["C"] * 6, phases
    assert phases[2][-4:] == ["A"] * 4, phases[2]
    assert live == steps.predicted, ("".join(live), "".join(steps.predicted))


def test_live_nginx_least_conn_with_requests_held_open():
    """Requests stay open at backends that answer only when told, so connection
    counts differ; nginx's picks must follow least connections per weight."""
    backends = Backends(["A", "B", "C", "D"])
    for name in "ABCD":
        backends.set_mode(name, HOLD)
    weights = {"A": 1, "B": 2, "C": 1, "D": 3}
    nginx, selector, label = start_nginx(backends, {n: f"weight={w}" for n, w in weights.items()}, "least_conn;",
                                         location_extra="")
    rng = random.Random(20)
    predicted, clients, answers = [], [], []
    held = {name: 0 for name in weights}
    try:
        for step in range(60):
            node = selector.acquire()
            predicted.append(label[node])
            client = threading.Thread(target=lambda: answers.append(get(nginx.proxy_port)), daemon=True)
            client.start()
            clients.append(client)
            arrived = backends.log.wait_for(step + 1)[-1]
            held[arrived] += 1
            # Answer some held requests (chosen by the live arrivals, so both sides release the same server).
            for _ in range(rng.choice([0, 0, 1, 1, 2])):
                busy = [name for name, count in held.items() if count]
                name = rng.choice(busy)
                done = len(answers)
                backends[name].answer_oldest()
                deadline = time.monotonic() + 10
                while len(answers) == done:  # the client has its answer: nginx has closed that upstream
                    assert time.monotonic() < deadline, "held request was not answered"
                    time.sleep(0.001)
                time.sleep(0.02)  # nginx finalises the upstream (conns -1) before the next request
                held[name] -= 1
                selector.release(next(s for s, lbl in label.items() if lbl == name))
        live = backends.log.wait_for(len(predicted))
    finally:
        backends.stop()  # answers whatever is still held
        nginx.stop()
    counts = {name: live.count(name) for name in weights}
    print("least_conn picks:", "".join(live), counts, "still held at the end:", held)
    assert len(set(held.values())) > 1 or len(set(counts.values())) > 1  # counts really were uneven
    assert live == predicted, ("".join(live), "".join(predicted))
