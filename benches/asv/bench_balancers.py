# SPDX-License-Identifier: Apache-2.0
"""asv: request-time balancers."""
import fastroute as fr

NODES = [f"n{i}" for i in range(7)]
WEIGHTS = [1, 2, 3, 5, 1, 8, 2]


class Balancers:
    params = ["RoundRobin", "SmoothWeightedRoundRobin", "WeightedRandom", "LeastConnections", "LeastRequest",
              "PeakEWMA"]
    param_names = ["balancer"]

    def setup(self, name):
        cls = getattr(fr, name)
        self.sel = cls(NODES, WEIGHTS) if name in ("SmoothWeightedRoundRobin", "WeightedRandom",
                                                   "LeastConnections") else cls(NODES)

    def time_pick(self, name):
        self.sel.pick()

    def time_acquire_release(self, name):
        self.sel.release(self.sel.acquire())

    def time_pick_many_1m(self, name):
        self.sel.pick_many(1_000_000)
