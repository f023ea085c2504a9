# SPDX-License-Identifier: Apache-2.0
"""ZooKeeper backend (kazoo): live membership, operator lock, shard elections.

Layout under `<root>/<cluster>` (docs/cluster.md §3, §5):
    members/<name>        ephemeral, JSON Member (weight, address, state, metadata)
    locks/<name>/...      kazoo Lock contenders (ephemeral sequential)
    elections/<group>/... kazoo Lock contenders; the lowest one leads

Session semantics (docs/cluster.md §3, ZooKeeper FAQ): SUSPENDED keeps routing on the
last snapshot marked stale and stops acting as leader/lock holder; expiry is
decided by the server and never "recovered" from: after LOST we wait for a new
session, then re-register and re-run elections. A disconnect never publishes an
empty node set. Fencing tokens are zxids (czxid of the lock/leader znode), so
they rise from one holder to the next and are the same in every process.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..redact import quoted
from .base import (Coordinator, CoordinatorPermissionError, CoordinatorTLSError, CoordinatorUnavailable, FencedChange,
                   FencingToken, HeldLock, Member, Membership, MembershipError, OwnRegistration, RenewedLiveness,
                   Snapshot, StaleTokenError)
from .zk_security import KAZOO_LOG, REDACTOR, ZooKeeperACL, ZooKeeperAuth, ZooKeeperTLS

log = logging.getLogger("fastroute.membership.zookeeper")

CONNECTED, SUSPENDED, LOST = "connected", "suspended", "lost"


def _kazoo():
    try:
        import kazoo.client
        import kazoo.exceptions
        import kazoo.retry
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("fastroute: the ZooKeeper backend needs kazoo: pip install 'fastroute[zookeeper]'") from exc
    return kazoo


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or "/" in value or "\x00" in value or value in (".", ".."):
        raise ValueError(f"{what}: must be a non-empty str without '/' or NUL, got {quoted(value)}")
    return value


def _default_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _host_ports(hosts: str) -> list[tuple[str, int]]:
    """(host, port) pairs of a kazoo connect string "h1:p1,[::1]:p2/chroot"."""
    out = []
    for item in hosts.split("/", 1)[0].split(","):
        item = item.strip()
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":") or "2181"
        else:
            host, _, port = item.rpartition(":") if ":" in item else (item, "", "2181")
        try:
            out.append((host, int(port)))
        except ValueError:
            raise ValueError(f"hosts: bad port in {quoted(item)}") from None
    return out


POST_HANDSHAKE_ALERT_S = 0.2  # loopback/LAN round trips are well below this


def _tls_preflight(hosts: str, tls: ZooKeeperTLS, timeout: float) -> None:
    """One TLS handshake with every reachable server, before kazoo connects.

    kazoo treats a failed handshake as an unhandled error that ends its connection
    thread (kazoo protocol/connection.py `_connect_attempt`): the start only times out,
    and a later reconnect to a misconfigured server of the ensemble would never come
    back. This names the cause and the setting instead. An unreachable server is left
    to kazoo's normal retry and timeout."""
    import ssl

    context = tls.ssl_context()
    for host, port in _host_ports(hosts):
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
        except OSError:
            continue
        try:
            raw.settimeout(timeout)
            with context.wrap_socket(raw, server_hostname=host) as conn:
                if conn.version() == "TLSv1.3":
                    # TLS 1.3 ends the client's handshake before the server has checked our
                    # certificate (RFC 8446 §4.4): its refusal arrives as an alert just after
                    conn.settimeout(POST_HANDSHAKE_ALERT_S)
                    try:
                        if conn.recv(1) == b"":
                            raise ConnectionError("closed by the server right after the handshake")
                    except TimeoutError:
                        pass  # silence: ZooKeeper waits for the client to speak first
        except ssl.SSLCertVerificationError as exc:
            where = f"zookeeper {host}:{port}"
            if exc.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
                raise CoordinatorTLSError(
                    f"tls_check_hostname: the certificate of {where} does not name {host!r} "
                    f"({exc.verify_message}); connect by a name in its subjectAltName") from None
            raise CoordinatorTLSError(
                f"tls_ca: the certificate of {where} does not verify against "
                f"{repr(tls.ca) if tls.ca else 'the system trust store'} ({exc.verify_message})") from None
        except (ssl.SSLError, ConnectionError, socket.timeout) as exc:
            raise CoordinatorTLSError(
                f"tls: TLS handshake with zookeeper {host}:{port} failed ({type(exc).__name__}: {exc}); is it the "
                "server's secureClientPort, and does the server require a client certificate (tls_cert, tls_key)?"
            ) from None
        finally:
            raw.close()


