# SPDX-License-Identifier: Apache-2.0
"""Cluster membership: static, file and ZooKeeper sources of immutable snapshots,
live followers for routers and balancers, locks and shard primaries."""
from .base import (STATES, Coordinator, CoordinatorUnavailable, FencingChecker, FencingToken, Member, Membership,
                   MembershipError, NoPrimaryError, Snapshot, StaleTokenError, Subscription)
from .file import FileMembership
from .follow import Follower, LiveBalancer, follow_router
from .static import StaticMembership

__all__ = [
    "STATES", "Coordinator", "CoordinatorUnavailable", "FencingChecker", "FencingToken", "FileMembership",
    "Follower", "LiveBalancer", "Member", "Membership", "MembershipError", "NoPrimaryError", "ShardRouter",
    "ShardReplica", "Snapshot", "StaleTokenError", "StaticMembership", "Subscription", "ZooKeeperCoordinator",
    "ZooKeeperMembership", "follow_router",
]

_LAZY = {"ZooKeeperCoordinator": ".zookeeper", "ZooKeeperMembership": ".zookeeper",
         "ShardRouter": ".shards", "ShardReplica": ".shards"}


def __getattr__(name: str):
    # kazoo is an optional extra: import the ZooKeeper backend only when asked for
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module, __name__), name)
