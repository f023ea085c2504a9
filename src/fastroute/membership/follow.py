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

from .base import Membership, MembershipError, Snapshot

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
                                   f"(applied: {self._applied!r}, last error: {self._last_error!r})")
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
            serving = snap.serving or snap.backups
            if not serving:
                raise MembershipError(f"snapshot epoch {snap.epoch} has no serving member")
            placement = router.placement._with([m.name for m in serving], [m.weight for m in serving])
        router.swap(placement)

    return Follower(membership, apply, what=f"router follower of {membership._source}")


def _default_balancer(names, weights):
    from ..balancers import SmoothWeightedRoundRobin

    if all(float(w).is_integer() for w in weights):
        return SmoothWeightedRoundRobin(list(names), [int(w) for w in weights])
    raise ValueError("weights: SmoothWeightedRoundRobin needs integer weights; pass a factory for fractional ones")


class LiveBalancer:
    """A request-time balancer rebuilt from every membership snapshot and swapped
    atomically: `pick()` reads the current balancer once and picks from it.

    factory(names, weights) -> balancer with `.pick()`; default SmoothWeightedRoundRobin.
    Serving members are the `up` ones (the `backup` ones when none is up).
    """

    __slots__ = ("_balancer", "_factory", "_follower", "__weakref__")

    def __init__(self, membership: Membership, factory: Callable[[tuple, tuple], Any] | None = None):
        if factory is not None and not callable(factory):
            raise TypeError(f"factory: expected a callable (names, weights) -> balancer, got {type(factory).__name__}")
        self._factory = factory or _default_balancer
        self._balancer = None
        self._follower = Follower(membership, self._rebuild, what=f"balancer follower of {membership._source}")
        if self._balancer is None:
            raise MembershipError(f"balancer: first snapshot could not be used: {self._follower.last_error}")

    def _rebuild(self, snap: Snapshot) -> None:
        serving = snap.serving or snap.backups
        if not serving:
            raise MembershipError(f"snapshot epoch {snap.epoch} has no serving member")
        self._balancer = self._factory(tuple(m.name for m in serving), tuple(m.weight for m in serving))

    @property
    def balancer(self):
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
