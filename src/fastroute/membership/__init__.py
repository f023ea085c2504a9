# SPDX-License-Identifier: Apache-2.0
"""Cluster membership: static, file and ZooKeeper sources of immutable snapshots,
live followers for routers and balancers, locks and shard primaries.

The ZooKeeper backend imports kazoo only when a ZooKeeper object is created.
"""
from .base import (STATES, Coordinator, CoordinatorPermissionError, CoordinatorTLSError, CoordinatorUnavailable,
                   FencingChecker, FencingToken, Member, Membership, MembershipError, NoPrimaryError, Snapshot,
                   StaleTokenError, Subscription)
from .file import FileMembership
from .follow import Follower, LiveBalancer, follow_router
from .shards import ShardLayout, ShardReplica, ShardRouter, WriteRoute
from .static import StaticMembership
from .zk_security import ZooKeeperACL, ZooKeeperAuth, ZooKeeperTLS
from .zookeeper import ZooKeeperCoordinator, ZooKeeperMembership

__all__ = [
    "STATES", "Coordinator", "CoordinatorPermissionError", "CoordinatorTLSError", "CoordinatorUnavailable",
    "FencingChecker", "FencingToken", "FileMembership",
    "Follower", "LiveBalancer", "Member", "Membership", "MembershipError", "NoPrimaryError", "ShardLayout",
    "ShardReplica", "ShardRouter", "Snapshot", "StaleTokenError", "StaticMembership", "Subscription", "WriteRoute",
    "ZooKeeperACL", "ZooKeeperAuth", "ZooKeeperCoordinator", "ZooKeeperMembership", "ZooKeeperTLS", "follow_router",
]
