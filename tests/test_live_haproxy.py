# SPDX-License-Identifier: Apache-2.0
"""Live agreement with a real HAProxy on 127.0.0.1: >= 10 000 requests per
backend configuration, 100 % agreement with load_haproxy fed the same config
text (and the version HAProxy reports). A missing HAProxy fails these tests."""
import random

import pytest

import fastroute
from tests._haproxy import HAProxy, haproxy_config, haproxy_version
from tests._nginx import start_on_free_ports

pytestmark = pytest.mark.integration
N_KEYS = 10_000
WEIGHTS = [1, 2, 1, 3]


def start(backend_lines, weights=WEIGHTS, extra=None):
    def on(ports):
        servers = [(f"s{i + 1}", p) for i, p in enumerate(ports[:-1])]
        lines = backend_lines + [f"server {name} 127.0.0.1:{port} weight {w}" + (extra(i) if extra else "")
                                 for i, ((name, port), w) in enumerate(zip(servers, weights))]
        config = haproxy_config(lines, servers, ports[-1])
        return config, HAProxy(config, ports[-1])
    return start_on_free_ports(len(weights) + 1, on)


def keys(seed):
    rng = random.Random(seed)
    return [f"k{rng.randrange(10**12)}" for _ in range(N_KEYS)]


HASH_TYPES = [f"{kind} {fn}{av}" for kind in ("map-based", "consistent") for fn in ("sdbm", "djb2", "crc32", "wt6")
              for av in ("", " avalanche")]


@pytest.mark.parametrize("hash_type", HASH_TYPES)
def test_live_haproxy_url_param(hash_type):
    config, proxy = start(["balance url_param k", f"hash-type {hash_type}"])
    ks = keys(len(hash_type))
    try:
        live = proxy.fetch_many([f"/?k={k}" for k in ks])
    finally:
        proxy.stop()
    selector = fastroute.load_haproxy(config, "up", version=haproxy_version())
    predicted = [selector.nodes[i] for i in selector.route(ks)]
    agree = sum(a == b for a, b in zip(live, predicted))
    assert agree == N_KEYS, f"{hash_type}: {agree}/{N_KEYS} agree"


@pytest.mark.parametrize("hash_type", ["map-based", "consistent"])
def test_live_haproxy_source(hash_type):
    config, proxy = start(["balance source", f"hash-type {hash_type}"])
    rng = random.Random(3)
    sources = [f"127.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(N_KEYS)]
    try:
        live = [proxy.fetch_many(["/"], source_address=(src, 0))[0] for src in sources]
    finally:
        proxy.stop()
    selector = fastroute.load_haproxy(config, "up", version=haproxy_version())
    assert [selector.get_node(s) for s in sources] == live


@pytest.mark.parametrize("balance", ["static-rr", "roundrobin"])
def test_live_haproxy_keyless_sequence(balance):
    config, proxy = start([f"balance {balance}"], weights=[3, 7, 2, 9, 1])
    try:
        live = proxy.fetch_many(["/"] * N_KEYS)
    finally:
        proxy.stop()
    selector = fastroute.load_haproxy(config, "up")
    assert [selector.pick() for _ in range(N_KEYS)] == live


def test_live_haproxy_disabled_server_and_ids():
    config, proxy = start(["balance url_param k", "hash-type consistent"],
                          extra=lambda i: {1: " disabled", 3: " id 17"}.get(i, ""))
    ks = keys(77)
    try:
        live = proxy.fetch_many([f"/?k={k}" for k in ks])
    finally:
        proxy.stop()
    selector = fastroute.load_haproxy(config, "up", version=haproxy_version())
    assert [selector.get_node(k) for k in ks] == live
