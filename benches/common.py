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


def searchsorted_ring(names: list[str], points_per_node: int = 160):
    """Baseline: a numpy ring (sorted uint64 points + np.searchsorted), the
    usual pure-numpy way to route hashed keys in batch."""
    import xxhash

    pts, owners = [], []
    for i, name in enumerate(names):
        for j in range(points_per_node):
            pts.append(xxhash.xxh3_64_intdigest(f"{name}_{j}".encode()))
            owners.append(i)
    order = np.argsort(np.array(pts, dtype=np.uint64), kind="stable")
    points = np.array(pts, dtype=np.uint64)[order]
    owner = np.array(owners, dtype=np.int32)[order]

    def route_hashed(hashes: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(points, hashes, side="left")
        idx[idx == len(points)] = 0
        return owner[idx]

    return route_hashed


NAMES_100 = [f"10.0.{i // 256}.{i % 256}:8443" for i in range(100)]
NAMES_1000 = [f"10.1.{i // 256}.{i % 256}:8443" for i in range(1000)]
