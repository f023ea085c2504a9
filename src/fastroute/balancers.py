# SPDX-License-Identifier: Apache-2.0
"""Request-time balancers: validated Python faces over `fastroute._cext`.

Each public class subclasses its compiled class, so `pick()` runs at C speed;
only construction goes through Python validation.
"""
from __future__ import annotations

from ._native import _cext
from ._validate import int_weights, nodes_and_weights


class SmoothWeightedRoundRobin(_cext.SmoothWeightedRoundRobin):
    """nginx's smooth weighted round robin: weights 5,1,1 pick a a b a c a a.

    nodes: sequence of distinct names, or a mapping name → weight.
    weights: non-negative integers (nginx `weight=`), not all zero; default 1 each.
    """

    __slots__ = ()

    def __new__(cls, nodes, weights=None):
        names, raw = nodes_and_weights(nodes, weights)
        return super().__new__(cls, names, int_weights(raw, len(names)))

    def __repr__(self) -> str:
        return f"SmoothWeightedRoundRobin(nodes={self.nodes!r}, weights={self.weights!r})"
