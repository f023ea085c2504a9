# SPDX-License-Identifier: Apache-2.0
"""One health and load view per upstream (docs/request_path.md §1).

    view = fastroute.HealthView(["a", "b", "c"])           # default policy: Envoy outlier detection
    reads = fastroute.LeastRequest(upstream=view)
    by_card = view.placement(fastroute.HashRing(["a", "b", "c"]))
    with reads.lease() as node: ...                          # one outcome updates the view once
    node = by_card.get_node(card_token)                      # skips unavailable nodes, in replica order

Sinks for active checks and transports: `report_check(node, ok)`,
`set_state(node, state, source="admin" | "agent")`, `set_weight_percent(node, pct)`,
`report(node, ok, latency_s)`, `acquire(node)` / `release(...)` / `abandon(node)`.
The view is thread-safe: every call holds its mutex briefly.
"""
from __future__ import annotations

import numbers
import time

from . import health as _health
from ._native import _cext
from .overload import CircuitBreaker, RetryBudget
from .redact import quoted

NoHealthyNode = _cext.NoHealthyNode
#: The one default passive policy of a HealthView and of every balancer (docs/request_path.md §2).
DEFAULT_POLICY = _health.DEFAULT_POLICY


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= _health.MAX_COUNT:
        raise ValueError(f"{name}: expected an int in [1, {_health.MAX_COUNT}], got {quoted(value)}")
    return int(value)


class HealthView(_cext.HealthView):
    """Per node: admin state, in-flight count, latency EWMA, passive health
    (`health=`, default Envoy outlier detection), active check state (`rise`
    / `fall`), agent state and weight percent, slow-start phase. Shared by any
    number of balancers (`upstream=view`) and placements (`view.placement(p)`)."""

    def __new__(cls, nodes, *, backups=(), health=None, rise=None, fall=None, initially_down=False,
                panic_threshold=0.0, slow_start=None, latency_decay_s=10.0, clock=None, on_state_change=None,
                retry_budget=None, breaker=None):
        from .balancers import _common  # one validation of the shared arguments

        names, _, flags, policy, panic, resolved = _common(
            cls.__name__, nodes, None, backups, health, panic_threshold, clock, on_state_change,
            integer_weights=False, default_health=DEFAULT_POLICY)
        if not isinstance(initially_down, bool):
            raise TypeError(f"initially_down: expected True or False, got {type(initially_down).__name__}")
        if isinstance(latency_decay_s, bool) or not isinstance(latency_decay_s, numbers.Real) \
                or not 0 < latency_decay_s <= _health.MAX_SECONDS:
            raise ValueError(f"latency_decay_s: expected a number of seconds in (0, {_health.MAX_SECONDS:g}], "
                             f"got {quoted(latency_decay_s)}")
        if retry_budget is not None and not isinstance(retry_budget, RetryBudget):
            raise TypeError(f"retry_budget: expected None or a fastroute.RetryBudget, got "
                            f"{type(retry_budget).__name__}")
        if breaker is not None and not isinstance(breaker, CircuitBreaker):
            raise TypeError(f"breaker: expected None or a fastroute.CircuitBreaker, got {type(breaker).__name__}")
        options = {
            "rise": _count(rise, "rise") if rise is not None else None,
            "fall": _count(fall, "fall") if fall is not None else None,
            "initially_down": initially_down,
            "latency_decay_s": float(latency_decay_s),
            "track_latency": True,
            "slow_start": _health.native_slow_start(slow_start),
        }
        self = _cext.HealthView.__new__(cls, tuple(names), flags, policy, panic, clock, on_state_change, options)
        self._clock_fn = clock or time.monotonic
        self._policy = resolved
        self._slow_start = slow_start
        self.retry_budget = retry_budget if retry_budget is not None else RetryBudget(clock=clock)
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        return self

    @property
    def policy(self):
        """The passive health policy (None: passive outcomes never fail a node)."""
        return self._policy

    def placement(self, placement):
        """`placement` (HashRing, Maglev, JumpHash, Rendezvous, IPHash...) made
        health-aware over this view (fastroute.HealthAware)."""
        from .health_placement import HealthAware

        return HealthAware(placement, self)

    def __repr__(self) -> str:
        return f"HealthView(nodes={self.nodes!r}, health={self._policy!r})"

    def __reduce__(self):
        raise TypeError("HealthView holds live request state and cannot be pickled; "
                        "build one per process from its configuration")


Upstream = HealthView
