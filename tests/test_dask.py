# SPDX-License-Identifier: Apache-2.0
"""fastroute.dask.route on a real LocalCluster (2 worker processes) gives
exactly the single-process answer."""
import numpy as np
import pandas as pd
import pytest

from fastroute.bulk import route_file
from fastroute.cluster import parse_cluster

import dask.dataframe as dd  # in the test extras: a missing install fails, never skips
import distributed

CLUSTER = parse_cluster('algorithm = "maglev"\n[params]\ntable_size = 4099\n'
                        + "".join(f'[[nodes]]\nname = "p{i}"\nweight = {1 + i % 3}\n' for i in range(9)))


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_local_cluster_matches_single_process(client, tmp_path):
    from fastroute import dask as frdask

    rng = np.random.default_rng(3)
    pdf = pd.DataFrame({"card": [f"card-{v}" for v in rng.integers(0, 10**9, 40_000)],
                        "merchant": [f"m-{v}" for v in rng.integers(0, 300, 40_000)],
                        "amount": rng.integers(1, 10**6, 40_000)})
    ddf = dd.from_pandas(pdf, npartitions=8)
    placement = CLUSTER.build_placement()
    got = frdask.route(ddf, CLUSTER, key="card", client=client).compute()
    assert got["node"].astype(str).tolist() == [placement.get_node(c) for c in pdf["card"]]
    assert got["amount"].tolist() == pdf["amount"].tolist()
    # Composite keys agree with `fastroute route` on the same rows.
    pdf.to_csv(tmp_path / "in.csv", index=False)
    route_file(str(tmp_path / "in.csv"), CLUSTER, ["card", "merchant"], str(tmp_path / "out.csv"))
    expected = pd.read_csv(tmp_path / "out.csv")["node"].tolist()
    composite = frdask.route(ddf, CLUSTER, key=["card", "merchant"]).compute()
    assert composite["node"].astype(str).tolist() == expected


def test_bad_arguments():
    from fastroute import dask as frdask

    ddf = dd.from_pandas(pd.DataFrame({"a": ["x"], "node": ["y"]}), npartitions=1)
    with pytest.raises(ValueError, match="no column 'b'"):
        frdask.route(ddf, CLUSTER, key="b")
    with pytest.raises(ValueError, match="already has a column 'node'"):
        frdask.route(ddf, CLUSTER, key="a")


def test_partition_refuses_a_different_table():
    from fastroute.dask import FingerprintMismatch, _route_partition

    placement = CLUSTER.build_placement()
    with pytest.raises(FingerprintMismatch, match="same fastroute version"):
        _route_partition(pd.DataFrame({"a": ["x"]}), placement, "0" * 16, ["a"], "node", list(placement.nodes))


@pytest.mark.parametrize("bad", [None, ""])
def test_partition_refuses_null_and_empty_keys_like_route(bad):
    """One rule for every format (docs/bulk.md): a null or empty key is not routed."""
    from fastroute.dask import _route_partition

    placement = CLUSTER.build_placement()
    frame = pd.DataFrame({"a": ["x", bad, "y"]})
    with pytest.raises(ValueError, match="null or empty values"):
        _route_partition(frame, placement, placement.fingerprint(), ["a"], "node", list(placement.nodes))


def test_keyed_placement_travels_to_workers_with_its_secret(client):
    """docs/algorithms.md §22.4: the pickled table carries the secret, and the
    workers' fingerprint check (which includes the secret's digest) passes."""
    import dataclasses

    from fastroute import dask as frdask

    keyed = dataclasses.replace(CLUSTER, secret=b"dask-workers-share-this-secret")
    pdf = pd.DataFrame({"card": [f"card-{i}" for i in range(5000)]})
    got = frdask.route(dd.from_pandas(pdf, npartitions=4), keyed, key="card", client=client).compute()
    placement = keyed.build_placement()
    assert placement.keyed and "-keyed-" in placement.fingerprint()
    assert got["node"].astype(str).tolist() == [placement.get_node(c) for c in pdf["card"]]
    assert got["node"].astype(str).tolist() != [CLUSTER.build_placement().get_node(c) for c in pdf["card"]]
