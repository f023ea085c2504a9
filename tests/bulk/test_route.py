# SPDX-License-Identifier: Apache-2.0
"""`fastroute route`: every row routed like get_node, nothing lost, atomic output."""
import csv
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from fastroute import cli
from fastroute.bulk import composite_keys, route_file
from fastroute.cluster import parse_cluster

CLUSTER = """
algorithm = "ring"
[[nodes]]
name = "a"
[[nodes]]
name = "b"
weight = 2
[[nodes]]
name = "c"
[[nodes]]
name = "spare"
backup = true
"""
FASTROUTE = str(Path(sys.executable).parent / "fastroute")


@pytest.fixture
def cluster_file(tmp_path):
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER)
    return path


@pytest.fixture
def placement():
    return parse_cluster(CLUSTER).build_placement()


def write_csv(path, rows, header=("id", "card", "merchant")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def sample_rows(n, seed=1):
    rng = np.random.default_rng(seed)
    return [(f"t{i}", f"card-{rng.integers(10**9)}", f"m-{rng.integers(500)}") for i in range(n)]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_to_csv_routes_every_row_like_get_node(tmp_path, cluster_file, placement):
    rows = sample_rows(5000)
    write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    assert cli.main(["route", str(tmp_path / "in.csv"), "--cluster", str(cluster_file), "--key", "card",
                     "-o", str(out), "--batch-rows", "777"]) == 0
    got = read_csv(out)
    assert [(r["id"], r["card"], r["merchant"]) for r in got] == rows
    assert [r["node"] for r in got] == [placement.get_node(card) for _, card, _ in rows]
    assert out.stat().st_mode & 0o777 == 0o600  # routed rows hold card data: owner only


def test_parquet_in_and_out_with_integer_key(tmp_path, cluster_file, placement):
    ids = np.arange(-5000, 5000, dtype=np.int64) * 7919
    table = pa.table({"account": ids, "amount": np.arange(len(ids), dtype=np.float64)})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=999)
    summary = route_file(str(tmp_path / "in.parquet"), parse_cluster(CLUSTER), ["account"],
                         str(tmp_path / "out.parquet"), batch_rows=1234)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column("account").to_pylist() == ids.tolist()
    assert out.column("amount").to_pylist() == table.column("amount").to_pylist()
    assert out.column("node").to_pylist() == [placement.get_node(int(v)) for v in ids]
    assert summary.rows_in == summary.rows_out == len(ids)
    counts = {n["name"]: n["rows"] for n in summary.nodes}
    assert counts["spare"] == 0 and sum(counts.values()) == len(ids)


def test_composite_key_is_length_prefixed_concatenation(tmp_path, cluster_file, placement):
    rows = sample_rows(2000) + [("x", "ab", "c"), ("y", "a", "bc"), ("z", "", "é")]
    write_csv(tmp_path / "in.csv", rows[:-1])  # the empty card would be a bad row
    route_file(str(tmp_path / "in.csv"), parse_cluster(CLUSTER), ["card", "merchant"], str(tmp_path / "o.csv"))
    got = read_csv(tmp_path / "o.csv")

    def key(*parts):
        return b"".join(struct.pack("<I", len(p.encode())) + p.encode() for p in parts)

    assert [r["node"] for r in got] == [placement.get_node(key(c, m)) for _, c, m in rows[:-1]]
    arr = composite_keys([pa.array(["ab", "a", ""]), pa.array(["c", "bc", "é"])])
    assert arr.to_pylist() == [key("ab", "c"), key("a", "bc"), key("", "é")]


def test_split_writes_one_file_per_node(tmp_path, cluster_file, placement):
    rows = sample_rows(3000)
    write_csv(tmp_path / "in.csv", rows)
    split = tmp_path / "by-node"
    assert cli.main(["route", str(tmp_path / "in.csv"), "--cluster", str(cluster_file), "--key", "card",
                     "--split", str(split), "--split-format", "csv"]) == 0
    files = sorted(p.name for p in split.iterdir())
    assert files == ["a.csv", "b.csv", "c.csv"]
    seen = []
    for name in ("a", "b", "c"):
        part = read_csv(split / f"{name}.csv")
        assert {r["node"] for r in part} == {name}
        assert all(placement.get_node(r["card"]) == name for r in part)
        seen += [r["id"] for r in part]
    assert sorted(seen) == sorted(r[0] for r in rows)


