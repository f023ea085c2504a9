# SPDX-License-Identifier: Apache-2.0
"""Config loaders, request-path settings (issue #14): HAProxy check / agent /
slowstart / maxconn / default-server / listen+bind, the HealthChecker built
from them; nginx max_conns / slow_start / include / file paths; one rule for
unsupported directives in both loaders (warning by default, error if strict)."""
import re
import warnings
from pathlib import Path

import pytest

import fastroute
from fastroute.checks import HttpCheck, TcpCheck
from fastroute.config import UnsupportedDirectiveWarning, haproxy_checks
from fastroute.config.haproxy import parse_backend
from fastroute.config.nginx import parse_upstream
from tests._checkservers import Backend

HAPROXY = """global
    maxconn 100
defaults
    mode http
    timeout connect 1s
    default-server inter 3s rise 4 maxconn 20
backend pay
    balance roundrobin
    option httpchk GET /health
    http-check send hdr Host pay.internal
    http-check expect status 200
    timeout check 500ms
    server a 127.0.0.1:8001 check inter 200 fastinter 100 downinter 1s rise 2 fall 3 slowstart 30s maxconn 50
    server b 127.0.0.1:8002 check agent-check agent-port 9002 agent-inter 500 weight 3
    server c 127.0.0.1:8003 backup check port 9103
    server d 127.0.0.1:8004 disabled check
    server e 127.0.0.1:8005
"""


def test_haproxy_server_check_settings_parsed():
    be = parse_backend(HAPROXY, "pay")
    a, b, c, d, e = be.servers
    # HAProxy times are milliseconds unless a unit is given; default-server supplies the rest.
    assert (a.check, a.inter, a.fastinter, a.downinter, a.rise, a.fall, a.slowstart, a.maxconn) == \
        (True, 0.2, 0.1, 1.0, 2, 3, 30.0, 50)
    assert (b.check, b.inter, b.rise, b.fall, b.agent_check, b.agent_port, b.agent_inter, b.maxconn, b.weight) == \
        (True, 3.0, 4, None, True, 9002, 0.5, 20, 3)
    assert (c.backup, c.check_port, d.disabled, e.check, e.inter) == (True, 9103, True, False, 3.0)
    assert be.httpchk == ("GET", "/health", "pay.internal")
    assert be.http_expect == ("status", 200) and be.check_timeout == 0.5


def test_haproxy_checks_builds_the_checker():
    checker = haproxy_checks(HAPROXY, "pay")
    assert checker.nodes == ("a", "b", "c")  # d is disabled, e has no `check`
    assert isinstance(checker.check, HttpCheck)
    assert (checker.check.method, checker.check.path, checker.check.host) == ("GET", "/health", "pay.internal")
    assert checker.check.judge(b"HTTP/1.1 200 OK\r\n\r\n") and not checker.check.judge(b"HTTP/1.1 204 OK\r\n\r\n")
    assert (checker.interval("a"), checker.interval("b")) == (0.1, 3.0)  # a: fastinter while not full
    assert checker.timeout("a") == 0.5
    assert checker.has_agent("b") and not checker.has_agent("a") and checker.agent_interval("b") == 0.5
    assert checker.record("a", False) == "down" and checker.record("a", True) == "down"
    assert checker.record("a", True) == "up"  # rise 2
    tcp = haproxy_checks("backend x\n    server a 127.0.0.1:1 check\n", "x")
    assert isinstance(tcp.check, TcpCheck)


def test_haproxy_checks_probe_a_real_backend():
    backend = Backend("a")
    try:
        text = f"backend x\n    option httpchk GET /health\n    server a 127.0.0.1:{backend.port} check\n"
        checker = haproxy_checks(text, "x")
        assert checker.probe("a") is True
        assert backend.last_request.startswith(b"GET /health HTTP/1.1")
        backend.status = 503
        assert checker.probe("a") is False
    finally:
        backend.stop()


