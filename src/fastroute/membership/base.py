# SPDX-License-Identifier: Apache-2.0
"""Membership interface shared by every backend (static, file, ZooKeeper, later etcd).

Nothing here knows about a coordinator's client library: backends translate
their events into immutable `Snapshot`s and their locks/elections into
`FencingToken`s (docs/cluster.md §5). Lookups never touch a backend: followers
rebuild a table off the hot path and publish it by one reference swap.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from ..redact import quoted

log = logging.getLogger("fastroute.membership")

#: Node states. `up` serves; `draining` keeps existing work but takes no new keys;
#: `backup` serves only when no `up` node can; `down` never serves.
STATES = ("up", "draining", "backup", "down")


def _describe(snap) -> str:
    """A snapshot in an error message: epoch and member names (masked, capped)."""
    if snap is None:
        return "none yet"
    return f"epoch={snap.epoch}, members {quoted([m.name for m in snap.members], limit=200)}"


class MembershipError(RuntimeError):
    """A membership source could not deliver what was asked."""


class NoServingMemberError(MembershipError, ValueError):
    """No member can take keys: every one is down, draining, weight 0, or absent. A
    ValueError too, because for a cluster file it is bad input."""


class CoordinatorUnavailable(MembershipError):
    """The coordinator cannot be reached now (routing continues on the last snapshot)."""


class StaleTokenError(MembershipError):
    """A write or change carried a fencing token older than one already seen."""


class NoPrimaryError(MembershipError):
    """A shard has no live elected primary right now; retry after the election."""


class CoordinatorPermissionError(MembershipError, PermissionError):
    """The coordinator refused an operation on a path (its access control list).

    `operation` and `path` name what was refused; the message names the identity
    (user name only) and never the credential (docs/cluster.md §9)."""

    def __init__(self, message: str, *, operation: str = "", path: str = ""):
        super().__init__(message)
        self.operation, self.path = operation, path

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CoordinatorTLSError(CoordinatorUnavailable):
    """The coordinator's TLS handshake failed (certificate does not verify, wrong host
    name, not a TLS port); the message names the setting to check."""


def _frozen_metadata(metadata: object, where: str) -> Mapping[str, Any]:
    if metadata is None:
        return MappingProxyType({})
    if not isinstance(metadata, Mapping):
        raise TypeError(f"{where}: metadata must be a mapping, got {type(metadata).__name__}")
    for key in metadata:
        if not isinstance(key, str):
            raise TypeError(f"{where}: metadata keys must be str, got {type(key).__name__}")
    try:  # must survive the JSON a coordinator stores
        json.dumps(dict(metadata), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: metadata must be JSON-serialisable ({exc})") from None
    return MappingProxyType(dict(metadata))


@dataclass(frozen=True, slots=True)
class Member:
    """One node as a membership source sees it. Immutable."""

    name: str
    weight: float = 1.0
    address: str | None = None
    state: str = "up"
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: must be a non-empty str, got {quoted(self.name)}")
        # Any name a placement can hash is a member name ('unix:/run/app.sock' from an nginx
        # upstream included); backends that derive a key from the name (ZooKeeper member_path,
        # etcd member_key) check their own path rules when registering (docs/cluster.md §5.1).
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ValueError(f"weight: member {quoted(self.name)} needs a finite number >= 0, got {quoted(w)}")
        object.__setattr__(self, "weight", float(w))
        if self.address is not None and not isinstance(self.address, str):
            raise TypeError(f"address: member {quoted(self.name)} needs a str or None, got {type(self.address).__name__}")
        if self.state not in STATES:
            raise ValueError(f"state: member {quoted(self.name)} has state {quoted(self.state)}; expected one of {STATES}")
        object.__setattr__(self, "metadata", _frozen_metadata(self.metadata, f"member {self.name!r}"))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "address": self.address,
                "state": self.state, "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "Member":
        unknown = set(doc) - {"name", "weight", "address", "state", "metadata"}
        if unknown:
            raise ValueError(f"member: unknown keys {sorted(unknown)}")
        return cls(doc.get("name"), doc.get("weight", 1.0), doc.get("address"),
                   doc.get("state", "up"), doc.get("metadata") or {})

    def __hash__(self) -> int:
        return hash((self.name, self.weight, self.address, self.state))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Member):
            return NotImplemented
        return self.to_dict() == other.to_dict()


def as_members(members: object, *, name: str = "members") -> tuple[Member, ...]:
    """Members from Member objects, names, or a mapping name → weight; names unique."""
    if isinstance(members, Mapping):
        items = [Member(n, w) for n, w in members.items()]
    elif isinstance(members, (str, bytes)) or not isinstance(members, Iterable):
        raise TypeError(f"{name}: expected Members, names or a mapping name -> weight, got {type(members).__name__}")
    else:
        items = []
        for i, m in enumerate(members):
            if isinstance(m, Member):
                items.append(m)
            elif isinstance(m, str):
                items.append(Member(m))
            else:
                raise TypeError(f"{name}[{i}]: expected a Member or a str name, got {type(m).__name__}")
    seen: set[str] = set()
    for m in items:
        if m.name in seen:
            raise ValueError(f"{name}: duplicate member name {quoted(m.name)}")
        seen.add(m.name)
    return tuple(items)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An immutable view of the membership at one moment.

    epoch: strictly increases with every snapshot a source publishes with new
        content (ZooKeeper: zxid of the latest change, identical in every
        process; file/static: a per-source counter).
    stale: the source cannot currently confirm this view (coordinator
        suspended/unreachable); routing goes on with it.
    algorithm/params: placement hint carried by the source (the cluster TOML), or None.

    `fastroute.cluster.parse_cluster` returns one (epoch 0) for a cluster file.
    """

    members: tuple[Member, ...]
    epoch: int
    source: str = ""
    stale: bool = False
    algorithm: str | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: Keyed placement secret of a cluster file (`secret_env` / `secret_file`); never
    #: printed, compared or fingerprinted, and never published by a membership source.
    secret: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", as_members(self.members))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(m.weight for m in self.members)

    @property
    def states(self) -> Mapping[str, str]:
        return MappingProxyType({m.name: m.state for m in self.members})

    @property
    def serving(self) -> tuple[Member, ...]:
        """Members that take new keys: state `up` with weight > 0."""
        return tuple(m for m in self.members if m.state == "up" and m.weight > 0)

    @property
    def backups(self) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.state == "backup" and m.weight > 0)

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(f"name: no member {quoted(name)} in snapshot epoch {self.epoch}")

    def __contains__(self, name: object) -> bool:
        return any(m.name == name for m in self.members)

    def __len__(self) -> int:
        return len(self.members)

    def fingerprint(self) -> str:
        """Hash of the content (members in order, algorithm, params), not of epoch or
        staleness: equal fingerprints mean equal routing input, in any process."""
        doc = {"members": [m.to_dict() for m in self.members], "algorithm": self.algorithm,
               "params": dict(self.params)}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]

    def same_content(self, other: "Snapshot") -> bool:
        return (self.members == other.members and self.algorithm == other.algorithm
                and dict(self.params) == dict(other.params))

    def marked_stale(self, stale: bool = True) -> "Snapshot":
        return self if self.stale == stale else replace(self, stale=stale)

    @property
    def placement_members(self) -> tuple[Member, ...]:
        """The members a placement is built over: `serving`, or `backups` when no member
        is serving (docs/cluster.md §5.1)."""
        return placement_members(self.members)

    def build_placement(self, algorithm: str | None = None, **params):
        """Placement over `placement_members` with `algorithm` (default: the snapshot's
        hint) and the snapshot's params (when the algorithm is its own) updated by `params`."""
        algorithm = algorithm or self.algorithm
        if algorithm is None:
            raise ValueError("algorithm: the snapshot carries no placement algorithm; pass one")
        merged = {**self.params, **params} if algorithm == self.algorithm else params
        if self.secret is not None:
            merged = {**merged, "secret": self.secret}
        where = f"{self.source}: nodes" if self.source else "nodes"
        if self.epoch:  # a published snapshot; a parsed cluster file is epoch 0
            where += f" (epoch {self.epoch})"
        return build_placement(self.members, algorithm, merged, what=where)


