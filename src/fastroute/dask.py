# SPDX-License-Identifier: Apache-2.0
"""Routing beyond one machine with Dask (docs/cluster.md §7).

`route(ddf, cluster, key=...)` adds the node column partition by partition
with `map_partitions`. The placement travels to workers by its configuration
(pickling rebuilds the table there) and every partition checks that the
rebuilt table has the driver's fingerprint before routing, so a worker with a
different fastroute version can never route silently differently.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bulk import composite_keys
from .bulk.step import bad_key_mask
from .cluster import load_cluster
from .membership.base import Snapshot
from .redact import quoted


class FingerprintMismatch(RuntimeError):
    """A worker rebuilt a different table than the driver's."""


def _route_partition(pdf, placement, expected_fingerprint: str, key: list[str], node_column: str, names: list[str]):
    import pandas as pd
    import pyarrow as pa

    got = placement.fingerprint()
    if got != expected_fingerprint:
        raise FingerprintMismatch(f"worker table {got} != driver table {expected_fingerprint}; "
                                  "install the same fastroute version on every worker")
    out = pdf.copy()
    if len(pdf) == 0:
        out[node_column] = pd.Categorical([], categories=names)
        return out
    columns = [pa.array(pdf[k].to_numpy(), from_pandas=True) for k in key]
    # The bulk rule, for every format: a null or empty key is a bad row (docs/bulk.md).
    for k, col in zip(key, columns):
        if bad_key_mask([col]) is not None:
            raise ValueError(f"key: column {quoted(k)} has null or empty values in a partition; "
                             "fill or drop them first")
    keys = columns[0] if len(columns) == 1 else composite_keys(columns)
    index = placement.route(keys)
    out[node_column] = pd.Categorical.from_codes(index.astype(np.int32), categories=names)
    return out


def route(ddf, cluster: Snapshot | str, key: str | Sequence[str], *, node_column: str = "node", client=None):
    """Returns `ddf` with `node_column` (categorical of node names) added.

    cluster: a cluster Snapshot (`fastroute.cluster.parse_cluster`) or a path to a cluster TOML file.
    key: a column name or several (composite key, as `fastroute route`).
    client: a distributed Client; when given, the placement is scattered to
    every worker once instead of being embedded in each task.
    """
    import pandas as pd

    spec = load_cluster(cluster) if isinstance(cluster, str) else cluster
    placement = spec.build_placement()
    keys = [key] if isinstance(key, str) else list(key)
    missing = [k for k in keys if k not in ddf.columns]
    if missing:
        raise ValueError(f"key: no column {quoted(missing[0])}; columns are {list(ddf.columns)}")
    if node_column in ddf.columns:
        raise ValueError(f"node_column: the frame already has a column {quoted(node_column)}")
    names = list(placement.nodes)
    meta = ddf._meta.copy()
    meta[node_column] = pd.Categorical([], categories=names)
    shipped = client.scatter(placement, broadcast=True) if client is not None else placement
    return ddf.map_partitions(_route_partition, shipped, placement.fingerprint(), keys, node_column, names, meta=meta)
