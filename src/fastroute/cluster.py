# SPDX-License-Identifier: Apache-2.0
"""Cluster description: the TOML format shared by `fastroute route --cluster`,
`FileMembership` and the demo. The parser lives in `fastroute.membership.cluster_file`
(beside the Member/Snapshot model it produces, so membership never imports this
module); see there for the format.

A parsed cluster is a `fastroute.membership.Snapshot` of `Member`s and is built into a
placement by the one `build_placement` (docs/cluster.md §5.1).
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from .membership.base import PLACEMENTS, Member, Snapshot, build_placement, placement_members
from .membership.cluster_file import cluster_from_dict, load_cluster, parse_cluster

__all__ = ["PLACEMENTS", "build_placement", "cluster_from_dict", "load_cluster", "parse_cluster",
           "placement_members"]


def _deprecated_node_spec(name: str, weight: float = 1.0, address: str | None = None, backup: bool = False,
                          down: bool = False, metadata: Mapping[str, Any] | None = None) -> Member:
    """The former `NodeSpec(...)` call, now a `Member` (`down` wins over `backup`)."""
    state = "down" if down else "backup" if backup else "up"
    return Member(name, weight, address, state, metadata or {})


def _deprecated_cluster_spec(algorithm: str, nodes, params: Mapping[str, Any] | None = None,
                             secret: bytes | None = None) -> Snapshot:
    """The former `ClusterSpec(...)` call, now a `Snapshot` at epoch 0."""
    return Snapshot(tuple(nodes), 0, algorithm=algorithm, params=params or {}, secret=secret)


_DEPRECATED = {"NodeSpec": _deprecated_node_spec, "ClusterSpec": _deprecated_cluster_spec}


def __getattr__(name: str):
    # The two former spec classes: callers built clusters by hand with them.
    if name in _DEPRECATED:
        warnings.warn(f"fastroute.cluster.{name} is deprecated: a cluster is a membership Snapshot of Members "
                      f"(docs/cluster.md §5.1)", DeprecationWarning, stacklevel=2)
        return _DEPRECATED[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