def test_replica_columns(tmp_path, cluster_file, placement):
    write_csv(tmp_path / "in.csv", sample_rows(500))
    route_file(str(tmp_path / "in.csv"), parse_cluster(CLUSTER), ["card"], str(tmp_path / "o.csv"), replicas=3)
    for r in read_csv(tmp_path / "o.csv"):
        trio = (r["node"], r["node_replica_1"], r["node_replica_2"])
        assert trio == placement.replicas(r["card"], 3)


def test_bad_rows_error_skip_route_to(tmp_path, cluster_file, placement):
    rows = sample_rows(100)
    rows[10] = ("t10", "", "m")
    write_csv(tmp_path / "in.csv", rows)
    with open(tmp_path / "in.csv", "a") as f:
        f.write("broken,line\n")
    src, out = str(tmp_path / "in.csv"), tmp_path / "o.csv"
    code = cli.main(["route", src, "--cluster", str(cluster_file), "--key", "card", "-o", str(out)])
    assert code == cli.EXIT_BAD_ROW and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]

    rejects = tmp_path / "rejects.csv"
    s = route_file(src, parse_cluster(CLUSTER), ["card"], str(out), on_bad_row="skip", rejects=str(rejects),
                   max_bad_rows=2)
    assert (s.rows_in, s.rows_out, s.rows_skipped) == (101, 99, 2)
    assert s.bad_rows["field_count"] == 1 and s.bad_rows["empty_key"] == 1 and s.bad_row_count == 2
    assert len(read_csv(out)) == 99
    got = list(csv.reader(rejects.read_text().splitlines()))
    assert got[0] == ["line", "reason", "id", "card", "merchant"]
    assert sorted(got[1:]) == [["102", "2 fields, the header has 3", "broken", "line"],
                               ["12", "null or empty key", "t10", "", "m"]]

    s = route_file(src, parse_cluster(CLUSTER), ["card"], str(out), on_bad_row="route-to", route_to="spare",
                   max_bad_rows="2%")
    got = read_csv(out)
    assert (s.rows_out, s.rows_rerouted, s.rows_skipped) == (100, 1, 1)
    assert got[10]["node"] == "spare"
    assert all(r["node"] == placement.get_node(r["card"]) for i, r in enumerate(got) if i != 10)


def test_parquet_null_keys(tmp_path, placement):
    pq.write_table(pa.table({"k": ["x", None, "y"]}), tmp_path / "in.parquet")
    s = route_file(str(tmp_path / "in.parquet"), parse_cluster(CLUSTER), ["k"], str(tmp_path / "o.parquet"),
                   on_bad_row="skip", max_bad_rows=1)
    assert pq.read_table(tmp_path / "o.parquet").column("node").to_pylist() == [placement.get_node("x"),
                                                                                placement.get_node("y")]
    assert s.bad_rows["empty_key"] == 1


def test_stdin_and_stdout(tmp_path, cluster_file, placement):
    rows = sample_rows(300)
    write_csv(tmp_path / "in.csv", rows)
    proc = subprocess.run([FASTROUTE, "route", "-", "--cluster", str(cluster_file), "--key", "card", "-o", "-"],
                          stdin=open(tmp_path / "in.csv", "rb"), capture_output=True, check=True)
    got = list(csv.DictReader(proc.stdout.decode().splitlines()))
    assert [r["node"] for r in got] == [placement.get_node(c) for _, c, _ in rows]
    assert b"rows in 300 = out 300" in proc.stderr


def test_json_summary_and_html_report(tmp_path, cluster_file):
    write_csv(tmp_path / "in.csv", sample_rows(1000))
    report = tmp_path / "r.html"
    proc = subprocess.run([FASTROUTE, "route", str(tmp_path / "in.csv"), "--cluster", str(cluster_file), "--key",
                           "card", "--json", "--report", str(report)], capture_output=True, check=True)
    doc = json.loads(proc.stdout)
    assert doc["rows_in"] == 1000 and doc["rows_out"] == 1000
    assert doc["keyed"] is False  # no secret named: public placement, and the summary says so
    shares = {n["name"]: n["expected_share"] for n in doc["nodes"]}
    assert shares == {"a": 0.25, "b": 0.5, "c": 0.25, "spare": 0.0}
    html = report.read_text()
    assert "<svg" in html and "expected share" in html and ">b<" in html


