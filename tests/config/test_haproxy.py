# SPDX-License-Identifier: Apache-2.0
"""load_haproxy: defaults, hash functions, version switch, vectors, clear errors."""
import warnings

import pytest

import fastroute

KEYS = ["hello", "txn-000001", "4111111111111111", "merchant:42", "a", "b", "c", "0", "1", "2"]


def conf(*lines, servers=("s1 127.0.0.1:18081", "s2 127.0.0.1:18082", "s3 127.0.0.1:18083")):
    return ("defaults\n    mode http\n    balance hdr(X-K)\nbackend be\n" + "".join(f"    {line}\n" for line in lines)
            + "".join(f"    server {s}\n" for s in servers))


@pytest.mark.parametrize(
    "lines, servers, expected",
    [
        # docs/algorithms.md §7.4 [V-live], HAProxy 3.5-dev5, balance hdr(X-K) from the defaults section.
        (["hash-type consistent"], None, "s2 s3 s3 s2 s3 s2 s3 s3 s3 s2"),
        (["hash-type consistent"], ("s1 127.0.0.1:18081 weight 1", "s2 127.0.0.1:18082 weight 2",
                                    "s3 127.0.0.1:18083 weight 3"), "s2 s2 s3 s2 s2 s2 s3 s3 s3 s2"),
        (["hash-type consistent"], ("s1 127.0.0.1:18081", "s2 127.0.0.1:18082 disabled", "s3 127.0.0.1:18083"),
         "s1 s3 s3 s1 s3 s3 s3 s3 s3 s3"),
        (["hash-type consistent crc32"], None, "s1 s3 s2 s1 s3 s1 s3 s2 s1 s2"),
        (["hash-type consistent"], ("s1 127.0.0.1:18081 hash-key addr-port", "s2 127.0.0.1:18082 hash-key addr-port",
                                    "s3 127.0.0.1:18083 hash-key addr-port"), "s1 s2 s3 s1 s3 s2 s1 s2 s3 s2"),
        (["hash-type map-based"], None, "s3 s2 s2 s3 s2 s3 s1 s1 s2 s3"),
        ([], ("s1 127.0.0.1:18081 weight 2", "s2 127.0.0.1:18082 weight 4", "s3 127.0.0.1:18083 weight 6"),
         "s2 s2 s3 s2 s3 s2 s3 s1 s3 s2"),
    ],
)
def test_live_derived_vectors(lines, servers, expected):
    sel = fastroute.load_haproxy(conf(*lines, servers=servers or ("s1 127.0.0.1:18081", "s2 127.0.0.1:18082",
                                                                   "s3 127.0.0.1:18083")), "be")
    assert " ".join(sel.get_node(k) for k in KEYS) == expected
    assert [sel.nodes[i] for i in sel.route(KEYS)] == expected.split()


def test_version_switch_reproduces_the_3_0_to_3_2_id_key():
    # reg-tests/balance/balance-hash-maxconn.vtc: /test-url -> srv0; unfixed 3.0-3.2 builds send it to srv1.
    text = "backend be\n    balance uri\n    hash-type consistent\n    server srv0 127.0.0.1:1\n    server srv1 127.0.0.1:2\n"
    assert fastroute.load_haproxy(text, "be", version="2.6.12").get_node("/test-url") == "srv0"
    assert fastroute.load_haproxy(text, "be", version="HAProxy version 3.1.2 2025/01/01").get_node("/test-url") == "srv1"
    assert fastroute.load_haproxy(text, "be", version="3.3.0").get_node("/test-url?x=1") == "srv0"
    assert fastroute.load_haproxy(text, "be", version="3.1.2", legacy_id_key=False).get_node("/test-url") == "srv0"


