# SPDX-License-Identifier: Apache-2.0
"""Pickles made before the placement module became a package (main at
da5b99a, data in tests/data/placement_pickles_da5b99a.json) still load, give
the same table and route the same keys; new pickles name `fastroute.placement`.

Regenerate the data only on a build that predates the change under test:
`python -m tests.placement.test_pickles > tests/data/placement_pickles_<rev>.json`.
"""
import base64
import json
import pickle
from pathlib import Path

import pytest

import fastroute
from fastroute import placement
from fastroute.placement import (HAProxyConsistentHash, HAProxyMapHash, Ketama, NginxConsistentHash,
                                 NginxPlainHash)

DATA = Path(__file__).resolve().parents[1] / "data" / "placement_pickles_da5b99a.json"
TEXT_KEYS = ["4111-order-1", "merchant-77", "", "tx-" + "9" * 30, "10.1.2.3", b"\x00\xff", 2**63]
ADDRESSES = ["0.0.0.0", "10.1.2.3", "10.1.2.200", "2001:db8::1", "192.168.7.9", 3232237321]
NODES = ["n-a", "n-b", "n-c", "n-d"]
#: Built on main before the change; keyword options exercise every stored field.
CASES = [
    ("HashRing", (NODES, [1, 2, 3, 0.5]), {"points_per_weight": 40, "hash": "xxh64", "lookup": "nearest"}),
    ("HashRing", (NODES,), {"mode": "normalized", "min_ring_size": 64, "max_ring_size": 4096,
                            "weights_are_shares": True}),
    ("Maglev", (NODES, [1, 1, 2, 3]), {"table_size": 251, "hash": "murmur2"}),
    ("JumpHash", (NODES,), {"hash": "crc32"}),
    ("Rendezvous", (NODES, [3, 1, 1, 2]), {}),
    ("IPHash", (NODES, [1, 2, 1, 1]), {}),
]


def _keys(name: str) -> list:
    return ADDRESSES if name == "IPHash" else TEXT_KEYS


def _record(name, args, kwargs) -> dict:
    table = getattr(fastroute, name)(*args, **kwargs)
    return {"class": name, "pickle": base64.b64encode(pickle.dumps(table, protocol=2)).decode(),
            "fingerprint": table.fingerprint(), "nodes": [table.get_node(k) for k in _keys(name)]}


def _records() -> list[dict]:
    return json.loads(DATA.read_text()) if DATA.exists() else []  # missing data fails the coverage test


def test_data_covers_every_case():
    assert [r["class"] for r in _records()] == [c[0] for c in CASES]


@pytest.mark.parametrize("record", _records(), ids=lambda r: r["class"])
def test_old_pickle_loads_into_the_same_table(record):
    table = pickle.loads(base64.b64decode(record["pickle"]))
    assert type(table) is getattr(fastroute, record["class"])
    assert table.fingerprint() == record["fingerprint"]
    assert [table.get_node(k) for k in _keys(record["class"])] == record["nodes"]


@pytest.mark.parametrize("name,args,kwargs", CASES, ids=[c[0] for c in CASES])
def test_new_pickles_name_the_public_package(name, args, kwargs):
    table = getattr(fastroute, name)(*args, **kwargs)
    data = pickle.dumps(table)
    assert b"fastroute.placement\x94" in data or b"fastroute.placement\n" in data
    assert b"fastroute.placement." not in data  # no private module path (ring, _table, ...)
    assert pickle.loads(data) == table


def test_public_import_paths():
    for name in placement.__all__:
        if not name.startswith("MAX"):
            cls = getattr(placement, name)
            assert cls.__module__ == "fastroute.placement", name
    for name in ("HashRing", "Maglev", "JumpHash", "Rendezvous", "IPHash", "MAX_THREADS"):
        assert getattr(fastroute, name) is getattr(placement, name)


@pytest.mark.parametrize("table", [
    NginxConsistentHash(["s1", "s2", "s3"], [1, 2, 3]), NginxPlainHash(["s1", "s2", "s3"], [2, 1, 1]),
    HAProxyMapHash(["s1", "s2", "s3"], [1, 2, 3], "wt6", avalanche=True),
    HAProxyConsistentHash(["s1", "s2", "s3"], [1, 2, 3], "crc32", hash_key="addr-port", addresses=[1, 2, 3],
                          ports=[80, 80, 81]),
    Ketama(["s1", "s2", "s3"], [1, 2, 3], flavor="uhashring_meta", vnodes=[160, 10, 0], text_keys=True),
    Ketama(["s1", "s2", "s3"], [1.5, 2, 3]),
], ids=lambda t: type(t).__name__)
def test_compatibility_kinds_pickle_by_configuration(table):
    copy = pickle.loads(pickle.dumps(table))
    assert copy == table and copy.fingerprint() == table.fingerprint() and repr(copy) == repr(table)
    assert copy.route(TEXT_KEYS).tolist() == table.route(TEXT_KEYS).tolist()


if __name__ == "__main__":
    print(json.dumps([_record(*case) for case in CASES], indent=1))
