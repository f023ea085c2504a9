# SPDX-License-Identifier: Apache-2.0
"""fastroute: the routing brain for payment systems.

Placement (deterministic key → node) in a Rust core, request-time balancing in
a Cython core; this package only re-exports the public faces.
"""
from ._version import __version__
from ._native import RUST_BUILD_PROFILE, get_include
from .balancers import (
    HAProxyRoundRobin,
    LeastConnections,
    LeastRequest,
    NoHealthyNode,
    PeakEWMA,
    Random,
    RoundRobin,
    SmoothWeightedRoundRobin,
    WeightedRandom,
)
from .health import EnvoyOutlier, HAProxyHealth, NginxHealth, health_policy
from .config import load_haproxy, load_nginx
from .hashing import HASH_ALGORITHMS, hash_key, hash_keys
from .placement import MAX_THREADS, HashRing, IPHash, JumpHash, Maglev, Rendezvous
from .router import Router

__all__ = [
    "HASH_ALGORITHMS",
    "HAProxyRoundRobin",
    "HashRing",
    "IPHash",
    "JumpHash",
    "MAX_THREADS",
    "Maglev",
    "Rendezvous",
    "Router",
    "RUST_BUILD_PROFILE",
    "SmoothWeightedRoundRobin",
    "EnvoyOutlier",
    "HAProxyHealth",
    "LeastConnections",
    "LeastRequest",
    "NginxHealth",
    "NoHealthyNode",
    "PeakEWMA",
    "Random",
    "RoundRobin",
    "WeightedRandom",
    "get_include",
    "health_policy",
    "load_haproxy",
    "load_nginx",
    "__version__",
    "hash_key",
    "hash_keys",
]

# membership, shards and coordination (issue 7); kazoo is imported only when a
# ZooKeeper object is created (extra: fastroute[zookeeper])
from .membership import (FencingChecker, FencingToken, FileMembership, LiveBalancer, Member, MembershipError,
                         NoPrimaryError, ShardLayout, ShardReplica, ShardRouter, Snapshot, StaleTokenError,
                         StaticMembership, ZooKeeperCoordinator, ZooKeeperMembership, follow_router)

__all__ += [
    "FencingChecker", "FencingToken", "FileMembership", "LiveBalancer", "Member", "MembershipError",
    "NoPrimaryError", "ShardLayout", "ShardReplica", "ShardRouter", "Snapshot", "StaleTokenError",
    "StaticMembership", "ZooKeeperCoordinator", "ZooKeeperMembership", "follow_router",
]
