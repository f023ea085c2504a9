# SPDX-License-Identifier: Apache-2.0
"""Live: a real HAProxy with `hash-balance-factor` sends requests that stay in
flight (the backends hold them) to the same servers, in the same order, as
fastroute.BoundedLoad built by load_haproxy(...).bounded() from the same
config text (docs/algorithms.md §5.3). A missing HAProxy fails this test."""
import http.client
import random
import threading

import pytest

import fastroute
from tests._backends import HOLD, Backends
from tests._haproxy import DEFAULTS, HAProxy, haproxy_version
from tests._nginx import start_on_free_ports

pytestmark = pytest.mark.integration


def _get(port: int, path: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
    except OSError:
        pass  # the test stops the backends at the end; outcomes are not what it checks
    finally:
        conn.close()


@pytest.mark.parametrize("factor,weights", [(125, [1, 1, 1, 1]), (150, [1, 2, 3, 1])], ids=["equal", "weighted"])
def test_live_hash_balance_factor_order_matches_bounded_load(factor, weights):
    names = [f"s{i + 1}" for i in range(len(weights))]
    backends = Backends(names)
    for name in names:
        backends.set_mode(name, HOLD)
    lines = ["balance url_param k", "hash-type consistent", f"hash-balance-factor {factor}"]
    lines += [f"server {n} 127.0.0.1:{p} weight {w}" for n, p, w in zip(names, backends.ports, weights)]

    def on(ports):
        config = (DEFAULTS + f"frontend fe\n    bind 127.0.0.1:{ports[0]}\n    default_backend up\n"
                  + "backend up\n" + "".join(f"    {line}\n" for line in lines))
        return config, HAProxy(config, ports[0])

    config, proxy = start_on_free_ports(1, on)
    rng = random.Random(factor)
    sequence = [rng.choice(["hot", "hot", "hot", "warm", "cold-1"]) for _ in range(30)]
    clients = []
    try:
        for i, key in enumerate(sequence):
            t = threading.Thread(target=_get, args=(proxy.proxy_port, f"/?k={key}"), daemon=True)
            t.start()
            clients.append(t)
            backends.log.wait_for(i + 1)  # one at a time: HAProxy's served count is exact
        live = backends.log.wait_for(len(sequence))
    finally:
        backends.stop()
        proxy.stop()
        for t in clients:
            t.join(5)
    bounded = fastroute.load_haproxy(config, "up", version=haproxy_version()).bounded()
    predicted = [bounded.acquire(k) for k in sequence]
    assert live == predicted
    assert len(set(live)) > 1  # the factor moved keys off their home server