class ZooKeeperCoordinator(Coordinator):
    """One ZooKeeper session for a process: registrations, locks, elections.

    hosts: "host:port[,host:port...]"; cluster: namespace under `root`.
    session_timeout: seconds (the server clamps it to its min/max session timeout).
    auth: a ZooKeeperAuth (digest identity) to authenticate as.
    acl: a ZooKeeperACL for every znode this coordinator creates; with `auth` and no
    `acl`, created znodes are for `auth` alone (ZooKeeperACL([auth])). Without either,
    znodes get ZooKeeper's `world:anyone` ACL (anyone may change them).
    tls: a ZooKeeperTLS: connect to the servers' secureClientPort, certificate verified.
    A refused operation raises CoordinatorPermissionError (a PermissionError) naming
    the operation and the path (docs/cluster.md §9).
    """

    def __init__(self, hosts: str, cluster: str = "default", *, session_timeout: float = 10.0,
                 connect_timeout: float | None = None, root: str = "/fastroute", auth: ZooKeeperAuth | None = None,
                 acl: ZooKeeperACL | None = None, tls: ZooKeeperTLS | None = None):
        kazoo = _kazoo()
        if not isinstance(hosts, str) or not hosts:
            raise ValueError(f"hosts: expected 'host:port[,host:port]', got {quoted(hosts)}")
        _check_name(cluster, "cluster")
        if isinstance(session_timeout, bool) or not isinstance(session_timeout, (int, float)) or not session_timeout > 0:
            raise ValueError(f"session_timeout: expected seconds > 0, got {quoted(session_timeout)}")
        if not isinstance(root, str) or not root.startswith("/") or root.endswith("/"):
            raise ValueError(f"root: expected an absolute znode path without trailing '/', got {quoted(root)}")
        if auth is not None and not isinstance(auth, ZooKeeperAuth):
            raise TypeError(f"auth: expected a ZooKeeperAuth (from_env / from_file), got {type(auth).__name__}")
        if acl is not None and not isinstance(acl, ZooKeeperACL):
            raise TypeError(f"acl: expected a ZooKeeperACL, got {type(acl).__name__}")
        if tls is not None and not isinstance(tls, ZooKeeperTLS):
            raise TypeError(f"tls: expected a ZooKeeperTLS, got {type(tls).__name__}")
        if acl is not None and auth is None:
            raise ValueError("acl: needs auth= too (the identity this coordinator acts as); "
                             "an unauthenticated client cannot be one of the ACL's writers")
        if auth is not None and acl is None:
            acl = ZooKeeperACL([auth])
        self.hosts, self.cluster, self.session_timeout = hosts, cluster, float(session_timeout)
        self.root = root
        self.base = f"{root}/{cluster}"
        self.members_path = f"{self.base}/members"
        self.auth, self.acl, self.tls = auth, acl, tls
        self._exc = kazoo.exceptions
        connect_timeout = connect_timeout if connect_timeout is not None else max(5.0, self.session_timeout)
        if tls is not None:
            _tls_preflight(hosts, tls, connect_timeout)
        # kazoo logs requests at DEBUG, the Auth packet and ACL digests included: its
        # logger for us ("kazoo.client.fastroute") masks what we register here.
        REDACTOR.add(self, (auth._secrets() if auth else ()) + (acl._secrets() if acl else ()))
        # Reconnect forever with a short cap, so a restarted server is found within ~1 s.
        retry = kazoo.retry.KazooRetry(max_tries=-1, delay=0.05, backoff=1.5, max_delay=min(1.0, self.session_timeout))
        self._client = kazoo.client.KazooClient(
            hosts=hosts, timeout=self.session_timeout, connection_retry=retry, logger=KAZOO_LOG,
            auth_data=auth._kazoo_auth_data() if auth else None, default_acl=acl.kazoo_acl() if acl else None,
            **(tls.kazoo_options() if tls else {}))
        self._state = LOST
        self._session_id: int | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._listeners: list[Callable[[str, bool], None]] = []
        self._registrations: list[Registration] = []
        # kazoo Locks whose acquire failed mid-way (ConnectionLoss): their contender znode may
        # outlive the failure on our still-live session and block every other contender.
        self._orphan_locks: list[Any] = []
        self._orphan_guard = threading.Lock()
        self._events: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._run_events, name="fastroute-zk-events", daemon=True)
        self._worker.start()
        self._client.add_listener(self._kazoo_state)
        try:
            self._client.start(timeout=connect_timeout)
        except Exception as exc:
            self._abandon()
            raise CoordinatorUnavailable(f"zookeeper {hosts}: cannot connect ({exc})") from None
        self._kazoo_state(self._client.state)
        try:
            with self._permission("create", self.members_path):
                self._client.ensure_path(self.members_path)
            open_paths = self.open_znodes() if self.acl is not None else []
        except BaseException:
            self.close()
            raise
        if open_paths:
            log.warning("zookeeper %s: znodes %s can be changed by anyone (world:anyone; made before ACLs were "
                        "configured, ACLs are not inherited): run secure_tree() or `fastroute cluster secure`",
                        hosts, open_paths)

    def _abandon(self) -> None:
        self._closed = True
        self._events.put(None)
        try:
            self._client.stop()
            self._client.close()
        except Exception:  # pragma: no cover
            pass
        REDACTOR.discard(self)

    # -- access control ------------------------------------------------------------------------------
    def _who(self) -> str:
        if self.auth is None:
            return "an unauthenticated client (give auth=ZooKeeperAuth..., CLI --zk-auth-env/--zk-auth-file)"
        return (f"digest user {self.auth.user!r} (credential from {self.auth.source}; ZooKeeper's digest login "
                "accepts any password, so a wrong password also ends here)")

    def denied(self, operation: str, path: str) -> CoordinatorPermissionError:
        """The error for a refused `operation` on `path` (never shows the credential)."""
        return CoordinatorPermissionError(f"zookeeper {operation} {path}: permission denied by the znode's ACL "
                                          f"for {self._who()}", operation=operation, path=path)

    @contextmanager
    def _permission(self, operation: str, path: str) -> Iterator[None]:
        try:
            yield
        except self._exc.NoAuthError:
            raise self.denied(operation, path) from None

    def secure_tree(self) -> list[str]:
        """Sets this coordinator's ACL on `root`, the cluster namespace and every znode
        under it. ZooKeeper ACLs are not inherited: znodes made before an ACL was
        configured keep `world:anyone` until changed (docs/cluster.md §9). Returns the
        paths changed."""
        if self.acl is None:
            raise ValueError("acl: secure_tree() needs a coordinator with auth= (and acl=)")
        acl = self.acl.kazoo_acl()
        changed = []

        def walk(path: str) -> None:
            with self._permission("set ACL", path):
                try:
                    self._client.set_acls(path, acl)
                except self._exc.NoNodeError:
                    return
                changed.append(path)
                try:
                    children = self._client.get_children(path)
                except self._exc.NoNodeError:
                    return
            for child in sorted(children):
                walk(f"{path}/{child}")

        with self._permission("set ACL", self.root):
            self._client.set_acls(self.root, acl)
        changed.append(self.root)
        walk(self.base)
        return changed

    def open_znodes(self) -> list[str]:
        """Persistent znodes on the way to and in the cluster namespace that anyone
        (`world:anyone`) may change: left over from before ACLs were configured."""
        out = []
        paths = [self.root, self.base, self.members_path, f"{self.base}/locks", f"{self.base}/elections"]
        for path in paths:
            try:
                acls, _ = self._client.get_acls(path)
            except (self._exc.NoNodeError, self._exc.NoAuthError):
                continue
            if any(a.id.scheme == "world" and a.perms & ~1 for a in acls):  # anything beyond READ
                out.append(path)
        return out

    # -- session state ----------------------------------------------------------------------
    def _kazoo_state(self, state) -> None:
        # kazoo calls this from its connection thread: never block here.
        self._events.put(("state", str(state).lower()))

    def _run_events(self) -> None:
        while True:
            item = self._events.get()
            if item is None:
                return
            kind, payload = item
            try:
                if kind == "state":
                    self._on_state(payload)
                elif kind == "call":
                    payload()
            except Exception:  # pragma: no cover - logged, the loop must survive
                log.exception("zookeeper event handler failed")

    def _on_state(self, state: str) -> None:
        if self._closed:
            return  # our own close(): not an outage to report
        new_session = False
        with self._cond:
            if state == CONNECTED:
                sid = self._client.client_id[0] if self._client.client_id else None
                new_session = sid != self._session_id
                self._session_id = sid
            if state == self._state and not new_session:
                return
            self._state = state
            self._cond.notify_all()
        log.info("zookeeper %s: %s%s", self.hosts, state, " (new session)" if new_session and state == CONNECTED else "")
        if state == CONNECTED and self._orphan_locks:
            threading.Thread(target=self._reap_orphan_locks, name="fastroute-zk-reap", daemon=True).start()
        if state == CONNECTED and new_session:
            for reg in list(self._registrations):
                # own thread: it may wait for the old session's znode to vanish
                threading.Thread(target=reg._register_async, name="fastroute-zk-register", daemon=True).start()
        for listener in list(self._listeners):
            try:
                listener(state, new_session)
            except Exception:
                log.exception("zookeeper state listener failed")

    def _orphan_lock(self, kazoo_lock: Any) -> None:
        with self._orphan_guard:
            self._orphan_locks.append(kazoo_lock)
        if self.connected:
            self._reap_orphan_locks()

    def _reap_orphan_locks(self) -> None:
        """Deletes the contender znodes of abandoned lock attempts (kazoo's own clean-up
        after a ConnectionLoss runs while disconnected, and fails); kept for the next try
        when ZooKeeper is unreachable again."""
        with self._orphan_guard:
            pending, self._orphan_locks = self._orphan_locks, []
        kept = []
        for kazoo_lock in pending:
            try:
                for child in self._client.get_children(kazoo_lock.path):
                    if child.startswith(kazoo_lock.prefix):  # this attempt's own contender znode
                        try:
                            self._client.delete(f"{kazoo_lock.path}/{child}")
                        except self._exc.NoNodeError:
                            pass
            except self._exc.NoNodeError:
                pass
            except Exception:
                kept.append(kazoo_lock)
        if kept:
            with self._orphan_guard:
                self._orphan_locks.extend(kept)

    @property
    def state(self) -> str:
        return self._state

    @property
    def session_id(self) -> int | None:
        return self._session_id

    @property
    def connected(self) -> bool:
        return self._state == CONNECTED

    def add_state_listener(self, listener: Callable[[str, bool], None]) -> Callable[[], None]:
        """`listener(state, new_session)` on every change, from the coordinator's event thread."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def wait_connected(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._state == CONNECTED or self._closed, timeout) and not self._closed

    def _liveness(self, what: str, node: str, czxid: int) -> RenewedLiveness:
        """Liveness of a lock/leadership znode (docs/cluster.md §11): confirmed on our session
        every timeout/3; ends at once on any state change away from CONNECTED."""
        sid = self._session_id
        negotiated = getattr(self._client, "_session_timeout", None)  # ms, once connected
        timeout = min(self.session_timeout, negotiated / 1000) if negotiated else self.session_timeout

        def confirm() -> bool:
            stat = self._client.exists(node)
            return self.connected and self._session_id == sid and stat is not None and stat.czxid == czxid

        liveness = RenewedLiveness(what, confirm, timeout=timeout, interval=timeout / 3)

        def on_state(state: str, new_session: bool) -> None:
            if state != CONNECTED or new_session:
                liveness.stop(f"zookeeper session {state}")

        unlisten = self.add_state_listener(on_state)
        liveness.on_lost(lambda reason: unlisten())
        return liveness

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Runs `fn` on the event thread (never in kazoo's own threads)."""
        self._events.put(("call", fn))

    @property
    def client(self):
        """The kazoo client (backend-specific; not part of the Coordinator interface)."""
        return self._client

    # -- membership registration -------------------------------------------------------------------
    def register(self, member: Member, *, wait: float | None = None) -> "Registration":
        """Registers `member` as an ephemeral znode for as long as this coordinator lives.

        If the name is held by another session (e.g. this node's previous process whose
        session has not expired yet) waits up to `wait` seconds (default: 1.5 × session
        timeout) for it to vanish, then raises MembershipError.
        """
        if not isinstance(member, Member):
            raise TypeError(f"member: expected a fastroute Member, got {type(member).__name__}")
        reg = Registration(self, member)
        reg._create(self.session_timeout * 1.5 + 1.0 if wait is None else wait)
        self._registrations.append(reg)
        return reg

    def member_path(self, name: str) -> str:
        return f"{self.members_path}/{_check_name(name, 'name')}"

    # -- locks -------------------------------------------------------------------------------------
    def lock(self, name: str, *, timeout: float | None = None, identifier: str = "") -> "DistributedLock":
        """A distributed lock (kazoo Lock); use as `with coord.lock("membership") as token:`."""
        return DistributedLock(self, _check_name(name, "name"), timeout=timeout,
                               identifier=identifier or _default_identity())

    def change_membership(self, *, timeout: float | None = 30.0, identifier: str = "") -> "MembershipChange":
        """Operator changes under the `membership` lock, each fenced by the lock's znode:
        `with coord.change_membership() as change: change.set_weight("n1", 3)`."""
        return MembershipChange(self.lock("membership", timeout=timeout, identifier=identifier))

    # -- elections ---------------------------------------------------------------------------------
    def election_path(self, group: str) -> str:
        return f"{self.base}/elections/{_check_name(group, 'group')}"

    def campaign(self, group: str, candidate: str, on_change: Callable[[FencingToken | None], None]) -> "Campaign":
        """Runs for leadership of `group`; returns once our contender znode exists (or
        raises CoordinatorPermissionError if the ACL forbids campaigning)."""
        campaign = Campaign(self, group, _check_name(candidate, "candidate"), on_change)
        campaign._wait_entered(max(5.0, self.session_timeout))
        return campaign

    def watch_leader(self, group: str, callback: Callable[[str | None, int | None], None]) -> "LeaderWatch":
        return LeaderWatch(self, group, callback)

    def contenders(self, path: str) -> list[tuple[int, str, str, int]]:
        """(sequence, znode, identifier, czxid) of kazoo Lock contenders under `path`, in order."""
        out = []
        try:
            children = self._client.get_children(path)
        except self._exc.NoNodeError:
            return out
        for child in children:
            try:
                seq = int(child[-10:])
            except ValueError:
                continue
            try:
                data, stat = self._client.get(f"{path}/{child}")
            except self._exc.NoNodeError:
                continue
            out.append((seq, child, data.decode("utf-8", "replace"), stat.czxid))
        out.sort()
        return out

    # -- lifetime ----------------------------------------------------------------------------------
    def close(self) -> None:
        """Ends the session: our ephemeral znodes vanish at once (no expiry wait)."""
        if self._closed:
            return
        for reg in list(self._registrations):
            reg._closed = True
        self._closed = True
        with self._cond:
            self._cond.notify_all()
        try:
            self._client.stop()
            self._client.close()
        finally:
            self._events.put(None)
            if self._worker is not threading.current_thread():
                self._worker.join(timeout=5)
            REDACTOR.discard(self)

    def __repr__(self) -> str:
        extra = f", auth={self.auth.user!r}" if self.auth else ""
        extra += ", tls" if self.tls else ""
        return f"ZooKeeperCoordinator({self.hosts!r}, {self.cluster!r}{extra}, state={self._state})"


