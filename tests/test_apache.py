# SPDX-License-Identifier: Apache-2.0
"""load_apache / HttpdBalancer against sequences worked out by hand from httpd
2.4's rules (docs/apache.md), plus one sequence a real httpd 2.4.71 produced."""
import warnings

import pytest

import fastroute
from fastroute import HttpdBalancer, HttpdMember, StickyRouteUnavailable
from fastroute.config import UnsupportedDirectiveWarning


def block(*members, proxyset=""):
    lines = "".join(f"  BalancerMember {m}\n" for m in members)
    return f'<Proxy "balancer://c1">\n{lines}{("  ProxySet " + proxyset + chr(10)) if proxyset else ""}</Proxy>\n'


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def picks(sel, n, **kw):
    return [sel.pick(**kw) for _ in range(n)]


def test_byrequests_source_comment_example_with_one_member_disabled():
    # mod_lbmethod_byrequests.c: a b c d at lbfactor 25, b disabled → "a c d a c d ..."
    sel = fastroute.load_apache(block(*(f"http://{x} loadfactor=25" + (" status=+D" if x == "b" else "")
                                        for x in "abcd")), "c1")
    assert [n[-1] for n in picks(sel, 9)] == list("acdacdacd")


def test_byrequests_weighted_sequence_seen_from_httpd():
    # Apache/2.4.71 (Debian) answered b a c b b a c b for loadfactors 1, 2, 1 (tests/test_live_apache.py)
    sel = fastroute.load_apache(block("http://a", "http://b loadfactor=2", "http://c"), "c1")
    assert [n[-1] for n in picks(sel, 8)] == list("bacbbacb")


@pytest.mark.parametrize("text, units", [("1", 100), ("1.15", 114), ("2.5", 250), ("100", 10000), ("7.999", 799)])
def test_decimal_loadfactor_scales_by_100_and_truncates(text, units):
    sel = fastroute.load_apache(block(f"http://a loadfactor={text}", "http://b"), "c1")
    assert sel.members[0].lbfactor == units


@pytest.mark.parametrize("text", ["0.99", "100.01", "abc", "0", "-1", "nan"])
def test_loadfactor_outside_httpd_range_is_an_error_naming_the_line(text):
    with pytest.raises(ValueError, match="line 2.*LoadFactor|line 2.*loadfactor"):
        fastroute.load_apache(block(f"http://a loadfactor={text}"), "c1")


def test_lbset_lower_tier_serves_until_it_cannot():
    sel = fastroute.load_apache(block("http://a lbset=0", "http://b lbset=1", "http://c lbset=1"), "c1")
    assert set(picks(sel, 6)) == {"http://a"}
    sel.set_status("http://a", "+D")
    assert [n[-1] for n in picks(sel, 4)] == list("bcbc")


def test_hot_standby_only_when_no_member_of_the_set_is_usable():
    sel = fastroute.load_apache(block("http://a", "http://b", "http://h status=+H"), "c1")
    assert [n[-1] for n in picks(sel, 4)] == list("abab")
    sel.set_status("http://a", "+D")
    sel.set_status("http://b", "+S")
    assert picks(sel, 3) == ["http://h"] * 3


def test_spare_replaces_one_unusable_member():
    sel = fastroute.load_apache(block("http://a", "http://b", "http://r status=+R"), "c1")
    assert "http://r" not in picks(sel, 6)
    sel.set_status("http://a", "+D")
    assert [n[-1] for n in picks(sel, 4)] == list("brbr")


def test_draining_member_is_replaced_by_a_spare_and_not_picked():
    sel = fastroute.load_apache(block("http://a status=+N", "http://b", "http://r status=+R"), "c1")
    assert [n[-1] for n in picks(sel, 4)] == list("brbr")


def test_sticky_cookie_and_url_parameter_and_separator():
    sel = fastroute.load_apache(block("http://a route=r1", "http://b route=r2",
                                      proxyset="stickysession=JSESSIONID|jsessionid"), "c1")
    assert picks(sel, 3, cookie="JSESSIONID=xyz.r2") == ["http://b"] * 3
    assert picks(sel, 3, url="/app?jsessionid=abc.r1&x=1") == ["http://a"] * 3
    # the URL parameter wins over the cookie; no '.' → no route (balanced)
    assert sel.pick(url="/p?jsessionid=q.r1", cookie="JSESSIONID=z.r2") == "http://a"
    assert sel.session_route(cookie="JSESSIONID=noroute") is None
    assert sel.session_route(cookie="other=1; JSESSIONID = s.r9, x=2") == "r9"
    assert sel.session_route(cookie="XJSESSIONID=s.r1") is None


