# SPDX-License-Identifier: Apache-2.0
"""`fastroute cluster status|join|leave|set --zk HOST:PORT | --etcd HOST:PORT`: membership
on ZooKeeper or etcd.

join   registers this process as a member (ephemeral znode) and stays until
       SIGINT/SIGTERM (or --duration), then leaves; ZooKeeper removes the member
       by itself if the process dies (after the session timeout).
leave  removes a member, as an operator, under the cluster's membership lock
       (fenced: the change is rejected if the lock is lost meanwhile).
set    changes a member's weight/state/address/metadata, also under the lock.
status prints members, shard primaries and lock holders (--json for machines).
secure sets the configured ACL on the namespace's existing znodes (ACLs are not
       inherited: znodes made before ACLs were configured stay open otherwise).

Access control and TLS (docs/cluster.md §9): --zk-auth-env NAME / --zk-auth-file PATH
name where the `USER:PASSWORD` digest credential is (never the credential itself);
--zk-acl-file PATH is a TOML file with `writers`/`readers` digest ids; --zk-tls-ca etc.
connect to the secureClientPort. --zk-config PATH holds all of these in a [zookeeper]
table; flags override it.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from .redact import quoted

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _UsageError(ValueError):
    """A missing or conflicting option (exit status 2, as argparse gives)."""


def _metadata(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--meta: expected KEY=VALUE, got {quoted(item)}")
        out[key] = value
    return out


def _read_toml(option: str, path: str) -> dict:
    """A TOML file named by a CLI option; unreadable or invalid: ValueError naming both."""
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ValueError(f"{option}: cannot read {path!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{option}: {path!r} is not valid TOML: {exc}") from None


def _settings(args) -> dict:
    """Coordinator keyword arguments from --zk-config, then the flags."""
    from .membership.zk_security import ZooKeeperACL, ZooKeeperAuth, ZooKeeperTLS, zookeeper_settings

    settings: dict = {}
    if args.zk_config:
        doc = _read_toml("--zk-config", args.zk_config)
        table = doc["zookeeper"] if "zookeeper" in doc else doc
        settings = zookeeper_settings(table, source=f"--zk-config {args.zk_config!r}")
    if args.zk:
        settings["hosts"] = args.zk
    if "hosts" not in settings:
        raise _UsageError("--zk: give the ZooKeeper connect string (or hosts = ... in --zk-config)")
    if args.cluster is not None:
        settings["cluster"] = args.cluster
    settings.setdefault("cluster", "default")
    settings["session_timeout"] = args.session_timeout if args.session_timeout is not None else \
        settings.get("session_timeout", 10.0)
    settings["connect_timeout"] = args.connect_timeout if args.connect_timeout is not None else \
        settings.get("connect_timeout", 10.0)
    if args.zk_auth_env:
        settings["auth"] = ZooKeeperAuth.from_env(args.zk_auth_env)
    elif args.zk_auth_file:
        settings["auth"] = ZooKeeperAuth.from_file(args.zk_auth_file)
    if args.zk_acl_file:
        settings["acl"] = ZooKeeperACL.from_dict(_read_toml("--zk-acl-file", args.zk_acl_file), source=f"--zk-acl-file {args.zk_acl_file!r}")
    if args.zk_tls or args.zk_tls_ca or args.zk_tls_cert or args.zk_tls_key:
        base = settings.get("tls")
        settings["tls"] = ZooKeeperTLS(args.zk_tls_ca or (base.ca if base else None),
                                       cert=args.zk_tls_cert or (base.cert if base else None),
                                       key=args.zk_tls_key or (base.key if base else None),
                                       check_hostname=base.check_hostname if base else True)
    return settings


def _coordinator(args):
    if args.etcd:
        from .membership.etcd import EtcdCoordinator

        zk_only = [flag for flag, value in (("--zk-config", args.zk_config), ("--zk-auth-env", args.zk_auth_env),
                                            ("--zk-auth-file", args.zk_auth_file), ("--zk-acl-file", args.zk_acl_file),
                                            ("--zk-tls", args.zk_tls), ("--zk-tls-ca", args.zk_tls_ca),
                                            ("--zk-tls-cert", args.zk_tls_cert), ("--zk-tls-key", args.zk_tls_key))
                   if value]
        if zk_only:
            raise _UsageError(f"{zk_only[0]}: a ZooKeeper setting, not valid with --etcd")
        if args.cluster is None:
            args.cluster = "default"
        return EtcdCoordinator(args.etcd, args.cluster,
                               lease_ttl=10.0 if args.session_timeout is None else args.session_timeout,
                               connect_timeout=10.0 if args.connect_timeout is None else args.connect_timeout)
    from .membership.zookeeper import ZooKeeperCoordinator

    settings = _settings(args)
    args.zk, args.cluster = settings["hosts"], settings["cluster"]
    return ZooKeeperCoordinator(settings.pop("hosts"), settings.pop("cluster"), **settings)


def _holders(coord) -> tuple[dict, dict]:
    """Leaders and lock holders: the first contender of each election/lock."""
    leaders, locks = {}, {}
    for kind, store in (("elections", leaders), ("locks", locks)):
        if _is_etcd(coord):
            groups = [(g, [(token, who) for token, who, _ in coord.contenders(kind, g)]) for g in coord.groups(kind)]
        else:
            client, path = coord.client, f"{coord.base}/{kind}"
            with coord._permission("read", path):
                names = sorted(client.get_children(path)) if client.exists(path) else []
            groups = []
            for g in names:
                with coord._permission("read", f"{path}/{g}"):
                    groups.append((g, [(token, who) for _, _, who, token in coord.contenders(f"{path}/{g}")]))
        for group, contenders in groups:
            if contenders:
                token, who = contenders[0]
                store[group] = {"holder": who, "token": token, "waiting": len(contenders) - 1}
    return leaders, locks


def _is_etcd(coord) -> bool:
    from .membership.etcd import EtcdCoordinator

    return isinstance(coord, EtcdCoordinator)


def _status(args) -> int:
    from .membership.etcd import EtcdMembership
    from .membership.zookeeper import ZooKeeperMembership

    with _coordinator(args) as coord:
        membership = EtcdMembership(coord) if _is_etcd(coord) else ZooKeeperMembership(coord)
        snap = membership.snapshot()
        leaders, locks = _holders(coord)
        membership.close()
        if args.json:
            print(json.dumps({"cluster": args.cluster, "epoch": snap.epoch, "fingerprint": snap.fingerprint(),
                              "members": [m.to_dict() for m in snap.members], "leaders": leaders, "locks": locks},
                             sort_keys=True))
            return EXIT_OK
        print(f"cluster {args.cluster!r} on {args.etcd or args.zk}: {len(snap)} members, epoch {snap.epoch}, "
              f"fingerprint {snap.fingerprint()}")
        if snap.members:
            print(f"  {'name':<20} {'weight':>8} {'state':<9} {'address':<22} metadata")
            for m in snap.members:
                meta = ",".join(f"{k}={v}" for k, v in sorted(m.metadata.items()))
                print(f"  {m.name:<20} {m.weight:>8g} {m.state:<9} {m.address or '-':<22} {meta}")
        for title, store in (("leaders", leaders), ("locks", locks)):
            for group, info in store.items():
                print(f"  {title[:-1]} {group}: {info['holder']} (token {info['token']}, {info['waiting']} waiting)")
    return EXIT_OK


def _join(args) -> int:
    from .membership import Member

    member = Member(args.name, args.weight, args.address, args.state, _metadata(args.meta))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with _coordinator(args) as coord:
        reg = coord.register(member)
        print(f"joined {args.cluster!r} as {member.name!r} (weight {member.weight:g}, session 0x{coord.session_id:x}); "
              "leaving on SIGINT/SIGTERM", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if reg.evicted.is_set():
                print(f"{member.name!r} was removed by an operator; exiting", flush=True)
                return EXIT_OK
            stop.wait(0.2)
        reg.close()
        print(f"left {args.cluster!r}", flush=True)
    return EXIT_OK


def _leave(args) -> int:
    with _coordinator(args) as coord:
        with coord.change_membership(timeout=args.lock_timeout) as change:
            change.remove(args.name)
            print(f"removed {args.name!r} from {args.cluster!r} (lock token {change.token.value})")
    return EXIT_OK


def _set(args) -> int:
    fields = {k: v for k, v in (("weight", args.weight), ("state", args.state), ("address", args.address)) if v is not None}
    if args.meta:
        fields["metadata"] = _metadata(args.meta)
    if not fields:
        raise ValueError("set: give at least one of --weight, --state, --address, --meta")
    with _coordinator(args) as coord:
        with coord.change_membership(timeout=args.lock_timeout) as change:
            member = change.update(args.name, **fields)
            print(f"updated {member.name!r}: weight {member.weight:g}, state {member.state} "
                  f"(lock token {change.token.value})")
    return EXIT_OK


def _secure(args) -> int:
    with _coordinator(args) as coord:
        if coord.acl is None:
            raise ValueError("secure: give the writer identity (--zk-auth-env/--zk-auth-file) and the ACL "
                             "(--zk-acl-file or [zookeeper.acl] in --zk-config)")
        changed = coord.secure_tree()
        print(f"set ACL {coord.acl!r} on {len(changed)} znodes under {coord.base!r} (and {coord.root!r})")
    return EXIT_OK


def _run(func):
    def run(args) -> int:
        import logging

        from .membership.base import MembershipError

        # kazoo logs every reconnect attempt; the command reports failures itself
        logging.getLogger("kazoo").setLevel(logging.CRITICAL)

        try:
            return func(args)
        except _UsageError as exc:
            print(f"fastroute cluster: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyError as exc:
            print(f"fastroute cluster: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        except (MembershipError, TimeoutError, ValueError, TypeError, ImportError) as exc:
            print(f"fastroute cluster: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return run


def add_cluster_parser(sub) -> None:
    """Registers `fastroute cluster ...` on the main parser's subparsers."""
    cluster = sub.add_parser("cluster", help="cluster membership on ZooKeeper or etcd: status, join, leave, set")
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)

    def common(p):
        server = p.add_mutually_exclusive_group()
        server.add_argument("--zk", metavar="HOST:PORT", help="ZooKeeper connect string (or hosts in --zk-config)")
        server.add_argument("--etcd", metavar="HOST:PORT", help="etcd client endpoints (comma-separated)")
        p.add_argument("--cluster", help="cluster name (namespace), default 'default'")
        p.add_argument("--session-timeout", type=float,
                       help="ZooKeeper session timeout / etcd lease TTL, seconds (default 10)")
        p.add_argument("--connect-timeout", type=float, help="seconds (default 10)")
        p.add_argument("--zk-config", metavar="PATH", help="TOML file with a [zookeeper] table (docs/cluster.md §9)")
        auth = p.add_mutually_exclusive_group()
        auth.add_argument("--zk-auth-env", metavar="NAME",
                          help="environment variable holding the digest credential USER:PASSWORD")
        auth.add_argument("--zk-auth-file", metavar="PATH", help="file holding USER:PASSWORD (mode 600)")
        p.add_argument("--zk-acl-file", metavar="PATH",
                       help="TOML: writers = [digest ids], readers = [digest ids]: the ACL of created znodes")
        p.add_argument("--zk-tls", action="store_true", help="TLS to the secureClientPort (system trust store)")
        p.add_argument("--zk-tls-ca", metavar="PATH", help="PEM CA bundle the server certificate must verify against")
        p.add_argument("--zk-tls-cert", metavar="PATH", help="PEM client certificate (server ssl.clientAuth=need)")
        p.add_argument("--zk-tls-key", metavar="PATH", help="PEM key of --zk-tls-cert")

    status = actions.add_parser("status", help="print members, shard primaries and lock holders")
    common(status)
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(func=_run(_status))

    join = actions.add_parser("join", help="register this process as a member until SIGINT/SIGTERM")
    common(join)
    join.add_argument("--name", required=True)
    join.add_argument("--weight", type=float, default=1.0)
    join.add_argument("--address")
    join.add_argument("--state", default="up", choices=["up", "draining", "backup", "down"])
    join.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    join.add_argument("--duration", type=float, help="leave after this many seconds")
    join.set_defaults(func=_run(_join))

    leave = actions.add_parser("leave", help="remove a member (as an operator, under the membership lock)")
    common(leave)
    leave.add_argument("--name", required=True)
    leave.add_argument("--lock-timeout", type=float, default=30.0)
    leave.set_defaults(func=_run(_leave))

    setter = actions.add_parser("set", help="change a member's weight/state/address/metadata (under the lock)")
    common(setter)
    setter.add_argument("--name", required=True)
    setter.add_argument("--weight", type=float)
    setter.add_argument("--state", choices=["up", "draining", "backup", "down"])
    setter.add_argument("--address")
    setter.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="replaces the metadata")
    setter.add_argument("--lock-timeout", type=float, default=30.0)
    setter.set_defaults(func=_run(_set))

    secure = actions.add_parser("secure", help="set the configured ACL on the namespace's existing znodes")
    common(secure)
    secure.set_defaults(func=_run(_secure))