def test_haproxy_listen_with_bind_loads():
    text = ("listen web\n    bind 127.0.0.1:8080\n    balance roundrobin\n"
            "    server a 127.0.0.1:1 weight 2 check\n    server b 127.0.0.1:2 check inter 500\n")
    sel = fastroute.load_haproxy(text, "web")
    assert isinstance(sel, fastroute.HAProxyRoundRobin)
    assert sorted(sel.pick() for _ in range(3)) == ["a", "a", "b"]  # weights 2 : 1 over one cycle
    be = parse_backend(text, "web")
    assert (be.kind, be.binds) == ("listen", ["127.0.0.1:8080"])


def test_haproxy_bad_check_values_are_errors():
    for line, fragment in [("check inter 2x", "bad time"), ("check rise 0", "rise must be"),
                           ("check agent-check", "agent-port"), ("check port 70000", "port must be")]:
        text = f"backend x\n    server a 127.0.0.1:1 {line}\n"
        with pytest.raises(ValueError, match=fragment):
            haproxy_checks(text, "x")


UNSUPPORTED = [
    ("haproxy", "backend be\n    server a 1.1.1.1:1 track other/a\n", "line 2: unsupported server keyword 'track'"),
    ("haproxy", "backend be\n    use-server a if TRUE\n    server a 1.1.1.1:1\n", "line 2: unsupported directive"),
    ("nginx", "upstream be { server a:1 resolve; }", "line 1: unsupported server parameter 'resolve'"),
    ("nginx", "upstream be {\n server a:1;\n sticky cookie x;\n}", "line 3: unsupported directive 'sticky'"),
]


def _load(kind, text, **kw):
    return (fastroute.load_haproxy if kind == "haproxy" else fastroute.load_nginx)(text, "be", **kw)


@pytest.mark.parametrize("kind, text, fragment", UNSUPPORTED)
def test_unsupported_directive_warns_naming_the_line(kind, text, fragment):
    with pytest.warns(UnsupportedDirectiveWarning, match=re.escape(fragment)):
        sel = _load(kind, text)
    assert sel.nodes == (("a",) if kind == "haproxy" else ("a:1",))  # the rest of the config still loads


@pytest.mark.parametrize("kind, text, fragment", UNSUPPORTED)
def test_unsupported_directive_is_an_error_when_strict(kind, text, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        _load(kind, text, strict=True)


def test_strict_must_be_a_bool():
    with pytest.raises(TypeError, match="strict"):
        fastroute.load_nginx("upstream be { server a:1; }", "be", strict="yes")
    with pytest.raises(TypeError, match="strict"):
        fastroute.load_haproxy("backend be\n    server a 1.1.1.1:1\n", "be", strict=1)


def test_supported_config_gives_no_unsupported_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnsupportedDirectiveWarning)
        # one slow start for every server: a mix cannot be wired onto one view (warned, next test file)
        fastroute.load_haproxy(HAPROXY.replace(" rise 2 fall 3", "").replace(" slowstart 30s", "")
                               .replace("inter 3s rise 4", "inter 3s slowstart 30s"), "pay")
        fastroute.load_nginx("upstream be { server a:1 max_conns=10 slow_start=30s; server b:1 backup slow_start=30s; }",
                             "be")


# ---------------------------------------------------------------- nginx

def test_nginx_max_conns_slow_start_backup():
    up = parse_upstream("upstream be { server a:1 max_conns=10 slow_start=1m; server b:1 backup; }", "be")
    (a, b) = up.servers
    assert (a.max_conns, a.slow_start, a.backup, b.max_conns, b.slow_start, b.backup) == (10, 60.0, False, 0, 0.0,
                                                                                          True)
    with pytest.raises(ValueError, match="slow_start"):
        parse_upstream("upstream be { hash $k; server a:1 slow_start=10s; }", "be")
    with pytest.raises(ValueError, match="max_conns"):
        parse_upstream("upstream be { server a:1 max_conns=x; }", "be")