def test_sticky_route_moves_lbstatus_of_every_usable_member():
    # pre_request's default update: a routed request is counted as if byrequests picked it
    sel = fastroute.load_apache(block("http://a route=r1", "http://b route=r2",
                                      proxyset="stickysession=S"), "c1")
    sel.pick(cookie="S=x.r1")
    assert (sel.lbstatus("http://a"), sel.lbstatus("http://b")) == (-100, 100)
    assert sel.pick() == "http://b"


def test_missing_route_is_balanced_and_nofailover_answers_503():
    text = block("http://a route=r1", "http://b route=r2 status=+D", proxyset="stickysession=S nofailover=On")
    sel = fastroute.load_apache(text, "c1")
    assert sel.pick(cookie="S=x.zz") == "http://a"  # route of no member: balanced
    with pytest.raises(StickyRouteUnavailable):
        sel.pick(cookie="S=x.r2")
    sel2 = fastroute.load_apache(text.replace(" nofailover=On", ""), "c1")
    assert sel2.pick(cookie="S=x.r2") == "http://a"


def test_redirect_of_an_unusable_routed_member():
    sel = fastroute.load_apache(block("http://a route=r1 redirect=r2 status=+D", "http://b route=r2",
                                      "http://c route=r3", proxyset="stickysession=S"), "c1")
    assert picks(sel, 3, cookie="S=x.r1") == ["http://b"] * 3


def test_error_member_retried_after_retry_seconds_strictly_later():
    clock = Clock()
    sel = fastroute.load_apache(block("http://a retry=5", "http://b"), "c1", clock=clock)
    assert sel.request(reachable=lambda n: n != "http://a") == "http://b"  # a fails, failover to b
    assert "E" in sel.status("http://a")
    clock.now += 5
    assert picks(sel, 3) == ["http://b"] * 3
    clock.now += 0.001
    assert "http://a" in picks(sel, 2)


def test_ignore_errors_member_gets_no_failover():
    sel = fastroute.load_apache(block("http://a status=+I", "http://b"), "c1")
    with pytest.raises(fastroute.NoHealthyNode):
        sel.request(reachable=lambda n: n != "http://a")
    assert "E" not in sel.status("http://a")


def test_failonstatus_puts_the_member_in_error():
    sel = fastroute.load_apache(block("http://a", "http://b"), "c1")
    sel2 = fastroute.load_apache(block("http://a", "http://b", proxyset="failonstatus=503,500"), "c1")
    for s in (sel, sel2):
        node = s.acquire()
        s.release(node, status=500)
    assert "E" not in sel.status("http://a") and "E" in sel2.status("http://a")


def test_forcerecovery_clears_errors_when_every_member_is_in_error():
    clock = Clock()
    # after a (lbstatus -100) and b (+100) failed in turn, recovery leaves b ahead
    for on, expected in (("On", "http://b"), ("Off", None)):
        sel = fastroute.load_apache(block("http://a", "http://b", proxyset=f"forcerecovery={on}"), "c1",
                                    clock=clock)
        for _ in sel.nodes:
            node = sel.acquire()
            sel.release(node, ok=False)
        if expected:
            assert sel.pick() == expected
        else:
            with pytest.raises(fastroute.NoHealthyNode):
                sel.pick()


def test_bybusyness_least_busy_then_lbstatus():
    sel = fastroute.load_apache(block("http://a", "http://b", "http://c", proxyset="lbmethod=bybusyness"), "c1")
    held = [sel.acquire(), sel.acquire()]
    assert held == ["http://a", "http://b"]
    assert picks(sel, 3) == ["http://c"] * 3
    sel.release("http://a")
    assert sel.pick() == "http://a"


def test_bytraffic_counts_bytes_per_lbfactor():
    sel = fastroute.load_apache(block("http://a", "http://b loadfactor=2", proxyset="lbmethod=bytraffic"), "c1")
    with sel.lease() as lease:
        assert lease.node == "http://a"
        lease.report_bytes(1000, 3000)
    with sel.lease() as lease:
        assert lease.node == "http://b"
        lease.report_bytes(2000, 5000)  # 7000 / 2 = 3500 < 4000
    assert sel.pick() == "http://b"


def test_hcheck_counts_without_reset_as_mod_proxy_hcheck():
    sel = fastroute.load_apache(block("http://a hcmethod=GET hcfails=2 hcpasses=2", "http://b"), "c1")
    sel.report_check("http://a", False)
    sel.report_check("http://a", True)  # a pass does not reset the failure count
    assert "C" not in sel.status("http://a")
    sel.report_check("http://a", False)
    assert "C" in sel.status("http://a") and sel.eligible() == ["http://b"]
    sel.report_check("http://a", True)
    sel.report_check("http://a", False)
    sel.report_check("http://a", True)
    assert "C" not in sel.status("http://a")


