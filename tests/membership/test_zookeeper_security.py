# SPDX-License-Identifier: Apache-2.0
"""ZooKeeper access control (digest ACLs) and TLS against a real server (docs/cluster.md §9).

One server per module serves both the plain and the TLS port, with a CA and server
certificate made by openssl at the start. Identities: a writer, a reader and
an unauthenticated client; a writer user with a wrong password is a fourth.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import pickle
import ssl
import subprocess
import sys
import threading
import warnings

import pytest

import fastroute
from fastroute.membership import (CoordinatorPermissionError, CoordinatorTLSError, Member, ZooKeeperACL,
                                  ZooKeeperAuth, ZooKeeperCoordinator, ZooKeeperMembership, ZooKeeperTLS,
                                  follow_router)
from fastroute.membership.zk_security import zookeeper_settings

from .._internals import zookeeper_socket
from .._zookeeper import ZooKeeperServer, make_test_pki

WRITER_PASSWORD = "w-Secret-7f3a9c"  # distinctive, so a leak scan cannot miss it
READER_PASSWORD = "r-Secret-52be1d"
SESSION_S = 2.0
ROUTE_KEYS = [f"card-{i}" for i in range(200)]


def reference_digest(user: str, password: str) -> str:
    # ZooKeeper Administrator's Guide, digest scheme: base64(sha1("user:password")),
    # cross-checked against kazoo's make_digest_acl_credential below
    return base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory, pki):
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper-tls"), tls=pki)
    server.start()
    yield server
    server.stop()



@pytest.fixture
def writer():
    return ZooKeeperAuth("writer", WRITER_PASSWORD, source="test")


@pytest.fixture
def reader():
    return ZooKeeperAuth("router", READER_PASSWORD, source="test")


@pytest.fixture
def acl(writer, reader):
    return ZooKeeperACL([writer], [reader])


@pytest.fixture
def open_coordinators():
    made = []

    def make(*args, **kwargs):
        coord = ZooKeeperCoordinator(*args, session_timeout=SESSION_S, **kwargs)
        made.append(coord)
        return coord

    yield make
    for coord in reversed(made):
        coord.close()


# -- settings, without a server ---------------------------------------------------------------

def test_auth_from_env_and_file(monkeypatch, tmp_path):
    monkeypatch.setenv("FR_TEST_ZK_AUTH", f"writer:{WRITER_PASSWORD}")
    auth = ZooKeeperAuth.from_env("FR_TEST_ZK_AUTH")
    assert auth.user == "writer"
    from kazoo.security import make_digest_acl_credential

    assert auth.digest_id() == f"writer:{reference_digest('writer', WRITER_PASSWORD)}"
    assert auth.digest_id() == make_digest_acl_credential("writer", WRITER_PASSWORD)
    for text in (repr(auth), str(auth), repr(ZooKeeperACL([auth]))):
        assert WRITER_PASSWORD not in text and reference_digest("writer", WRITER_PASSWORD) not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(auth)

    secret = tmp_path / "zk-writer"
    secret.write_text(f"writer:{WRITER_PASSWORD}\n")
    secret.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ZooKeeperAuth.from_file(secret) == auth
    secret.chmod(0o640)
    with pytest.warns(UserWarning, match="zk_auth_file: .* readable by group or others"):
        ZooKeeperAuth.from_file(secret)


def test_auth_bad_input_names_the_setting_and_hides_the_value(monkeypatch, tmp_path):
    monkeypatch.delenv("FR_TEST_ZK_MISSING", raising=False)
    with pytest.raises(ValueError, match="zk_auth_env: environment variable 'FR_TEST_ZK_MISSING' is not set"):
        ZooKeeperAuth.from_env("FR_TEST_ZK_MISSING")
    monkeypatch.setenv("FR_TEST_ZK_AUTH", WRITER_PASSWORD)  # no "user:" part
    with pytest.raises(ValueError, match="zk_auth_env: .* must hold USER:PASSWORD") as err:
        ZooKeeperAuth.from_env("FR_TEST_ZK_AUTH")
    assert WRITER_PASSWORD not in str(err.value)
    with pytest.raises(ValueError, match="zk_auth_file: cannot read .*No such file"):
        ZooKeeperAuth.from_file(tmp_path / "absent")
    with pytest.raises(ValueError, match="auth: password for user 'w' must be a non-empty str"):
        ZooKeeperAuth("w", b"bytes")
    # a password typed where a digest id belongs is refused without being shown
    with pytest.raises(ValueError, match="acl.readers\\[0\\]: expected a ZooKeeperAuth or a digest id") as err:
        ZooKeeperACL([ZooKeeperAuth("w", "x")], [f"router:{READER_PASSWORD}"])
    assert READER_PASSWORD not in str(err.value)
    with pytest.raises(TypeError, match="acl.writers: expected a list or tuple, got an unordered set"):
        ZooKeeperACL({ZooKeeperAuth("w", "x")})
    with pytest.raises(ValueError, match="acl.writers: at least one writer"):
        ZooKeeperACL([])
    with pytest.raises(ValueError, match="acl: needs auth="):
        ZooKeeperCoordinator("127.0.0.1:1", "c", acl=ZooKeeperACL([ZooKeeperAuth("w", "x")]))


def test_settings_table_takes_credentials_only_by_reference(monkeypatch, tmp_path):
    ca, cert = tmp_path / "ca.pem", tmp_path / "client.pem"  # existence is all these checks read
    ca.write_text("x")
    cert.write_text("x")
    with pytest.raises(ValueError, match="unknown keys \\['password'\\] \\(credentials only by reference"):
        zookeeper_settings({"hosts": "h:1", "password": WRITER_PASSWORD})
    with pytest.raises(ValueError, match="give auth_env or auth_file, not both"):
        zookeeper_settings({"auth_env": "A", "auth_file": "/x"})
    with pytest.raises(ValueError, match="tls_ca: '.*absent.pem' is not a readable file"):
        zookeeper_settings({"tls": {"ca": str(tmp_path / "absent.pem")}})
    with pytest.raises(ValueError, match="tls_cert, tls_key: give both"):
        ZooKeeperTLS(ca, cert=cert)
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("hello\n")
    with pytest.raises(ValueError, match="tls_ca: '.*not-a-ca.pem' is not a PEM CA bundle"):
        ZooKeeperCoordinator("127.0.0.1:1", "c", tls=ZooKeeperTLS(not_pem))
    monkeypatch.setenv("FR_TEST_ZK_AUTH", f"writer:{WRITER_PASSWORD}")
    digest = ZooKeeperAuth("router", READER_PASSWORD).digest_id()
    got = zookeeper_settings({"hosts": "h:1", "auth_env": "FR_TEST_ZK_AUTH",
                              "acl": {"writers": [ZooKeeperAuth.from_env("FR_TEST_ZK_AUTH").digest_id()],
                                      "readers": [digest]},
                              "tls": {"ca": str(ca)}})
    assert got["auth"].user == "writer" and got["acl"].reader_users == ("router",)
    assert got["tls"].ca == str(ca) and got["tls"].check_hostname is True


# -- ACLs on the real server -------------------------------------------------------------------

def expected_routes(weights: dict[str, float]) -> list[str]:
    table = fastroute.Rendezvous(list(weights), list(weights.values()))
    return [table.get_node(k) for k in ROUTE_KEYS]


def assert_denied(excinfo, operation: str, path_part: str) -> None:
    err = excinfo.value
    assert isinstance(err, PermissionError) and isinstance(err, CoordinatorPermissionError)
    assert err.operation == operation and path_part in err.path
    assert f"zookeeper {operation} " in str(err) and err.path in str(err) and "permission denied" in str(err)
    assert WRITER_PASSWORD not in str(err) and READER_PASSWORD not in str(err)


@pytest.fixture
def secured(zookeeper, cluster, writer, acl, open_coordinators):
    """A namespace made by the writer: two members and a campaign for shard-0."""
    coord = open_coordinators(zookeeper.hosts, cluster, auth=writer, acl=acl)
    coord.register(Member("n1", 1.0))
    coord.register(Member("n2", 2.0))
    leading = threading.Event()
    campaign = coord.campaign("shard-0", "n1", lambda token: token is not None and leading.set())
    assert leading.wait(10)
    yield coord
    campaign.close()


@pytest.mark.integration
@pytest.mark.parametrize("who", ["unauthenticated", "reader", "wrong-password"])
def test_only_the_writer_may_register_change_lock_or_campaign(zookeeper, cluster, secured, who, open_coordinators):
    auth = {"unauthenticated": None, "reader": ZooKeeperAuth("router", READER_PASSWORD),
            "wrong-password": ZooKeeperAuth("writer", "not-the-password")}[who]
    coord = open_coordinators(zookeeper.hosts, cluster, auth=auth)
    with pytest.raises(PermissionError) as err:
        coord.register(Member("rogue", 100.0))
    assert_denied(err, "register", f"{cluster}/members/rogue")
    with pytest.raises(PermissionError) as err:
        with coord.change_membership(timeout=5) as change:
            change.set_weight("n1", 50.0)
    assert_denied(err, "lock", f"{cluster}/locks/membership")
    with pytest.raises(PermissionError) as err:
        with coord.lock("deploy", timeout=5):
            pass
    assert_denied(err, "lock", f"{cluster}/locks/deploy")
    with pytest.raises(PermissionError) as err:
        coord.campaign("shard-0", "rogue", lambda token: None)
    assert_denied(err, "campaign", f"{cluster}/elections/shard-0")
    if who == "wrong-password":
        assert "digest user 'writer'" in str(err.value) and "wrong password" in str(err.value)
    if who == "unauthenticated":
        assert "unauthenticated client" in str(err.value) and "--zk-auth-env" in str(err.value)
        with pytest.raises(PermissionError) as err:  # world has no READ either
            ZooKeeperMembership(coord)
        assert_denied(err, "read", f"{cluster}/members")
    # nothing changed: the writer still sees its own two members, weights untouched, n1 leading
    with ZooKeeperMembership(secured) as view:
        snap = view.snapshot()
    assert [(m.name, m.weight) for m in snap.members] == [("n1", 1.0), ("n2", 2.0)]
    assert secured.contenders(secured.election_path("shard-0"))[0][2] == "n1"


@pytest.mark.integration
def test_writer_changes_and_reader_routers_follow(zookeeper, cluster, secured, reader, open_coordinators):
    router_coord = open_coordinators(zookeeper.hosts, cluster, auth=reader)
    membership = ZooKeeperMembership(router_coord, refresh_interval=0.2)
    leaders = []
    watch = router_coord.watch_leader("shard-0", lambda leader, token: leaders.append(leader))
    try:
        router = fastroute.Router(fastroute.JumpHash(["x"]))
        follow_router(membership, router, algorithm="rendezvous")
        membership.wait_for(lambda s: s.nodes == ("n1", "n2"))
        assert [router.get_node(k) for k in ROUTE_KEYS] == expected_routes({"n1": 1.0, "n2": 2.0})
        assert leaders[-1] == "n1"

        with secured.change_membership(timeout=5) as change:  # the writer may change weights
            change.set_weight("n2", 5.0)
        secured.register(Member("n3", 1.0))
        with secured.lock("deploy", timeout=5) as token:
            assert token.value > 0
        membership.wait_for(lambda s: s.nodes == ("n1", "n2", "n3") and s.member("n2").weight == 5.0)
        assert [router.get_node(k) for k in ROUTE_KEYS] == expected_routes({"n1": 1.0, "n2": 5.0, "n3": 1.0})
        # every znode the writer made carries exactly the configured ACL
        for path in (secured.base, secured.members_path, secured.member_path("n3"), f"{secured.base}/locks/deploy"):
            acls, _ = secured.client.get_acls(path)
            assert sorted((a.id.scheme, a.id.id.partition(":")[0], a.perms) for a in acls) == \
                [("digest", "router", 1), ("digest", "writer", 31)], path
    finally:
        watch.close()
        membership.close()


@pytest.mark.integration
def test_znodes_made_before_the_acl_stay_open_until_secured(zookeeper, cluster, writer, acl, open_coordinators,
                                                            caplog):
    # ZooKeeper ACLs are not inherited: a namespace first made without ACLs stays world-writable
    # (own root: the other tests' root was made by the writer, so nobody else can add to it)
    root = f"/legacy-{cluster}"
    open_coord = open_coordinators(zookeeper.hosts, cluster, root=root)
    guarded = open_coordinators(zookeeper.hosts, cluster, auth=writer, acl=acl, root=root)
    assert guarded.open_znodes() == [root, guarded.base, guarded.members_path]
    warned = [r.getMessage() for r in caplog.records if "can be changed by anyone" in r.getMessage()]
    assert len(warned) == 1 and guarded.members_path in warned[0] and "secure_tree()" in warned[0]
    open_coord.register(Member("early-rogue", 1.0))  # the pitfall: still possible
    changed = guarded.secure_tree()
    assert guarded.members_path in changed and guarded.open_znodes() == []
    with pytest.raises(PermissionError) as err:
        open_coord.register(Member("late-rogue", 1.0))
    assert_denied(err, "register", "members/late-rogue")


# -- TLS ---------------------------------------------------------------------------------------

@pytest.mark.integration
def test_tls_connects_with_a_verified_certificate(zookeeper, cluster, pki, writer, acl, reader, open_coordinators):
    tls = ZooKeeperTLS(pki.ca)
    coord = open_coordinators(zookeeper.secure_hosts, cluster, auth=writer, acl=acl, tls=tls)
    assert coord.connected and "tls" in repr(coord)
    coord.register(Member("tls-1", 1.0))
    router_coord = open_coordinators(zookeeper.secure_hosts, cluster, auth=reader, tls=tls)
    with ZooKeeperMembership(router_coord) as view:
        assert view.snapshot().nodes == ("tls-1",)
    # the session really runs over TLS, to the secure port
    sock = zookeeper_socket(coord)
    assert isinstance(sock, ssl.SSLSocket) and sock.version().startswith("TLS")
    assert sock.getpeername()[1] == zookeeper.secure_port


@pytest.mark.integration
def test_tls_refuses_a_certificate_from_another_ca(zookeeper, cluster, pki, open_coordinators):
    with pytest.raises(CoordinatorTLSError, match="tls_ca: the certificate of zookeeper 127.0.0.1:\\d+ does not "
                                                  "verify against '.*other-ca.pem'"):
        open_coordinators(zookeeper.secure_hosts, cluster, tls=ZooKeeperTLS(pki.other_ca))


@pytest.mark.integration
def test_tls_refuses_a_certificate_for_another_host_name(zookeeper, cluster, pki, open_coordinators):
    # the certificate names IP 127.0.0.1 only; "localhost" reaches the same server
    with pytest.raises(CoordinatorTLSError, match="tls_check_hostname: the certificate of zookeeper "
                                                  "localhost:\\d+ does not name 'localhost'"):
        open_coordinators(f"localhost:{zookeeper.secure_port}", cluster, tls=ZooKeeperTLS(pki.ca))


@pytest.mark.integration
def test_tls_to_a_plain_port_fails_clearly(zookeeper, cluster, pki, open_coordinators):
    with pytest.raises(CoordinatorTLSError, match="tls: TLS handshake with zookeeper 127.0.0.1:\\d+ failed .*"
                                                  "secureClientPort"):
        open_coordinators(zookeeper.hosts, cluster, tls=ZooKeeperTLS(pki.ca), connect_timeout=5)


# -- credentials never leak --------------------------------------------------------------------

def fastroute_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastroute.cli", *args], capture_output=True, text=True,
                          timeout=60, env=env)


@pytest.mark.integration
def test_credentials_never_appear_in_logs_errors_or_cli_output(zookeeper, cluster, pki, writer, reader, acl,
                                                                  caplog, tmp_path, open_coordinators):
    secrets = [WRITER_PASSWORD, READER_PASSWORD, reference_digest("writer", WRITER_PASSWORD),
               reference_digest("router", READER_PASSWORD)]
    texts = []
    kazoo_log = logging.getLogger("kazoo")
    old_level = kazoo_log.level
    kazoo_log.setLevel(1)  # kazoo logs every request at DEBUG, the Auth packet included
    caplog.set_level(1)
    try:
        tls = ZooKeeperTLS(pki.ca)
        coord = open_coordinators(zookeeper.secure_hosts, cluster, auth=writer, acl=acl, tls=tls)
        texts.append(repr(coord))
        coord.register(Member("n1", 1.0))
        with coord.change_membership(timeout=5) as change:
            change.set_weight("n1", 2.0)
        coord.secure_tree()
        wrong = open_coordinators(zookeeper.hosts, cluster, auth=ZooKeeperAuth("writer", READER_PASSWORD))
        for attempt in (lambda: wrong.register(Member("x", 1.0)), lambda: wrong.lock("l", timeout=5).acquire()):
            with pytest.raises(PermissionError) as err:
                attempt()
            texts += [str(err.value), repr(err.value)]
        reader_coord = open_coordinators(zookeeper.hosts, cluster, auth=reader)
        with ZooKeeperMembership(reader_coord) as view:
            texts.append(repr(view.snapshot()))
    finally:
        kazoo_log.setLevel(old_level)
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    # the scan can fail: kazoo's request log (where the Auth packet goes) was captured
    assert "Sending request" in logged and "scheme='digest'" in logged
    # kazoo also logs the session password (level 5), which would let anyone resume the session
    assert "session_passwd: ***" in logged and "session_passwd: b'" not in logged

    env = {**os.environ, "FR_TEST_ZK_WRITER": f"writer:{WRITER_PASSWORD}", "FR_TEST_ZK_READER":
           f"router:{READER_PASSWORD}"}
    acl_file = tmp_path / "acl.toml"
    acl_file.write_text(f'writers = ["{writer.digest_id()}"]\nreaders = ["{reader.digest_id()}"]\n')
    zk = ["--zk", zookeeper.secure_hosts, "--cluster", cluster, "--zk-tls-ca", str(pki.ca)]
    runs = [
        fastroute_cli("cluster", "set", *zk, "--zk-auth-env", "FR_TEST_ZK_WRITER", "--zk-acl-file", str(acl_file),
                      "--name", "n1", "--weight", "3", env=env),
        fastroute_cli("cluster", "status", *zk, "--zk-auth-env", "FR_TEST_ZK_READER", env=env),
        fastroute_cli("cluster", "status", *zk, "--zk-auth-env", "FR_TEST_ZK_READER", "--json", env=env),
        fastroute_cli("cluster", "set", *zk, "--zk-auth-env", "FR_TEST_ZK_READER", "--name", "n1", "--weight", "9",
                      env=env),
        fastroute_cli("cluster", "secure", *zk, "--zk-auth-env", "FR_TEST_ZK_WRITER", "--zk-acl-file",
                      str(acl_file), env=env),
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 1, 0], [r.stderr for r in runs]
    assert "updated 'n1': weight 3" in runs[0].stdout
    assert "n1" in runs[1].stdout and '"weight": 3.0' in runs[2].stdout
    assert "fastroute cluster: error: zookeeper lock" in runs[3].stderr and "permission denied" in runs[3].stderr
    assert "digest user 'router'" in runs[3].stderr
    texts += [r.stdout + r.stderr for r in runs]

    everything = logged + "\n".join(texts)
    for secret in secrets:
        assert secret not in everything


@pytest.mark.integration
def test_a_change_to_a_member_the_acl_does_not_grant_is_refused_in_the_transaction(
        zookeeper, cluster, writer, reader, open_coordinators):
    # two writers share the namespace; n9's znode is the second writer's, the first may only read it
    other = ZooKeeperAuth("writer2", "w2-" + WRITER_PASSWORD)
    first = open_coordinators(zookeeper.hosts, cluster, auth=writer, acl=ZooKeeperACL([writer, other], [reader]))
    second = open_coordinators(zookeeper.hosts, cluster, auth=other, acl=ZooKeeperACL([other], [writer]))
    second.register(Member("n9", 1.0))
    with first.change_membership(timeout=5) as change:  # the lock is first's to take
        with pytest.raises(PermissionError) as err:
            change.set_weight("n9", 7.0)
    assert_denied(err, "update", f"{cluster}/members/n9")
    assert "digest user 'writer'" in str(err.value)
    assert second.client.get(second.member_path("n9"))[1].version == 0  # unchanged


@pytest.mark.integration
def test_cli_reads_settings_from_a_config_file(zookeeper, cluster, pki, writer, reader, tmp_path):
    secret = tmp_path / "zk-writer"
    secret.write_text(f"writer:{WRITER_PASSWORD}\n")
    secret.chmod(0o600)
    config = tmp_path / "zk.toml"
    config.write_text(f'[zookeeper]\nhosts = "{zookeeper.secure_hosts}"\ncluster = "{cluster}"\n'
                      f'auth_file = "{secret}"\n'
                      f'[zookeeper.acl]\nwriters = ["{writer.digest_id()}"]\nreaders = ["{reader.digest_id()}"]\n'
                      f'[zookeeper.tls]\nca = "{pki.ca}"\n')
    env = dict(os.environ)
    join = fastroute_cli("cluster", "join", "--zk-config", str(config), "--name", "c1", "--duration", "0", env=env)
    assert join.returncode == 0, join.stderr
    assert "joined" in join.stdout and "left" in join.stdout
    status = fastroute_cli("cluster", "status", "--zk-config", str(config), "--json", env=env)
    assert status.returncode == 0, status.stderr
    # the namespace the CLI made carries the ACL from the file
    with ZooKeeperCoordinator(zookeeper.hosts, cluster, auth=reader) as coord:
        acls, _ = coord.client.get_acls(coord.members_path)
    assert sorted(a.id.id.partition(":")[0] for a in acls) == ["router", "writer"]

    env.pop("FR_TEST_ZK_UNSET", None)
    missing = fastroute_cli("cluster", "status", "--zk-config", str(config), "--zk-auth-env", "FR_TEST_ZK_UNSET",
                            env=env)
    assert missing.returncode == 1
    assert "zk_auth_env: environment variable 'FR_TEST_ZK_UNSET' is not set" in missing.stderr
    wrong_ca = fastroute_cli("cluster", "status", "--zk-config", str(config), "--zk-tls-ca", str(pki.other_ca),
                             env=env)
    assert wrong_ca.returncode == 1 and "error: tls_ca: the certificate of zookeeper" in wrong_ca.stderr
    for run in (join, status, missing, wrong_ca):
        assert WRITER_PASSWORD not in run.stdout + run.stderr
        assert reference_digest("writer", WRITER_PASSWORD) not in run.stdout + run.stderr


@pytest.mark.integration
def test_membership_opens_its_own_authenticated_tls_coordinator(zookeeper, cluster, pki, writer, reader,
                                                                open_coordinators):
    writer_coord = open_coordinators(zookeeper.hosts, cluster, auth=writer, acl=ZooKeeperACL([writer], [reader]))
    writer_coord.register(Member("m1", 1.0))
    with ZooKeeperMembership(zookeeper.secure_hosts, cluster, auth=reader, tls=ZooKeeperTLS(pki.ca)) as view:
        assert view.snapshot().nodes == ("m1",)
        assert isinstance(zookeeper_socket(view.coordinator), ssl.SSLSocket)
    with pytest.raises(ValueError, match="auth, acl, tls: give them to the ZooKeeperCoordinator"):
        ZooKeeperMembership(writer_coord, auth=reader)


def test_cli_without_a_connect_string_is_a_usage_error():
    run = fastroute_cli("cluster", "status", "--zk-auth-env", "FR_TEST_ZK_UNSET", env=dict(os.environ))
    assert run.returncode == 2
    assert "error: --zk: give the ZooKeeper connect string (or hosts = ... in --zk-config)" in run.stderr


@pytest.fixture(scope="module")
def zookeeper_mtls(tmp_path_factory, pki):
    """Requires client certificates, over TLS 1.3 (where a refused client certificate
    arrives after the client's handshake has finished)."""
    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper-mtls"), tls=pki, client_auth="need",
                             tls_protocol="TLSv1.3")
    server.start()
    yield server
    server.stop()