def test_nginx_include_relative_to_base_and_file_path(tmp_path: Path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "01-a.conf").write_text("server a:1 weight=2;\n")
    (tmp_path / "conf.d" / "02-b.conf").write_text("include more/c.conf;\nserver b:1;\n")
    (tmp_path / "conf.d" / "more").mkdir()
    (tmp_path / "conf.d" / "more" / "c.conf").write_text("server c:1 backup;\n")
    main = tmp_path / "nginx.conf"
    main.write_text("http {\n  upstream be {\n    include conf.d/*.conf;\n  }\n}\n")
    sel = fastroute.load_nginx(main, "be")  # a path: includes relative to its directory
    assert sel.nodes == ("a:1", "c:1", "b:1") and sel.weights == (2, 1, 1)
    sel2 = fastroute.load_nginx(main.read_text(), "be", base_path=tmp_path)
    assert sel2.nodes == ("a:1", "c:1", "b:1")
    with pytest.raises(ValueError, match="base_path"):
        fastroute.load_nginx(main.read_text(), "be")
    (tmp_path / "conf.d" / "more" / "c.conf").write_text("server c:1 bogus;\n")
    with pytest.warns(UnsupportedDirectiveWarning, match=r"line 1 of c\.conf"):
        fastroute.load_nginx(main, "be")


def test_nginx_include_cycle_and_missing_file(tmp_path: Path):
    (tmp_path / "loop.conf").write_text("include loop.conf;\n")
    with pytest.raises(ValueError, match="nested deeper"):
        fastroute.load_nginx("upstream be { include loop.conf; server a:1; }", "be", base_path=tmp_path)
    with pytest.raises(ValueError, match="cannot read include"):
        fastroute.load_nginx("upstream be { include nope.conf; server a:1; }", "be", base_path=tmp_path)
    with pytest.raises(ValueError, match="cannot read the config file"):
        fastroute.load_nginx(tmp_path / "absent.conf", "be")


