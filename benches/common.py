# SPDX-License-Identifier: Apache-2.0
"""Shared benchmark fixtures. Benchmarks refuse a debug build of the Rust core."""
import numpy as np

import fastroute

if fastroute.RUST_BUILD_PROFILE != "release":
    raise RuntimeError(f"benchmarks need a release build of fastroute._rust, got {fastroute.RUST_BUILD_PROFILE!r}")


def string_keys(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [f"card-{v:012d}" for v in rng.integers(0, 10**12, size=n)]


def u64_keys(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