def test_interrupt_leaves_no_output(tmp_path, cluster_file):
    big = tmp_path / "big.csv"
    with open(big, "w") as f:
        f.write("id,card\n")
        for i in range(400_000):
            f.write(f"{i},card-{i * 7919}\n")
    out = tmp_path / "out.parquet"
    proc = subprocess.Popen([FASTROUTE, "route", str(big), "--cluster", str(cluster_file), "--key", "card",
                             "-o", str(out), "--batch-rows", "200", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline and not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]:
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == cli.EXIT_INTERRUPTED, err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--key", "nope"], "no column 'nope'"),
        (["--key", "card", "--replicas", "4"], "--replicas"),
        (["--key", "card", "--on-bad-row", "drop"], "--on-bad-row"),
        (["--key", "card", "--on-bad-row", "route-to", "--route-to", "zz"], "not a node"),
        (["--key", "card", "--node-column", "merchant"], "already has a column"),
        (["--key", "card", "-o", "x.json"], "-o/--output"),
        (["--key", "card", "--batch-rows", "1000000000"], "--batch-rows"),
    ],
)
def test_usage_errors(tmp_path, cluster_file, capsys, args, fragment):
    write_csv(tmp_path / "in.csv", sample_rows(10))
    code = cli.main(["route", str(tmp_path / "in.csv"), "--cluster", str(cluster_file),
                     "--rejects", str(tmp_path / "rejects.csv")] + args)
    assert code == cli.EXIT_USAGE
    assert fragment in capsys.readouterr().err
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ("in.csv", "cluster.toml")]
    assert leftovers == []  # no rejects file, no temporary file


@pytest.mark.parametrize("servers, used", [
    ("server 10.0.0.1:8443 weight=2; server 10.0.0.2:8443; server 10.0.0.3:8443 down;",
     {"10.0.0.1:8443", "10.0.0.2:8443"}),
    # docs/cluster.md §5.1: names with '/' stay node names (nginx hashes them as written)
    ("server unix:/run/pay-a.sock weight=2; server unix:/run/pay-b.sock; server 10.0.0.3:8443;",
     {"unix:/run/pay-a.sock", "unix:/run/pay-b.sock", "10.0.0.3:8443"}),
], ids=["tcp", "unix-sockets"])
def test_cluster_from_nginx_upstream(tmp_path, servers, used):
    import fastroute

    conf = tmp_path / "nginx.conf"
    conf.write_text(f"http {{ upstream pay {{ hash $arg_card consistent; {servers} }} }}")
    write_csv(tmp_path / "in.csv", sample_rows(3000))
    assert cli.main(["route", str(tmp_path / "in.csv"), "--cluster", f"{conf}:pay", "--key", "card",
                     "-o", str(tmp_path / "o.csv")]) == 0
    selector = fastroute.load_nginx(conf.read_text(), "pay")
    rows = read_csv(tmp_path / "o.csv")
    assert all(r["node"] == selector.get_node(r["card"]) for r in rows)
    assert {r["node"] for r in rows} == used
    conf.write_text("upstream rr { server a:1; server b:1; }")
    assert cli.main(["route", str(tmp_path / "in.csv"), "--cluster", f"{conf}:rr", "--key", "card"]) == 1


def test_route_with_every_primary_down_routes_to_the_backups_and_says_so(tmp_path, capsys):
    """docs/cluster.md §5.1: the one serving rule; this path used to refuse the cluster."""
    path = tmp_path / "cluster.toml"
    path.write_text(CLUSTER.replace('name = "a"', 'name = "a"\ndown = true').replace('name = "b"\nweight = 2',
                                                                                     'name = "b"\nweight = 0')
                    .replace('name = "c"', 'name = "c"\ndown = true'))
    write_csv(tmp_path / "in.csv", sample_rows(200))
    assert cli.main(["route", str(tmp_path / "in.csv"), "--cluster", str(path), "--key", "card",
                     "-o", str(tmp_path / "o.csv")]) == 0
    assert "no primary node is serving; routing to the backup nodes" in capsys.readouterr().err
    assert {r["node"] for r in read_csv(tmp_path / "o.csv")} == {"spare"}
    path.write_text(path.read_text().replace("backup = true", "down = true"))
    assert cli.main(["route", str(tmp_path / "in.csv"), "--cluster", str(path), "--key", "card",
                     "-o", str(tmp_path / "o2.csv")]) == 1
    assert "no node is serving" in capsys.readouterr().err
    assert not (tmp_path / "o2.csv").exists()
