# SPDX-License-Identifier: Apache-2.0
"""Live HAProxy passive health (`observe layer7`, `error-limit`, `on-error`)
against fastroute's HAProxyRoundRobin with the same HAProxyHealth knobs.

HAProxy rules (configuration manual, `observe`/`error-limit`/`on-error`;
check.c): with `observe layer7` a 5xx response other than 501/505 is an
error; `error-limit` consecutive errors of one server trigger `on-error`:
`mark-down` takes it DOWN at once, `fail-check` counts one failed health
check (DOWN once `fall` are reached). `fall 1` keeps the starting health
unambiguous (HAProxy starts a checked server at health = rise, the full value
when fall is 1), and inter/fastinter/downinter of 60 s keep real checks out
of the few seconds the test runs, so the passive rule alone decides.

load_haproxy does not build a health policy from these server keywords yet
(they are accepted and ignored); this test builds the same policy by hand.
"""

import pytest

from fastroute import HAProxyHealth, HAProxyRoundRobin
from tests._backends import ERROR_500, OK, Backends
from tests._backends import http_get_status as get
from tests._haproxy import DEFAULTS, HAProxy
from tests._nginx import start_on_free_ports

pytestmark = pytest.mark.integration


def run_observe_layer7(error_limit, on_error, weights=None, backups=(), failing=("s2",)):
    """Steps HAProxy and HAProxyRoundRobin together: 8 healthy requests, then the
    `failing` servers answer 500 to everything. Returns (live picks, predicted picks)."""
    weights = weights or {"s1": 1, "s2": 2, "s3": 1}
    backends = Backends(list(weights))
    checks = (f"check inter 60s fastinter 60s downinter 60s rise 2 fall 1 observe layer7 "
              f"error-limit {error_limit} on-error {on_error}")
    servers = "".join(f"    server {name} 127.0.0.1:{backends[name].port} weight {w} {checks}"
                      f"{' backup' if name in backups else ''}\n" for name, w in weights.items())

    def start(ports):
        config = (DEFAULTS + f"frontend fe\n    bind 127.0.0.1:{ports[0]}\n    default_backend up\n"
                  "backend up\n    balance roundrobin\n" + servers)
        return HAProxy(config, ports[0])

    proxy = start_on_free_ports(1, start)
    selector = HAProxyRoundRobin(list(weights), list(weights.values()), backups=list(backups),
                                 health=HAProxyHealth(rise=2, fall=1, error_limit=error_limit, on_error=on_error))
    predicted = []
    try:
        def step(requests):
            for _ in range(requests):
                node = selector.acquire()
                failing = backends[node].mode == ERROR_500
                status = get(proxy.proxy_port)
                selector.release(node, ok=not failing)
                predicted.append(node)
                assert status == (500 if failing else 200), (node, status)
        step(8)
        for name in failing:
            backends.set_mode(name, ERROR_500)
        step(20)
        live = backends.log.wait_for(len(predicted))
    finally:
        for name in failing:
            backends.set_mode(name, OK)
        proxy.stop()
        backends.stop()
    print(f"HAProxy picks ({on_error}, error-limit {error_limit}):", " ".join(live))
    print(f"fastroute picks ({on_error}, error-limit {error_limit}):", " ".join(predicted))
    return live, predicted


@pytest.mark.parametrize("error_limit, on_error", [(2, "mark-down"), (3, "fail-check")])
def test_live_haproxy_observe_layer7_error_limit(error_limit, on_error):
    live, predicted = run_observe_layer7(error_limit, on_error)
    errors = [i for i, name in enumerate(live) if i >= 8 and name == "s2"]
    # HAProxy itself: s2 is taken out after exactly error-limit consecutive errors.
    assert len(errors) == error_limit, live
    down_at = errors[-1]
    # fastroute: the same picks up to and including the error that takes s2 down,
    # and s2 never again; after it both alternate the two remaining servers.
    assert predicted[:down_at + 1] == live[:down_at + 1], (live, predicted)
    assert "s2" not in predicted[down_at + 1:]
    assert sorted(set(live[down_at + 1:])) == sorted(set(predicted[down_at + 1:])) == ["s1", "s3"]


@pytest.mark.xfail(strict=True, reason="known gap: after a server goes DOWN mid-sequence HAProxy's fwrr "
                   "continues with the next server of its schedule (s3 here), fastroute restarts at s1; "
                   "HAProxyRoundRobin reproduces static server sets only (its docstring)")
def test_live_haproxy_fwrr_sequence_after_a_server_goes_down():
    live, predicted = run_observe_layer7(2, "mark-down")
    assert live == predicted


def test_live_haproxy_backup_takes_over_when_every_active_server_is_marked_down():
    live, predicted = run_observe_layer7(1, "mark-down", weights={"s1": 1, "s2": 1, "b1": 1}, backups=("b1",),
                                         failing=("s1", "s2"))
    assert "b1" not in live[:8]
    both_down = max(i for i, name in enumerate(live) if name in ("s1", "s2"))
    assert live[8:both_down + 1] == ["s1", "s2"] or live[8:both_down + 1] == ["s2", "s1"], live  # one error each
    assert live[both_down + 1:] == ["b1"] * (len(live) - both_down - 1)
    assert live == predicted, (live, predicted)