def placement_members(members: Iterable[Member]) -> tuple[Member, ...]:
    """The one serving rule (docs/cluster.md §5.1): members `up` with weight > 0; if there
    is none, members `backup` with weight > 0 (a backup serves only when no primary can,
    as nginx and HAProxy use theirs); `draining` and `down` members never take new keys."""
    members = tuple(members)
    primaries = tuple(m for m in members if m.state == "up" and m.weight > 0)
    return primaries or tuple(m for m in members if m.state == "backup" and m.weight > 0)


def _placement_factory(cls: type):
    def factory(names, weights, params):
        try:
            if cls._weighted:
                return cls(names, weights, **params)
            if any(w != weights[0] for w in weights):
                raise ValueError(f"weights: {cls.__name__} cannot weight nodes; use ring, maglev or rendezvous")
            return cls(names, **params)
        except TypeError as exc:
            raise ValueError(f"params: {exc}") from None

    return factory


def _placements() -> dict[str, Callable[[list[str], list[float], dict], Any]]:
    from ..placement._registry import FACES  # importing the package registers every face

    return {name: _placement_factory(cls) for name, cls in FACES.items()}


#: algorithm name → factory(names, weights, params). `params` are the class's keyword options.
#: Derived from the placement faces (each declares its name, fastroute/placement/_registry.py);
#: every kind is listed once the package is imported, nothing registers kinds at run time.
PLACEMENTS: dict[str, Callable[[list[str], list[float], dict], Any]] = _placements()
#: Keyed modes that are a configuration's lookup table rather than a hashing engine kind:
#: Apache httpd stickysession routes (docs/apache.md §8), the members and routes its params.
PYTHON_PLACEMENTS: dict[str, Callable[[list[str], list[float], dict], Any]] = {
    "httpd_sticky": lambda names, weights, params: _httpd_sticky(names, params),
}
PLACEMENTS.update(PYTHON_PLACEMENTS)


