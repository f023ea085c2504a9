# SPDX-License-Identifier: Apache-2.0
"""Reference: nginx smooth weighted round robin (ALGORITHMS.md §8.1)."""


class SmoothWeightedRoundRobinRef:
    def __init__(self, weights):
        self.weight = list(weights)
        self.effective = list(weights)
        self.current = [0] * len(weights)

    def pick(self) -> int:
        best = None
        total = 0
        for i in range(len(self.weight)):
            self.current[i] += self.effective[i]
            total += self.effective[i]
            if self.effective[i] < self.weight[i]:
                self.effective[i] += 1
            if best is None or self.current[i] > self.current[best]:
                best = i
        self.current[best] -= total
        return best
