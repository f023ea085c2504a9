# SPDX-License-Identifier: Apache-2.0
"""Live agreement with a real nginx on 127.0.0.1: for each upstream config,
>= 10 000 requests, 100 % agreement with load_nginx fed the same config text.
A missing nginx fails these tests (make test installs it)."""
import random
import subprocess

import pytest

import fastroute
from tests._nginx import Nginx, start_on_free_ports

pytestmark = pytest.mark.integration
N_KEYS = 10_000


def run(server_lines, n_backends=4):
    """nginx with `upstream up` = server_lines(backend_ports); returns (block text, nginx)."""
    def start(ports):
        backends, proxy = ports[:-1], ports[-1]
        block = "upstream up {\n" + "".join(f"    {line}\n" for line in server_lines(backends)) + "}\n"
        return block, Nginx("  " + block, backends, proxy)
    return start_on_free_ports(n_backends + 1, start)


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
def test_live_nginx_hash(method, weights, down):
    block, nginx = run(lambda backends: [method] + [f"server 127.0.0.1:{p} weight={w}{' down' if i == down else ''};"
                                                    for i, (p, w) in enumerate(zip(backends, weights))])
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


@pytest.mark.parametrize("down", [(), (1,), (0, 3)], ids=["all-up", "one-down", "two-down"])
def test_live_nginx_ip_hash(down):
    """With servers `down`, nginx re-folds the address until a usable peer: the
    answers then check IPHash's failover order (replicas) at depth 2 and 3."""
    block, nginx = run(lambda backends: ["ip_hash;"] + [f"server 127.0.0.1:{p} weight={w}{' down' if i in down else ''};"
                                                        for i, (p, w) in enumerate(zip(backends, [1, 2, 1, 1]))])
    rng = random.Random(9 + len(down))
    n_sources = N_KEYS if not down else N_KEYS // 2
    sources = [f"127.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(n_sources)]
    try:
        live = [nginx.fetch_many(["/"], source_address=(src, 0))[0] for src in sources]
    finally:
        nginx.stop()
    selector = fastroute.load_nginx(block, "up")
    assert [selector.nodes[i] for i in selector.route(sources)] == live
    if down:  # the replica order itself, for the sources whose primary is down
        table = fastroute.IPHash(list(selector.nodes), [1, 2, 1, 1])
        rerouted = 0
        for src, got in zip(sources, live):
            order = table.replicas(src, 4)
            if table.nodes.index(order[0]) in down:
                rerouted += 1
                assert got == next(n for n in order if table.nodes.index(n) not in down), src
        assert rerouted > n_sources // 10, rerouted


def test_live_nginx_weighted_round_robin_sequence():
    # least_conn is tested with requests held open (test_live_nginx_failures.py):
    # one request at a time leaves every count at zero, i.e. plain round robin.
    block, nginx = run(lambda backends: [f"server 127.0.0.1:{p} weight={w};" for p, w in zip(backends, [5, 1, 2, 3])])
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


def test_nginx_version_is_recorded(record_property):
    """Records the version these live results hold for (junit property, -rP output),
    and checks it is the one the README names as verified."""
    import re
    from pathlib import Path

    from tests._nginx import NGINX

    out = subprocess.run([NGINX, "-v"], capture_output=True, text=True)
    found = re.search(r"nginx/(\d+\.\d+\.\d+)", out.stderr + out.stdout)
    assert found, out.stderr + out.stdout
    record_property("nginx_version", found.group(1))
    print(f"live nginx tests ran against nginx {found.group(1)}")
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert f"nginx {found.group(1)}" in readme, "README's 'Verified live' names another nginx version: update it"
