# SPDX-License-Identifier: Apache-2.0
"""etcd v3 backend: live membership, operator lock, shard elections (docs/cluster.md §10).

Talks to etcd's own JSON gateway (`/v3/...`, served by every etcd ≥ 3.4 on its client
port) with the standard library only; why not etcd3gw or python-etcd3: docs/cluster.md §10.

Layout under `<prefix>/<cluster>/`, every key bound to this process's lease:
    members/<name>                  JSON Member
    locks/<name>/<lease>.<n>        lock contenders; the lowest create_revision holds
    elections/<group>/<lease>.<n>   candidates; the lowest create_revision leads

A lease is the session: kept alive every `keepalive_interval` s; if the server says it
has expired (the process was paused, partitioned or the server lost it) a new lease is
granted, members re-registered and elections run again, like a new ZooKeeper session.
Fencing tokens are create_revisions of the contender key: they rise from one holder to
the next and are the same in every process (Jepsen etcd 3.4.3: use the revision).
"""
from __future__ import annotations

import base64
import http.client
import itertools
import json
import logging
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..redact import quoted
from .base import (Coordinator, CoordinatorUnavailable, FencedChange, FencingToken, HeldLock, Liveness, Member,
                   Membership, MembershipError, OwnRegistration, Snapshot, StaleTokenError)

log = logging.getLogger("fastroute.membership.etcd")

CONNECTED, SUSPENDED, LOST = "connected", "suspended", "lost"
MAX_KEY_BYTES = 1024  # our own bound on a member/lock/group name's key (etcd only caps requests at 1.5 MiB)
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy


