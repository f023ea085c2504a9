# SPDX-License-Identifier: Apache-2.0
"""Online consistent hashing with bounded loads (docs/algorithms.md §5.3).

    bl = fastroute.BoundedLoad(fastroute.HashRing(["a", "b", "c"]), balance_factor=1.25)
    with bl.lease(card_token) as node: ...       # takes a slot; the exit frees it

A request for `key` walks the key's failover order (`placement.replicas(key,
n)`, the primary first) and takes the first node whose in-flight count is
below its capacity: Mirrokni et al.'s ⌈c · (T + 1) · w_i / W⌉ over the T
requests in flight plus this one (rule="mirrokni", the default; Envoy's
`hash_balance_factor` slots with HAProxy's strict `<`), or HAProxy's exact
`chash_server_is_eligible` slots (rule="haproxy", integer weights). Either
way a node that takes a request has at most ⌈c · average⌉ (weighted) in flight
right after, and a key stays on its primary while the primary has room.
rule="envoy" is Envoy's chooseHost: `host_active <= slots` (one over the
bound), then a hash-seeded random walk instead of the replica order.

In-flight counts come from `view=` (a fastroute.HealthView shared with the
request path: its counts include every balancer's requests, unavailable nodes
are skipped and T, W count the available ones) or from a private thread-safe
counter. The check and the acquisition happen under one lock, so the bound
holds for every request taken through this object (or through others that
share it), whatever the number of threads.
"""
from __future__ import annotations

import math
import threading
from fractions import Fraction

from ._native import _cext
from .health_placement import KeyLease
from .redact import quoted

NoHealthyNode = _cext.NoHealthyNode
RULES = ("mirrokni", "haproxy", "envoy")
#: Envoy's and HAProxy's factors are 32-bit percentages; beyond this the bound never binds anyway.
MAX_BALANCE_FACTOR = 2**32 / 100


