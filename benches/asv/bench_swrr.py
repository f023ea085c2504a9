# SPDX-License-Identifier: Apache-2.0
"""asv: smooth weighted round robin."""
import fastroute


class SmoothWeightedRoundRobin:
    def setup(self):
        self.sel = fastroute.SmoothWeightedRoundRobin([f"n{i}" for i in range(7)], [1, 2, 3, 5, 1, 8, 2])

    def time_pick(self):
        self.sel.pick()

    def time_pick_many_1m(self):
        self.sel.pick_many(1_000_000)