class EtcdError(MembershipError):
    """etcd answered with an error (gRPC status `code`)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class LeaseNotFound(EtcdError):
    """The lease expired or was revoked (gRPC NOT_FOUND)."""


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _unb64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with `prefix` (etcd clientv3 GetPrefixRangeEnd)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[:i + 1])
    return b"\x00"


def _key_part(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or "/" in value or "\x00" in value or value in (".", ".."):
        raise ValueError(f"{what}: must be a non-empty str without '/' or NUL, got {quoted(value)}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{what}: must be valid UTF-8 to be an etcd key, got {quoted(value)}") from None
    if size > MAX_KEY_BYTES:
        raise ValueError(f"{what}: at most {MAX_KEY_BYTES} UTF-8 bytes as an etcd key, got {size}")
    return value


def _seconds(value: object, what: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= minimum:
        raise ValueError(f"{what}: expected seconds > {minimum:g}, got {quoted(value)}")
    return float(value)


def parse_endpoints(endpoints: object) -> list[tuple[str, int]]:
    """'host:port[,host:port...]' → [(host, port)]."""
    if not isinstance(endpoints, str) or not endpoints.strip():
        raise ValueError(f"endpoints: expected 'host:port[,host:port]', got {quoted(endpoints)}")
    out = []
    for item in endpoints.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"endpoints: expected 'host:port' with a port 1-65535, got {quoted(item.strip())}")
        out.append((host.strip("[]"), int(port)))
    return out


class Gateway:
    """A minimal client of etcd's v3 JSON gateway over plain HTTP: one request per call,
    endpoints tried in turn (a killed cluster member answers with connection refused)."""

    def __init__(self, endpoints: str, *, timeout: float):
        self.endpoints = parse_endpoints(endpoints)
        self.text = endpoints
        self.timeout = timeout
        self._current = 0

    def post(self, path: str, body: dict, *, timeout: float | None = None) -> dict:
        data = json.dumps(body).encode()
        last: BaseException | None = None
        n = len(self.endpoints)
        for i in range(n):
            index = (self._current + i) % n
            host, port = self.endpoints[index]
            req = urllib.request.Request(f"http://{host}:{port}/v3/{path}", data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                with _NO_PROXY.open(req, timeout=timeout or self.timeout) as resp:
                    doc = json.loads(resp.read())
            except urllib.error.HTTPError as err:
                try:
                    doc = json.loads(err.read())
                except ValueError:
                    raise EtcdError(f"etcd {host}:{port}: HTTP {err.code} on /v3/{path} (not an etcd v3 gateway?)")
                code, message = doc.get("code"), doc.get("message") or doc.get("error") or f"HTTP {err.code}"
                if code == 14:  # UNAVAILABLE (no leader, member stopping): try the next member
                    last = EtcdError(message, code)
                    continue
                error = LeaseNotFound if "lease not found" in message else EtcdError
                raise error(f"etcd {host}:{port}: {message}", code) from None
            except (OSError, http.client.HTTPException, ValueError) as err:
                last = err
                continue
            self._current = index
            return doc
        raise CoordinatorUnavailable(f"etcd {self.text}: unreachable ({type(last).__name__}: {last})")

    def probe(self) -> dict:
        """Checks that each reachable endpoint is an etcd v3 server; returns one status."""
        found, errors = None, []
        for host, port in self.endpoints:
            req = urllib.request.Request(f"http://{host}:{port}/v3/maintenance/status", data=b"{}", method="POST")
            try:
                with _NO_PROXY.open(req, timeout=self.timeout) as resp:
                    doc = json.loads(resp.read())
            except (ConnectionRefusedError, socket.timeout, TimeoutError) as err:
                errors.append(f"{host}:{port}: {type(err).__name__}")
                continue
            except urllib.error.URLError as err:
                if isinstance(err.reason, (ConnectionRefusedError, socket.timeout, TimeoutError, socket.gaierror)):
                    errors.append(f"{host}:{port}: {err.reason}")
                    continue
                raise MembershipError(f"endpoints: {host}:{port} is not an etcd v3 server ({err})") from None
            except (OSError, http.client.HTTPException, ValueError) as err:
                raise MembershipError(f"endpoints: {host}:{port} is not an etcd v3 server "
                                      f"({type(err).__name__})") from None
            if not isinstance(doc, dict) or "version" not in doc or "cluster_id" not in doc.get("header", {}):
                raise MembershipError(f"endpoints: {host}:{port} is not an etcd v3 server (no version/cluster_id)")
            found = found or doc
        if found is None:
            raise CoordinatorUnavailable(f"etcd {self.text}: cannot connect ({'; '.join(errors)})")
        return found

    # -- key/value -----------------------------------------------------------------------------
    def range(self, key: bytes, range_end: bytes | None = None, **options) -> dict:
        body = {"key": _b64(key), **options}
        if range_end is not None:
            body["range_end"] = _b64(range_end)
        return self.post("kv/range", body)

    def txn(self, compare: list, success: list, failure: list | None = None) -> dict:
        return self.post("kv/txn", {"compare": compare, "success": success, "failure": failure or []})

    def delete(self, key: bytes) -> dict:
        return self.post("kv/deleterange", {"key": _b64(key)})

    def watch_stream(self, key: bytes, range_end: bytes, start_revision: int) -> "WatchStream":
        return WatchStream(self, key, range_end, start_revision)


class WatchStream:
    """One `/v3/watch` stream: newline-delimited JSON responses. `close()` from any thread
    ends a blocked read (socket shutdown)."""

    def __init__(self, gateway: Gateway, key: bytes, range_end: bytes, start_revision: int):
        body = json.dumps({"create_request": {"key": _b64(key), "range_end": _b64(range_end),
                                              "start_revision": str(start_revision)}}).encode()
        last: BaseException | None = None
        n = len(gateway.endpoints)
        for i in range(n):
            host, port = gateway.endpoints[(gateway._current + i) % n]
            conn = http.client.HTTPConnection(host, port, timeout=gateway.timeout)
            try:
                conn.request("POST", "/v3/watch", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                if resp.status != 200:
                    raise EtcdError(f"etcd {host}:{port}: watch HTTP {resp.status}")
                conn.sock.settimeout(None)  # idle watches are normal; close() unblocks
            except (OSError, http.client.HTTPException, EtcdError) as err:
                conn.close()
                last = err
                continue
            self._conn, self._resp = conn, resp
            self._closed = False
            return
        raise CoordinatorUnavailable(f"etcd {gateway.text}: watch failed ({type(last).__name__}: {last})")

    def __iter__(self):
        while not self._closed:
            try:
                line = self._resp.readline()
            except (OSError, http.client.HTTPException, ValueError):
                return
            if not line:
                return
            doc = json.loads(line)
            if "error" in doc:
                raise EtcdError(f"watch: {doc['error'].get('message', doc['error'])}")
            yield doc.get("result", {})

    def close(self) -> None:
        self._closed = True
        try:
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self._conn.close()


class PrefixWatch:
    """Follows every change under `prefix` from `start_revision`, in revision order, across
    reconnects (a new stream resumes at the last delivered revision + 1, so nothing is
    missed; etcd watch guarantee). `on_events(events, header_revision)` runs on the
    watch thread; `on_compacted(revision)` if history was compacted away."""

    def __init__(self, coord: "EtcdCoordinator", prefix: bytes, start_revision: int,
                 on_events: Callable[[list, int], None], on_compacted: Callable[[int], None] | None = None,
                 name: str = "watch"):
        self._coord, self._prefix, self._end = coord, prefix, _prefix_end(prefix)
        self.next_revision = start_revision
        self._on_events, self._on_compacted = on_events, on_compacted
        self._stream: WatchStream | None = None
        self._closed = threading.Event()
        self._unlisten = coord.add_state_listener(self._on_state)
        self._thread = threading.Thread(target=self._run, name=f"fastroute-etcd-{name}", daemon=True)
        self._thread.start()

    def _on_state(self, state: str, new_session: bool) -> None:
        if state == CONNECTED:  # a stream into a paused/partitioned server may hang: start afresh
            self.kick()

    def kick(self) -> None:
        stream = self._stream
        if stream is not None:
            stream.close()

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                self._stream = self._coord.gateway.watch_stream(self._prefix, self._end, self.next_revision)
            except MembershipError:
                self._closed.wait(0.1)
                continue
            try:
                for result in self._stream:
                    if self._closed.is_set():
                        break
                    compacted = int(result.get("compact_revision", 0))
                    if compacted:
                        self.next_revision = compacted
                        if self._on_compacted:
                            self._on_compacted(compacted)
                        break
                    events = result.get("events") or []
                    if events:
                        last = int(events[-1]["kv"]["mod_revision"])
                        self._on_events(events, int(result["header"]["revision"]))
                        self.next_revision = last + 1
            except Exception as err:  # logged; a new stream resumes at next_revision
                log.info("etcd watch %r: %s", self._prefix, err)
            finally:
                self._stream.close()
            self._closed.wait(0.05)

    def close(self) -> None:
        self._closed.set()
        self._unlisten()
        self.kick()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class EtcdCoordinator(Coordinator):
    """One etcd lease for a process: registrations, locks, elections.

    endpoints: "host:port[,host:port...]" (client URLs of the etcd members, plain HTTP).
    lease_ttl: seconds the server keeps our keys after our last keep-alive; must be at
        least the server's minimum (1.5 × its election timeout; the server would raise a
        lower TTL silently, so we refuse it). keepalive_interval: default lease_ttl / 3.
    request_timeout: seconds per HTTP request (default min(2, keepalive_interval)).
    """

    def __init__(self, endpoints: str, cluster: str = "default", *, lease_ttl: float = 10.0,
                 keepalive_interval: float | None = None, request_timeout: float | None = None,
                 connect_timeout: float | None = None, prefix: str = "/fastroute"):
        _key_part(cluster, "cluster")
        ttl = _seconds(lease_ttl, "lease_ttl")
        if ttl != int(ttl):
            raise ValueError(f"lease_ttl: etcd leases have whole seconds, got {quoted(lease_ttl)}")
        interval = ttl / 3 if keepalive_interval is None else _seconds(keepalive_interval, "keepalive_interval")
        if interval >= ttl:
            raise ValueError(f"keepalive_interval: must be below lease_ttl ({ttl:g} s), got {interval:g}")
        timeout = min(2.0, interval) if request_timeout is None else _seconds(request_timeout, "request_timeout")
        if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"prefix: expected an absolute key prefix without trailing '/', got {quoted(prefix)}")
        self.endpoints, self.cluster = endpoints, cluster
        self.lease_ttl, self.keepalive_interval = int(ttl), interval
        self.gateway = Gateway(endpoints, timeout=timeout)
        self.base = f"{prefix}/{cluster}"
        self.members_prefix = f"{self.base}/members/".encode()
        self._cond = threading.Condition()
        self._state = LOST
        self._closed = False
        self._lease_id: int | None = None
        self._deadline = 0.0  # monotonic time until which the lease surely lives
        self._listeners: list[Callable[[str, bool], None]] = []
        self._registrations: list[EtcdRegistration] = []
        self._holdings: list[tuple[int, Liveness]] = []  # (lease, liveness) of held locks/leaderships
        self._orphans: set[bytes] = set()  # contender keys whose delete failed: retried until gone
        self._seq = itertools.count()
        self._wake = threading.Event()
        probe_until = time.monotonic() + (connect_timeout if connect_timeout is not None else max(5.0, ttl))
        while True:
            try:
                self.gateway.probe()
                self._grant()
                break
            except CoordinatorUnavailable:
                if time.monotonic() >= probe_until:
                    raise
                time.sleep(0.1)
        self._state = CONNECTED
        self._thread = threading.Thread(target=self._keepalive_loop, name="fastroute-etcd-lease", daemon=True)
        self._thread.start()

    # -- the lease (session) -------------------------------------------------------------------
    def _grant(self) -> None:
        sent = time.monotonic()
        doc = self.gateway.post("lease/grant", {"TTL": str(self.lease_ttl)})
        granted = int(doc.get("TTL", 0))
        if granted != self.lease_ttl:
            try:
                self.gateway.post("lease/revoke", {"ID": doc["ID"]})
            except MembershipError:
                pass
            raise ValueError(f"lease_ttl: the etcd server granted {granted} s for {self.lease_ttl} s; its minimum "
                             f"lease TTL is 1.5 x its election timeout, ask for at least that")
        with self._cond:
            self._lease_id = int(doc["ID"])
            self._deadline = sent + granted
            self._orphans.clear()  # keys of an expired lease are gone with it

    def _keepalive_loop(self) -> None:
        while not self._closed:
            # after a failed keep-alive retry soon: the lease is alive until the deadline
            self._wake.wait(self.keepalive_interval if self._state == CONNECTED else min(0.2, self.keepalive_interval))
            self._wake.clear()
            if self._closed:
                return
            sent = time.monotonic()
            try:
                doc = self.gateway.post("lease/keepalive", {"ID": str(self._lease_id)})
                ttl = int(doc.get("result", {}).get("TTL", 0))
                if ttl <= 0:
                    raise LeaseNotFound("lease expired")
            except LeaseNotFound:
                self._lease_lost()
                continue
            except MembershipError:
                # holdings stay valid until the lease deadline (one slow answer on a loaded
                # machine is not a loss); campaigns stop acting on SUSPENDED, as with ZooKeeper
                self._set_state(SUSPENDED)
                continue
            with self._cond:
                self._deadline = sent + ttl
            self._set_state(CONNECTED)
            self._reap_orphans()

    def _orphan(self, key: bytes) -> None:
        with self._cond:
            self._orphans.add(key)
        self._wake.set()

    def _reap_orphans(self) -> None:
        with self._cond:
            keys = list(self._orphans)
        for key in keys:
            try:
                self.gateway.delete(key)
            except MembershipError:
                return  # still unreachable: the next keep-alive tries again
            with self._cond:
                self._orphans.discard(key)

    def _lease_lost(self) -> None:
        """The server dropped our lease (and with it all our keys): a new lease, then
        re-register members; campaigns run again on the new-session event."""
        old = self._lease_id
        self._expire_holdings("lease expired")
        self._set_state(LOST)
        try:
            self._grant()
        except (MembershipError, ValueError) as err:
            log.warning("etcd %s: new lease failed: %s", self.endpoints, err)
            return
        log.info("etcd %s: lease %x expired; new lease %x", self.endpoints, old or 0, self._lease_id)
        self._set_state(CONNECTED, new_session=True)
        for reg in list(self._registrations):
            threading.Thread(target=reg._register_async, name="fastroute-etcd-register", daemon=True).start()

    def _set_state(self, state: str, new_session: bool = False) -> None:
        with self._cond:
            if state == self._state and not new_session:
                return
            self._state = state
            self._cond.notify_all()
        log.info("etcd %s: %s%s", self.endpoints, state, " (new lease)" if new_session else "")
        for listener in list(self._listeners):
            try:
                listener(state, new_session)
            except Exception:
                log.exception("etcd state listener failed")

    def _hold(self, liveness: Liveness) -> Liveness:
        """Ties a held lock/leadership to the current lease's deadline."""
        with self._cond:
            lease = self._lease_id
            liveness.bind(lambda: self._deadline if self._lease_id == lease else 0.0)
            self._holdings.append((lease, liveness))
        return liveness

    def _expire_holdings(self, reason: str) -> None:
        with self._cond:
            held, self._holdings = self._holdings, []
        for _, liveness in held:
            liveness.expire(reason)

    def _release_holding(self, liveness: Liveness) -> None:
        with self._cond:
            self._holdings = [h for h in self._holdings if h[1] is not liveness]

    @property
    def state(self) -> str:
        return self._state

    @property
    def connected(self) -> bool:
        return self._state == CONNECTED

    @property
    def lease_id(self) -> int | None:
        return self._lease_id

    session_id = lease_id

    def lease_valid_for(self) -> float:
        """Seconds the lease surely lives on (0 when unknown or past)."""
        return max(0.0, self._deadline - time.monotonic()) if self.connected else 0.0

    def add_state_listener(self, listener: Callable[[str, bool], None]) -> Callable[[], None]:
        """`listener(state, new_session)` on every change, from the keep-alive thread."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def wait_connected(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._state == CONNECTED or self._closed, timeout) and not self._closed

    def _unique(self) -> str:
        return f"{self._lease_id:x}.{os.getpid()}.{next(self._seq)}"

    # -- reads -------------------------------------------------------------------------------------
    def read_prefix(self, prefix: bytes) -> tuple[int, list[dict]]:
        """(store revision of the read, kvs sorted by create_revision): one consistent cut."""
        doc = self.gateway.range(prefix, _prefix_end(prefix), sort_target="CREATE", sort_order="ASCEND")
        kvs = doc.get("kvs") or []
        for kv in kvs:
            kv["key"], kv["value"] = _unb64(kv["key"]), _unb64(kv.get("value"))
        return int(doc["header"]["revision"]), kvs

    def contenders(self, kind: str, name: str) -> list[tuple[int, str, bytes]]:
        """(create_revision, holder identifier, key) of lock/election contenders, in order."""
        _, kvs = self.read_prefix(f"{self.base}/{kind}/{_key_part(name, 'name')}/".encode())
        return [(int(kv["create_revision"]), kv["value"].decode("utf-8", "replace"), kv["key"]) for kv in kvs]

    def groups(self, kind: str) -> list[str]:
        prefix = f"{self.base}/{kind}/".encode()
        _, kvs = self.read_prefix(prefix)
        return sorted({kv["key"][len(prefix):].split(b"/", 1)[0].decode("utf-8", "replace") for kv in kvs})

    # -- membership registration -------------------------------------------------------------------
    def member_key(self, name: str) -> bytes:
        return self.members_prefix + _key_part(name, "name").encode()

    def register(self, member: Member, *, wait: float | None = None) -> "EtcdRegistration":
        """Registers `member` as a key bound to our lease. If another lease holds the name
        (this node's previous process, not yet expired) waits up to `wait` s (default
        1.5 × lease_ttl) for it to vanish, then raises MembershipError."""
        if not isinstance(member, Member):
            raise TypeError(f"member: expected a fastroute Member, got {type(member).__name__}")
        reg = EtcdRegistration(self, member)
        reg._create(self.lease_ttl * 1.5 + 1.0 if wait is None else wait)
        self._registrations.append(reg)
        return reg

    # -- locks and elections -------------------------------------------------------------------------
    def lock(self, name: str, *, timeout: float | None = None, identifier: str = "") -> "EtcdLock":
        """A distributed lock; `with coord.lock("membership") as token:` (token.valid, token.lost)."""
        return EtcdLock(self, "locks", _key_part(name, "name"), timeout=timeout,
                        identifier=identifier or f"{socket.gethostname()}:{os.getpid()}")

    def change_membership(self, *, timeout: float | None = 30.0, identifier: str = "") -> "EtcdMembershipChange":
        """Operator changes under the `membership` lock, each fenced by the lock key."""
        return EtcdMembershipChange(self.lock("membership", timeout=timeout, identifier=identifier))

    def campaign(self, group: str, candidate: str, on_change: Callable[[FencingToken | None], None]) -> "EtcdCampaign":
        return EtcdCampaign(self, _key_part(group, "group"), _key_part(candidate, "candidate"), on_change)

    def watch_leader(self, group: str, callback: Callable[[str | None, int | None], None]) -> "EtcdLeaderWatch":
        return EtcdLeaderWatch(self, _key_part(group, "group"), callback)

    # -- lifetime ----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Revokes the lease: our keys vanish at once (no TTL wait)."""
        if self._closed:
            return
        for reg in list(self._registrations):
            reg._closed = True
        self._expire_holdings("coordinator closed")
        self._closed = True
        with self._cond:
            self._cond.notify_all()
        self._wake.set()
        try:
            self.gateway.post("lease/revoke", {"ID": str(self._lease_id)})
        except MembershipError:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __repr__(self) -> str:
        return f"EtcdCoordinator({self.endpoints!r}, {self.cluster!r}, state={self._state})"


