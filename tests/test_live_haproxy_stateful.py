# SPDX-License-Identifier: Apache-2.0
"""Live HAProxy 2.6 `leastconn`, `first` and `random(<draws>)` against
load_haproxy fed the same config text (docs/algorithms.md §8.6).

The backends are tests/_backends.py servers on 127.0.0.1 that log each arrival
and, in HOLD mode, keep a request open until the test answers it, so HAProxy's
connection counts are steered: 100 % agreement over >= 200 requests per
configuration, sequential and with requests held open. `random` draws from
HAProxy's own PRNG, so its picks are compared by χ² with the distribution the
ring and the held loads give. HAProxy runs one thread (`nbthread 1`) so the end of one
request is processed before the next one is balanced."""
import random
import threading
import time

import pytest

import fastroute
from tests._backends import HOLD, OK, Backends
from tests._backends import http_get_status as get
from tests._haproxy import DEFAULTS, HAProxy, haproxy_version
from tests._nginx import start_on_free_ports
from tests.reference import haproxy_lb as ref
from tests.test_haproxy_stateful import chi2, chi2_critical, ring_shares

pytestmark = pytest.mark.integration
STEPS = 240
SETTLE_S = 0.02  # HAProxy frees the server's connection slot right after the client has the answer


def start(backends, balance, server_extra):
    """HAProxy in front of `backends` with `balance`; server_extra: name -> keywords."""
    global_lines = DEFAULTS.replace("global\n", "global\n    nbthread 1\n").replace("10s", "60s")
    servers = "".join(f"    server {name} 127.0.0.1:{backends[name].port} {server_extra.get(name, '')}\n"
                      for name in backends.by_name)

    def on(ports):
        config = (global_lines + f"frontend fe\n    bind 127.0.0.1:{ports[0]}\n    default_backend up\n"
                  f"backend up\n    balance {balance}\n" + servers)
        return config, HAProxy(config, ports[0])

    return start_on_free_ports(1, on)


def run_sequential(balance, server_extra, names=("s1", "s2", "s3", "s4"), requests=STEPS):
    backends = Backends(list(names))
    config, proxy = start(backends, balance, server_extra)
    try:
        live = proxy.fetch_many(["/"] * requests)  # one keep-alive connection: strictly one after the other
    finally:
        proxy.stop()
        backends.stop()
    return config, live


def run_held_open(balance, server_extra, names=("s1", "s2", "s3", "s4"), seed=0, steps=STEPS, max_held=10):
    """Each step sends one request and predicts its server with acquire(); between
    steps, some held requests are answered (chosen from the live arrivals, so both
    sides free the same server) and released on the fastroute side."""
    backends = Backends(list(names))
    for name in names:
        backends.set_mode(name, HOLD)
    config, proxy = start(backends, balance, server_extra)
    selector = fastroute.load_haproxy(config, "up", version=haproxy_version())
    rng = random.Random(seed)
    predicted, answers, held = [], [], {name: 0 for name in names}
    peak = {name: 0 for name in names}
    try:
        for step in range(steps):
            predicted.append(selector.acquire())
            threading.Thread(target=lambda: answers.append(get(proxy.proxy_port)), daemon=True).start()
            arrived = backends.log.wait_for(step + 1)[-1]
            held[arrived] += 1
            peak[arrived] = max(peak[arrived], held[arrived])
            releases = rng.choice([0, 1, 1, 2]) if sum(held.values()) < max_held else 3
            for _ in range(releases):
                busy = [name for name, count in held.items() if count]
                if not busy:
                    break
                name = rng.choice(busy)
                done = len(answers)
                backends[name].answer_oldest()
                deadline = time.monotonic() + 10
                while len(answers) == done:
                    assert time.monotonic() < deadline, "held request was not answered"
                    time.sleep(0.001)
                time.sleep(SETTLE_S)
                held[name] -= 1
                selector.release(name)
        live = backends.log.wait_for(len(predicted))
    finally:
        backends.stop()  # answers whatever is still held
        proxy.stop()
    assert all(status == 200 for status in answers)
    return selector, live, predicted, peak


def agreement(live, predicted):
    return sum(a == b for a, b in zip(live, predicted)), len(predicted)


# ------------------------------------------------------------------ leastconn
@pytest.mark.parametrize("weights", [(1, 1, 1, 1), (1, 2, 1, 3)])
def test_live_leastconn_sequential(weights):
    extra = {f"s{i + 1}": f"weight {w}" for i, w in enumerate(weights)}
    config, live = run_sequential("leastconn", extra)
    selector = fastroute.load_haproxy(config, "up")
    assert isinstance(selector, fastroute.HAProxyLeastConn)
    predicted = []
    for _ in live:
        node = selector.acquire()
        selector.release(node)
        predicted.append(node)
    print("leastconn sequential:", "".join(n[1] for n in live))
    assert agreement(live, predicted) == (len(live), len(live)) and len(live) >= 200
    assert len(set(live)) == 4  # idle servers take turns in declaration order