def test_balance_uri_published_vector():
    text = ("backend be\n    balance uri\n" + "".join(f"    server srv{i} 127.0.0.1:{i}\n" for i in range(1, 5)))
    sel = fastroute.load_haproxy(text, "be")
    assert [sel.get_node(u) for u in ("/url1", "/url1?ignore=this-arg", "/url2", "/url3", "/url4")] == \
        ["srv2", "srv2", "srv3", "srv4", "srv1"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("backend be\n    balance leastconnz\n    server a 1.1.1.1:1\n", "line 2: unsupported balance algorithm"),
        ("backend be\n    hash-type consistent md5\n    server a 1.1.1.1:1\n", "line 2: hash function"),
        ("backend be\n    server a 1.1.1.1:1 weight x\n", "line 2: weight must be an integer"),
        ("backend other\n    server a 1.1.1.1:1\n", "no backend or listen section 'be'"),
        ("backend be\n    balance source\n", "no server lines"),
        ("backend be\n    balance uri\n    server a host:1 hash-key guid\n", "hash-key 'guid'"),
    ],
)
def test_errors_name_the_line(text, fragment):
    with pytest.raises(ValueError) as info:
        fastroute.load_haproxy(text, "be")
    assert fragment in str(info.value)


def test_keyless_balancers_warn():
    text = "backend be\n    balance static-rr\n    server a 1.1.1.1:1 weight 2\n    server b 1.1.1.1:2\n"
    sel = fastroute.load_haproxy(text, "be")
    # By hand (§7.3): T = 3; scores (2,1) -> a; (1,2) -> a (v ties 1:1, first wins); (0,3) -> b.
    assert [sel.pick() for _ in range(6)] == ["a", "a", "b", "a", "a", "b"]
    assert isinstance(fastroute.load_haproxy(text.replace("static-rr", "roundrobin"), "be"),
                      fastroute.HAProxyRoundRobin)
    # leastconn is HAProxy's own now (docs/algorithms.md §8.6), without the old "closest balancer" warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lc = fastroute.load_haproxy(text.replace("static-rr", "leastconn"), "be")
    assert isinstance(lc, fastroute.HAProxyLeastConn) and [lc.pick() for _ in range(3)] == ["a", "b", "a"]


@pytest.mark.parametrize("seed", range(8))
def test_fwrr_matches_reference(seed):
    import random

    from tests.reference.haproxy_fwrr import FWRR

    rng = random.Random(seed)
    weights = [rng.randrange(1, 20) for _ in range(rng.randrange(1, 12))]
    names = [f"s{i}" for i in range(len(weights))]
    sel = fastroute.HAProxyRoundRobin(names, weights)
    model = FWRR(list(zip(names, weights)))
    assert [sel.pick() for _ in range(3000)] == [model.pick() for _ in range(3000)]


BOUNDED = """
backend b
    balance url_param id
    hash-type consistent
    hash-balance-factor {factor}
    server s1 127.0.0.1:1 weight 1
    server s2 127.0.0.1:2 weight 2
    server s3 127.0.0.1:3 weight 3
"""


def test_hash_balance_factor_becomes_a_bounded_load_with_haproxys_slots():
    sel = fastroute.load_haproxy(BOUNDED.format(factor=150), "b")
    assert sel.backend.hash_balance_factor == 150
    bl = sel.bounded()
    assert bl.rule == "haproxy" and float(bl.balance_factor) == 1.5
    key = "card-token-1"
    assert bl.pick(key) == sel.get_node(key)
    for _ in range(5):
        bl.acquire(key)
    # lb_chash.c with served = 5, factor 150, weights 1/2/3: tot = (6*150+99)//100 = 9,
    # per = 9 // 6 = 1, rem = 3 -> s1 1 + 3//6 = 1, s2 2 + 9//6 - 3//6 = 3, s3 3 + 18//6 - 9//6 = 5.
    assert [bl.capacity(s) for s in ("s1", "s2", "s3")] == [1, 3, 5]
    assert list(sel.replicas(key, 3))[0] == sel.get_node(key)


@pytest.mark.parametrize("factor", ["50", "100", "1.5", "abc", "4294967296"])
def test_hash_balance_factor_must_be_0_or_above_100(factor):
    with pytest.raises(ValueError, match="hash-balance-factor"):
        fastroute.load_haproxy(BOUNDED.format(factor=factor), "b")


def test_bounded_needs_a_factor_and_the_consistent_tree():
    off = fastroute.load_haproxy(BOUNDED.format(factor=0), "b")
    with pytest.raises(ValueError, match="no hash-balance-factor"):
        off.bounded()
    mapped_text = BOUNDED.format(factor=125).replace("hash-type consistent", "hash-type map-based")
    mapped = fastroute.load_haproxy(mapped_text, "b")
    with pytest.raises(ValueError, match="consistent"):
        mapped.bounded()
