# SPDX-License-Identifier: Apache-2.0
"""The one rule both config loaders apply to what they do not support
(docs/checks.md §6): by default a warning naming the line, the directive is
ignored; with `strict=True` a ValueError with the same text."""
from __future__ import annotations

import warnings


class UnsupportedDirectiveWarning(UserWarning):
    """A config directive or parameter fastroute ignored."""


def unsupported(where: str, what: str, strict: bool, *, stacklevel: int = 4) -> None:
    message = f"{where}: unsupported {what}"
    if strict:
        raise ValueError(message + " (strict=True)")
    warnings.warn(message + "; ignored (strict=True makes this an error)", UnsupportedDirectiveWarning,
                  stacklevel=stacklevel)


def check_strict(strict: object) -> bool:
    if strict is not True and strict is not False:
        raise TypeError(f"strict: expected True or False, got {type(strict).__name__}")
    return strict


def one_slow_start(servers, attribute: str, where: str, make, strict: bool):
    """The one slow-start setting of an upstream (`make(seconds)`), or None when no
    server has one. A view ramps every node alike, so servers that differ cannot be
    expressed: the unsupported-directive rule (warning, not applied; strict: error)."""
    values = {getattr(s, attribute) or 0 for s in servers}
    if values == {0}:
        return None
    if len(values) > 1:
        unsupported(where, f"mix of per-server {attribute} values {sorted(values)} (fastroute applies one "
                    "slow start per upstream, docs/checks.md §6)", strict, stacklevel=5)
        return None
    return make(values.pop())


def request_path_view(names, backups, health, slow_start, limits):
    """A fastroute.HealthView carrying what the config says about the request path
    (slow start; per-server connection limits as the breaker's per-node limits), or
    None when the config sets neither (the balancer then stays standalone)."""
    if slow_start is None and not limits:
        return None
    from ..overload import CircuitBreaker
    from ..upstream import HealthView

    return HealthView(names, backups=backups, health=health, slow_start=slow_start,
                      breaker=CircuitBreaker(max_requests_per_node=limits) if limits else None)