def _httpd_sticky(names, params):
    from ..placement.httpd import HttpdStickyRoutes

    params = dict(params)
    # without the config's member table (a plain node list): members with no route
    params.setdefault("members", [(n, "", "", True, False) for n in names])
    try:
        return HttpdStickyRoutes(**params)
    except TypeError as exc:
        raise ValueError(f"params: {exc}") from None


def build_placement(members: Iterable[Member], algorithm: str, params: Mapping[str, Any] | None = None, *,
                    what: str = "nodes"):
    """The placement `algorithm` (a PLACEMENTS name) over `placement_members(members)`:
    the one builder behind cluster files, `fastroute route`, FileMembership, followers and
    shard routers. Raises ValueError naming the argument; NoServingMemberError if no
    member can serve."""
    factory = PLACEMENTS.get(algorithm)
    if factory is None:
        raise ValueError(f"algorithm: unknown placement {quoted(algorithm)}; known: {sorted(PLACEMENTS)}")
    serving = placement_members(members)
    if not serving:
        raise NoServingMemberError(f"{what}: no node is serving (every member is down, draining or "
                                   f"weight 0, and no backup is left)")
    table = factory([m.name for m in serving], [m.weight for m in serving], dict(params or {}))
    return _with_member_localities(table, serving)


def _with_member_localities(table, members: tuple[Member, ...]):
    """Members with locality metadata give the table their localities, so keyed
    placements answer `replicas(key, n, distinct="zone")` (docs/multi_region.md §1, §6)."""
    from ..locality import LOCALITY_KEYS, locality_of

    if not any(k in m.metadata for m in members for k in LOCALITY_KEYS) or not hasattr(table, "with_localities"):
        return table
    return table.with_localities([locality_of(m) for m in members])


