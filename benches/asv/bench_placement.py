# SPDX-License-Identifier: Apache-2.0
"""asv: placement lookups and builds. cd benches && asv run --python=same --quick"""
import numpy as np

import fastroute

NAMES = [f"10.0.{i // 256}.{i % 256}:8443" for i in range(100)]


class RouteHashed:
    params = (["ring", "maglev", "jump"], [1, 2])
    param_names = ["algorithm", "threads"]

    def setup(self, algorithm, threads):
        cls = {"ring": fastroute.HashRing, "maglev": fastroute.Maglev, "jump": fastroute.JumpHash}[algorithm]
        self.placement = cls(NAMES)
        self.keys = np.random.default_rng(0).integers(0, 2**63, size=1_000_000, dtype=np.uint64)

    def time_route_hashed_1m(self, algorithm, threads):
        self.placement.route_hashed(self.keys, threads=threads)


class GetNode:
    params = ["ring", "maglev", "jump", "rendezvous"]
    param_names = ["algorithm"]

    def setup(self, algorithm):
        cls = {"ring": fastroute.HashRing, "maglev": fastroute.Maglev, "jump": fastroute.JumpHash,
               "rendezvous": fastroute.Rendezvous}[algorithm]
        self.get_node = cls(NAMES).get_node

    def time_get_node_str(self, algorithm):
        self.get_node("card-000000123456")


class Build:
    def setup(self):
        self.names = [f"n{i}" for i in range(1000)]

    def time_ring_1000x160(self):
        fastroute.HashRing(self.names)

    def time_maglev_1000(self):
        fastroute.Maglev(self.names)

    def peakmem_ring_1000x160(self):
        fastroute.HashRing(self.names)
