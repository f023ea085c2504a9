# SPDX-License-Identifier: Apache-2.0
"""Multi-region routing: localities, Envoy priority levels, zone-aware and
locality-weighted balancing over one HealthView (docs/multi_region.md).

    lb = fastroute.LocalityBalancer(members, balancer="least_request",
                                    locality_weights={"eu-west/eu-west-1a": 2, ...})
    node = lb.pick()

A member's locality and priority come from its metadata (`locality =
"region/zone/sub_zone"` or `region` / `zone` / `sub_zone`; `priority`, default
0), or from `localities=` / `priorities=` (one per node, in node order).
"""
from __future__ import annotations

import inspect
import numbers
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import balancers as _balancers
from . import _locality
from ._native import _cext
from ._validate import check_bool, check_finite, check_int, reject_unordered
from .redact import quoted

#: Member metadata keys that carry a locality (docs/multi_region.md §1).
LOCALITY_KEYS = ("locality", "region", "zone", "sub_zone")
#: `distinct=` levels of replicas (docs/multi_region.md §6).
DISTINCT_LEVELS = ("region", "zone", "sub_zone")
MAX_LOCALITY_PART = 128
#: Envoy defaults: overprovisioning_factor 140 %, healthy_panic_threshold 50 %,
#: zone_aware_lb_config routing_enabled 100 %, min_cluster_size 6.
DEFAULT_OVERPROVISIONING_FACTOR = 1.4
DEFAULT_PANIC_THRESHOLD = 50.0
DEFAULT_MIN_CLUSTER_SIZE = 6
DEFAULT_ROUTING_ENABLED = 100.0


