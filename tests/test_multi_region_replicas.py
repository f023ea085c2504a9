# SPDX-License-Identifier: Apache-2.0
"""Region-aware replica sets (docs/multi_region.md §6) on every keyed placement,
their batch form, the bulk CLI's --distinct, and localities from the cluster TOML (§1)."""
from __future__ import annotations

import csv
import pickle

import numpy as np
import pytest

from fastroute import cli
from fastroute.cluster import parse_cluster
from fastroute.locality import Locality
from fastroute.placement import (
    HAProxyConsistentHash, HashRing, IPHash, JumpHash, Ketama, Maglev, NginxConsistentHash, Rendezvous,
)

NODES = [f"n{i:02d}" for i in range(45)]
# 3 regions × 3 zones × 5 nodes, interleaved so node order says nothing about zones.
LOCALITIES = [f"r{i % 3}/r{i % 3}-z{(i // 3) % 3}" for i in range(45)]
KINDS = [HashRing, Maglev, JumpHash, Rendezvous, Ketama, NginxConsistentHash, HAProxyConsistentHash]


def build(cls):
    return cls(NODES).with_localities(LOCALITIES)


def expected_distinct(table, key, n, level):
    """Reference: the whole failover order, filtered by hand."""
    out, seen = [], set()
    loc = dict(zip(NODES, LOCALITIES))
    for name in table.replicas(key, len(NODES)):
        code = Locality.parse(loc[name]).level(level)
        if code not in seen:
            seen.add(code)
            out.append(name)
    return tuple(out[:n])


