# SPDX-License-Identifier: Apache-2.0
"""Cluster membership: static, file, ZooKeeper and etcd sources of immutable snapshots,
live followers for routers and balancers, locks and shard primaries.

The ZooKeeper backend imports kazoo only when a ZooKeeper object is created; the etcd
backend (`fastroute.membership.etcd`) needs only the standard library.
"""
from .base import (STATES, Coordinator, CoordinatorPermissionError, CoordinatorTLSError, CoordinatorUnavailable,
                   FencingChecker, FencingToken, Liveness, LockLostError, Member, Membership, MembershipError,
                   NoPrimaryError, NoServingMemberError, Snapshot, StaleTokenError, Subscription,
                   build_placement, placement_members)
from .etcd import EtcdCoordinator, EtcdMembership
from .file import FileMembership
from .follow import Follower, LiveBalancer, follow_router
from .shards import ShardLayout, ShardReplica, ShardRouter, WriteRoute
from .static import StaticMembership
from .zk_security import ZooKeeperACL, ZooKeeperAuth, ZooKeeperTLS
from .zookeeper import ZooKeeperCoordinator, ZooKeeperMembership

__all__ = [
    "STATES", "Coordinator", "CoordinatorPermissionError", "CoordinatorTLSError", "CoordinatorUnavailable",
    "EtcdCoordinator", "EtcdMembership", "FencingChecker", "FencingToken", "FileMembership", "Liveness",
    "LockLostError", "Follower", "LiveBalancer", "Member", "Membership", "MembershipError", "NoPrimaryError", "NoServingMemberError",
    "ShardLayout",
    "ShardReplica", "ShardRouter", "Snapshot", "StaleTokenError", "StaticMembership", "Subscription", "WriteRoute",
    "ZooKeeperACL", "ZooKeeperAuth", "ZooKeeperCoordinator", "ZooKeeperMembership", "ZooKeeperTLS", "build_placement", "follow_router",
    "placement_members",
]