class Registration(OwnRegistration):
    """A member's ephemeral znode. Re-created on every new session; if an operator
    deletes it while our session lives (`fastroute cluster leave`), it stays gone
    and `evicted` becomes True."""

    def __init__(self, coord: ZooKeeperCoordinator, member: Member):
        super().__init__(coord, member)
        self._path = coord.member_path(member.name)

    @property
    def path(self) -> str:
        return self._path

    def _create(self, wait: float) -> None:
        client, exc = self._coord.client, self._coord._exc
        deadline = time.monotonic() + wait
        while True:
            try:
                with self._coord._permission("register", self._path):
                    client.create(self._path, self._record(), ephemeral=True, makepath=True)
                self._version = 0
                break
            except exc.NodeExistsError:
                try:
                    _, stat = client.get(self._path)
                except exc.NoNodeError:
                    continue
                if stat.ephemeralOwner == self._coord.session_id:
                    with self._coord._permission("register", self._path):
                        self._version = client.set(self._path, self._record()).version
                    break
                if time.monotonic() >= deadline:
                    raise MembershipError(f"name: member {quoted(self._member.name)} is registered by another session "
                                          f"(0x{stat.ephemeralOwner:x})") from None
                time.sleep(0.1)
        self._watch_own()

    def _watch_own(self) -> None:
        """Watches our znode; the watch remembers which session owned it, so its
        deletion by that session's expiry is not mistaken for an eviction."""
        owner: dict = {}
        stat = self._coord.client.exists(self._path, watch=lambda event: self._watch(event, owner.get("session")))
        owner["session"] = stat.ephemeralOwner if stat is not None else None

    def _register_async(self) -> None:
        if self._closed or self.evicted.is_set():
            return
        try:
            self._create(self._coord.session_timeout * 1.5 + 1.0)
            log.info("re-registered %s on a new session", self._member.name)
        except Exception as exc:  # e.g. disconnected again: the next new session retries
            log.warning("re-registering %s failed: %s", self._member.name, exc)

    def _watch(self, event, owner: int | None) -> None:
        # kazoo's callback thread: decide on the coordinator's event thread.
        if self._closed:
            return
        if event.type == "DELETED":
            self._coord.call_soon(lambda: self._check_deleted(owner))
        else:
            self._coord.call_soon(lambda: self._rewatch())

    def _live_session(self) -> int | None:
        client = self._coord.client
        if str(client.state).lower() != CONNECTED or not client.client_id:
            return None
        return client.client_id[0]

    def _check_deleted(self, owner: int | None) -> None:
        """Our znode was deleted. If the session that owned it is no longer the
        live one, it expired (e.g. the process was paused past the timeout): the
        znode is re-created on the new session. Only a deletion while its owning
        session is still ours, with no znode of ours left, is an operator's eviction."""
        if self._closed or self.evicted.is_set():
            return
        live = self._live_session()
        if live is None or owner != live:
            log.info("member %s: znode of expired session 0x%x removed; re-registering", self._member.name,
                     owner or 0)
            if live is not None:  # own thread: it may wait for the old znode to vanish
                threading.Thread(target=self._register_async, name="fastroute-zk-register", daemon=True).start()
            return  # not connected: the next new session re-registers
        client, exc = self._coord.client, self._coord._exc
        try:
            _, stat = client.get(self._path)
        except exc.NoNodeError:
            stat = None
        except Exception:  # connection trouble: a new session, if any, re-registers
            return
        if stat is not None and stat.ephemeralOwner == live:
            self._watch_own()  # a stale event: our current znode is there
            return
        if self._live_session() != live:
            return  # the session ended meanwhile: expiry after all
        self.evicted.set()
        log.warning("member %s was removed by an operator", self._member.name)

    def _rewatch(self) -> None:
        # keep what an operator changed (weight, state, ...): a re-registration after
        # session expiry restores it rather than the member's start-up values
        try:
            data, stat = self._coord.client.get(self._path)
            self._watch_own()
            member = Member.from_dict(json.loads(data))
        except Exception:  # gone or unreadable: the DELETED event / next session handles it
            return
        with self._lock:  # only newer than what we wrote ourselves (reads may lag our update())
            if member.name == self._member.name and stat.version > self._version:
                self._member, self._version = member, stat.version

    def _write(self, member: Member) -> int:
        with self._coord._permission("update", self._path):
            return self._coord.client.set(self._path, self._record(member)).version

    def _leave(self) -> None:
        try:
            _, stat = self._coord.client.get(self._path)
            if stat.ephemeralOwner == self._coord.session_id:
                self._coord.client.delete(self._path, version=stat.version)
        except Exception:
            pass