@pytest.mark.integration
def test_client_certificate_for_a_server_that_requires_one(zookeeper_mtls, cluster, pki, writer, open_coordinators):
    with pytest.raises(CoordinatorTLSError, match="tls: TLS handshake with zookeeper 127.0.0.1:\\d+ failed .*"
                                                  "client certificate \\(tls_cert, tls_key\\)"):
        open_coordinators(zookeeper_mtls.secure_hosts, cluster, tls=ZooKeeperTLS(pki.ca), connect_timeout=5)
    coord = open_coordinators(zookeeper_mtls.secure_hosts, cluster, auth=writer,
                              tls=ZooKeeperTLS(pki.ca, cert=pki.client_cert, key=pki.client_key))
    coord.register(Member("mtls-1", 1.0))
    assert zookeeper_socket(coord).version() == "TLSv1.3"
    with ZooKeeperMembership(coord) as view:
        assert view.snapshot().nodes == ("mtls-1",)


@pytest.mark.parametrize("option", ["--zk-config", "--zk-acl-file"])
def test_cli_unreadable_or_invalid_toml_names_the_option_and_the_file(tmp_path, option):
    missing, broken = tmp_path / "missing.toml", tmp_path / "broken.toml"
    broken.write_text("hosts = [unclosed\n")
    for path, rule in ((missing, "cannot read"), (broken, "is not valid TOML")):
        args = ["cluster", "status", option, str(path)] + (["--zk", "127.0.0.1:1"] if option == "--zk-acl-file" else [])
        run = fastroute_cli(*args, env=dict(os.environ))
        assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
        assert f"{option}: {str(path)!r} {rule}" in run.stderr or f"{option}: {rule} {str(path)!r}" in run.stderr, run.stderr