def test_proxyset_and_member_outside_the_block_and_proxypass_params():
    text = ("BalancerMember balancer://C1 http://a route=r1\n"
            "BalancerMember balancer://c1 http://b route=r2\n"
            "ProxySet balancer://c1 lbmethod=bybusyness\n"
            "ProxyPass /app balancer://c1/ stickysession=SID nofailover=On\n")
    sel = fastroute.load_apache(text, "balancer://c1")
    assert sel.lbmethod == "bybusyness" and sel.sticky == "SID" and sel.sticky_force
    assert sel.nodes == ("http://a", "http://b")


def test_unsupported_parameter_warns_or_raises_with_strict():
    text = block("http://a bogus=1", "http://b")
    with pytest.warns(UnsupportedDirectiveWarning, match="line 2.*bogus"):
        fastroute.load_apache(text, "c1")
    with pytest.raises(ValueError, match="line 2.*bogus.*strict"):
        fastroute.load_apache(text, "c1", strict=True)
    with pytest.warns(UnsupportedDirectiveWarning, match="line 3.*ProxyPreserveHost"):
        fastroute.load_apache(block("http://a").replace("</Proxy>", "  ProxyPreserveHost On\n</Proxy>"), "c1")


def test_heartbeat_warns_and_returns_bybusyness():
    with pytest.warns(UserWarning, match="heartbeat"):
        sel = fastroute.load_apache(block("http://a", proxyset="lbmethod=heartbeat"), "c1")
    assert sel.lbmethod == "bybusyness"


@pytest.mark.parametrize("param, rule", [("lbset=100", "between 0 and 99"), ("retry=-1", "positive"),
                                         ("status=+X", "unknown status letter"),
                                         ("hcmethod=CPING", "not \\(yet\\) implemented")])
def test_values_httpd_refuses(param, rule):
    with pytest.raises(ValueError, match=rule):
        fastroute.load_apache(block(f"http://a {param}"), "c1")


def test_missing_balancer_and_bad_arguments():
    with pytest.raises(ValueError, match="no balancer://other"):
        fastroute.load_apache(block("http://a"), "other")
    with pytest.raises(TypeError, match="text"):
        fastroute.load_apache(b"<Proxy>", "c1")
    with pytest.raises(TypeError, match="members\\[0\\]"):
        HttpdBalancer(["http://a"])
    with pytest.raises(ValueError, match="at least one"):
        HttpdBalancer([])
    with pytest.raises(ValueError, match="duplicate"):
        HttpdBalancer([HttpdMember("a"), HttpdMember("a")])
    sel = fastroute.load_apache(block("http://a"), "c1")
    with pytest.raises(ValueError, match="not a member"):
        sel.release("http://zz")
    with pytest.raises(TypeError, match="ok"):
        sel.release("http://a", ok=1)


def test_hcexpr_is_kept_and_reported_not_enforced():
    with pytest.warns(UserWarning, match="hcexpr.*not enforced"):
        sel = fastroute.load_apache(block("http://a hcmethod=GET hcexpr=ok200"), "c1")
    assert sel.not_enforced and sel.hcheck["http://a"]["hcexpr"] == "ok200"


def test_errors_and_warnings_never_hold_a_card_number():
    from tests.test_card_number_leaks import PANS, leaked

    pan = PANS[0]
    attempts = [
        lambda: fastroute.load_apache(block(f"http://a loadfactor={pan}"), "c1"),
        lambda: fastroute.load_apache(block(f"http://a route={pan}{pan}{pan}{pan}"), "c1"),
        lambda: fastroute.load_apache(block(f"http://a {pan}=1"), "c1", strict=True),
        lambda: fastroute.load_apache(block("http://a"), pan),
        lambda: fastroute.load_apache(block(f"http://a hcmethod={pan}"), "c1"),
        lambda: fastroute.load_apache(block("http://a", proxyset=f"lbmethod={pan}"), "c1"),
        lambda: fastroute.load_apache(block("http://a"), "c1").release(pan),
        lambda: fastroute.load_apache(block("http://a"), "c1").set_status("http://a", pan),
        lambda: fastroute.load_apache(block(f"http://{pan}"), "c1").set_status(f"http://{pan}", "+Q"),
    ]
    messages = []
    for attempt in attempts:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises((ValueError, TypeError)) as info:
                attempt()
        messages += [str(info.value)] + [str(w.message) for w in caught]
    for text in messages:
        assert leaked(text) == [], text