@pytest.mark.parametrize("weights, seed", [((1, 1, 1, 1), 1), ((1, 2, 1, 3), 2), ((5, 1, 3, 1), 3)])
def test_live_leastconn_held_open(weights, seed):
    extra = {f"s{i + 1}": f"weight {w}" for i, w in enumerate(weights)}
    selector, live, predicted, peak = run_held_open("leastconn", extra, seed=seed)
    assert isinstance(selector, fastroute.HAProxyLeastConn)
    print("leastconn held open:", "".join(n[1] for n in live), "peak held:", peak)
    assert max(peak.values()) >= 2  # connection counts really differed
    assert agreement(live, predicted) == (STEPS, STEPS), ("".join(n[1] for n in live),
                                                          "".join(n[1] for n in predicted))


def test_live_leastconn_held_open_with_maxconn_and_ids():
    extra = {"s1": "weight 3 maxconn 2 id 9", "s2": "maxconn 1", "s3": "weight 2", "s4": "weight 2 maxconn 3"}
    selector, live, predicted, peak = run_held_open("leastconn", extra, seed=4)
    assert selector.maxconn == (2, 1, 0, 3)
    print("leastconn maxconn:", "".join(n[1] for n in live), "peak held:", peak)
    assert peak["s1"] <= 2 and peak["s2"] <= 1 and peak["s4"] <= 3
    assert agreement(live, predicted) == (STEPS, STEPS), ("".join(n[1] for n in live),
                                                          "".join(n[1] for n in predicted))


# ------------------------------------------------------------------ first
def test_live_first_sequential_follows_ids():
    extra = {"s1": "id 4", "s2": "id 3 weight 0", "s3": "id 2 disabled", "s4": "id 7 weight 9"}
    config, live = run_sequential("first", extra)
    selector = fastroute.load_haproxy(config, "up")
    assert isinstance(selector, fastroute.HAProxyFirst)
    predicted = [selector.pick() for _ in live]
    assert agreement(live, predicted) == (len(live), len(live))
    assert set(live) == {"s1"}  # id 2 disabled, id 3 weight 0: id 4 takes everything


@pytest.mark.parametrize("extra, seed", [
    ({"s1": "maxconn 2", "s2": "maxconn 3", "s3": "maxconn 1", "s4": ""}, 5),
    ({"s1": "maxconn 3 id 20", "s2": "maxconn 1 id 5", "s3": "maxconn 2 id 11 weight 7", "s4": "id 30"}, 6),
])
def test_live_first_held_open_with_maxconn(extra, seed):
    selector, live, predicted, peak = run_held_open("first", extra, seed=seed)
    assert isinstance(selector, fastroute.HAProxyFirst)
    print("first held open:", "".join(n[1] for n in live), "peak held:", peak)
    assert len(set(live)) >= 3  # the maxconn limits really spilled requests over
    assert agreement(live, predicted) == (STEPS, STEPS), ("".join(n[1] for n in live),
                                                          "".join(n[1] for n in predicted))


# ------------------------------------------------------------------ random(<draws>)
@pytest.mark.parametrize("draws", [2, 3])
def test_live_random_distribution(draws):
    """HAProxy's picks, with requests held open, against the distribution of the
    draws-choice process; fastroute's own picks too. HAProxy's PRNG is seeded
    afresh each run, so the bound is p = 0.0001 (z = 3.719) to keep false alarms rare."""
    names, weights = ["s1", "s2", "s3", "s4"], [1, 2, 1, 3]
    backends = Backends(names)
    for name in names:
        backends.set_mode(name, HOLD)
    config, proxy = start(backends, f"random({draws})", {n: f"weight {w}" for n, w in zip(names, weights)})
    answers = []
    try:
        for k in range(6):  # six requests held open: uneven loads
            threading.Thread(target=lambda: answers.append(get(proxy.proxy_port)), daemon=True).start()
            backends.log.wait_for(k + 1)
        held_log = list(backends.log.names)
        for name in names:
            backends.set_mode(name, OK)
        live = proxy.fetch_many(["/"] * 4000)
    finally:
        backends.stop()
        proxy.stop()
    served = [held_log.count(n) for n in names]
    shares = ring_shares(names, weights, [1, 2, 3, 4])
    expected = ref.random_draws_distribution(shares, served, [16 * w for w in weights], draws)
    counts = [live.count(n) for n in names]
    print(f"random({draws}) held {served}, picks {counts}, expected {[round(p * 4000) for p in expected]}")
    assert chi2(counts, expected) < chi2_critical(3, z=3.719)
    selector = fastroute.load_haproxy(config, "up")
    assert isinstance(selector, fastroute.HAProxyRandom)
    for name in held_log:
        selector.upstream.acquire(name)
    ours = [selector.nodes.index(selector.pick()) for _ in range(4000)]
    assert chi2([ours.count(i) for i in range(4)], expected) < chi2_critical(3, z=3.719)