@pytest.mark.parametrize("cls", KINDS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("level, n", [("zone", 3), ("zone", 9), ("region", 3), ("region", 2)])
def test_replicas_distinct_follow_the_failover_order(cls, level, n):
    table = build(cls)
    keys = [f"card-{i}" for i in range(300)]
    for key in keys:
        got = table.replicas(key, n, distinct=level)
        assert got == expected_distinct(table, key, n, level)
        assert got[0] == table.get_node(key)
        assert len({Locality.parse(LOCALITIES[NODES.index(x)]).level(level) for x in got}) == n
    batch = table.route_replicas(keys, n, distinct=level)
    names = np.array(table.nodes)
    assert [tuple(names[row]) for row in batch] == [table.replicas(k, n, distinct=level) for k in keys]


def test_ip_hash_has_distinct_too():
    table = IPHash(NODES).with_localities(LOCALITIES)
    got = table.replicas("192.0.2.7", 3, distinct="region")
    assert got == expected_distinct(table, "192.0.2.7", 3, "region")


def test_too_few_localities_and_none_given():
    table = build(HashRing)
    with pytest.raises(ValueError, match="need 4 regions; the nodes span only 3"):
        table.replicas("k", 4, distinct="region")
    with pytest.raises(ValueError, match="need 10 zones"):
        table.route_replicas(["k"], 10, distinct="zone")
    with pytest.raises(ValueError, match="no localities"):
        HashRing(NODES).replicas("k", 2, distinct="zone")
    with pytest.raises(ValueError, match="distinct"):
        table.replicas("k", 2, distinct="rack")
    with pytest.raises(ValueError, match="localities"):
        HashRing(NODES).with_localities(LOCALITIES[:-1])
    with pytest.raises(TypeError, match="localities"):
        HashRing(NODES).with_localities(set(LOCALITIES))


def test_localities_survive_pickle_and_node_changes():
    table = build(Maglev)
    again = pickle.loads(pickle.dumps(table))
    assert again.localities == table.localities
    assert again.replicas("k", 3, distinct="zone") == table.replicas("k", 3, distinct="zone")
    smaller = table.without_node("n00")
    assert smaller.localities == tuple(Locality.parse(x) for x in LOCALITIES[1:])


def cluster_toml(nodes=NODES, localities=LOCALITIES, algorithm="ring"):
    lines = [f'algorithm = "{algorithm}"']
    for name, loc in zip(nodes, localities):
        lines += ["[[nodes]]", f'name = "{name}"', f'locality = "{loc}"']
    return "\n".join(lines) + "\n"


def test_cluster_toml_localities_and_priority():
    snap = parse_cluster('algorithm = "ring"\n[[nodes]]\nname = "a"\nregion = "eu"\nzone = "eu-1a"\npriority = 1\n'
                         '[[nodes]]\nname = "b"\nlocality = "us/us-1b"\n')
    from fastroute.locality import locality_of, priority_of

    a, b = snap.members
    assert locality_of(a) == Locality("eu", "eu-1a") and priority_of(a) == 1
    assert locality_of(b) == Locality("us", "us-1b") and priority_of(b) == 0
    assert snap.build_placement().localities == (Locality("eu", "eu-1a"), Locality("us", "us-1b"))
    with pytest.raises(ValueError, match=r"nodes\[0\].*locality"):
        parse_cluster('algorithm = "ring"\n[[nodes]]\nname = "a"\nlocality = "eu//x"\n')
    with pytest.raises(ValueError, match="priority"):
        parse_cluster('algorithm = "ring"\n[[nodes]]\nname = "a"\npriority = "high"\n')
    with pytest.raises(ValueError, match="given twice"):
        parse_cluster('algorithm = "ring"\n[[nodes]]\nname = "a"\nzone = "z"\nregion = "r"\n'
                      '[nodes.metadata]\nzone = "y"\n')


def test_bulk_cli_distinct_zone(tmp_path):
    (tmp_path / "c.toml").write_text(cluster_toml())
    with open(tmp_path / "in.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["card", "amount"])
        for i in range(400):
            w.writerow([f"tok-{i}", i])
    code = cli.main(["route", str(tmp_path / "in.csv"), "--cluster", str(tmp_path / "c.toml"), "--key", "card",
                     "--replicas", "3", "--distinct", "zone", "-o", str(tmp_path / "o.csv")])
    assert code == 0
    table = parse_cluster(cluster_toml()).build_placement()
    with open(tmp_path / "o.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 400
    for r in rows:
        trio = (r["node"], r["node_replica_1"], r["node_replica_2"])
        assert trio == table.replicas(r["card"], 3, distinct="zone")


@pytest.mark.parametrize("args, fragment", [
    (["--replicas", "4", "--distinct", "region"], "needs 4 regions"),
    (["--distinct", "zone"], "only with --replicas"),
])
def test_bulk_cli_distinct_usage_errors(tmp_path, capsys, args, fragment):
    (tmp_path / "c.toml").write_text(cluster_toml())
    (tmp_path / "in.csv").write_text("card\nx\n")
    code = cli.main(["route", str(tmp_path / "in.csv"), "--cluster", str(tmp_path / "c.toml"), "--key", "card",
                     "-o", str(tmp_path / "o.csv")] + args)
    assert code == cli.EXIT_USAGE
    assert fragment in capsys.readouterr().err


def test_empty_batch():
    assert build(HashRing).route_replicas([], 3, distinct="zone").shape == (0, 3)


def test_zone_only_localities_pickle():
    table = HashRing(NODES[:4]).with_localities([Locality(zone="a"), Locality(zone="b"), Locality(zone="a"),
                                                 Locality(zone="c")])
    again = pickle.loads(pickle.dumps(table))
    assert again.localities == table.localities
    assert again.replicas("k", 3, distinct="zone") == table.replicas("k", 3, distinct="zone")


def test_library_distinct_error_masks_a_card_number(tmp_path):
    from fastroute.bulk import route_file
    from fastroute.bulk.errors import UsageError

    (tmp_path / "in.csv").write_text("card\nx\n")
    pan = "4111111111111111"
    with pytest.raises(UsageError, match="expected zone or region") as info:
        route_file(str(tmp_path / "in.csv"), parse_cluster(cluster_toml()), "card", str(tmp_path / "o.csv"),
                   replicas=2, distinct=pan)
    assert pan not in str(info.value) and "411111" in str(info.value)
