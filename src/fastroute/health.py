# SPDX-License-Identifier: Apache-2.0
"""Health policies shared by every balancer: passive outlier detection from
reported outcomes, with the knobs (and defaults, docs/cluster.md §6) of nginx,
Envoy and HAProxy. Pass one as `health=` to a balancer, or a name:
"nginx", "envoy", "haproxy" (defaults), "none" — or `health_policy("nginx", max_fails=3)`.
Slow start (docs/request_path.md §4): `SlowStart` (Envoy) and `HAProxySlowStart`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields

from ._native import _cext
from .redact import quoted

NoHealthyNode = _cext.NoHealthyNode

_KIND_CODES = {"nginx": 1, "envoy": 2, "haproxy": 3}
ON_ERROR = ("fail-check", "mark-down")
#: Bounds of integer knobs (counts) and of durations / percentages.
MAX_COUNT = 2**31 - 1
MAX_SECONDS = 1e12


@dataclass(frozen=True)
class NginxHealth:
    """nginx `max_fails` / `fail_timeout`: after max_fails failures within
    fail_timeout seconds a server is skipped for fail_timeout seconds; each
    failure lowers its effective weight by weight/max_fails (round robin
    family). max_fails=0 disables the accounting. A one-server group (no
    backup) is never marked down."""

    max_fails: int = 1
    fail_timeout: float = 10.0
    kind = "nginx"


@dataclass(frozen=True)
class EnvoyOutlier:
    """Envoy outlier detection (consecutive failures): eject for
    base_ejection_time × times ejected (capped at max_ejection_time), never
    ejecting more than max_ejection_percent of the nodes (one is always
    ejectable). The multiplier decays by one per `interval` spent healthy and,
    as in Envoy's ejectHost, stops growing once base × multiplier reaches
    max_ejection_time + base. An ejection ends when its time is up; the
    failure counter restarts then and after an ejection the percentage refused."""

    consecutive_failures: int = 5
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    max_ejection_percent: float = 10.0
    kind = "envoy"


#: The one default passive policy of every HealthView and every balancer,
#: standalone or over a view (docs/request_path.md §2).
DEFAULT_POLICY = EnvoyOutlier()


@dataclass(frozen=True)
class HAProxyHealth:
    """HAProxy checks: `fall` consecutive failed checks take a server DOWN,
    `rise` good ones bring it UP (report_check()); with `observe`,
    `error_limit` consecutive request errors trigger `on_error`
    ("fail-check": count as a failed check; "mark-down": DOWN at once)."""

    rise: int = 2
    fall: int = 3
    error_limit: int = 10
    on_error: str = "fail-check"
    kind = "haproxy"


_POLICIES = {"nginx": NginxHealth, "envoy": EnvoyOutlier, "haproxy": HAProxyHealth}
HealthPolicy = NginxHealth | EnvoyOutlier | HAProxyHealth


def health_policy(kind: str, **knobs) -> HealthPolicy:
    """A validated policy: unknown kinds or knob names are errors that list the valid ones."""
    cls = _POLICIES.get(kind)
    if cls is None:
        raise ValueError(f"health: unknown policy {quoted(kind)}; expected one of {sorted(_POLICIES)}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(knobs) - set(valid))
    if unknown:
        raise TypeError(f"health: unknown {kind} knob(s) {unknown}; valid knobs: {valid}")
    policy = cls(**knobs)
    _validate(policy)
    return policy


def _validate(policy: HealthPolicy) -> None:
    for f in fields(policy):
        value = getattr(policy, f.name)
        if f.name == "on_error":
            if value not in ON_ERROR:
                raise ValueError(f"health.on_error: expected one of {ON_ERROR}, got {quoted(value)}")
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"health.{f.name}: expected a number, got {type(value).__name__}")
        if f.type in ("int", int):
            if not isinstance(value, numbers.Integral):
                raise TypeError(f"health.{f.name}: expected an int, got {quoted(value)}")
            if not 0 <= value <= MAX_COUNT:
                raise ValueError(f"health.{f.name}: must be an int in [0, {MAX_COUNT}], got {quoted(value)}")
            continue
        try:
            finite = math.isfinite(value)
        except OverflowError:
            finite = False
        if not finite or value < 0 or value > MAX_SECONDS:
            raise ValueError(f"health.{f.name}: must be a finite number in [0, {MAX_SECONDS:g}], got {quoted(value)}")
    if isinstance(policy, EnvoyOutlier):
        if policy.consecutive_failures < 1:
            raise ValueError("health.consecutive_failures: must be >= 1")
        if policy.max_ejection_percent > 100:
            raise ValueError("health.max_ejection_percent: must be <= 100")
    if isinstance(policy, HAProxyHealth):
        for name in ("rise", "fall", "error_limit"):
            if getattr(policy, name) < 1:
                raise ValueError(f"health.{name}: must be >= 1")


def resolve(health: object, default: HealthPolicy | None = None) -> HealthPolicy | None:
    """Accepts None, a policy, a kind name, or a dict {"kind": ..., knobs...}."""
    if health is None:
        return default
    if health == "none":
        return None  # explicit: passive outcomes never fail a node
    if isinstance(health, str):
        return health_policy(health)
    if isinstance(health, dict):
        knobs = dict(health)
        kind = knobs.pop("kind", None)
        if not isinstance(kind, str):
            raise ValueError("health: a dict policy needs 'kind': 'nginx' | 'envoy' | 'haproxy'")
        return health_policy(kind, **knobs)
    if isinstance(health, (NginxHealth, EnvoyOutlier, HAProxyHealth)):
        _validate(health)
        return health
    raise TypeError(f"health: expected None, a policy, a name or a dict, got {type(health).__name__}")


@dataclass(frozen=True)
class SlowStart:
    """Envoy slow start (common.proto SlowStartConfig): a node that becomes
    available again serves with weight × max(min_weight_percent / 100,
    (t / window_s) ** (1 / aggression)) for its first window_s seconds."""

    window_s: float
    aggression: float = 1.0
    min_weight_percent: float = 10.0
    kind = "envoy"


@dataclass(frozen=True)
class HAProxySlowStart:
    """HAProxy `slowstart <time>`: weight ramps linearly from 1/16 to 100 % in
    steps of 1/16 over slowstart_s after the server comes back (not at start)."""

    slowstart_s: float
    kind = "haproxy"


def native_slow_start(slow_start: object) -> dict | None:
    """Validated slow-start settings as the dict fastroute._cext reads (None: off)."""
    if slow_start is None:
        return None
    if isinstance(slow_start, SlowStart):
        window, aggression, minimum = slow_start.window_s, slow_start.aggression, slow_start.min_weight_percent
        for name, value in (("window_s", window), ("aggression", aggression),
                            ("min_weight_percent", minimum)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"slow_start.{name}: expected a finite number, got {quoted(value)}")
        if not 0 < window <= MAX_SECONDS:
            raise ValueError(f"slow_start.window_s: must be in (0, {MAX_SECONDS:g}] seconds, got {quoted(window)}")
        if not aggression > 0:
            raise ValueError(f"slow_start.aggression: must be > 0, got {quoted(aggression)}")
        if not 0 <= minimum <= 100:
            raise ValueError(f"slow_start.min_weight_percent: must be in [0, 100], got {quoted(minimum)}")
        return {"kind": 1, "window_s": float(window), "aggression": float(aggression),
                "min_weight_percent": float(minimum)}
    if isinstance(slow_start, HAProxySlowStart):
        window = slow_start.slowstart_s
        if isinstance(window, bool) or not isinstance(window, numbers.Real) or not math.isfinite(window) \
                or not 0 < window <= MAX_SECONDS:
            raise ValueError(f"slow_start.slowstart_s: must be a number of seconds in (0, {MAX_SECONDS:g}], "
                             f"got {quoted(window)}")
        return {"kind": 2, "window_s": float(window)}
    raise TypeError(f"slow_start: expected None, fastroute.SlowStart or fastroute.HAProxySlowStart, "
                    f"got {type(slow_start).__name__}")


def native_policy(policy: HealthPolicy | None) -> dict:
    """The dict fastroute._cext reads."""
    if policy is None:
        return {"kind": 0}
    out = asdict(policy)
    out["kind"] = _KIND_CODES[policy.kind]
    return out
