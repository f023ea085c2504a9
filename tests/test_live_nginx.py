# SPDX-License-Identifier: Apache-2.0
"""Live agreement with a real nginx on 127.0.0.1: for each upstream config,
>= 10 000 requests, 100 % agreement with load_nginx fed the same config text.
A missing nginx fails these tests (make test installs it)."""
import random

import pytest

import fastroute
from tests._nginx import Nginx, free_ports

pytestmark = pytest.mark.integration
N_KEYS = 10_000


@pytest.fixture
def ports():
    return free_ports(5)


def run(block_lines, backend_ports, proxy_port):
    block = "upstream up {\n" + "".join(f"    {line}\n" for line in block_lines) + "}\n"
    return block, Nginx("  " + block, backend_ports, proxy_port)


def keys(seed):
    rng = random.Random(seed)
    return [f"card-{rng.randrange(10**12)}" for _ in range(N_KEYS)]


@pytest.mark.parametrize(
    "method, weights, down",
    [
        ("hash $arg_k consistent;", [1, 2, 3, 1], None),
        ("hash $arg_k consistent;", [1, 1, 1, 1], 2),
        ("hash $arg_k;", [1, 2, 1, 3], None),
        ("hash $arg_k;", [1, 1, 1, 1], 1),
    ],
    ids=["consistent-weighted", "consistent-down", "plain-weighted", "plain-down"],
)
def test_live_nginx_hash(ports, method, weights, down):
    backends, proxy = ports[:4], ports[4]
    servers = [f"server 127.0.0.1:{p} weight={w}{' down' if i == down else ''};"
               for i, (p, w) in enumerate(zip(backends, weights))]
    block, nginx = run([method] + servers, backends, proxy)
    try:
        ks = keys(len(method) + (down or 0))
        live = nginx.fetch_many([f"/?k={k}" for k in ks])
    finally:
        nginx.stop()
    selector = fastroute.load_nginx(block, "up")
    predicted = [selector.nodes[i] for i in selector.route(ks)]
    agree = sum(a == b for a, b in zip(live, predicted))
    assert agree == N_KEYS, f"{agree}/{N_KEYS} agree"
    assert [selector.get_node(k) for k in ks[:500]] == live[:500]


def test_live_nginx_ip_hash(ports):
    backends, proxy = ports[:4], ports[4]
    block, nginx = run(["ip_hash;"] + [f"server 127.0.0.1:{p} weight={w};" for p, w in zip(backends, [1, 2, 1, 1])],
                       backends, proxy)
    rng = random.Random(9)
    sources = [f"127.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(N_KEYS)]
    try:
        live = [nginx.fetch_many(["/"], source_address=(src, 0))[0] for src in sources]
    finally:
        nginx.stop()
    selector = fastroute.load_nginx(block, "up")
    assert [selector.nodes[i] for i in selector.route(sources)] == live


@pytest.mark.parametrize("method", ["", "least_conn;"], ids=["weighted-round-robin", "least_conn"])
def test_live_nginx_keyless_sequence(ports, method):
    backends, proxy = ports[:4], ports[4]
    servers = [f"server 127.0.0.1:{p} weight={w};" for p, w in zip(backends, [5, 1, 2, 3])]
    block, nginx = run(([method] if method else []) + servers, backends, proxy)
    try:
        live = nginx.fetch_many(["/"] * N_KEYS)
    finally:
        nginx.stop()
    selector = fastroute.load_nginx(block, "up")
    predicted = []
    for _ in range(N_KEYS):  # one request at a time, as the client sent them
        node = selector.acquire()
        selector.release(node)
        predicted.append(node)
    assert predicted == live


def test_nginx_version_is_recorded():
    import subprocess

    from tests._nginx import NGINX

    out = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
    assert "nginx/" in out.stderr + out.stdout
