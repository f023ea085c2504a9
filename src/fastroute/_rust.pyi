# SPDX-License-Identifier: Apache-2.0
# Stubs for the Rust placement engine (fastroute._rust). Private: use the public classes.
from typing import final

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

__all__ = [
    "CsvFramer", "MAX_MAGLEV_TABLE_SIZE", "MAX_RING_POINTS", "MAX_THREADS", "NginxHashOps", "PlacementTable",
    "RingOps", "__version__", "build_profile", "hash_batch", "hash_one", "pan_tokens",
]

__version__: str
build_profile: str
MAX_THREADS: int
MAX_RING_POINTS: int
MAX_MAGLEV_TABLE_SIZE: int

def hash_batch(keys: tuple, algorithm_name: str, seed: int, secret: bytes | None = None) -> npt.NDArray[np.uint64]: ...
def hash_one(key: str | bytes | int, algorithm_name: str, seed: int, secret: bytes | None = None) -> int: ...

@disjoint_base
class PlacementTable:
    def __new__(
        cls,
        kind: str,
        names: list[str],
        weights: list[float],
        hash_name: str = "xxh3",
        mode: str = "fixed",
        points_per_weight: float = 160.0,
        min_ring_size: int = 1024,
        max_ring_size: int = 8388608,
        lookup: str = "at_or_after",
        table_size: int = 65537,
        flavor: str = "libketama",
        vnodes: list[int] | None = None,
        replicas: int = 4,
        text_keys: bool = False,
        avalanche: bool = False,
        hash_key: str = "id",
        puids: list[int] | None = None,
        addrs: list[int] | None = None,
        ports: list[int] | None = None,
        normalized_weights: bool = False,
        secret: bytes | None = None,
    ) -> PlacementTable: ...
    def get_index(self, key: str | bytes | int) -> int: ...
    def get_node(self, key: str | bytes | int) -> str: ...
    def get_index_hashed(self, hash: int) -> int: ...
    def get_index_unfinished(self, value: int) -> int: ...
    def replicas(self, key: str | bytes | int, n: int) -> tuple[str, ...]: ...
    def replica_indices(self, key: str | bytes | int, n: int) -> list[int]: ...
    @property
    def keyed(self) -> bool: ...
    def fingerprint(self) -> str: ...
    def _route(self, keys: tuple, threads: int | None = None) -> npt.NDArray[np.int32]: ...
    def _route_hashed(self, hashes: npt.NDArray[np.uint64], threads: int | None = None) -> npt.NDArray[np.int32]: ...
    def _route_replicas(self, keys: tuple, n: int, threads: int | None = None) -> npt.NDArray[np.int32]: ...
    def _ring(self) -> RingOps: ...
    def _nginx_hash(self) -> NginxHashOps: ...
    def _table_stats(self) -> tuple[int, int]: ...

@final
class RingOps:
    """Ring-shaped tables only (ring, ketama, nginx/HAProxy consistent): PlacementTable._ring()."""

    def points(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32]]: ...
    def position(self, key: str | bytes | int) -> int: ...
    def assign_bounded(self, keys: tuple, c: float, weights: list[float]) -> npt.NDArray[np.int32]: ...

@final
class NginxHashOps:
    """nginx plain hash tables only: PlacementTable._nginx_hash()."""

    def attempts(self, key: str | bytes | int) -> list[int]: ...
    def route_usable(self, keys: tuple, usable: list[bool], threads: int | None = None) -> npt.NDArray[np.int32]: ...

@final
class CsvFramer:
    """CSV record framing for `fastroute route` (rust/engine/src/csv_frame.rs)."""

    def __new__(cls, max_row_bytes: int) -> CsvFramer: ...
    expected_fields: int
    @property
    def next_line(self) -> int: ...
    def frame(
        self, buf: bytes, offset: int, at_eof: bool, max_records: int
    ) -> tuple[int, npt.NDArray[np.int64], npt.NDArray[np.uint64], int, list[tuple[int, int, int, int, int]], int, int, int, npt.NDArray[np.uint64]]: ...

def pan_tokens(
    keys: tuple, secret: bytes, check_luhn: bool, hex: bool, threads: int | None = ...
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]: ...
