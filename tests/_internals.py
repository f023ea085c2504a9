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


def table_nbytes(placement) -> int:
    """Bytes held by a placement's native table."""
    return placement._table_stats()[1]


def placement_hash_name(placement) -> str:
    """The key hash a placement was built with (JumpHash/HashRing/… `hash=`; IPHash has none)."""
    return placement._options.get("hash", "xxh3")


def membership_change_lock(change):
    """The coordinator lock a ZooKeeper or etcd membership change holds (for fault injection)."""
    return change._lock