class EtcdRegistration(OwnRegistration):
    """A member's key on our lease. Re-created on every new lease; if an operator deletes it
    while our lease lives (`fastroute cluster leave`), it stays gone and `evicted` is set."""

    def __init__(self, coord: EtcdCoordinator, member: Member):
        super().__init__(coord, member)
        self._key = coord.member_key(member.name)
        self._watch: PrefixWatch | None = None

    def _create(self, wait: float) -> None:
        coord, key = self._coord, _b64(self._key)
        deadline = time.monotonic() + wait
        while True:
            lease = coord.lease_id
            doc = coord.gateway.txn([{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
                                    [{"request_put": {"key": key, "value": _b64(self._record()), "lease": str(lease)}}],
                                    [{"request_range": {"key": key}}])
            if doc.get("succeeded"):
                revision = int(doc["header"]["revision"])
                break
            kvs = doc["responses"][0]["response_range"].get("kvs") or []
            if not kvs:
                continue
            if int(kvs[0].get("lease", 0)) == lease:
                revision = int(coord.gateway.post("kv/put", {"key": key, "value": _b64(self._record()),
                                                             "lease": str(lease)})["header"]["revision"])
                break
            if time.monotonic() >= deadline:
                raise MembershipError(f"name: member {quoted(self._member.name)} is registered by another lease "
                                      f"({int(kvs[0].get('lease', 0)):x})")
            time.sleep(0.1)
        self._version = revision
        if self._watch is not None:
            self._watch.close()
        self._watch = PrefixWatch(coord, self._key, revision + 1, self._on_events, name="registration")

    def _on_events(self, events: list, revision: int) -> None:
        for event in events:
            if event.get("type") == "DELETE":
                if self._closed or self.evicted.is_set():
                    return
                threading.Thread(target=self._check_deleted, daemon=True).start()
                return
            kv = event["kv"]
            try:
                member = Member.from_dict(json.loads(_unb64(kv.get("value"))))
            except (ValueError, TypeError):
                continue
            with self._lock:  # keep an operator's change (re-registration restores it)
                if member.name == self._member.name and int(kv["mod_revision"]) > self._version:
                    self._member, self._version = member, int(kv["mod_revision"])

    def _check_deleted(self) -> None:
        """Deleted while our lease lives (keep-alive answers): an operator's eviction.
        Deleted with the lease: the new lease re-registers."""
        coord = self._coord
        lease = coord.lease_id
        try:
            doc = coord.gateway.post("lease/timetolive", {"ID": str(lease)})
            alive = int(doc.get("TTL", -1)) > 0
        except MembershipError:
            return  # unreachable: the keep-alive loop decides
        if not alive or coord.lease_id != lease:
            coord._wake.set()  # let the keep-alive loop notice the expiry now
            return
        self.evicted.set()
        if self._watch is not None:
            self._watch.close()
        log.warning("member %s was removed by an operator", self._member.name)

    def _register_async(self) -> None:
        if self._closed or self.evicted.is_set():
            return
        try:
            self._create(self._coord.lease_ttl * 1.5 + 1.0)
            log.info("re-registered %s on a new lease", self._member.name)
        except Exception as exc:
            log.warning("re-registering %s failed: %s", self._member.name, exc)

    def _write(self, member: Member) -> int:
        doc = self._coord.gateway.post("kv/put", {"key": _b64(self._key), "lease": str(self._coord.lease_id),
                                                  "value": _b64(self._record(member))})
        return int(doc["header"]["revision"])

    def _leave(self) -> None:
        if self._watch is not None:
            self._watch.close()
        key = _b64(self._key)
        try:
            self._coord.gateway.txn([{"key": key, "target": "LEASE", "result": "EQUAL",
                                      "lease": str(self._coord.lease_id)}],
                                    [{"request_delete_range": {"key": key}}])
        except MembershipError:
            pass


class _Contender:
    """A key under `<kind>/<name>/` on our lease; holds when its create_revision is the
    lowest (etcd's concurrency recipe: wait for the next-lower key's deletion)."""

    def __init__(self, coord: EtcdCoordinator, kind: str, name: str, identifier: str):
        self._coord, self.kind, self.name, self.identifier = coord, kind, name, identifier
        self.prefix = f"{coord.base}/{kind}/{name}/".encode()
        self.key: bytes | None = None
        self.revision = 0
        self.lease = 0

    def create(self) -> int:
        coord = self._coord
        self.lease = coord.lease_id
        self.key = self.prefix + coord._unique().encode()
        try:
            doc = coord.gateway.post("kv/put", {"key": _b64(self.key), "value": _b64(self.identifier),
                                                "lease": str(self.lease)})
        except BaseException:  # the put may have been applied with its answer lost
            coord._orphan(self.key)
            raise
        self.revision = int(doc["header"]["revision"])
        return self.revision

    def predecessor(self) -> tuple[bool, int]:
        """(whether we hold, store revision of the read). False also if our key is gone."""
        revision, kvs = self._coord.read_prefix(self.prefix)
        ours = [kv for kv in kvs if kv["key"] == self.key]
        if not ours:
            raise MembershipError(f"{self.kind} {quoted(self.name)}: our key vanished (lease expired?)")
        return int(kvs[0]["create_revision"]) == self.revision, revision

    def delete(self) -> None:
        if self.key is not None:
            try:
                self._coord.gateway.delete(self.key)
            except MembershipError:
                # a contender key left on our (live) lease would block every later holder
                self._coord._orphan(self.key)


class EtcdLock(HeldLock):
    """A distributed lock whose token carries liveness: `token.valid` turns False, `token.lost`
    is set and `token.check()` raises as soon as this process can know it no longer holds
    it (lease deadline passed, lease expired, key deleted)."""

    def __init__(self, coord: EtcdCoordinator, kind: str, name: str, *, timeout: float | None, identifier: str):
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                    or not math.isfinite(timeout) or timeout < 0):
            raise ValueError(f"timeout: expected seconds >= 0 or None, got {quoted(timeout)}")
        self._coord = coord
        self.name = name
        self._timeout = timeout
        self.identifier = identifier
        self._contender = _Contender(coord, kind, name, identifier)
        self.token: FencingToken | None = None
        self._liveness: Liveness | None = None
        self._watch: PrefixWatch | None = None

    @property
    def key(self) -> bytes | None:
        return self._contender.key

    def acquire(self) -> FencingToken:
        coord, c = self._coord, self._contender
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        changed = threading.Event()
        c.create()
        watch = PrefixWatch(coord, c.prefix, c.revision + 1, lambda events, rev: changed.set(), name="lock-wait")
        try:
            while True:
                changed.clear()
                held, _ = c.predecessor()
                if held:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"lock {quoted(self.name)}: not acquired within {self._timeout} s")
                changed.wait(min(left, 1.0) if left is not None else 1.0)
        except BaseException:
            watch.close()
            c.delete()
            raise
        watch.close()
        liveness = coord._hold(Liveness(f"lock {self.name!r}"))
        self._liveness = liveness
        self.token = FencingToken(c.revision, f"lock:{self.name}", self.identifier, liveness)

        def on_events(events, rev, key=c.key) -> None:
            if any(e.get("type") == "DELETE" and _unb64(e["kv"]["key"]) == key for e in events):
                liveness.expire("lock key deleted")

        self._watch = PrefixWatch(coord, c.prefix, c.revision + 1, on_events, name="lock-held")
        return self.token

    def is_held(self) -> bool:
        """Asks the server: our key exists with our revision and our lease is live."""
        if self.token is None or not self.token.valid:
            return False
        try:
            held, _ = self._contender.predecessor()
        except MembershipError:
            return False
        return held

    def release(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._liveness is not None:
            self._liveness.expire("released")
            self._coord._release_holding(self._liveness)
        self._contender.delete()
        self.token = None


class EtcdMembershipChange(FencedChange):
    """Operator edits of members' keys. Each edit is one etcd transaction that also compares
    our lock key's create_revision with the token: a lost lock changes nothing and raises
    StaleTokenError. Updates keep the member's own lease (ignore_lease)."""

    def _commit(self, compare: list, ops: list, what: str, name: str) -> None:
        token = self.token
        lock_cmp = {"key": _b64(self._lock.key), "target": "CREATE", "result": "EQUAL",
                    "create_revision": str(token.value)}
        doc = self._coord.gateway.txn([lock_cmp, *compare], ops,
                                      [{"request_range": {"key": _b64(self._lock.key)}}])
        if doc.get("succeeded"):
            return
        if not doc["responses"][0]["response_range"].get("kvs"):
            raise StaleTokenError(f"{what} {quoted(name)}: lock token {token.value} no longer held; change rejected")
        raise MembershipError(f"{what} {quoted(name)}: the member changed meanwhile; retry")

    def members(self) -> dict[str, tuple[Member, int]]:
        _, kvs = self._coord.read_prefix(self._coord.members_prefix)
        out = {}
        for kv in kvs:
            name = kv["key"][len(self._coord.members_prefix):].decode()
            out[name] = (Member.from_dict(json.loads(kv["value"])), int(kv["mod_revision"]))
        return out

    def _write_member(self, member: Member, version: int) -> None:
        key = _b64(self._coord.member_key(member.name))
        self._commit([{"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": str(version)}],
                     [{"request_put": {"key": key, "value": _b64(json.dumps(member.to_dict(), sort_keys=True)),
                                       "ignore_lease": True}}], "update", member.name)

    def remove(self, name: str) -> None:
        key = _b64(self._coord.member_key(name))
        if name not in self.members():
            raise KeyError(f"name: no member {quoted(name)} (remove)")
        self._commit([{"key": key, "target": "CREATE", "result": "GREATER", "create_revision": "0"}],
                     [{"request_delete_range": {"key": key}}], "remove", name)


class EtcdCampaign:
    """Runs for leadership of `group` until closed. `on_change(token)` with a FencingToken
    (carrying liveness) when we lead, None when we must stop acting."""

    def __init__(self, coord: EtcdCoordinator, group: str, candidate: str,
                 on_change: Callable[[FencingToken | None], None]):
        self._coord, self.group, self.candidate = coord, group, candidate
        self._on_change = on_change
        self._closed = threading.Event()
        self._wake = threading.Event()
        self.token: FencingToken | None = None
        self._contender: _Contender | None = None
        self._unlisten = coord.add_state_listener(lambda state, new: self._wake.set())
        self._thread = threading.Thread(target=self._run, name=f"fastroute-etcd-campaign:{group}", daemon=True)
        self._thread.start()

    def _set(self, token: FencingToken | None) -> None:
        if token is self.token or (token is not None and self.token is not None and token == self.token
                                   and self.token.valid):
            return
        if self.token is not None and token is None and self.token.liveness is not None:
            self.token.liveness.expire("leadership lost")
            self._coord._release_holding(self.token.liveness)
        self.token = token
        try:
            self._on_change(token)
        except Exception:
            log.exception("campaign %s: on_change failed", self.group)

    def _run(self) -> None:
        coord = self._coord
        while not self._closed.is_set():
            if not coord.wait_connected(0.5):
                self._set(None)
                continue
            c = _Contender(coord, "elections", self.group, self.candidate)
            try:
                c.create()
            except MembershipError:
                self._closed.wait(0.2)
                continue
            self._contender = c
            watch = PrefixWatch(coord, c.prefix, c.revision + 1, lambda events, rev: self._wake.set(),
                                name="campaign")
            try:
                while not self._closed.is_set():
                    self._wake.clear()
                    if coord.lease_id != c.lease:
                        break  # our key went with the old lease: run again on the new one
                    if not coord.connected:
                        self._set(None)
                    else:
                        try:
                            held, _ = c.predecessor()
                        except CoordinatorUnavailable:
                            self._set(None)
                            held = None
                        except MembershipError:
                            break  # key vanished
                        if held:
                            if self.token is None or not self.token.valid:
                                liveness = coord._hold(Liveness(f"leadership {self.group!r}"))
                                self._set(FencingToken(c.revision, self.group, self.candidate, liveness))
                        elif held is False:
                            self._set(None)
                    self._wake.wait(coord.keepalive_interval)
            finally:
                watch.close()
            self._set(None)
            c.delete()

    def close(self) -> None:
        """Resigns: our key is deleted; the next candidate leads."""
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self._unlisten()
        self._set(None)


class EtcdLeaderWatch:
    """`callback(leader, token)` on every leadership change of `group` (lowest create_revision)."""

    def __init__(self, coord: EtcdCoordinator, group: str, callback: Callable[[str | None, int | None], None]):
        self._coord = coord
        self._prefix = f"{coord.base}/elections/{group}/".encode()
        self._callback = callback
        self._last: tuple | None = None
        self._lock = threading.Lock()
        revision = self._refresh()
        self._watch = PrefixWatch(coord, self._prefix, revision + 1, lambda events, rev: self._refresh(),
                                  name="leader-watch")

    def _refresh(self) -> int:
        try:
            revision, kvs = self._coord.read_prefix(self._prefix)
        except MembershipError as err:
            log.info("leader watch %r: %s", self._prefix, err)
            return 0
        leader = (kvs[0]["value"].decode("utf-8", "replace"), int(kvs[0]["create_revision"])) if kvs else None
        with self._lock:
            if leader != self._last:
                self._last = leader
                try:
                    self._callback(*(leader or (None, None)))
                except Exception:
                    log.exception("leader watch callback failed")
        return revision

    def close(self) -> None:
        self._watch.close()


class EtcdMembership(Membership):
    """Membership from the member keys of an etcd cluster namespace.

    coordinator: an EtcdCoordinator, or "host:port[,...]" to open one (closed with this).
    The first snapshot is one range read (one revision); then a watch from that revision
    applies every change in order, resuming after a reconnect at the next revision. Members
    are listed by create_revision (registration order), so every process builds the same
    table; epoch = revision of the latest member change (identical in every process once
    the watch has replayed history since the oldest live member key).
    """

    def __init__(self, coordinator: EtcdCoordinator | str, cluster: str = "default", *, lease_ttl: float = 10.0,
                 algorithm: str | None = None, params: dict[str, Any] | None = None):
        owns = isinstance(coordinator, str)
        coord = EtcdCoordinator(coordinator, cluster, lease_ttl=lease_ttl) if owns else coordinator
        if not isinstance(coord, EtcdCoordinator):
            raise TypeError(f"coordinator: expected an EtcdCoordinator or 'host:port', got {type(coord).__name__}")
        super().__init__(f"etcd:{coord.endpoints}{coord.members_prefix.decode()}")
        self._coord, self._owns = coord, owns
        self._algorithm, self._params = algorithm, dict(params or {})
        self._apply_lock = threading.Lock()
        self._kvs: dict[bytes, dict] = {}
        self._epoch = 0
        self._read_revision = 0
        self._watch: PrefixWatch | None = None
        try:
            start = self._reload()
        except MembershipError:
            if owns:
                coord.close()
            raise
        self._unlisten = coord.add_state_listener(self._on_state)
        self._watch = PrefixWatch(coord, coord.members_prefix, start, self._on_events, self._on_compacted,
                                  name="membership")

    @property
    def coordinator(self) -> EtcdCoordinator:
        return self._coord

    def register(self, member: Member, **kwargs) -> EtcdRegistration:
        return self._coord.register(member, **kwargs)

    def _reload(self, *, history_gone: bool = False) -> int:
        """One range read; returns the revision to watch from: right after the newest member
        key, so deletions since then replay and raise the epoch to theirs. If the history
        was compacted away (`history_gone`) no replay comes: the read's revision is the epoch."""
        revision, kvs = self._coord.read_prefix(self._coord.members_prefix)
        with self._apply_lock:
            self._kvs = {kv["key"]: kv for kv in kvs}
            self._read_revision = max(self._read_revision, revision)
            newest = max((int(kv["mod_revision"]) for kv in kvs), default=0)
            self._epoch = max(self._epoch, newest)
            self._publish_current(fallback_epoch=revision if history_gone else None)
        return newest + 1 if kvs else revision + 1

    def _on_compacted(self, revision: int) -> None:
        self._reload(history_gone=True)

    def _on_state(self, state: str, new_session: bool) -> None:
        if state == CONNECTED:
            # fresh again only with content read now: the watch may still be catching up
            try:
                self._reload()
            except MembershipError as err:
                self._report_error(err)
        else:
            self._set_stale(True)
            self._report_error(CoordinatorUnavailable(f"etcd {self._coord.endpoints}: {state}"))

    def _on_events(self, events: list, header_revision: int) -> None:
        with self._apply_lock:
            for event in events:
                kv = event["kv"]
                revision = int(kv["mod_revision"])
                self._epoch = max(self._epoch, revision)
                if revision <= self._read_revision:
                    continue  # already in the range read: only the epoch catches up
                key = _unb64(kv["key"])
                if event.get("type") == "DELETE":
                    self._kvs.pop(key, None)
                else:
                    self._kvs[key] = {**kv, "key": key, "value": _unb64(kv.get("value"))}
            self._publish_current()

    def _publish_current(self, fallback_epoch: int | None = None) -> None:
        found = []
        prefix = self._coord.members_prefix
        for key, kv in self._kvs.items():
            name = key[len(prefix):].decode("utf-8", "replace")
            try:
                member = Member.from_dict(json.loads(kv["value"]))
                if member.name != name:
                    raise ValueError(f"key {quoted(name)} holds member {quoted(member.name)}")
            except (ValueError, TypeError) as err:
                self._report_error(MembershipError(f"{prefix.decode()}{name}: bad member data ({err}); ignored"))
                continue
            found.append((int(kv["create_revision"]), member))
        found.sort(key=lambda item: item[0])
        with self._deliver_lock:
            snap = Snapshot(tuple(m for _, m in found), self._epoch, self._source, stale=not self._coord.connected,
                            algorithm=self._algorithm, params=self._params)
            old = self._snapshot
            if old is not None and not snap.same_content(old) and snap.epoch <= old.epoch:
                if fallback_epoch is None or fallback_epoch <= old.epoch:
                    return  # a deletion not yet replayed: its event brings the epoch
                snap = replace(snap, epoch=fallback_epoch)
            if old is not None and snap.epoch < old.epoch:
                return
            self._publish(snap)

    def refresh(self) -> Snapshot:
        """Re-reads now (normally the watch does this)."""
        self._reload()
        return self.snapshot()

    def close(self) -> None:
        super().close()
        self._unlisten()
        if self._watch is not None:
            self._watch.close()
        if self._owns:
            self._coord.close()
