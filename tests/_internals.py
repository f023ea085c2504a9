# SPDX-License-Identifier: Apache-2.0
"""The only place tests reach private attributes, for facts the public API
does not expose. A refactor that moves an internal changes this file alone."""


def ring_point_owners(ring):
    """Owner index of every point of a HashRing (envoy.RingHash returns one), in ring order."""
    return ring._ring().points()[1]


def ring_points(table):
    """(points, owners) of a native ring table, in ring order."""
    return table._ring().points()


def nginx_hash_attempts(table, key):
    """The peers nginx's plain `hash` tries for `key`, in order (its 21 attempts)."""
    return table._nginx_hash().attempts(key)


def engine_placement_kinds() -> tuple[str, ...]:
    """The engine's kind registry (`KINDS` in rust/engine/src/placement/mod.rs)."""
    from fastroute._native import _rust

    return _rust.PLACEMENT_KINDS


def engine_kind(table_or_face) -> str:
    """The engine kind a placement table (or its face class) is built on."""
    return table_or_face._kind


def raw_placement_table(kind: str, names, weights, options: dict | None, **kwargs):
    """The engine table built directly, past the Python face's checks (the engine's own errors)."""
    from fastroute._native import _rust

    return _rust.PlacementTable(kind, names, weights, options=options, **kwargs)


def table_nbytes(placement) -> int:
    """Bytes held by a placement's native table."""
    return placement._table_stats()[1]


def placement_hash_name(placement) -> str:
    """The key hash a placement was built with (JumpHash/HashRing/… `hash=`; IPHash has none)."""
    return placement._options.get("hash", "xxh3")


def membership_change_lock(change):
    """The coordinator lock a ZooKeeper or etcd membership change holds (for fault injection)."""
    return change._lock


def zookeeper_socket(coordinator):
    """The socket of a ZooKeeperCoordinator's live kazoo connection (kazoo internals)."""
    return coordinator.client._connection._socket


def httpx_rewrites(origin_url: str, url: str) -> tuple[str, str]:
    """(fast, public) rewrites of `url` to the node at `origin_url` by fastroute.httpx:
    the NamedTuple fast path and httpx's own copy_with must agree."""
    import httpx

    from fastroute import httpx as fr_httpx
    from fastroute._client import parse_origins

    origin = parse_origins(["n"], {"n": origin_url})["n"]
    fast = fr_httpx._Rewriter(origin)(httpx.URL(url))
    return str(fast), str(fr_httpx._rewrite_public(httpx.URL(url), origin))


def bounded_mt19937(seed: int):
    """fastroute.bounded's std::mt19937 stand-in (next() / uniform(k))."""
    from fastroute.bounded import _Mt19937

    return _Mt19937(seed)