@pytest.mark.parametrize("balance", ["roundrobin", "leastconn", "random", "first"])
def test_checked_backend_gets_haproxy_rise_fall_health(balance):
    # issue #14's trial: `check inter/rise/fall` was dropped; leastconn got nginx-style health,
    # roundrobin none, and report_check() raised.
    text = (f"backend be\n    balance {balance}\n    server a 127.0.0.1:1 check rise 3 fall 2\n"
            "    server b 127.0.0.1:2 check rise 3 fall 2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # leastconn/random/first: "closest balancer" warning
        sel = fastroute.load_haproxy(text, "be")
    for _ in range(3):
        sel.report(sel.pick(), ok=False)  # passive failures alone do not take a checked server down here
    assert set(sel.eligible()) == {"a", "b"}
    sel.report_check("a", False)
    sel.report_check("a", False)
    assert sel.state("a") != "up" and sel.eligible() == ("b",)
    for _ in range(3):
        sel.report_check("a", True)
    assert sel.state("a") == "up"  # rise 3


def test_checked_servers_with_different_rise_fall_are_refused():
    text = "backend be\n    server a 127.0.0.1:1 check rise 3\n    server b 127.0.0.1:2 check\n"
    with pytest.raises(ValueError, match="rise/fall differ"):
        fastroute.load_haproxy(text, "be")


def test_unsupported_warnings_mask_card_numbers():
    pan = "4111111111111111"
    with pytest.warns(UnsupportedDirectiveWarning) as record:
        fastroute.load_nginx("upstream be { server a:1 %s; }" % pan, "be")
        fastroute.load_haproxy("backend be\n    server a 1.1.1.1:1 %s\n" % pan, "be")
    texts = [str(w.message) for w in record]
    assert len(texts) == 2 and all(pan not in t and "411111******1111" in t for t in texts), texts


def test_loaders_keep_their_proxy_policy_not_the_default():
    """docs/request_path.md §2: nginx's max_fails=1 and HAProxy's "no check, never
    DOWN" survive the Envoy default of standalone balancers."""
    for method in ("", "least_conn;", "random;"):
        sel = fastroute.load_nginx(f"upstream u {{ {method} server a:1; server b:1; server c:1; }}", "u")
        sel.report("a:1", ok=False)
        assert sel.state("a:1") == "ejected", method  # max_fails=1, not 5 consecutive failures
    for balance in ("roundrobin", "leastconn", "random", "first"):
        text = f"backend be\n    balance {balance}\n    server a 10.0.0.1:80\n    server b 10.0.0.2:80\n"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sel = fastroute.load_haproxy(text, "be")
        for _ in range(20):
            sel.report("a", ok=False)
        assert sel.state("a") == "up", balance


def test_loaders_wire_slow_start_and_connection_limits_onto_a_view():
    """docs/checks.md §6: parsed settings reach the returned balancer's view."""
    sel = fastroute.load_nginx("upstream u { least_conn; server a:1 max_conns=2 slow_start=30s; "
                               "server b:1 slow_start=30s; }", "u")
    view = sel.upstream
    assert isinstance(view, fastroute.HealthView)
    assert view.policy == fastroute.NginxHealth()  # the upstream's own policy stays
    assert view.breaker.node_limit("a:1") == 2 and view.breaker.node_limit("b:1") is None
    sel.set_state("a:1", "down")
    sel.pick()
    sel.set_state("a:1", "up")
    sel.pick()  # the view's refresh that sees it come back starts the ramp
    assert 0.0 <= view.status("a:1")["slow_start_factor"] < 0.1  # ramps from zero, nginx Plus
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = fastroute.load_haproxy("backend be\n    balance roundrobin\n"
                                     "    server a 10.0.0.1:80 check slowstart 10s maxconn 5\n"
                                     "    server b 10.0.0.2:80 check slowstart 10s maxconn 0\n", "be")
    view = sel.upstream
    assert view.policy == fastroute.HAProxyHealth(rise=2, fall=3)
    assert view.breaker.node_limit("a") == 5 and view.breaker.node_limit("b") is None  # maxconn 0: none
    for _ in range(3):
        sel.report_check("b", False)
    sel.pick()
    for _ in range(2):
        sel.report_check("b", True)
    sel.pick()
    assert view.status("b")["slow_start_factor"] == pytest.approx(1 / 16)  # HAProxy: 1/16 at once
    mixed = "upstream u { server a:1 slow_start=10s; server b:1 slow_start=20s; }"
    with pytest.warns(UnsupportedDirectiveWarning, match="slow start per upstream"):
        assert not isinstance(fastroute.load_nginx(mixed, "u").upstream, fastroute.HealthView)
    with pytest.raises(ValueError, match="slow start per upstream"):
        fastroute.load_nginx(mixed, "u", strict=True)
    plain = fastroute.load_nginx("upstream u { server a:1; }", "u")
    assert not isinstance(plain.upstream, fastroute.HealthView)  # nothing to wire: standalone as before


def test_httpx_skips_a_node_at_its_max_conns_and_fails_fast_when_all_are_full():
    import httpx

    from fastroute.httpx import FastrouteTransport

    backends = [Backend("a"), Backend("b")]
    try:
        conf = (f"upstream u {{ server {backends[0].url[7:]} max_conns=1; "
                f"server {backends[1].url[7:]} max_conns=1; }}")
        sel = fastroute.load_nginx(conf, "u")
        with httpx.Client(transport=FastrouteTransport(sel)) as client:
            with client.stream("GET", "http://svc/") as first:
                with client.stream("GET", "http://svc/") as second:
                    with pytest.raises(fastroute.Overloaded, match="max_requests_per_node"):
                        client.get("http://svc/")  # both bodies unread: both nodes full
                    assert {first.read(), second.read()} == {b"a", b"b"}  # the full node was skipped
            assert client.get("http://svc/").status_code == 200
        assert sum(b.app_requests for b in backends) == 3
    finally:
        for b in backends:
            b.stop()