HTTPD_CONF = """\
<Proxy "balancer://app">
  BalancerMember http://10.0.0.1:8080 route=r1
  BalancerMember http://10.0.0.2:8080 route=r2 loadfactor=2
  BalancerMember http://10.0.0.3:8080 route=r3 status=+D redirect=r1
  BalancerMember http://10.0.0.4:8080 route=r4 status=+H
  ProxySet stickysession=JSESSIONID|jsessionid
</Proxy>
<Proxy "balancer://plain">
  BalancerMember http://10.0.0.1:8080
</Proxy>
"""


def test_cli_route_by_sticky_session_matches_the_balancer(tmp_path, capsys):
    import csv

    from fastroute import cli

    conf = tmp_path / "httpd.conf"
    conf.write_text(HTTPD_CONF)
    keys = ["abc.r1", "def.r2", "ghi.r3", "x.r4", "q.r2"]
    (tmp_path / "in.csv").write_text("session\n" + "".join(k + "\n" for k in keys))
    out = tmp_path / "out.csv"
    assert cli.main(["route", str(tmp_path / "in.csv"), "--cluster", f"{conf}:app", "--key", "session",
                     "-o", str(out)]) == 0
    routed = [row["node"] for row in csv.DictReader(out.open())]
    # r3's member is disabled: its redirect r1; r4 is a hot standby's route, found in the second pass
    assert routed == ["http://10.0.0.1:8080", "http://10.0.0.2:8080", "http://10.0.0.1:8080",
                      "http://10.0.0.4:8080", "http://10.0.0.2:8080"]
    sel = fastroute.load_apache(HTTPD_CONF, "app")
    assert routed == [sel.pick(cookie=f"JSESSIONID={k}") for k in keys]


def test_cli_route_refuses_request_time_balancers_and_unrouted_keys(tmp_path, capsys):
    from fastroute import cli

    conf = tmp_path / "httpd.conf"
    conf.write_text(HTTPD_CONF)
    # "x.y.r4": the route is everything after the first '.', "y.r4", which no member has
    (tmp_path / "in.csv").write_text("session\nabc.r1\nx.y.r4\n")
    base = ["route", str(tmp_path / "in.csv"), "--key", "session", "-o", str(tmp_path / "o.csv")]
    assert cli.main([*base, "--cluster", f"{conf}:plain"]) == 1
    assert "request-time balancer" in capsys.readouterr().err
    assert cli.main([*base, "--cluster", f"{conf}:app"]) == 1
    err = capsys.readouterr().err
    assert "no route of a usable member" in err and "y.r4" not in err
    (tmp_path / "in.csv").write_text("session\nabc.r1\nnoroute\n")
    assert cli.main([*base, "--cluster", f"{conf}:app"]) == 1
    assert "no route of a usable member" in capsys.readouterr().err


def test_pickled_balancer_continues_the_same_sequence():
    import pickle

    sel = fastroute.load_apache(block("http://a", "http://b loadfactor=2", "http://c status=+H",
                                      proxyset="lbmethod=bybusyness"), "c1")
    held = sel.acquire()
    picks(sel, 5)
    copy = pickle.loads(pickle.dumps(sel))
    assert picks(copy, 30) == picks(sel, 30)
    copy.release(held)
    sel.release(held)
    assert copy.busy(held) == sel.busy(held) == 0


def test_threads_picking_during_status_changes_keep_counts_consistent():
    import threading

    sel = fastroute.load_apache(block(*(f"http://m{i} loadfactor={1 + i % 3}" for i in range(6)),
                                      proxyset="lbmethod=bybusyness"), "c1")
    errors = []

    def worker():
        try:
            for _ in range(2000):
                with sel.lease() as lease:
                    assert lease.node in sel.nodes
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def flipper():
        for i in range(500):
            sel.set_status(f"http://m{i % 5}", "+D" if i % 2 == 0 else "-D")

    threads = [threading.Thread(target=worker) for _ in range(4)] + [threading.Thread(target=flipper)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [sel.busy(n) for n in sel.nodes] == [0] * 6
    # lbstatus is conserved by byrequests/bybusyness: every pick adds and removes the same total
    assert sum(sel.lbstatus(n) for n in sel.nodes) == 0


def test_sticky_route_placement_pickles_and_routes_the_same():
    import pickle

    from fastroute.placement import HttpdStickyRoutes

    table = HttpdStickyRoutes([("http://a", "r1", "", True, False), ("http://b", "r2", "r1", False, False)])
    copy = pickle.loads(pickle.dumps(table))
    keys = ["x.r1", "y.r2", "z.r1"]
    assert copy.route(keys).tolist() == table.route(keys).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="position 1 of its batch"):
        table.route(["x.r1", "nothing"])
