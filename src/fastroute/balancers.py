# SPDX-License-Identifier: Apache-2.0
"""Request-time balancers: validated Python faces over `fastroute._cext`.

Each public class subclasses its compiled class, so `pick()`, `acquire()` and
`release()` run at C speed; only construction goes through Python.

Common API: `pick()`, `pick_index()`, `pick_many(n)`, `acquire()` /
`release(node, ok=True, latency_s=None)`, `with sel.lease() as node:` /
`async with sel.lease() as node:` (a cancellation is not a failure),
`report(node, ok, latency_s)`, `report_check(node, ok)` (HAProxy checks),
`abandon(node)` (end an acquired request with no outcome),
`set_state(node, "up" | "down" | "draining")`, `state(node)`, `eligible()`,
`active()`. Health (shared by all): `health=` policy (fastroute.health;
default for every balancer: Envoy outlier detection, fastroute.health.DEFAULT_POLICY,
docs/request_path.md §2; "none" turns passive health off),
`backups=` (serve only when no primary is healthy), `panic_threshold=`
(below this healthy fraction of primaries, route over all primaries that
are neither down nor draining), `clock=` (a callable returning finite
seconds; a NaN, infinity or non-number is an error; default a monotonic C clock),
`on_state_change=` (called with ("ejected" | "restored" | "panic_entered" |
"panic_left", node or None); every event is delivered — `events_dropped`
counts any lost by C-level callers that never return to Python).
`NoHealthyNode` when nothing can serve. `ok=` must be a bool and
`latency_s=` None or a number of seconds; `pick_many(n)` takes 0 <= n <= 2**28.

Thread safety: every call holds the balancer's own mutex for its state
change, so any number of threads (also without the GIL, on free-threaded
CPython) may pick, acquire, release and report concurrently; callbacks run
outside the mutex.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import ClassVar

import numpy as np

from . import health as _health
from ._native import _cext
from ._validate import check_finite, check_int, float_weights, int_weights, nodes_and_weights
from .redact import quoted

NoHealthyNode = _cext.NoHealthyNode
#: Each pick draws choice_count times: a bound keeps a pick O(1).
MAX_CHOICE_COUNT = 1024


def _seed(seed: object) -> int:
    if seed is None:
        return int.from_bytes(os.urandom(8), "little")
    return check_int(seed, "seed", 0, 2**64 - 1, maximum_text="2**64 - 1", wrong_type=ValueError)


def _common(cls_name, nodes, weights, backups, health, panic_threshold, clock, on_state_change, *,
            integer_weights: bool, default_health=None):
    names, raw = nodes_and_weights(nodes, weights)
    if integer_weights:
        w = int_weights(raw, len(names)).astype(np.float64)
    else:
        w = float_weights(raw, len(names))
    if backups is None:
        backups = ()
    if isinstance(backups, (str, bytes)) or not isinstance(backups, Iterable):
        raise TypeError(f"backups: expected a collection of node names, got {type(backups).__name__}")
    # backups are flags, so their order does not matter: a set is fine here
    try:
        backup_set = set(backups)
    except TypeError:
        raise TypeError(f"backups: expected a collection of node names, got {type(backups).__name__}") from None
    unknown = sorted(backup_set - set(names))
    if unknown:
        raise ValueError(f"backups: {unknown} are not among the nodes")
    if backup_set and len(backup_set) == len(names):
        raise ValueError("backups: at least one node must be a primary")
    flags = np.array([n in backup_set for n in names], dtype=np.uint8)
    panic_threshold = check_finite(panic_threshold, "panic_threshold", minimum=0, maximum=1)
    if clock is not None and not callable(clock):
        raise TypeError(f"clock: expected a callable returning seconds, got {type(clock).__name__}")
    if on_state_change is not None and not callable(on_state_change):
        raise TypeError("on_state_change: expected a callable(event, node)")
    policy = _health.resolve(health, default_health)
    return names, w, flags, _health.native_policy(policy), float(panic_threshold), policy


class _Face:
    """Python-side conveniences shared by every balancer."""

    __slots__ = ()
    #: True when the balancer's algorithm counts in integer weights (nginx `weight=`, HAProxy `weight`);
    #: membership followers read it to pass whole numbers.
    integer_weights: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(nodes={self.nodes!r}, weights={self.weights!r})"

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} holds live request state and cannot be pickled; "
                        "build one per process from its configuration")


_VIEW_ARGUMENTS = ("backups", "health", "panic_threshold", "clock", "on_state_change")


def _build(cls, base, nodes, weights, *, backups, health, panic_threshold, clock, on_state_change,
           seed=0, upstream=None, **extra):
    """Validates the shared arguments and creates the compiled balancer."""
    if upstream is not None:
        return _build_over(cls, base, nodes, weights, upstream, integer_weights=cls.integer_weights, seed=seed,
                           view_arguments=dict(backups=backups, health=health, panic_threshold=panic_threshold,
                                               clock=clock, on_state_change=on_state_change), **extra)
    if nodes is None:
        raise TypeError(f"nodes: {cls.__name__} needs nodes (or upstream=, a fastroute.HealthView)")
    names, w, flags, policy, panic, _ = _common(cls.__name__, nodes, weights, backups, health, panic_threshold,
                                                clock, on_state_change, integer_weights=cls.integer_weights,
                                                default_health=_health.DEFAULT_POLICY)
    self = base.__new__(cls, tuple(names), w, flags, policy, panic, clock, on_state_change, _seed(seed), **extra)
    self._clock_fn = clock or time.monotonic
    return self


def _build_over(cls, base, nodes, weights, upstream, *, integer_weights, seed, view_arguments, **extra):
    """A balancer over a shared HealthView (docs/request_path.md §1): the view
    owns nodes, backups, health, panic threshold, clock and notifications."""
    if not isinstance(upstream, _cext.HealthView):
        raise TypeError(f"upstream: expected a fastroute.HealthView, got {type(upstream).__name__}")
    for name in _VIEW_ARGUMENTS:
        value = view_arguments[name]
        if value is None or (name == "backups" and isinstance(value, (tuple, list)) and not value) \
                or (name == "panic_threshold" and value == 0.0 and not isinstance(value, bool)):
            continue
        raise TypeError(f"{name}: belongs to the upstream; set it on the HealthView, not on a balancer over it")
    if nodes is None:
        nodes = upstream.nodes
    names, raw = nodes_and_weights(nodes, weights)
    if tuple(names) != upstream.nodes:
        raise ValueError("nodes: must be the upstream's nodes, in its order (or leave nodes out)")
    if integer_weights:
        w = int_weights(raw, len(names)).astype(np.float64)
    else:
        w = float_weights(raw, len(names))
    backup_set = set(upstream.backups)
    flags = np.array([n in backup_set for n in names], dtype=np.uint8)
    self = base.__new__(cls, tuple(names), w, flags, {"kind": 0}, 0.0, None, None, _seed(seed),
                        upstream=upstream, **extra)
    self._clock_fn = upstream._clock_fn
    return self


class RoundRobin(_Face, _cext.RoundRobin):
    """Round robin over the eligible nodes, in node order."""

    __slots__ = ("_clock_fn",)

    def __new__(cls, nodes=None, *, backups=(), health=None, panic_threshold=0.0, clock=None, on_state_change=None,
                upstream=None):
        return _build(cls, _cext.RoundRobin, nodes, None, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change,
                      upstream=upstream)


class SmoothWeightedRoundRobin(_Face, _cext.SmoothWeightedRoundRobin):
    """nginx's smooth weighted round robin: weights 5,1,1 pick a a b a c a a.

    weights: integers (nginx `weight=`), default 1. Health defaults, as for
    every balancer, to Envoy outlier detection (docs/request_path.md §2);
    `health="nginx"` gives nginx's max_fails=1, fail_timeout=10 s with the
    effective-weight reduction and recovery on reported failures.
    """

    __slots__ = ("_clock_fn",)
    integer_weights = True

    def __new__(cls, nodes=None, weights=None, *, backups=(), health=None, panic_threshold=0.0, clock=None,
                on_state_change=None, upstream=None):
        return _build(cls, _cext.SmoothWeightedRoundRobin, nodes, weights, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change,
                      upstream=upstream)

    @property
    def weights(self):
        return tuple(int(x) for x in super().weights)


class Random(_Face, _cext.Random):
    """Uniform random pick over the eligible nodes; `seed` makes it reproducible."""

    __slots__ = ("_clock_fn",)

    def __new__(cls, nodes=None, *, seed=None, backups=(), health=None, panic_threshold=0.0, clock=None,
                on_state_change=None, upstream=None):
        return _build(cls, _cext.Random, nodes, None, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change, seed=seed,
                      upstream=upstream)


class WeightedRandom(_Face, _cext.WeightedRandom):
    """P(i) = w_i / Σw (Vose alias table, O(1) per pick); `seed` makes it reproducible."""

    __slots__ = ("_clock_fn",)

    def __new__(cls, nodes=None, weights=None, *, seed=None, backups=(), health=None, panic_threshold=0.0, clock=None,
                on_state_change=None, upstream=None):
        return _build(cls, _cext.WeightedRandom, nodes, weights, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change, seed=seed,
                      upstream=upstream)


class LeastConnections(_Face, _cext.LeastConnections):
    """nginx least_conn: fewest in-flight requests per weight, ties by smooth
    weighted round robin. In-flight counts come from acquire()/release()."""

    __slots__ = ("_clock_fn",)
    integer_weights = True

    def __new__(cls, nodes=None, weights=None, *, backups=(), health=None, panic_threshold=0.0, clock=None,
                on_state_change=None, upstream=None):
        return _build(cls, _cext.LeastConnections, nodes, weights, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change,
                      upstream=upstream)


class LeastRequest(_Face, _cext.LeastRequest):
    """Envoy LEAST_REQUEST: power of `choice_count` random choices by active
    requests (equal weights); with unequal weights, earliest-deadline-first over
    w / (active + 1) ** active_request_bias."""

    __slots__ = ("_clock_fn",)

    def __new__(cls, nodes=None, weights=None, *, choice_count=2, active_request_bias=1.0, seed=None, backups=(),
                health=None, panic_threshold=0.0, clock=None, on_state_change=None, upstream=None):
        choice_count = check_int(choice_count, "choice_count", 1, MAX_CHOICE_COUNT, wrong_type=ValueError)
        active_request_bias = check_finite(active_request_bias, "active_request_bias", minimum=0)
        return _build(cls, _cext.LeastRequest, nodes, weights, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change, seed=seed,
                      choice_count=int(choice_count), active_request_bias=float(active_request_bias),
                      upstream=upstream)


class PeakEWMA(_Face, _cext.PeakEWMA):
    """Latency-aware: power of two choices on Finagle's peak-EWMA cost ×
    (in-flight + 1). Feed latencies with release(node, latency_s=...) or lease()."""

    __slots__ = ("_clock_fn",)

    def __new__(cls, nodes=None, *, decay_s=None, seed=None, backups=(), health=None, panic_threshold=0.0, clock=None,
                on_state_change=None, upstream=None):
        if decay_s is None:
            decay_s = upstream.latency_decay_s if isinstance(upstream, _cext.HealthView) else 10.0
        decay_s = check_finite(decay_s, "decay_s", above=0)
        if isinstance(upstream, _cext.HealthView) and float(decay_s) != upstream.latency_decay_s:
            raise ValueError(f"decay_s: the upstream's latency estimate decays with latency_decay_s="
                             f"{upstream.latency_decay_s:g}; got {quoted(decay_s)}")
        return _build(cls, _cext.PeakEWMA, nodes, None, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change, seed=seed,
                      upstream=upstream, tracks_latency=True, latency_decay_s=float(decay_s))


class HAProxyRoundRobin(_Face, _cext.HAProxyRoundRobin):
    """HAProxy `balance roundrobin` (fwrr): integer weights 0..256, HAProxy's
    exact request sequence for a static server set."""

    __slots__ = ("_clock_fn",)
    integer_weights = True

    def __new__(cls, nodes=None, weights=None, *, backups=(), health=None, panic_threshold=0.0, clock=None,
                on_state_change=None, upstream=None):
        if nodes is None and isinstance(upstream, _cext.HealthView):
            nodes = upstream.nodes
        names, raw = nodes_and_weights(nodes, weights)
        if raw is not None:
            int_weights(raw, len(names), maximum=256)
        return _build(cls, _cext.HAProxyRoundRobin, names, raw, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change,
                      upstream=upstream)


# ---- HAProxy leastconn / first / random (docs/algorithms.md §8.6) ----
#: HAProxy server ids (puid) are positive 32-bit ints.
HAPROXY_MAX_SERVER_ID = 2**31 - 1


def _per_server_ints(values, names, name, minimum, maximum, default):
    """None (all `default`), a sequence in node order, or a mapping node -> int (others `default`)."""
    from collections.abc import Mapping

    if values is None:
        return [default] * len(names)
    if isinstance(values, Mapping):
        unknown = [k for k in values if k not in names]
        if unknown:
            raise ValueError(f"{name}: {quoted(unknown)} are not among the nodes")
        values = [values.get(n, default) for n in names]
    elif isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name}: expected a sequence (node order) or a mapping node -> int, "
                        f"got {type(values).__name__}")
    else:
        from ._validate import reject_unordered

        reject_unordered(values, name)
        values = list(values)
        if len(values) != len(names):
            raise ValueError(f"{name}: expected {len(names)} values (one per node), got {len(values)}")
    return [check_int(v, f"{name}[{quoted(n)}]", minimum, maximum) for n, v in zip(names, values)]


def _haproxy_args(nodes, weights, upstream, maxconn):
    if nodes is None and isinstance(upstream, _cext.HealthView):
        nodes = upstream.nodes
    names, raw = nodes_and_weights(nodes, weights)
    if raw is not None:
        int_weights(raw, len(names), maximum=256)
    limits = np.array(_per_server_ints(maxconn, names, "maxconn", 0, 2**31 - 1, 0), dtype=np.int64)
    return names, raw, limits


def _server_ids(server_ids, names):
    ids = _per_server_ints(server_ids, names, "server_ids", 1, HAPROXY_MAX_SERVER_ID, None) \
        if server_ids is not None else list(range(1, len(names) + 1))
    if len(set(ids)) != len(ids):
        raise ValueError("server_ids: must be distinct (HAProxy refuses duplicate server ids)")
    return ids


class HAProxyLeastConn(_Face, _cext.HAProxyLeastConn):
    """HAProxy `balance leastconn` (lb_fwlc.c, 2.6): the usable server with the
    fewest connections per weight, ordered by (in-flight + 1) × 4096 / (weight × 16)
    (0 while idle); equal keys in the order servers were last re-queued (at every
    acquire and release, so held-open requests count). `maxconn`: per-server
    limit (sequence in node order or mapping; 0 = none): a full server is skipped.
    A pick() without acquire() counts as a request that started and ended."""

    __slots__ = ("_clock_fn",)
    integer_weights = True

    def __new__(cls, nodes=None, weights=None, *, maxconn=None, backups=(), health=None, panic_threshold=0.0,
                clock=None, on_state_change=None, upstream=None):
        names, raw, limits = _haproxy_args(nodes, weights, upstream, maxconn)
        return _build(cls, _cext.HAProxyLeastConn, names, raw, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change,
                      upstream=upstream, maxconn=limits)


class HAProxyFirst(_Face, _cext.HAProxyFirst):
    """HAProxy `balance first` (lb_fas.c, 2.6): the usable server with the
    lowest `server_ids` entry (HAProxy's `id`, default 1…n in node order) whose
    in-flight count is below its `maxconn` (0 = no limit: it takes everything).
    Weights only decide usability (0 = not used)."""

    __slots__ = ("_clock_fn",)
    integer_weights = True

    def __new__(cls, nodes=None, weights=None, *, maxconn=None, server_ids=None, backups=(), health=None,
                panic_threshold=0.0, clock=None, on_state_change=None, upstream=None):
        names, raw, limits = _haproxy_args(nodes, weights, upstream, maxconn)
        ids = _server_ids(server_ids, names)
        by_id = np.array(sorted(range(len(names)), key=ids.__getitem__), dtype=np.int32)
        return _build(cls, _cext.HAProxyFirst, names, raw, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change,
                      upstream=upstream, maxconn=limits, by_id=by_id)


class HAProxyRandom(_Face, _cext.HAProxyRandom):
    """HAProxy `balance random(<draws>)` (backend.c get_server_rnd, 2.6): `draws`
    uniform 32-bit values (default 2), each landing on the nearest point of
    HAProxy's consistent-hash tree (weight × 16 points per server from its id,
    fastroute.HAProxyConsistentHash); a later draw replaces the best so far
    unless it has more in flight per weight. A full chosen server (`maxconn`)
    means no server. The ring follows the configured weights; run-time weight
    changes (agent percentages, slow start) change only the load comparison.
    `seed` makes the picks reproducible (HAProxy's own random source cannot be)."""

    __slots__ = ("_clock_fn",)
    integer_weights = True

    def __new__(cls, nodes=None, weights=None, *, draws=2, maxconn=None, server_ids=None, seed=None, backups=(),
                health=None, panic_threshold=0.0, clock=None, on_state_change=None, upstream=None):
        from .placement import HAProxyConsistentHash

        draws = check_int(draws, "draws", 1, MAX_CHOICE_COUNT)
        names, raw, limits = _haproxy_args(nodes, weights, upstream, maxconn)
        ids = _server_ids(server_ids, names)
        w = [1] * len(names) if raw is None else [int(x) for x in int_weights(raw, len(names), maximum=256)]
        pointed = [i for i in range(len(names)) if w[i] > 0]
        ring = HAProxyConsistentHash([names[i] for i in pointed], [w[i] for i in pointed], hash_key="id",
                                     server_ids=[ids[i] for i in pointed])
        points, owners = ring._ring().points()
        owners = np.asarray(pointed, dtype=np.int32)[owners]
        return _build(cls, _cext.HAProxyRandom, names, raw, backups=backups, health=health,
                      panic_threshold=panic_threshold, clock=clock, on_state_change=on_state_change, seed=seed,
                      upstream=upstream, maxconn=limits, points=np.ascontiguousarray(points, dtype=np.int64),
                      owners=np.ascontiguousarray(owners, dtype=np.int32), draws=int(draws))