def balance_factor_arg(value: object, name: str = "balance_factor") -> Fraction:
    """A factor c >= 1 as an exact fraction of its decimal form (1.1 is 11/10, not the nearest double)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        raise TypeError(f"{name}: expected a number >= 1 (e.g. 1.25; HAProxy's 125 is 1.25), "
                        f"got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number >= 1, got {quoted(value)}")
    exact = Fraction(repr(value)) if isinstance(value, float) else Fraction(value)
    if not 1 <= exact <= MAX_BALANCE_FACTOR:
        raise ValueError(f"{name}: expected a number in [1, {MAX_BALANCE_FACTOR:g}] (1.25 lets a node take 25 % "
                         f"more than the average), got {quoted(value)}")
    return exact


class _Shares:
    """Capacities for one set of candidate nodes (indices into the placement's nodes)."""

    __slots__ = ("num", "den", "weights", "cumulative", "total", "rule")

    def __init__(self, factor: Fraction, weights: list[Fraction], rule: str):
        self.rule = rule
        self.num, self.den = factor.numerator, factor.denominator
        total = sum(weights)
        self.total = total
        if rule == "haproxy":
            self.weights = [int(w) for w in weights]
            run, cumulative = 0, []
            for w in self.weights:
                cumulative.append(run)
                run += w
            self.cumulative = cumulative
            self.total = run
        else:
            # w_i / W over one common denominator, so a capacity is one integer division.
            common = math.lcm(*(w.denominator for w in weights)) if weights else 1
            self.weights = [int(w * common) for w in weights]
            self.total = int(total * common)
            self.cumulative = None

    def capacity(self, i: int, in_flight_total: int) -> int:
        """Slots of candidate i when `in_flight_total` requests are in flight (this one not counted)."""
        if self.total <= 0:
            return 1
        if self.rule == "haproxy":
            # lb_chash.c chash_server_is_eligible: the remainder goes by cumulative weight.
            slots_total = -(-(in_flight_total + 1) * self.num // self.den)
            per, rem = divmod(slots_total, self.total)
            w, cum = self.weights[i], self.cumulative[i]
            slots = w * per + ((cum + w) * rem) // self.total - (cum * rem) // self.total
        else:
            slots = -(-(in_flight_total + 1) * self.num * self.weights[i] // (self.den * self.total))
        return max(slots, 1)


class BoundedLoad:
    """Request-time bounded loads over any keyed placement (HashRing, Maglev,
    JumpHash, Rendezvous, Ketama, the HAProxy / nginx kinds, the compat rings).
    `pick(key)` answers without taking a slot; `acquire(key)` / `release(node)`
    or `lease(key)` take one."""

    def __init__(self, placement, balance_factor: float = 1.25, view=None, *, rule: str = "mirrokni"):
        source = placement.as_placement() if hasattr(placement, "as_placement") else placement
        _check_placement(source)
        if rule not in RULES:
            raise ValueError(f"rule: expected one of {RULES}, got {quoted(rule)}")
        if view is not None and not isinstance(view, _cext.HealthView):
            raise TypeError(f"view: expected None or a fastroute.HealthView, got {type(view).__name__}")
        self._owner = placement
        self.balance_factor = balance_factor_arg(balance_factor)
        self.rule = rule
        self.view = view
        self._lock = threading.Lock()
        self._nodes = None
        self._counts: dict[str, int] = {}
        self._total = 0
        self._refresh(source)

    # -- membership -----------------------------------------------------------------------
    def _current(self):
        source = self._owner.as_placement() if hasattr(self._owner, "as_placement") else self._owner
        if source is None:
            raise NoHealthyNode("placement: the ring has no nodes")
        if source.nodes is not self._nodes:
            self._refresh(source)
        return source

    def _refresh(self, source) -> None:
        nodes = source.nodes
        weights = [_weight(w, i, self.rule) for i, w in enumerate(getattr(source, "weights", (1,) * len(nodes)))]
        if self.view is not None:
            view_nodes = self.view.nodes
            at = {name: i for i, name in enumerate(view_nodes)}
            missing = [n for n in nodes if n not in at]
            if missing:
                raise ValueError(f"view: {len(missing)} of the placement's nodes are not in the view "
                                 f"(first: {quoted(missing[0])}); build both from the same node list")
            self._to_view = [at[n] for n in nodes]
        self._index = {name: i for i, name in enumerate(nodes)}
        self._weights = weights
        self._all = _Shares(self.balance_factor, weights, self.rule)
        self._shares_by_mask: dict[bytes, _Shares] = {}
        self._nodes = nodes

    @property
    def placement(self):
        return self._owner

    @property
    def nodes(self) -> tuple:
        with self._lock:
            return self._current().nodes

    # -- the rule -------------------------------------------------------------------------
    def _choose(self, key) -> str:
        """Under the lock: the first node of the key's failover order with room."""
        source = self._current()
        nodes = self._nodes
        if self.view is None:
            load, available, shares, total = None, None, self._all, self._total
        else:
            mask = self.view._eligible_mask()
            available = [bool(mask[j]) for j in self._to_view]
            flights = self.view.in_flight()
            load = [flights[n] for n in nodes]
            total = sum(x for x, ok in zip(load, available) if ok)
            shares = self._shares_for(available)
        if self.rule == "envoy":
            return self._choose_envoy(source, key, load, available)
        primary = source.get_index(key)
        if self._fits(primary, load, available, shares, total):
            return nodes[primary]
        best, best_ratio = None, None
        for name in source.replicas(key, len(nodes)):
            i = self._index[name]
            if available is not None and not available[i]:
                continue
            if self._fits(i, load, available, shares, total):
                return name
            # Nothing fits only when capacities were floored at 1 (zero weights): least overloaded, as Envoy.
            ratio = Fraction(self._load(i, load), shares.capacity(self._slot(i, available), total))
            if best_ratio is None or ratio < best_ratio:
                best, best_ratio = name, ratio
        if best is None:
            raise NoHealthyNode(f"no available node among the placement's {len(nodes)}")
        return best

    def _choose_envoy(self, source, key, load, available) -> str:
        """Envoy BoundedLoadHashingLoadBalancer::chooseHost (docs/algorithms.md §5.1): the first
        choice if host_active <= slots, else a Fisher-Yates walk drawn from std::mt19937 seeded
        with the key's hash, else the least overloaded host seen."""
        nodes = self._nodes
        candidates = [i for i in range(len(nodes)) if available is None or available[i]]
        if not candidates:
            raise NoHealthyNode(f"no available node among the placement's {len(nodes)}")
        overall = sum(self._load(i, load) for i in range(len(nodes)))  # the cluster's rq_active: every host
        total_slots = -(-(overall + 1) * self.balance_factor.numerator // self.balance_factor.denominator)
        weight_sum = float(sum(float(self._weights[i]) for i in candidates))

        def overload(i: int) -> float:
            weight = float(self._weights[i]) / weight_sum if weight_sum > 0 else 1.0 / len(candidates)
            slots = max(math.ceil(total_slots * weight), 1)
            return self._load(i, load) / slots

        first = source.get_index(key)
        if available is not None and not available[first]:
            first = next(self._index[n] for n in source.replicas(key, len(nodes)) if available[self._index[n]])
        best, best_factor = first, overload(first)
        if best_factor <= 1.0:
            return nodes[first]
        draw = _Mt19937(_envoy_hash(source, key))
        order = list(candidates)
        for i in range(len(order)):
            j = draw.uniform(len(order) - i)
            order[i], order[i + j] = order[i + j], order[i]
            k = order[i]
            if k == first:
                continue
            factor = overload(k)
            if factor <= 1.0:
                return nodes[k]
            if best_factor > factor:
                best, best_factor = k, factor
        return nodes[best]

    def _load(self, i: int, load) -> int:
        return self._counts.get(self._nodes[i], 0) if load is None else load[i]

    def _slot(self, i: int, available) -> int:
        """Position of node i among the candidates (HAProxy's cumulative weight counts only usable servers)."""
        return i if available is None else sum(available[:i])

    def _fits(self, i: int, load, available, shares: _Shares, total: int) -> bool:
        if available is not None and not available[i]:
            return False
        return self._load(i, load) < shares.capacity(self._slot(i, available), total)

    def _shares_for(self, available: list[bool]) -> _Shares:
        if all(available):
            return self._all
        key = bytes(available)
        shares = self._shares_by_mask.get(key)
        if shares is None:
            if len(self._shares_by_mask) > 64:
                self._shares_by_mask.clear()
            picked = [w for w, ok in zip(self._weights, available) if ok]
            shares = self._shares_by_mask[key] = _Shares(self.balance_factor, picked, self.rule)
        return shares

    # -- public ---------------------------------------------------------------------------
    def pick(self, key) -> str:
        """The node a request for `key` would take now (no slot taken)."""
        with self._lock:
            return self._choose(key)

    def acquire(self, key) -> str:
        """Takes a slot on `key`'s bounded node and returns its name; `release(node)` frees it."""
        with self._lock:
            node = self._choose(key)
            if self.view is None:
                self._counts[node] = self._counts.get(node, 0) + 1
                self._total += 1
            else:
                self.view.acquire(node)
        return node

    def release(self, node, ok: bool = True, latency_s: float | None = None) -> None:
        """Frees a slot taken by acquire(); with a view, reports the outcome to it."""
        if self.view is not None:
            self.view.release(node, ok=ok, latency_s=latency_s)
            return
        self._free(node)

    def abandon(self, node) -> None:
        """Frees a slot without an outcome (a cancelled request)."""
        if self.view is not None:
            self.view.abandon(node)
            return
        self._free(node)

    def _free(self, node) -> None:
        with self._lock:
            held = self._counts.get(node, 0)
            if held <= 0:
                raise ValueError(f"node: {quoted(node)} holds no slot taken by acquire()")
            if held == 1:
                del self._counts[node]
            else:
                self._counts[node] = held - 1
            self._total -= 1

    def in_flight(self, node=None):
        """In-flight count of `node`, or a dict over every node."""
        if self.view is not None:
            if node is not None:
                return self.view.in_flight(node)
            flights = self.view.in_flight()
            return {n: flights[n] for n in self.nodes}
        with self._lock:
            if node is not None:
                if node not in self._index:
                    raise KeyError(f"node: unknown node {quoted(node)}")
                return self._counts.get(node, 0)
            return {n: self._counts.get(n, 0) for n in self._nodes}

    def capacity(self, node) -> int:
        """Slots `node` has for the next request under the current load."""
        with self._lock:
            self._current()
            if node not in self._index:
                raise KeyError(f"node: unknown node {quoted(node)}")
            i = self._index[node]
            if self.view is None:
                return self._all.capacity(i, self._total)
            mask = self.view._eligible_mask()
            available = [bool(mask[j]) for j in self._to_view]
            if not available[i]:
                return 0
            flights = self.view.in_flight()
            total = sum(flights[n] for n, ok in zip(self._nodes, available) if ok)
            return self._shares_for(available).capacity(self._slot(i, available), total)

    def lease(self, key) -> "BoundedLease":
        """`with bl.lease(key) as node:` / `async with`: a slot for one request."""
        return BoundedLease(self, key)

    def __repr__(self) -> str:
        return (f"BoundedLoad({self._owner!r}, balance_factor={float(self.balance_factor)!r}, rule={self.rule!r}"
                f"{', view=...' if self.view is not None else ''})")

    def __reduce__(self):
        raise TypeError("BoundedLoad holds live in-flight counts and cannot be pickled; "
                        "build one per process from its placement")


class _Mt19937:
    """std::mt19937 outputs (numpy's legacy MT19937 seeding is init_genrand, as the C++
    engine's; the C++ standard's check value holds: tests/test_bounded_load.py)."""

    __slots__ = ("_state",)

    def __init__(self, seed: int):
        import numpy as np

        self._state = np.random.RandomState(seed & 0xFFFFFFFF)  # std::mt19937 keeps the low 32 bits

    def next(self) -> int:
        return int(self._state.randint(0, 2**32, dtype="uint32"))

    def uniform(self, k: int) -> int:
        """Envoy's uniform_int: r / (2^32 div k), redrawn until < k."""
        x = k
        while x >= k:
            x = self.next() // (2**32 // k)
        return x


def _envoy_hash(source, key) -> int:
    """The request hash Envoy seeds with: the placement's own key hash (hash= and secret)."""
    from .hashing import hash_key

    options = getattr(source, "_options", None) or {}
    name = options.get("hash") or "xxh3"
    try:
        return hash_key(key, name, secret=getattr(source, "_secret", None))
    except (TypeError, ValueError):
        return hash_key(key if isinstance(key, (str, bytes, int)) else str(key))


def _weight(w: object, i: int, rule: str) -> Fraction:
    value = Fraction(repr(w)) if isinstance(w, float) else Fraction(w)
    if value < 0:
        raise ValueError(f"placement.weights[{i}]: negative weight {quoted(w)}")
    if rule == "haproxy" and value.denominator != 1:
        raise ValueError(f"placement.weights[{i}]: rule='haproxy' needs integer weights (HAProxy's eweights), "
                         f"got {quoted(w)}")
    return value


def _check_placement(source) -> None:
    nodes = getattr(source, "nodes", None)
    if not isinstance(nodes, tuple) or not all(hasattr(source, a) for a in ("get_index", "replicas")):
        raise TypeError(f"placement: expected a keyed fastroute placement (HashRing, Maglev, JumpHash, Rendezvous, "
                        f"...) or a compat ring, got {type(source).__name__}")
    if not nodes:
        raise ValueError("placement: has no nodes")


class BoundedLease(KeyLease):
    """One request: a slot on entry, freed on exit (an exception reports a
    failure to the view; a cancellation or `cancel()` reports nothing).
    Exit, cancel(), fail() and succeed() are KeyLease's."""

    __slots__ = ()

    def __enter__(self):
        if self._used:
            raise RuntimeError("lease: already used; call lease(key) once per request")
        self._used = True
        self.node = self._owner.acquire(self._key)
        self._held = True
        view = self._owner.view
        if view is not None:
            try:
                self._start = view._clock_fn()
            except BaseException:
                self.cancel()
                raise
        return self.node

    def _end(self, ok: bool | None, latency_s=None) -> None:
        if not self._held:
            return
        self._held = False
        owner = self._owner
        if ok is None:
            owner.abandon(self.node)
            return
        if latency_s is None and owner.view is not None:
            try:
                latency_s = max(0.0, float(owner.view._clock_fn()) - float(self._start))
            except Exception:
                latency_s = None
        owner.release(self.node, ok=ok, latency_s=latency_s)
