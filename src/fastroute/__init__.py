# SPDX-License-Identifier: Apache-2.0
"""fastroute: the routing brain for payment systems.

Placement (deterministic key → node) in a Rust core, request-time balancing in
a Cython core; this package only re-exports the public faces.
"""
from ._version import __version__
from ._native import RUST_BUILD_PROFILE, get_include
from .balancers import (
    HAProxyFirst,
    HAProxyLeastConn,
    HAProxyRandom,
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
from .health import EnvoyOutlier, HAProxyHealth, HAProxySlowStart, NginxHealth, SlowStart, health_policy
from .health_placement import HealthAware
from .bounded import BoundedLoad
from .overload import CircuitBreaker, Overloaded, RetryBudget
from .upstream import HealthView, Upstream
from .hashing import HASH_NAMES, hash_key, hash_keys
from .placement import MAX_THREADS, HashRing, IPHash, JumpHash, Maglev, Rendezvous
from .placement import JumpBackAnchorHash, JumpBackHash
from .router import Router
from .tokens import PanTokenError, load_secret, pan_token, pan_tokens
from .redact import quoted

__all__ = [
    "PanTokenError", "load_secret", "pan_token", "pan_tokens",
    "HASH_NAMES",
    "HAProxyRoundRobin",
    "HAProxyLeastConn", "HAProxyFirst", "HAProxyRandom",
    "HashRing",
    "IPHash",
    "JumpHash",
    "JumpBackHash", "JumpBackAnchorHash",
    "MAX_THREADS",
    "Maglev",
    "Rendezvous",
    "Router",
    "RUST_BUILD_PROFILE",
    "SmoothWeightedRoundRobin",
    "EnvoyOutlier",
    "CircuitBreaker",
    "HAProxySlowStart",
    "HealthAware",
    "BoundedLoad",
    "HealthView",
    "Overloaded",
    "RetryBudget",
    "SlowStart",
    "Upstream",
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

# Membership, shards and coordination, and the config loaders, are imported on
# first use (PEP 562): a `fastroute route` process needs none of them, and they
# are a third of the package's import time. kazoo is imported only when a
# ZooKeeper object is created (extra: fastroute[zookeeper]).
_LAZY = dict.fromkeys(
    ["EtcdCoordinator", "EtcdMembership", "FencingChecker", "FencingToken", "FileMembership", "LiveBalancer",
     "LockLostError", "Member", "MembershipError",
     "NoPrimaryError", "ShardLayout", "ShardReplica", "ShardRouter", "Snapshot", "StaleTokenError",
     "StaticMembership", "ZooKeeperCoordinator", "ZooKeeperMembership", "follow_router",
     "CoordinatorPermissionError", "ZooKeeperACL", "ZooKeeperAuth", "ZooKeeperTLS"], ".membership")
_LAZY.update(load_haproxy=".config", load_nginx=".config")
# Apache httpd mod_proxy_balancer (docs/apache.md)
_LAZY.update(load_apache=".config", apache_checks=".config", HttpdBalancer=".httpd_balancer",
             HttpdMember=".httpd_balancer", StickyRouteUnavailable=".httpd_balancer")
# Multi-region routing (issue 18, docs/multi_region.md).
_LAZY.update(dict.fromkeys(["Locality", "LocalityBalancer", "LiveLocalityBalancer", "locality_of"], ".locality"))
__all__ += list(_LAZY)


def __getattr__(name: str):
    if name == "HASH_ALGORITHMS":  # deprecated old name of HASH_NAMES (hashing.__getattr__ warns)
        from . import hashing

        return hashing.HASH_ALGORITHMS
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastroute' has no attribute {quoted(name)}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
