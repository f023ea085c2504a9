# SPDX-License-Identifier: Apache-2.0
"""Following a membership live: subscribe → rebuild off the hot path → one swap.

Lookups keep reading whatever table is current; a rebuild that fails (no
serving node, bad weights) keeps the previous table and is reported, so a
coordinator hiccup never turns into an empty or half-built table.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .base import Membership, MembershipError, NoServingMemberError, Snapshot
from ..redact import quoted

log = logging.getLogger("fastroute.membership")


class Follower:
    """Applies every snapshot of `membership` with `apply(snapshot)`; see `follow_router`."""

    def __init__(self, membership: Membership, apply: Callable[[Snapshot], None], *, what: str):
        if not isinstance(membership, Membership):
            raise TypeError(f"membership: expected a fastroute Membership, got {type(membership).__name__}")
        self._apply = apply
        self._what = what
        self._membership = membership
        self._applied: Snapshot | None = None
        self._last_error: BaseException | None = None
        self._cond = threading.Condition()
        self._subscription = membership.subscribe(self._on_snapshot)

    def _on_snapshot(self, snap: Snapshot) -> None:
        applied = self._applied
        if applied is not None and applied.same_content(snap):
            with self._cond:
                self._applied = snap  # staleness changed only: same table
                self._cond.notify_all()
            return
        try:
            self._apply(snap)
        except Exception as exc:  # keep the previous table
            log.warning("%s: snapshot epoch %d not applied (%s); keeping epoch %s", self._what, snap.epoch, exc,
                        applied.epoch if applied else None)
            with self._cond:
                self._last_error = exc
                self._cond.notify_all()
            return
        with self._cond:
            self._applied, self._last_error = snap, None
            self._cond.notify_all()

    @property
    def applied(self) -> Snapshot | None:
        """The snapshot the target was last built from."""
        return self._applied

    @property
    def last_error(self) -> BaseException | None:
        return self._last_error

    def wait_applied(self, predicate: Callable[[Snapshot], bool], timeout: float = 10.0) -> Snapshot:
        with self._cond:
            if not self._cond.wait_for(lambda: self._applied is not None and predicate(self._applied), timeout):
                raise TimeoutError(f"{self._what}: no applied snapshot matched within {timeout} s "
                                   f"(applied: {quoted(self._applied)}, last error: {quoted(self._last_error)})")
            return self._applied

    def close(self) -> None:
        self._subscription.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def follow_router(membership: Membership, router, algorithm: str | None = None, **params: Any) -> Follower:
    """Keeps `router` (a `fastroute.Router`) built from the serving members of `membership`.

    The placement class comes from `algorithm`/`params`, else the snapshot's hint
    (a cluster TOML's `algorithm`), else the router's current placement class and
    options with only nodes and weights replaced.
    """
    from ..router import Router

    if not isinstance(router, Router):
        raise TypeError(f"router: expected a fastroute.Router, got {type(router).__name__}")

    def apply(snap: Snapshot) -> None:
        if algorithm is not None or snap.algorithm is not None:
            placement = snap.build_placement(algorithm, **params)
        else:
            serving = snap.placement_members
            if not serving:
                raise NoServingMemberError(f"snapshot epoch {snap.epoch} has no serving member")
            placement = router.placement._with([m.name for m in serving], [m.weight for m in serving])
        router.swap(placement)

    return Follower(membership, apply, what=f"router follower of {membership._source}")


def build_balancer(kind, names, weights, backups=(), **options):
    """A request-time balancer over `names`: `kind` is a balancer class of
    `fastroute.balancers` (weights passed when it takes them, `backups=` always)
    or a plain callable factory(names, weights)."""
    import inspect

    if not isinstance(kind, type):
        return kind(tuple(names), tuple(weights))
    params = inspect.signature(kind.__new__).parameters
    kwargs = dict(options)
    if backups:
        kwargs["backups"] = tuple(backups)
    if "weights" in params:
        if getattr(kind, "integer_weights", False):
            if not all(float(w).is_integer() for w in weights):
                raise ValueError(f"weights: {kind.__name__} needs integer weights, got "
                                 f"{list(weights)}; use WeightedRandom or LeastRequest for fractional ones")
            weights = [int(w) for w in weights]
        return kind(list(names), list(weights), **kwargs)
    return kind(list(names), **kwargs)


def _default_kind():
    from ..balancers import SmoothWeightedRoundRobin

    return SmoothWeightedRoundRobin


_ADMIN_STATE = {"up": "up", "backup": "up", "draining": "draining", "down": "down"}


class LiveBalancer:
    """A request-time balancer that follows a membership.

    balancer: a class from `fastroute.balancers` (default SmoothWeightedRoundRobin)
    built with `**options` (health=, panic_threshold=, clock=, ...), or a plain
    factory(names, weights). Every member with weight > 0 is a node; `backup`
    members are passed as `backups=`; `draining`/`down` become the balancer's
    administrative state. A change of states only (drain, down, up) is applied to
    the running balancer with `set_state`, keeping its health and in-flight
    counts; a change of nodes or weights builds a new balancer and swaps it in
    atomically: `pick()` reads the current one once.
    """

    __slots__ = ("_balancer", "_kind", "_options", "_structure", "_follower", "__weakref__")

    def __init__(self, membership: Membership, balancer=None, **options: Any):
        if balancer is not None and not callable(balancer):
            raise TypeError(f"balancer: expected a balancer class or a factory(names, weights), "
                            f"got {type(balancer).__name__}")
        if options and not isinstance(balancer, type) and balancer is not None:
            raise TypeError("options: only a balancer class takes options; a factory gets (names, weights)")
        self._kind = balancer or _default_kind()
        self._options = options
        self._balancer = None
        self._structure = None
        self._follower = Follower(membership, self._rebuild, what=f"balancer follower of {membership._source}")
        if self._balancer is None:
            raise MembershipError(f"balancer: first snapshot could not be used: {self._follower.last_error}")

    def _rebuild(self, snap: Snapshot) -> None:
        members = [m for m in snap.members if m.weight > 0]
        if not members:
            raise MembershipError(f"snapshot epoch {snap.epoch} has no member with weight > 0")
        backups = tuple(m.name for m in members if m.state == "backup")
        if len(backups) == len(members):
            backups = ()  # only backups left: they are the pool
        names = tuple(m.name for m in members)
        structure = (names, tuple(m.weight for m in members), backups)
        current = self._balancer
        stateful = isinstance(self._kind, type)
        if structure == self._structure and current is not None:
            if stateful:
                for m in members:
                    current.set_state(m.name, _ADMIN_STATE[m.state])
            return
        if stateful:
            new = build_balancer(self._kind, names, structure[1], backups, **self._options)
            for m in members:
                if m.state in ("draining", "down"):
                    new.set_state(m.name, m.state)
        else:  # a plain factory gets only the serving members
            serving = snap.placement_members
            if not serving:
                raise NoServingMemberError(f"snapshot epoch {snap.epoch} has no serving member")
            new = self._kind(tuple(m.name for m in serving), tuple(m.weight for m in serving))
        self._balancer, self._structure = new, structure

    @property
    def balancer(self):
        """The current balancer (report outcomes to it: `lb.balancer.release(node, ok)`)."""
        return self._balancer

    @property
    def follower(self) -> Follower:
        return self._follower

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self._balancer.nodes)

    def pick(self) -> str:
        return self._balancer.pick()

    def close(self) -> None:
        self._follower.close()
