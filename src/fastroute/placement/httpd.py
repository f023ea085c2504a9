# SPDX-License-Identifier: Apache-2.0
"""`HttpdStickyRoutes`: the keyed part of an Apache httpd balancer with
`stickysession` (docs/apache.md §8): a session value `ID.ROUTE` goes to the
member whose `route=` is ROUTE (mod_proxy_balancer find_session_route /
find_route_worker, static member status). Anything else — a value without
the separator, a route no member carries, a routed member that cannot serve
and has no usable redirect — httpd balances at request time, so batch
routing refuses it with an error naming the row position (never the value)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..redact import quoted
from ._table import public


@public
class HttpdStickyRoutes:
    """members: (name, route, redirect, usable, standby) tuples in config order."""

    def __init__(self, members: Sequence[Sequence], separator: str | None = "."):
        if isinstance(members, Mapping) or not isinstance(members, Sequence) or not members:
            raise TypeError("members: expected a non-empty sequence of (name, route, redirect, usable, standby)")
        rows = [tuple(m) for m in members]
        for i, row in enumerate(rows):
            if len(row) != 5 or not all(isinstance(x, str) for x in row[:3]) or \
                    not all(isinstance(x, bool) for x in row[3:]):
                raise TypeError(f"members[{i}]: expected (name, route, redirect, usable, standby)")
        if separator is not None and (not isinstance(separator, str) or len(separator) != 1):
            raise ValueError("separator: expected one character or None")
        self.separator = separator
        usable = [r for r in rows if r[3]]
        if not usable:
            raise ValueError("members: no member can serve")
        self.nodes = tuple(r[0] for r in usable)
        index = {n: i for i, n in enumerate(self.nodes)}
        self._by_route: dict[str, int] = {}
        for route in {r[1] for r in rows if r[1]}:
            target = self._resolve(rows, route, 1)
            if target is not None:
                self._by_route[route] = index[target]

    @staticmethod
    def _resolve(rows, route: str, recursion: int) -> str | None:
        # find_route_worker: non-standby members first, then hot standbys; an unusable
        # member's redirect is followed (at most once per member, as httpd's recursion bound)
        for standby_pass in (False, True):
            for name, r, redirect, usable, standby in rows:
                if standby != standby_pass or r != route:
                    continue
                if usable:
                    return name
                if redirect and recursion < len(rows):
                    target = HttpdStickyRoutes._resolve(rows, redirect, recursion + 1)
                    if target is not None:
                        return target
        return None

    def get_node(self, key) -> str:
        return self.nodes[self._index(key, 0)]

    def _index(self, key, position: int) -> int:
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        if not isinstance(key, str):
            key = "" if key is None else str(key)
        route = key
        if self.separator is not None:
            k = key.find(self.separator)
            route = key[k + 1:] if k != -1 else ""
        i = self._by_route.get(route) if route else None
        if i is None:
            raise ValueError(f"a key (position {position} of its batch) carries no route of a usable member; "
                             "httpd balances "
                             "such a session at request time (use fastroute.load_apache in the request path)")
        return i

    def route(self, keys, threads=None) -> np.ndarray:
        if hasattr(keys, "to_pylist"):
            keys = keys.to_pylist()
        return np.fromiter((self._index(k, p) for p, k in enumerate(keys)), dtype=np.int32, count=len(keys))

    def route_replicas(self, keys, replicas: int, threads=None) -> np.ndarray:
        raise ValueError(f"replicas: an httpd sticky route names one member, got replicas={quoted(replicas)}")
