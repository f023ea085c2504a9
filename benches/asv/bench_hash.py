# SPDX-License-Identifier: Apache-2.0
"""asv: key hashing. Run: cd benches && asv run --python=same --quick"""
import numpy as np

import fastroute


class HashKeys:
    def setup(self):
        rng = np.random.default_rng(0)
        self.u64 = rng.integers(0, 2**63, size=1_000_000, dtype=np.uint64)
        self.strs = [f"card-{v:012d}" for v in self.u64[:1_000_000] % 10**12]

    def time_u64(self):
        fastroute.hash_keys(self.u64)

    def time_str_list(self):
        fastroute.hash_keys(self.strs)
