# SPDX-License-Identifier: Apache-2.0
"""fastroute: the routing brain for payment systems.

Placement (deterministic key → node) in a Rust core, request-time balancing in
a Cython core; this package only re-exports the public faces.
"""
from ._version import __version__
from ._native import RUST_BUILD_PROFILE
from .balancers import SmoothWeightedRoundRobin
from .hashing import HASH_ALGORITHMS, hash_key, hash_keys
from .placement import JumpHash

__all__ = [
    "HASH_ALGORITHMS",
    "JumpHash",
    "RUST_BUILD_PROFILE",
    "SmoothWeightedRoundRobin",
    "__version__",
    "hash_key",
    "hash_keys",
]