def _part(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {type(value).__name__}")
    if "/" in value:
        raise ValueError(f"{name}: a locality part cannot contain '/', got {quoted(value)}")
    if len(value) > MAX_LOCALITY_PART or any(c.isspace() for c in value):
        raise ValueError(f"{name}: at most {MAX_LOCALITY_PART} characters, no whitespace, got {quoted(value)}")
    return value


@dataclass(frozen=True, slots=True, order=True)
class Locality:
    """Where a member runs: Envoy's (region, zone, sub_zone). Empty parts are unknown."""

    region: str = ""
    zone: str = ""
    sub_zone: str = ""

    def __post_init__(self) -> None:
        _part(self.region, "region")
        _part(self.zone, "zone")
        _part(self.sub_zone, "sub_zone")
        # A zone without a region is allowed (cluster files have long had `zone = ...` metadata
        # alone); its region is unknown, and distinct="region" treats all such nodes as one.
        if self.sub_zone and not self.zone:
            raise ValueError("sub_zone: needs a zone")

    @classmethod
    def parse(cls, text: object, *, name: str = "locality") -> "Locality":
        """'region', 'region/zone' or 'region/zone/sub_zone'."""
        if isinstance(text, Locality):
            return text
        if not isinstance(text, str):
            raise TypeError(f"{name}: expected 'region/zone/sub_zone' or a Locality, got {type(text).__name__}")
        parts = text.split("/")
        if len(parts) > 3 or any(p == "" for p in parts):
            raise ValueError(f"{name}: expected 'region', 'region/zone' or 'region/zone/sub_zone', got {quoted(text)}")
        try:
            return cls(*parts)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: {exc}") from None

    def level(self, distinct: str) -> tuple[str, ...]:
        """The key that must differ between replicas with `distinct=` ("region", "zone", "sub_zone")."""
        if distinct == "region":
            return (self.region,)
        if distinct == "zone":
            return (self.region, self.zone)
        if distinct == "sub_zone":
            return (self.region, self.zone, self.sub_zone)
        raise ValueError(f"distinct: expected one of {DISTINCT_LEVELS}, got {quoted(distinct)}")

    def __str__(self) -> str:
        return "/".join(p for p in (self.region, self.zone, self.sub_zone) if p)


UNKNOWN = Locality()


def locality_from_metadata(metadata: Mapping[str, Any], *, where: str = "metadata") -> Locality:
    """A member's locality from its metadata: `locality` ('r/z/s' or a table with
    region / zone / sub_zone) or top-level `region` / `zone` / `sub_zone`; both
    ways at once must agree."""
    loc = metadata.get("locality")
    split = {k: metadata[k] for k in ("region", "zone", "sub_zone") if k in metadata}
    from_split = None
    if split:
        try:
            from_split = Locality(**{k: _part(v, f"{where}: {k}") for k, v in split.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    if loc is None:
        return from_split or UNKNOWN
    if isinstance(loc, Mapping):
        unknown = set(loc) - {"region", "zone", "sub_zone"}
        if unknown:
            raise ValueError(f"{where}: locality: unknown keys {sorted(unknown)}")
        try:
            parsed = Locality(**{k: _part(v, f"{where}: locality.{k}") for k, v in loc.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: locality: {exc}") from None
    else:
        parsed = Locality.parse(loc, name=f"{where}: locality")
    if from_split is not None and from_split != parsed:
        raise ValueError(f"{where}: locality {quoted(str(parsed))} disagrees with region/zone/sub_zone "
                         f"{quoted(str(from_split))}")
    return parsed


def locality_of(member) -> Locality:
    """The locality of a fastroute.membership.Member (UNKNOWN when it has none)."""
    return locality_from_metadata(member.metadata, where=f"member {quoted(member.name)}")


def priority_of(member) -> int:
    """A member's priority level (metadata `priority`, default 0; 0 is the highest)."""
    value = member.metadata.get("priority", 0)
    return check_int(value, f"member {quoted(member.name)}: priority", 0, 127, wrong_type=ValueError)


def localities_of(members) -> tuple[Locality, ...]:
    return tuple(locality_of(m) for m in members)


#: balancer= names → classes of fastroute.balancers (every request-time balancer).
BALANCERS = {
    "round_robin": "RoundRobin",
    "smooth_weighted_round_robin": "SmoothWeightedRoundRobin",
    "swrr": "SmoothWeightedRoundRobin",
    "random": "Random",
    "weighted_random": "WeightedRandom",
    "least_connections": "LeastConnections",
    "least_request": "LeastRequest",
    "p2c": "LeastRequest",
    "peak_ewma": "PeakEWMA",
    "haproxy_roundrobin": "HAProxyRoundRobin",
}


def _balancer_class(balancer: object):
    if isinstance(balancer, str):
        if balancer not in BALANCERS:
            raise ValueError(f"balancer: expected one of {sorted(BALANCERS)} or a balancer class, got {quoted(balancer)}")
        return getattr(_balancers, BALANCERS[balancer])
    if isinstance(balancer, type) and issubclass(balancer, _cext.Balancer):
        return balancer
    raise TypeError(f"balancer: expected a name from {sorted(BALANCERS)} or a fastroute.balancers class, "
                    f"got {type(balancer).__name__}")


def _per_node(values: object, names: tuple[str, ...], name: str) -> list:
    reject_unordered(values, name)
    if isinstance(values, Mapping):
        missing = [n for n in names if n not in values]
        if missing:
            raise ValueError(f"{name}: no entry for nodes {quoted(missing, limit=200)}")
        extra = [k for k in values if k not in set(names)]
        if extra:
            raise ValueError(f"{name}: {quoted(extra, limit=200)} are not among the nodes")
        return [values[n] for n in names]
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name}: expected one value per node (a list, or a mapping node -> value)")
    if len(values) != len(names):
        raise ValueError(f"{name}: expected {len(names)} values (one per node), got {len(values)}")
    return list(values)


def _percent(value: object, name: str) -> int:
    # Envoy takes these as percentages and rounds them to whole percent
    # (PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT).
    v = check_finite(value, name, minimum=0, maximum=100)
    return int(round(float(v)))


def _nodes_and_members(members):
    from .membership.base import Member, as_members

    if isinstance(members, Mapping):
        raise TypeError("members: expected Members or node names in order (a mapping has no node order here)")
    reject_unordered(members, "members")
    items = as_members(members)
    if not items:
        raise ValueError("members: at least one member is required")
    return items


class LocalityBalancer(_locality.LocalityCore):
    """Priority levels, per-level panic, zone-aware or locality-weighted choice,
    then the chosen subset's own balancer — Envoy's order (docs/multi_region.md §2–§5).

    members: fastroute Members (their metadata gives locality, priority, `degraded`)
        or node names; weights from the members unless `weights=` is given.
    balancer: any request-time balancer of fastroute.balancers, by name
        ("least_request" / "p2c", "round_robin", "swrr", "random", "weighted_random",
        "least_connections", "peak_ewma", "haproxy_roundrobin") or class; `**options`
        go to it (e.g. choice_count=).
    priorities / localities: one per node (list in node order or mapping), else metadata.
    view: the fastroute.HealthView every subset balancer reads (default: a new one);
        its panic_threshold must be 0 and it has no backups — priorities replace both.
    overprovisioning_factor (1.4), panic_threshold (percent, 50): Envoy's, per level.
    locality_weights: mapping locality ('region/zone[/sub_zone]') → weight ≥ 0: pick a
        locality by weight × min(1, factor × healthy share) first (Envoy locality_weighted_lb_config).
    local_zone + local_cluster: zone-aware routing at priority 0 (Envoy zone_aware_lb_config):
        local_cluster maps every priority-0 locality to the number of hosts of the *calling*
        cluster there; routing_enabled (percent, 100) and min_cluster_size (6).
    """

    __slots__ = ("_localities", "_priorities", "_groups", "_balancer_kind")

    def __new__(cls, members, balancer="least_request", *, weights=None, priorities=None, localities=None,
                view=None, overprovisioning_factor=DEFAULT_OVERPROVISIONING_FACTOR,
                panic_threshold=DEFAULT_PANIC_THRESHOLD, locality_weights=None, local_zone=None, local_cluster=None,
                routing_enabled=DEFAULT_ROUTING_ENABLED, min_cluster_size=DEFAULT_MIN_CLUSTER_SIZE, seed=None,
                **options):
        items = _nodes_and_members(members)
        names = tuple(m.name for m in items)
        kind = _balancer_class(balancer)
        if priorities is None:
            prio = [priority_of(m) for m in items]
        else:
            prio = [check_int(p, f"priorities[{i}]", 0, 127, wrong_type=ValueError)
                    for i, p in enumerate(_per_node(priorities, names, "priorities"))]
        if localities is None:
            locs = [locality_of(m) for m in items]
        else:
            locs = [Locality.parse(x, name=f"localities[{i}]")
                    for i, x in enumerate(_per_node(localities, names, "localities"))]
        if weights is None:
            weights = [m.weight for m in items]
        factor = check_finite(overprovisioning_factor, "overprovisioning_factor", minimum=0, maximum=100)
        factor_percent = round(float(factor) * 100)
        if abs(factor_percent - float(factor) * 100) > 1e-9:
            raise ValueError(f"overprovisioning_factor: Envoy counts it in whole percent (1.4 = 140 %), got "
                             f"{quoted(overprovisioning_factor)}")
        panic = _percent(panic_threshold, "panic_threshold")
        routing = _percent(routing_enabled, "routing_enabled")
        min_size = check_int(min_cluster_size, "min_cluster_size", 0, 2**31 - 1, wrong_type=ValueError)
        if view is None:
            from .upstream import HealthView

            view = HealthView(names)
        elif not isinstance(view, _cext.HealthView):
            raise TypeError(f"view: expected a fastroute.HealthView, got {type(view).__name__}")
        elif view.nodes != names:
            raise ValueError("view: its nodes must be the members, in the same order")
        if view.backups:
            raise ValueError("view: has backups; with priority levels a backup is a member at a higher priority number")
        levels = sorted(set(prio))
        level_of = np.array([levels.index(p) for p in prio], dtype=np.int32)
        # Locality groups, per level; at priority 0 the local zone first (Envoy's index 0).
        local = Locality.parse(local_zone, name="local_zone") if local_zone is not None else None
        groups: list[tuple[int, Locality]] = []
        for level in range(len(levels)):
            here = sorted({locs[i] for i in range(len(names)) if level_of[i] == level})
            if level == 0 and local is not None:
                if local not in here:
                    raise ValueError(f"local_zone: {quoted(str(local))} has no member at priority {levels[0]}; "
                                     f"localities there: {[str(x) for x in here]}")
                here.remove(local)
                here.insert(0, local)
            groups.extend((level, loc) for loc in here)
        index = {g: k for k, g in enumerate(groups)}
        group_of = np.array([index[(int(level_of[i]), locs[i])] for i in range(len(names))], dtype=np.int32)
        group_level = np.array([g[0] for g in groups], dtype=np.int32)
        if locality_weights is not None:
            if not isinstance(locality_weights, Mapping):
                raise TypeError("locality_weights: expected a mapping locality -> weight")
            lw = {}
            for key, w in locality_weights.items():
                loc = Locality.parse(key, name="locality_weights")
                if isinstance(w, bool) or not isinstance(w, numbers.Real) or not 0 <= w < 2**32:
                    raise ValueError(f"locality_weights[{quoted(str(loc))}]: a number in [0, 2**32), got {quoted(w)}")
                lw[loc] = float(w)
            missing = sorted({str(g[1]) for g in groups if g[1] not in lw})
            if missing:
                raise ValueError(f"locality_weights: no weight for localities {missing}")
            unused = sorted(str(k) for k in lw if k not in {g[1] for g in groups})
            if unused:
                raise ValueError(f"locality_weights: {unused} are not a locality of any member")
            group_weight = np.array([lw[g[1]] for g in groups], dtype=np.float64)
        else:
            group_weight = np.ones(len(groups), dtype=np.float64)
        local_hosts = None
        if (local_cluster is None) != (local is None):
            raise ValueError("local_zone, local_cluster: zone-aware routing needs both (the local locality and "
                             "the calling cluster's host count per locality)")
        if local_cluster is not None:
            if locality_weights is not None:
                raise ValueError("local_cluster: zone-aware routing and locality_weights exclude each other (Envoy)")
            if not isinstance(local_cluster, Mapping):
                raise TypeError("local_cluster: expected a mapping locality -> number of local hosts")
            counts = {}
            for key, c in local_cluster.items():
                loc = Locality.parse(key, name="local_cluster")
                counts[loc] = check_int(c, f"local_cluster[{quoted(str(loc))}]", 0, 2**31 - 1, wrong_type=ValueError)
            p0 = [g[1] for g in groups if g[0] == 0]
            if set(counts) != set(p0):
                raise ValueError(f"local_cluster: must name exactly the priority-0 localities {[str(x) for x in p0]} "
                                 f"(Envoy routes by zone only when both clusters have the same localities)")
            local_hosts = [counts[loc] for loc in p0]
        seed = _balancers._seed(seed)
        subs = []
        n_subs = 2 * len(groups) + 3 * len(levels)
        params = inspect.signature(kind.__new__).parameters
        takes_weights = "weights" in params
        for s in range(n_subs):
            kwargs = dict(options)
            if "seed" in params:
                kwargs["seed"] = (seed + 0x9E3779B97F4A7C15 * (s + 1)) % 2**64
            if takes_weights:
                w = list(weights)
                if getattr(kind, "integer_weights", False):
                    if not all(float(x).is_integer() for x in w):
                        raise ValueError(f"weights: {kind.__name__} needs integer weights")
                    w = [int(x) for x in w]
                kwargs["weights"] = w
            subs.append(kind(upstream=view, **kwargs))
        self = super().__new__(cls, view, subs, level_of, group_of, group_level, group_weight, factor_percent, panic,
                               locality_weights is not None, local_hosts, min_size, routing, seed)
        self._localities = tuple(locs)
        self._priorities = tuple(prio)
        self._groups = tuple((levels[g[0]], g[1]) for g in groups)
        self._balancer_kind = kind
        for i, m in enumerate(items):
            flag = m.metadata.get("degraded", False)
            if check_bool(flag, f"member {quoted(m.name)}: degraded"):
                super().set_degraded(i, True)
        return self

    def __init__(self, *args, **kwargs) -> None:
        pass

    @property
    def localities(self) -> tuple[Locality, ...]:
        return self._localities

    @property
    def priorities(self) -> tuple[int, ...]:
        return self._priorities

    @property
    def groups(self) -> tuple[tuple[int, Locality], ...]:
        """(priority, locality) of each locality group, in the order of `loads()` weights."""
        return self._groups

    def _index(self, node: str) -> int:
        try:
            return self.nodes.index(node)
        except ValueError:
            raise KeyError(f"node: unknown node {quoted(node)}") from None

    def set_degraded(self, node: str, degraded: bool = True) -> None:  # type: ignore[override]
        """Envoy's degraded endpoints: they serve only the load the healthy ones cannot take."""
        super().set_degraded(self._index(node), check_bool(degraded, "degraded"))

    def is_degraded(self, node: str) -> bool:  # type: ignore[override]
        return super().is_degraded(self._index(node))

    def release(self, node: str, ok: bool = True, latency_s: float | None = None) -> None:
        self.view.release(node, ok, latency_s)

    def report(self, node: str, ok: bool = True, latency_s: float | None = None) -> None:
        self.view.report(node, ok, latency_s)

    def set_state(self, node: str, state: str) -> None:
        self.view.set_state(node, state)

    def state(self, node: str) -> str:
        return self.view.state(node)

    def __repr__(self) -> str:
        return (f"LocalityBalancer(nodes={len(self.nodes)}, balancer={self._balancer_kind.__name__}, "
                f"groups={[(p, str(l)) for p, l in self._groups]})")

    def __reduce__(self):
        raise TypeError("LocalityBalancer holds live request state and cannot be pickled; build one per process")


class LiveLocalityBalancer:
    """A LocalityBalancer that follows a membership (docs/multi_region.md §7).

    A snapshot with the same members (names, weights, localities, priorities) only
    changes states: `down` / `draining` go to the shared view with `set_state`, so
    the next pick recomputes the levels and localities (one refresh) and keeps
    health and in-flight counts. Other changes build a new LocalityBalancer and
    swap it in with one reference assignment; `pick()` reads the current one once.
    """

    def __init__(self, membership, balancer="least_request", **options: Any):
        from .membership.follow import Follower

        self._options = dict(options, balancer=balancer)
        self._current: LocalityBalancer | None = None
        self._structure = None
        self._lock = threading.Lock()
        self._follower = Follower(membership, self._apply, what=f"locality balancer follower of {membership._source}")
        if self._current is None:
            from .membership.base import MembershipError

            raise MembershipError(f"balancer: first snapshot could not be used: {self._follower.last_error}")

    def _apply(self, snap) -> None:
        from .membership.base import MembershipError

        members = [m for m in snap.members if m.weight > 0]
        if not members:
            raise MembershipError(f"snapshot epoch {snap.epoch} has no member with weight > 0")
        structure = tuple((m.name, m.weight, locality_of(m), priority_of(m)) for m in members)
        with self._lock:
            current = self._current
            if current is None or structure != self._structure:
                current = LocalityBalancer(members, **self._options)
            for m in members:
                current.set_state(m.name, "up" if m.state in ("up", "backup") else m.state)
                current.set_degraded(m.name, check_bool(m.metadata.get("degraded", False), "degraded"))
            self._current, self._structure = current, structure

    @property
    def balancer(self) -> LocalityBalancer:
        return self._current  # type: ignore[return-value]

    @property
    def follower(self):
        return self._follower

    def pick(self) -> str:
        return self._current.pick()  # type: ignore[union-attr]

    def close(self) -> None:
        self._follower.close()