class DistributedLock(HeldLock):
    """A kazoo Lock with a fencing token (the czxid of our contender znode)."""

    def __init__(self, coord: ZooKeeperCoordinator, name: str, *, timeout: float | None, identifier: str):
        self._coord = coord
        self.name = name
        self._timeout = timeout
        self._lock = coord.client.Lock(f"{coord.base}/locks/{name}", identifier)
        self.identifier = identifier
        self.token: FencingToken | None = None
        self._node_path: str | None = None

    def acquire(self) -> FencingToken:
        exc = self._coord._exc
        if self._coord._orphan_locks:
            self._coord._reap_orphan_locks()
        # A failed attempt's clean-up may have run while disconnected; a contender znode that
        # survived on our live session would hold the lock for nobody (docs/cluster.md §3).
        try:
            with self._coord._permission("lock", self._lock.path):
                gotten = self._lock.acquire(blocking=True, timeout=self._timeout)
        except exc.LockTimeout:
            gotten = False
        except exc.KazooException:
            self._coord._orphan_lock(self._lock)
            raise
        if not gotten:
            self._coord._orphan_lock(self._lock)
            raise TimeoutError(f"lock {quoted(self.name)}: not acquired within {self._timeout} s")
        self._node_path = f"{self._lock.path}/{self._lock.node}"
        try:
            stat = self._coord.client.exists(self._node_path)
        except exc.KazooException:
            # Held, but the connection went before the token was read (a leader election):
            # the caller never gets the lock to release, and its znode would stay ahead of
            # every other contender while our session lives (docs/cluster.md §3, item 5).
            self._coord._orphan_lock(self._lock)
            raise
        if stat is None:  # lost between acquire and stat (session expired)
            self._lock.release()
            raise MembershipError(f"lock {quoted(self.name)}: lost right after acquiring")
        self.token = FencingToken(stat.czxid, f"lock:{self.name}", self.identifier,
                                  self._coord._liveness(f"lock {self.name!r}", self._node_path, stat.czxid))
        return self.token

    @property
    def node_path(self) -> str | None:
        return self._node_path

    def is_held(self) -> bool:
        """True while our session is connected and our contender znode still exists."""
        if self.token is None or not self._coord.connected:
            return False
        try:
            stat = self._coord.client.exists(self._node_path)
        except Exception:
            return False
        return stat is not None and stat.czxid == self.token.value

    def release(self) -> None:
        if self.token is not None:
            self.token.liveness.stop()
        try:
            self._lock.release()
        finally:
            self.token = None