class Subscription:
    """Handle returned by `Membership.subscribe`; call it or `.close()` to stop."""

    __slots__ = ("_cancel", "_closed")

    def __init__(self, cancel: Callable[[], None]):
        self._cancel = cancel
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cancel()

    __call__ = close

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Membership(ABC):
    """A source of membership snapshots.

    `snapshot()` is cheap (returns the current immutable object). `subscribe(cb)`
    calls `cb(snapshot)` with the current snapshot and then with every new one, in
    publication order, from one thread at a time; a callback that raises is logged
    and does not stop delivery. Errors of the source (a bad file edit, a lost
    coordinator) reach `on_error` subscribers and `last_error`; the last good
    snapshot stays current.
    """

    def __init__(self, source: str):
        self._source = source
        self._snapshot: Snapshot | None = None
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._error_subscribers: list[Callable[[BaseException], None]] = []
        self._deliver_lock = threading.RLock()  # one delivery at a time, in order
        self._state_lock = threading.Lock()
        self._changed = threading.Condition(self._state_lock)
        self._last_error: BaseException | None = None
        self._closed = False

    # -- reading ------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is None:
            raise MembershipError(f"{self._source}: no snapshot yet")
        return snap

    @property
    def epoch(self) -> int:
        return self.snapshot().epoch

    @property
    def last_error(self) -> BaseException | None:
        """The most recent error of the source, cleared by the next good snapshot."""
        return self._last_error

    @property
    def closed(self) -> bool:
        return self._closed

    def wait_for(self, predicate: Callable[[Snapshot], bool], timeout: float = 10.0) -> Snapshot:
        """Blocks until a snapshot satisfies `predicate`; TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                snap = self._snapshot
                if snap is not None and predicate(snap):
                    return snap
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._source}: no matching snapshot within {timeout} s "
                                       f"(current: {_describe(snap)})")
                self._changed.wait(left)

    # -- subscribing ----------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Snapshot], None], *, on_error: Callable[[BaseException], None] | None = None,
                  replay: bool = True) -> Subscription:
        if not callable(callback):
            raise TypeError(f"callback: expected a callable, got {type(callback).__name__}")
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error: expected a callable or None, got {type(on_error).__name__}")
        with self._deliver_lock:
            self._subscribers.append(callback)
            if on_error is not None:
                self._error_subscribers.append(on_error)
            if replay and self._snapshot is not None:
                self._call(callback, self._snapshot)

        def cancel() -> None:
            with self._deliver_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                if on_error is not None and on_error in self._error_subscribers:
                    self._error_subscribers.remove(on_error)

        return Subscription(cancel)

    def _call(self, callback, arg) -> None:
        try:
            callback(arg)
        except Exception:  # a subscriber's bug must not stop membership delivery
            log.exception("%s: subscriber %r failed", self._source, callback)

    # -- publishing (backends) ---------------------------------------------------------------
    def _publish(self, snap: Snapshot) -> bool:
        """Makes `snap` current and delivers it. Content changes must come with a higher
        epoch; same content with only `stale` changed is delivered too. Returns whether
        anything changed."""
        with self._deliver_lock:
            old = self._snapshot
            if old is not None:
                if snap.same_content(old) and snap.epoch <= old.epoch:
                    if snap.stale == old.stale:
                        return False
                    snap = old.marked_stale(snap.stale)
                elif snap.epoch <= old.epoch:
                    raise MembershipError(f"{self._source}: epoch went back from {old.epoch} to {snap.epoch}")
            with self._changed:
                self._snapshot = snap
                if not snap.stale:
                    self._last_error = None
                self._changed.notify_all()
            for cb in list(self._subscribers):
                self._call(cb, snap)
            return True

    def _report_error(self, error: BaseException) -> None:
        with self._deliver_lock:
            with self._changed:
                self._last_error = error
                self._changed.notify_all()
            log.warning("%s: %s (keeping snapshot epoch %s)", self._source, error,
                        self._snapshot.epoch if self._snapshot else None)
            for cb in list(self._error_subscribers):
                self._call(cb, error)

    def _set_stale(self, stale: bool) -> None:
        snap = self._snapshot
        if snap is not None and snap.stale != stale:
            self._publish(snap.marked_stale(stale))

    # -- lifetime -----------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        snap = self._snapshot
        desc = f"epoch={snap.epoch}, nodes={snap.nodes!r}, stale={snap.stale}" if snap else "no snapshot"
        return f"{type(self).__name__}({self._source!r}, {desc})"


class LockLostError(StaleTokenError):
    """This process no longer holds the lock or primary role the token stood for."""


class Liveness:
    """Whether a held lock or leadership still holds, as far as this process can know
    without asking the server (docs/cluster.md §11). It ends at the first of: the backend
    reporting the loss (`expire`), or the local deadline passing — the send time of the
    last keep-alive the server answered plus the lease/session timeout; the server cannot
    expire us before that, and after it we cannot be sure it has not. A holder paused past
    its TTL sees `valid` False the moment it runs again, before any network round trip."""

    def __init__(self, what: str):
        self.what = what
        self.lost = threading.Event()
        self.reason: str | None = None
        self._deadline: Callable[[], float] = lambda: math.inf
        self._callbacks: list[Callable[[str], None]] = []
        self._lock = threading.Lock()

    def bind(self, deadline: Callable[[], float]) -> None:
        """`deadline()` → monotonic time until which the holding is surely live."""
        self._deadline = deadline

    def expire(self, reason: str) -> None:
        with self._lock:
            if self.lost.is_set():
                return
            self.reason = reason
            self.lost.set()
            callbacks = list(self._callbacks)
        for cb in callbacks:
            try:
                cb(reason)
            except Exception:
                log.exception("%s: on_lost callback failed", self.what)

    @property
    def valid(self) -> bool:
        if self.lost.is_set():
            return False
        if time.monotonic() >= self._deadline():
            self.expire("lease/session deadline passed without a confirmed keep-alive")
            return False
        return True

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """`callback(reason)` once, when the holding ends (at once if it already has)."""
        with self._lock:
            if not self.lost.is_set():
                self._callbacks.append(callback)
                return
        callback(self.reason or "lost")


class RenewedLiveness(Liveness):
    """Liveness for a backend without a local lease clock (ZooKeeper): every `interval` s
    `confirm()` asks the server whether we still hold (a round trip on our session); each
    confirmed round trip moves the deadline to its send time + `timeout` (the server cannot
    expire a session it heard from less than `timeout` ago). A failed confirmation or a
    `confirm()` of False ends the holding."""

    def __init__(self, what: str, confirm: Callable[[], bool], *, timeout: float, interval: float):
        super().__init__(what)
        self._confirm, self._timeout, self._interval = confirm, timeout, interval
        self._until = time.monotonic() + timeout
        self.bind(lambda: self._until)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fastroute-liveness", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval) and not self.lost.is_set():
            sent = time.monotonic()
            try:
                held = self._confirm()
            except Exception as err:  # connection loss: we cannot confirm, so we may not hold
                self.expire(f"cannot confirm with the server ({type(err).__name__})")
                return
            if not held:
                self.expire("the server no longer lists us as holder")
                return
            self._until = sent + self._timeout

    def stop(self, reason: str = "released") -> None:
        self._stop.set()
        self.expire(reason)


@dataclass(frozen=True, order=True, slots=True)
class FencingToken:
    """Proof of holding a lock or leadership. Tokens of one resource strictly increase
    from one holder to the next (ZooKeeper: the zxid of the holder's znode; etcd: the
    create_revision of the holder's key).

    Tokens handed out by `lock()` / `campaign()` carry a `Liveness`: `valid` turns False,
    `lost` (an Event) is set and `check()` raises LockLostError as soon as this process can
    know the role is gone. Tokens without one (built by hand, or read from `watch_leader`)
    say nothing about holding: `valid` is True for them."""

    value: int
    resource: str = field(compare=False)
    holder: str = field(default="", compare=False)
    liveness: Liveness | None = field(default=None, compare=False, repr=False)

    def __int__(self) -> int:
        return self.value

    @property
    def valid(self) -> bool:
        return self.liveness is None or self.liveness.valid

    @property
    def lost(self) -> threading.Event:
        if self.liveness is None:
            raise MembershipError(f"{self.resource}: token {self.value} carries no liveness (not from lock/campaign)")
        return self.liveness.lost

    def check(self) -> "FencingToken":
        """Raises LockLostError if the role is known lost; call before every fenced action."""
        if not self.valid:
            raise LockLostError(f"{self.resource}: token {self.value} no longer held "
                                f"({self.liveness.reason if self.liveness else 'lost'}); not acting on it")
        return self

    def __getstate__(self):
        return (self.value, self.resource, self.holder)  # liveness is this process's own

    def __setstate__(self, state) -> None:
        for name, value in zip(("value", "resource", "holder"), state):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "liveness", None)


class FencingChecker:
    """The storage-side guard (Kleppmann's fencing): remembers the highest token seen
    per resource and rejects any write carrying a lower one. Thread-safe."""

    def __init__(self) -> None:
        self._highest: dict[str, int] = {}
        self._lock = threading.Lock()

    def check(self, resource: str, token: int | FencingToken) -> int:
        """Accepts `token` for `resource` (recording it) or raises StaleTokenError."""
        if isinstance(token, bool) or not isinstance(token, (int, FencingToken)):
            raise TypeError(f"token: expected an int or FencingToken, got {type(token).__name__}")
        if isinstance(token, FencingToken):
            token.check()  # the writer's own process knows it lost the role: refuse before storing
        value = int(token)
        if value < 0:
            raise ValueError(f"token: must be >= 0, got {value}")
        with self._lock:
            highest = self._highest.get(resource, -1)
            if value < highest:
                raise StaleTokenError(f"{resource}: token {value} is older than {highest}; write rejected")
            self._highest[resource] = value
            return value

    def highest(self, resource: str) -> int | None:
        with self._lock:
            return self._highest.get(resource)


class Coordinator(ABC):
    """What a coordinator backend offers besides membership (never used per request).

    Implementations: `ZooKeeperCoordinator` and `EtcdCoordinator` (docs/cluster.md §10:
    register → a key bound to a lease kept alive; membership → one read at one revision,
    then a watch from it; lock and campaign → lowest create_revision under a prefix, token =
    that revision). Nothing here names a client library type.
    """

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def lock(self, name: str, *, timeout: float | None = None, identifier: str = ""):
        """Context manager yielding a FencingToken while the named lock is held."""

    @abstractmethod
    def register(self, member: Member):
        """Keeps `member` registered while this process lives (re-registering after a
        session loss); returns a handle with `.update(...)` and `.close()`."""

    @abstractmethod
    def campaign(self, group: str, candidate: str, on_change: Callable[[FencingToken | None], None]):
        """Joins the election of `group`; `on_change(token)` when leadership is won
        (token) or lost/suspended (None). Returns a handle with `.close()` (resign)."""

    @abstractmethod
    def watch_leader(self, group: str, callback: Callable[[str | None, int | None], None]):
        """Calls `callback(leader, token)` now and on every leadership change of `group`."""

    @abstractmethod
    def close(self) -> None: ...


class OwnRegistration:
    """A member's own registration in a coordinator (ZooKeeper znode, etcd key): the
    parts every backend shares. A backend writes the record (`_write`, returning the
    record's new version) and removes it (`_leave`); `evicted` is set when an operator
    removed it while our session or lease lived (`fastroute cluster leave`)."""

    def __init__(self, coord: Any, member: Member):
        self._coord = coord
        self._member = member
        self._closed = False
        self.evicted = threading.Event()
        self._lock = threading.Lock()
        self._version = -1  # version of our own last write of `_member`

    @property
    def member(self) -> Member:
        return self._member

    def _record(self, member: Member | None = None) -> bytes:
        """The stored JSON of `member` (default: ours); sorted keys, so equal members are equal bytes."""
        return json.dumps((member or self._member).to_dict(), sort_keys=True).encode()

    def _write(self, member: Member) -> int:
        raise NotImplementedError

    def _leave(self) -> None:
        raise NotImplementedError

    def update(self, **fields: Any) -> Member:
        """Changes own weight/state/address/metadata."""
        with self._lock:
            member = replace(self._member, **fields)
            if member.name != self._member.name:
                raise ValueError("name: a registration cannot be renamed")
            self._version = self._write(member)
            self._member = member
            return member

    def close(self) -> None:
        """Leaves the membership (removes the record if it is still ours)."""
        if self._closed:
            return
        self._closed = True
        if self in self._coord._registrations:
            self._coord._registrations.remove(self)
        self._leave()


class HeldLock:
    """`with lock as token:` for a backend lock with acquire() -> FencingToken and release()."""

    def acquire(self) -> FencingToken:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> FencingToken:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class FencedChange:
    """Operator edits under a backend's HeldLock: holds the lock for the `with` block; each
    edit the backend commits checks the lock's token in the same transaction."""

    def __init__(self, lock):
        self._lock = lock
        self._coord = lock._coord

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()

    @property
    def token(self) -> FencingToken:
        if self._lock.token is None:
            raise MembershipError("membership change: the lock is not held")
        return self._lock.token

    def members(self) -> dict[str, tuple[Member, int]]:
        """name → (member, the version of its record) as stored now."""
        raise NotImplementedError

    def _write_member(self, member: Member, version: int) -> None:
        """Stores `member` if its record is still at `version`, checking the lock's token."""
        raise NotImplementedError

    def update(self, name: str, **fields: Any) -> Member:
        """Changes a member's weight/state/address/metadata under the lock."""
        current = self.members().get(name)
        if current is None:
            raise KeyError(f"name: no member {quoted(name)}")
        member, version = current
        new = replace(member, **fields)
        self._write_member(new, version)
        return new

    def set_weight(self, name: str, weight: float) -> Member:
        return self.update(name, weight=weight)

    def set_state(self, name: str, state: str) -> Member:
        return self.update(name, state=state)
