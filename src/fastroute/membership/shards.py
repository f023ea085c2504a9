# SPDX-License-Identifier: Apache-2.0
"""Primary/replica shards over a live membership.

Keys map to a fixed set of logical shards (jump hash over the shard names, so
the key → shard map never changes with membership). Each shard's replica set is
`placement.replicas(shard, n)` over the serving members; its primary is elected
through the coordinator among the replicas (`ShardReplica` runs on each member),
and every leadership carries a fencing token that rises from one primary to the
next. Routers (`ShardRouter`) never ask the coordinator per request: they read
tables rebuilt from watches and swapped as one reference.
"""
from __future__ import annotations

import logging
import numbers
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import PLACEMENTS, Coordinator, FencingToken, Membership, MembershipError, NoPrimaryError, Snapshot, StaleTokenError
from .follow import Follower, _default_kind, build_balancer
from ..redact import quoted

log = logging.getLogger("fastroute.membership")


@dataclass(frozen=True)
class ShardLayout:
    """What routers and replicas must agree on: shard names, replication, placement."""

    shards: tuple[str, ...]
    replication: int = 2
    algorithm: str = "rendezvous"

    @classmethod
    def of(cls, shards: int | tuple | list = 16, replication: int = 2, algorithm: str = "rendezvous") -> "ShardLayout":
        if isinstance(shards, numbers.Integral) and not isinstance(shards, bool):
            if not 1 <= shards <= 65536:
                raise ValueError(f"shards: expected 1..65536 shards, got {shards}")
            names = tuple(f"shard-{i:04d}" for i in range(int(shards)))
        else:
            from .._validate import node_names

            names = node_names(shards, name="shards")
        if isinstance(replication, bool) or not isinstance(replication, numbers.Integral) or replication < 1:
            raise ValueError(f"replication: expected an int >= 1, got {quoted(replication)}")
        if algorithm not in PLACEMENTS:
            raise ValueError(f"algorithm: unknown placement {quoted(algorithm)}; known: {sorted(PLACEMENTS)}")
        return cls(names, int(replication), algorithm)

    def key_map(self):
        from ..placement import JumpHash

        return JumpHash(list(self.shards))

    def replica_sets(self, snap: Snapshot) -> dict[str, tuple[str, ...]]:
        """shard → replica names (primary candidates first) over the serving members."""
        placement = snap.build_placement(self.algorithm)
        n = min(self.replication, len(placement.nodes))
        return {shard: placement.replicas(shard, n) for shard in self.shards}


@dataclass(frozen=True)
class WriteRoute:
    shard: str
    node: str
    token: FencingToken
    address: str | None = None


@dataclass(frozen=True)
class _Table:
    snapshot: Snapshot
    replicas: dict[str, tuple[str, ...]]
    readers: dict[str, Any]