class MembershipChange(FencedChange):
    """Operator edits of other members' znodes. Each edit is one ZooKeeper transaction
    that also checks our lock znode: if the lock was lost (session expired, another
    operator took over), the edit fails with StaleTokenError and changes nothing."""

    def _commit(self, build: Callable[[Any], None], what: str, name: str) -> None:
        token = self.token
        client = self._coord.client
        tx = client.transaction()
        tx.check(self._lock.node_path, version=0)
        build(tx)
        results = tx.commit()
        failed = [r for r in results if isinstance(r, Exception)]
        if any(isinstance(r, self._coord._exc.NoAuthError) for r in failed):
            raise self._coord.denied(what, self._coord.member_path(name))
        if failed:
            lock_result = results[0]
            if isinstance(lock_result, Exception) and not isinstance(lock_result, self._coord._exc.RolledBackError):
                raise StaleTokenError(f"{what} {quoted(name)}: lock token {token.value} no longer held; change rejected")
            real = [r for r in failed if not isinstance(r, self._coord._exc.RolledBackError)]
            err = real[0] if real else failed[0]
            if isinstance(err, self._coord._exc.NoNodeError):
                raise KeyError(f"name: no member {quoted(name)} ({what})") from None
            raise MembershipError(f"{what} {quoted(name)}: {type(err).__name__}") from None

    def members(self) -> dict[str, tuple[Member, int]]:
        client, exc = self._coord.client, self._coord._exc
        out = {}
        with self._coord._permission("read", self._coord.members_path):
            children = client.get_children(self._coord.members_path)
        for child in children:
            try:
                with self._coord._permission("read", f"{self._coord.members_path}/{child}"):
                    data, stat = client.get(f"{self._coord.members_path}/{child}")
            except exc.NoNodeError:
                continue
            out[child] = (Member.from_dict(json.loads(data)), stat.version)
        return out

    def _write_member(self, member: Member, version: int) -> None:
        path, data = self._coord.member_path(member.name), json.dumps(member.to_dict(), sort_keys=True).encode()
        self._commit(lambda tx: tx.set_data(path, data, version), "update", member.name)

    def remove(self, name: str) -> None:
        path = self._coord.member_path(name)
        self._commit(lambda tx: tx.delete(path), "remove", name)


