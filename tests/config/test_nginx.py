# SPDX-License-Identifier: Apache-2.0
"""load_nginx: parsing whole configs or single blocks, selectors, clear errors."""
import warnings

import pytest

import fastroute
from fastroute.config.nginx import parse_upstream

CONF = """
# payments edge
http {
    upstream pay {
        zone pay 64k;            # harmless
        least_conn;
        server 10.0.0.1:8443 weight=3 max_fails=2 fail_timeout=30s;
        server 10.0.0.2:8443 weight=1 max_fails=2 fail_timeout=30s;
        server "10.0.0.3:8443" backup max_fails=2 fail_timeout=30s;
        server 10.0.0.4:8443 down max_fails=2 fail_timeout=30s;
    }
    upstream c3 { hash $arg_k consistent; server 127.0.0.1:18081; server 127.0.0.1:18082; server 127.0.0.1:18083; }
    server { listen 80; location / { proxy_pass http://pay; } }
}
"""


def test_whole_config_and_balancer_semantics():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sel = fastroute.load_nginx(CONF, "pay")
    assert any("zone" in str(w.message) for w in caught)
    assert isinstance(sel, fastroute.LeastConnections)
    assert sel.nodes == ("10.0.0.1:8443", "10.0.0.2:8443", "10.0.0.3:8443", "10.0.0.4:8443")
    assert sel.backups == ("10.0.0.3:8443",) and sel.state("10.0.0.4:8443") == "down"
    assert set(sel.pick() for _ in range(20)) == {"10.0.0.1:8443", "10.0.0.2:8443"}


def test_published_consistent_vectors():
    # docs/algorithms.md §6.4 (live nginx): c3 lookups.
    sel = fastroute.load_nginx(CONF, "c3")
    ks = ["hello", "txn-000001", "4111111111111111", "merchant:42", "a", "b", "c", "0", "1", "2"]
    assert [int(sel.get_node(k)[-5:]) for k in ks] == [18083, 18083, 18083, 18081, 18082, 18083, 18082, 18082,
                                                       18083, 18081]


def test_parsed_parameters():
    with pytest.warns(UserWarning, match="zone"):
        up = parse_upstream(CONF, "pay")
    assert [(s.weight, s.max_fails, s.fail_timeout, s.backup, s.down) for s in up.servers] == [
        (3, 2, 30.0, False, False), (1, 2, 30.0, False, False), (1, 2, 30.0, True, False), (1, 2, 30.0, False, True)]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("upstream up { hash $k consistent; server a:1 backup; server b:1; }", "cannot be used with"),
        ("upstream up { server a:1 weight=0; }", "bad value in 'weight=0'"),
        ("upstream up { server a:1 }", "missing ';'"),
        ("upstream other { server a:1; }", "no upstream 'up'"),
        ("upstream up { }", "no server lines"),
        ("upstream up { hash $k fuzzy; server a:1; }", "expected 'hash $key [consistent]'"),
        ("upstream up { server a:1 max_fails=1; server b:1 max_fails=3; }", "differ"),
        ("upstream up { server a:1; server a:1; }", "listed twice"),
    ],
)
def test_errors_name_the_line(text, fragment):
    with pytest.raises(ValueError) as info:
        fastroute.load_nginx(text, "up")
    assert fragment in str(info.value)