class ShardRouter:
    """Routes writes to a shard's elected primary (with its fencing token) and reads
    to a healthy replica of the shard picked by `read_balancer`: a class from
    `fastroute.balancers` built with `read_options` (default SmoothWeightedRoundRobin)
    or a factory(names, weights). Replica sets hold serving members only; report
    outcomes to `read_balancer_for(key)` to let its health model eject a replica."""

    def __init__(self, membership: Membership, coordinator: Coordinator, layout: ShardLayout | None = None, *,
                 read_balancer: Any = None, read_options: dict[str, Any] | None = None):
        if not isinstance(coordinator, Coordinator):
            raise TypeError(f"coordinator: expected a fastroute Coordinator, got {type(coordinator).__name__}")
        self.layout = layout or ShardLayout.of()
        self._key_map = self.layout.key_map()
        if read_balancer is not None and not callable(read_balancer):
            raise TypeError(f"read_balancer: expected a balancer class or a factory(names, weights), "
                            f"got {type(read_balancer).__name__}")
        self._read_kind = read_balancer or _default_kind()
        self._read_options = dict(read_options or {})
        self._membership = membership
        self._table: _Table | None = None
        self._leaders: dict[str, FencingToken] = {}
        self._cond = threading.Condition()
        self._follower = Follower(membership, self._rebuild, what="shard router")
        self._watches = [coordinator.watch_leader(f"primary-{shard}", self._leader_callback(shard))
                         for shard in self.layout.shards]

    def _leader_callback(self, shard: str):
        def on_leader(leader: str | None, token: int | None) -> None:
            with self._cond:
                if leader is None:
                    self._leaders.pop(shard, None)
                else:
                    self._leaders[shard] = FencingToken(token, shard, leader)
                self._cond.notify_all()
        return on_leader

    def _rebuild(self, snap: Snapshot) -> None:
        replicas = self.layout.replica_sets(snap)
        weights = {m.name: m.weight for m in snap.members}
        readers = {shard: build_balancer(self._read_kind, names, [weights[n] for n in names], **self._read_options)
                   for shard, names in replicas.items()}
        self._table = _Table(snap, replicas, readers)

    def shard_of(self, key) -> str:
        return self._key_map.get_node(key)

    def replicas(self, key) -> tuple[str, ...]:
        table = self._table
        if table is None:
            raise MembershipError(f"shard router: no usable membership yet ({self._follower.last_error})")
        return table.replicas[self.shard_of(key)]

    def primary(self, shard: str) -> FencingToken | None:
        """Leadership of `shard` as last seen: FencingToken(value, shard, holder) or None."""
        return self._leaders.get(shard)

    def route_write(self, key) -> WriteRoute:
        """The shard primary and its fencing token; NoPrimaryError while the shard has no
        live elected primary (e.g. mid-failover)."""
        shard = self.shard_of(key)
        leader = self._leaders.get(shard)
        table = self._table
        if leader is None:
            raise NoPrimaryError(f"{shard}: no primary elected")
        if table is None or leader.holder not in table.snapshot or table.snapshot.member(leader.holder).state == "down":
            raise NoPrimaryError(f"{shard}: primary {quoted(leader.holder)} is not a live member")
        return WriteRoute(shard, leader.holder, leader, table.snapshot.member(leader.holder).address)

    def route_read(self, key) -> str:
        """A replica of the key's shard, chosen by the read balancer."""
        table = self._table
        if table is None:
            raise MembershipError(f"shard router: no usable membership yet ({self._follower.last_error})")
        return table.readers[self.shard_of(key)].pick()

    def read_balancer_for(self, key):
        """The balancer that picks reads for `key`'s shard (for outcome reports)."""
        table = self._table
        if table is None:
            raise MembershipError(f"shard router: no usable membership yet ({self._follower.last_error})")
        return table.readers[self.shard_of(key)]

    def check_write(self, shard: str, token: int | FencingToken) -> None:
        """Raises StaleTokenError unless `token` is the current leadership of `shard`."""
        leader = self._leaders.get(shard)
        if leader is None or int(token) != leader.value:
            raise StaleTokenError(f"{shard}: token {int(token)} is not the current primary's "
                                  f"({leader.value if leader else None})")

    def wait_primary(self, shard: str, predicate: Callable[[FencingToken], bool] = lambda t: True,
                     timeout: float = 10.0) -> FencingToken:
        with self._cond:
            ok = self._cond.wait_for(lambda: shard in self._leaders and predicate(self._leaders[shard]), timeout)
            if not ok:
                raise TimeoutError(f"{shard}: no matching primary within {timeout} s (now {self._leaders.get(shard)})")
            return self._leaders[shard]

    @property
    def follower(self) -> Follower:
        return self._follower

    def close(self) -> None:
        self._follower.close()
        for w in self._watches:
            w.close()


class ShardReplica:
    """Runs on a member: campaigns for primary of every shard whose replica set
    contains `name`, resigns from the others as membership changes.

    `token(shard)` is this member's current fencing token for `shard` (None unless
    it leads now); stamp writes with it. `on_change(shard, token)` is called on
    every gain (token) or loss (None) of leadership.
    """

    def __init__(self, membership: Membership, coordinator: Coordinator, name: str,
                 layout: ShardLayout | None = None, *, on_change: Callable[[str, FencingToken | None], None] | None = None):
        self.name = name
        self.layout = layout or ShardLayout.of()
        self._coord = coordinator
        self._on_change = on_change
        self._campaigns: dict[str, Any] = {}
        self._tokens: dict[str, FencingToken] = {}
        self._lock = threading.Lock()
        self._follower = Follower(membership, self._rebuild, what=f"shard replica {name}")

    def _rebuild(self, snap: Snapshot) -> None:
        mine = {shard for shard, names in self.layout.replica_sets(snap).items() if self.name in names}
        with self._lock:
            for shard in list(self._campaigns):
                if shard not in mine:
                    self._campaigns.pop(shard).close()
            for shard in sorted(mine - set(self._campaigns)):
                self._campaigns[shard] = self._coord.campaign(f"primary-{shard}", self.name,
                                                              self._changed(shard))

    def _changed(self, shard: str):
        def on_change(token: FencingToken | None) -> None:
            if token is None:
                self._tokens.pop(shard, None)
            else:
                # keep the campaign's liveness: a primary learns the loss from its own token
                self._tokens[shard] = FencingToken(token.value, shard, self.name, token.liveness)
            if self._on_change is not None:
                self._on_change(shard, self._tokens.get(shard))
        return on_change

    def token(self, shard: str) -> FencingToken | None:
        return self._tokens.get(shard)

    @property
    def primaries(self) -> dict[str, FencingToken]:
        """Shards this member leads now → token."""
        return dict(self._tokens)

    @property
    def candidacies(self) -> tuple[str, ...]:
        return tuple(sorted(self._campaigns))

    def close(self) -> None:
        self._follower.close()
        with self._lock:
            for campaign in self._campaigns.values():
                campaign.close()
            self._campaigns.clear()