class Campaign:
    """Runs for leadership of `group` until closed. `on_change(token)` is called with
    a FencingToken when we lead and with None when we must stop acting (suspended,
    session lost, resigned)."""

    def __init__(self, coord: ZooKeeperCoordinator, group: str, candidate: str,
                 on_change: Callable[[FencingToken | None], None]):
        self._coord = coord
        self.group, self.candidate = group, candidate
        self._on_change = on_change
        self._path = coord.election_path(group)
        self._closed = threading.Event()
        self._lock = None
        self.token: FencingToken | None = None
        self._wake = threading.Event()
        self.error: CoordinatorPermissionError | None = None
        self._entered = threading.Event()  # contender znode created, or `error` set
        self._unlisten = coord.add_state_listener(lambda state, new: self._wake.set())
        self._thread = threading.Thread(target=self._run, name=f"fastroute-campaign:{group}", daemon=True)
        self._thread.start()

    def _wait_entered(self, timeout: float) -> None:
        # Only while connected: during an outage the campaign starts on reconnect, and a
        # refusal then is logged and kept in `error` (callers such as ShardReplica
        # rebuild inside a membership callback and must not stall).
        deadline = time.monotonic() + timeout
        while not self._entered.is_set() and time.monotonic() < deadline and self._coord.connected:
            lock = self._lock
            if lock is not None and lock.node is not None:  # kazoo Lock sets `node` once it created it
                break
            self._entered.wait(0.01)
        if self.error is not None:
            self.close()
            raise self.error

    def _set(self, token: FencingToken | None) -> None:
        if token == self.token and (token is None) == (self.token is None):
            return
        if self.token is not None and self.token.liveness is not None:
            self.token.liveness.stop("leadership lost")
        self.token = token
        try:
            self._on_change(token)
        except Exception:
            log.exception("campaign %s: on_change failed", self.group)

    def _run(self) -> None:
        coord, exc = self._coord, self._coord._exc
        while not self._closed.is_set():
            if not coord.wait_connected(0.5):
                continue
            sid = coord.session_id
            lock = coord.client.Lock(self._path, self.candidate)
            self._lock = lock
            try:
                got = lock.acquire(blocking=True)
            except exc.CancelledError:
                got = False
            except exc.NoAuthError:  # the ACL forbids us: retrying cannot help
                self.error = coord.denied("campaign", self._path)
                log.warning("campaign %s: %s", self.group, self.error)
                self._entered.set()
                self._release(lock)
                return
            except Exception as err:  # connection loss mid-acquire: start over on the next session
                log.info("campaign %s: %s", self.group, err)
                got = False
            if not got or self._closed.is_set():
                self._release(lock)
                continue
            node = f"{lock.path}/{lock.node}"
            try:
                stat = coord.client.exists(node)
            except Exception:
                stat = None
            if stat is None:
                self._release(lock)
                continue
            czxid = stat.czxid
            deleted = threading.Event()

            def on_node(event, deleted=deleted, node=node) -> None:
                if event.type == "DELETED":
                    deleted.set()
                    self._wake.set()
                elif not self._closed.is_set():  # a data change consumed the watch: set it again
                    coord.call_soon(lambda: self._watch_node(node, on_node))

            if not self._watch_node(node, on_node):
                self._release(lock)
                continue
            # Lead while connected on the same session and our znode exists. Flags are
            # read after clearing the wake event, so no state change is missed.
            while not self._closed.is_set():
                self._wake.clear()
                if deleted.is_set():
                    break
                if coord.connected and coord.session_id == sid:
                    if self.token is None or not self.token.valid:  # a fresh liveness per term
                        self._set(None)
                        liveness = coord._liveness(f"leadership {self.group!r}", node, czxid)
                        liveness.on_lost(lambda reason: self._wake.set())  # re-check at once
                        self._set(FencingToken(czxid, self.group, self.candidate, liveness))
                else:
                    self._set(None)  # SUSPENDED: stop acting; resume only on the same session
                    if coord.session_id != sid or coord.state == LOST:
                        break
                self._wake.wait(5.0)
            self._set(None)
            self._release(lock)

    def _watch_node(self, node: str, watcher) -> bool:
        try:
            return self._coord.client.exists(node, watch=watcher) is not None
        except Exception:
            return True  # disconnected: the state listener wakes the loop

    def _release(self, lock) -> None:
        try:
            lock.release()
        except Exception:
            pass

    def close(self) -> None:
        """Resigns: our contender znode is deleted; the next candidate leads."""
        self._closed.set()
        self._wake.set()
        lock = self._lock
        if lock is not None:
            try:
                lock.cancel()
            except Exception:
                pass
        self._thread.join(timeout=max(5.0, self._coord.session_timeout))
        self._unlisten()
        self._set(None)


class LeaderWatch:
    """Calls `callback(leader, token)` on every leadership change of `group` (the lowest
    contender of its kazoo Lock); (None, None) when nobody leads."""

    def __init__(self, coord: ZooKeeperCoordinator, group: str, callback: Callable[[str | None, int | None], None]):
        self._coord = coord
        self._path = coord.election_path(group)
        self._callback = callback
        self._last: tuple | None = None
        self._closed = False
        if not coord.client.exists(self._path):  # readers may watch a group nobody campaigns in yet
            with coord._permission("create", self._path):
                coord.client.ensure_path(self._path)
        self._unlisten = coord.add_state_listener(lambda state, new: state == CONNECTED and self._refresh())
        self._refresh()

    def _watch(self, event) -> None:
        if not self._closed:
            self._coord.call_soon(self._refresh)

    def _refresh(self) -> None:
        if self._closed:
            return
        client, exc = self._coord.client, self._coord._exc
        try:
            children = client.get_children(self._path, watch=self._watch)
            contenders = sorted((int(c[-10:]), c) for c in children if c[-10:].isdigit())
            leader = None
            for _, child in contenders:
                try:
                    data, stat = client.get(f"{self._path}/{child}")
                except exc.NoNodeError:
                    continue
                leader = (data.decode("utf-8", "replace"), stat.czxid)
                break
        except exc.NoAuthError:
            log.warning("leader watch: %s", self._coord.denied("read", self._path))
            return
        except Exception as err:  # disconnected: keep the last answer, refresh on reconnect
            log.info("leader watch %s: %s", self._path, err)
            return
        if leader != self._last:
            self._last = leader
            try:
                self._callback(*(leader or (None, None)))
            except Exception:
                log.exception("leader watch callback failed")

    def close(self) -> None:
        self._closed = True
        self._unlisten()


class ZooKeeperMembership(Membership):
    """Membership from the ephemeral member znodes of a ZooKeeper cluster namespace.

    coordinator: a ZooKeeperCoordinator, or "host:port" to open one (then closed with
    this object). Snapshots list members in registration order (znode czxid), so every
    process builds the same table; epoch = zxid of the latest change.
    refresh_interval: seconds between safety re-reads besides the watches.
    """

    def __init__(self, coordinator: ZooKeeperCoordinator | str, cluster: str = "default", *,
                 session_timeout: float = 10.0, refresh_interval: float = 5.0, algorithm: str | None = None,
                 params: dict[str, Any] | None = None, auth: ZooKeeperAuth | None = None,
                 acl: ZooKeeperACL | None = None, tls: ZooKeeperTLS | None = None):
        owns = isinstance(coordinator, str)
        if not owns and (auth is not None or acl is not None or tls is not None):
            raise ValueError("auth, acl, tls: give them to the ZooKeeperCoordinator passed as `coordinator`")
        coord = ZooKeeperCoordinator(coordinator, cluster, session_timeout=session_timeout, auth=auth, acl=acl,
                                     tls=tls) if owns else coordinator
        if not isinstance(coord, ZooKeeperCoordinator):
            raise TypeError(f"coordinator: expected a ZooKeeperCoordinator or 'host:port', got {type(coord).__name__}")
        if isinstance(refresh_interval, bool) or not isinstance(refresh_interval, (int, float)) or not refresh_interval > 0:
            raise ValueError(f"refresh_interval: expected seconds > 0, got {quoted(refresh_interval)}")
        super().__init__(f"zookeeper:{coord.hosts}{coord.members_path}")
        self._coord, self._owns = coord, owns
        self._algorithm, self._params = algorithm, dict(params or {})
        self._interval = float(refresh_interval)
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._refresh_lock = threading.Lock()
        if not self._refresh():
            if owns:
                coord.close()
            if isinstance(self._last_error, CoordinatorPermissionError):
                raise self._last_error
            raise CoordinatorUnavailable(f"{self._source}: first read failed: {self._last_error}")
        self._unlisten = coord.add_state_listener(self._on_state)
        if not coord.connected:
            self._set_stale(True)
        self._thread = threading.Thread(target=self._run, name="fastroute-zk-membership", daemon=True)
        self._thread.start()

    @property
    def coordinator(self) -> ZooKeeperCoordinator:
        return self._coord

    def register(self, member: Member, **kwargs) -> Registration:
        return self._coord.register(member, **kwargs)

    def _on_state(self, state: str, new_session: bool) -> None:
        if state == CONNECTED:
            self._dirty.set()  # re-read, which clears `stale`
        else:
            self._set_stale(True)
            self._report_error(CoordinatorUnavailable(f"zookeeper {self._coord.hosts}: {state}"))

    def _watch(self, event) -> None:
        self._dirty.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait(self._interval)
            if self._stop.is_set():
                return
            self._dirty.clear()
            if self._coord.connected:
                self._refresh()

    def _read_consistent(self):
        """One consistent cut of the members directory, or None if it changed while
        being read. Reads every child, then re-checks the parent's pzxid and every
        child's mzxid: if nothing moved, all values held at once (at the end of the
        reads), so the view is exactly the state as of zxid `epoch`, and two views
        with equal epochs are equal in every process."""
        client, exc = self._coord.client, self._coord._exc
        path = self._coord.members_path
        children, stat = client.get_children(path, watch=self._watch, include_data=True)
        read = []
        for child in children:
            try:
                data, cstat = client.get(f"{path}/{child}", watch=self._watch)
            except exc.NoNodeError:
                return None  # deleted meanwhile
            read.append((child, data, cstat))
        if client.exists(path).pzxid != stat.pzxid:
            return None
        for child, _, cstat in read:
            again = client.exists(f"{path}/{child}")
            if again is None or again.mzxid != cstat.mzxid:
                return None
        return stat.pzxid, read

    def _refresh(self) -> bool:
        path = self._coord.members_path
        with self._refresh_lock:
            try:
                for _ in range(5):
                    cut = self._read_consistent()
                    if cut is not None:
                        break
                else:  # changing too fast: the watches bring us back
                    self._dirty.set()
                    return True
            except Exception as err:  # connection trouble: keep the last snapshot
                if isinstance(err, self._coord._exc.NoAuthError):
                    self._report_error(self._coord.denied("read", path))
                else:
                    self._report_error(CoordinatorUnavailable(f"{self._source}: {type(err).__name__}: {err}"))
                if self._snapshot is not None:
                    self._set_stale(True)
                return False
            epoch, read = cut
            found = []
            for child, data, cstat in read:
                epoch = max(epoch, cstat.mzxid)
                try:
                    member = Member.from_dict(json.loads(data))
                    if member.name != child:
                        raise ValueError(f"znode {quoted(child)} holds member {quoted(member.name)}")
                except (ValueError, TypeError) as err:
                    self._report_error(MembershipError(f"{path}/{child}: bad member data ({err}); ignored"))
                    continue
                found.append((cstat.czxid, member))
            found.sort(key=lambda item: item[0])
            with self._deliver_lock:
                # decided under the delivery lock: a SUSPENDED arriving meanwhile is
                # either seen here or published (stale) after this snapshot
                snap = Snapshot(tuple(m for _, m in found), epoch, self._source, stale=not self._coord.connected,
                                algorithm=self._algorithm, params=self._params)
                old = self._snapshot
                if old is not None and snap.epoch < old.epoch:
                    return True  # an older read raced a newer one: ignore it
                self._publish(snap)
            return True

    def refresh(self) -> Snapshot:
        """Re-reads now (normally watches do this)."""
        self._refresh()
        return self.snapshot()

    def close(self) -> None:
        super().close()
        self._stop.set()
        self._dirty.set()
        self._unlisten()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self._owns:
            self._coord.close()
