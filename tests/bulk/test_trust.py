# SPDX-License-Identifier: Apache-2.0
"""`fastroute route` as a payment batch needs it: no hangs, no hidden rows, no
overwritten inputs, outputs committed as one step (issue 10, one test per defect)."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fastroute import cli
from fastroute.bulk import route_file
from fastroute.bulk import outputs as outputs_module
from fastroute.cluster import parse_cluster

# One cluster and its fixtures for every bulk test (nodes a, b x2, c, and a backup).
from tests.bulk.test_route import CLUSTER, FASTROUTE, cluster_file, placement  # noqa: E402,F401

HEADER = "tx_id,card_number,merchant_id,amount\n"


def tx_lines(n, start=0):
    return [f"t{i},card-{i * 7919 % 1000003},m{i % 97},{i % 1000}.{i % 100:02d}\n" for i in range(start, start + n)]


def write(path, lines, header=HEADER, mode="w"):
    with open(path, mode, newline="") as f:
        f.write(header + "".join(lines))
    return path


def run(*args, timeout=60, **kw):
    return subprocess.run([FASTROUTE, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


def leftovers(directory):
    return sorted(p.name for p in Path(directory).rglob("*") if ".partial" in p.name)


# 1. An error or signal in any stage stops every stage promptly.
def test_bad_row_late_in_a_large_file_stops_promptly(tmp_path, cluster_file):
    src = write(tmp_path / "in.csv", tx_lines(20_000) + ["t-bad,only-two\n"] + tx_lines(50_000, 20_000))
    started = time.monotonic()
    proc = run("route", src, "--cluster", cluster_file, "--key", "card_number", "-o", tmp_path / "o.parquet",
               "--batch-rows", "100", timeout=30)
    assert proc.returncode == cli.EXIT_BAD_ROW, proc.stderr
    assert time.monotonic() - started < 20
    assert "line 20002" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.parquet").exists() and leftovers(tmp_path) == []


# 2. SIGINT, SIGTERM and SIGHUP all clean up and exit 128 + signal.
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_clean_up_and_exit_with_their_code(tmp_path, cluster_file, signum):
    src = write(tmp_path / "in.csv", tx_lines(300_000))
    out = tmp_path / "o.parquet"
    proc = subprocess.Popen([FASTROUTE, "route", str(src), "--cluster", str(cluster_file), "--key", "card_number",
                             "-o", str(out), "--batch-rows", "500", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while time.time() < deadline and not leftovers(tmp_path):
        time.sleep(0.01)
    assert proc.poll() is None, "finished before the signal"
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=20)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 128 + signum, err
    assert signal.Signals(signum).name in err and "nothing was committed" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and leftovers(tmp_path) == []


# 3. An output that resolves to the input is refused before anything is read.
@pytest.mark.parametrize("alias", ["same", "dot", "symlink", "hardlink"])
def test_output_equal_to_input_is_refused(tmp_path, cluster_file, alias, monkeypatch):
    src = write(tmp_path / "in.csv", tx_lines(100))
    before = src.read_bytes()
    target = {"same": str(src), "dot": "./in.csv"}.get(alias)
    if alias == "symlink":
        (tmp_path / "link.csv").symlink_to(src)
        target = str(tmp_path / "link.csv")
    if alias == "hardlink":
        os.link(src, tmp_path / "hard.csv")
        target = str(tmp_path / "hard.csv")
    monkeypatch.chdir(tmp_path)
    for flag in ("-o", "--rejects", "--report"):
        args = ["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", flag, target]
        assert cli.main(args) == cli.EXIT_USAGE
        assert src.read_bytes() == before
    assert cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number",
                     "-o", str(tmp_path / "x.csv"), "--rejects", str(cluster_file)]) == cli.EXIT_USAGE
    assert cluster_file.read_text() == CLUSTER


# 13. Outputs are checked against each other too.
def test_outputs_must_differ_from_each_other(tmp_path, cluster_file):
    src = write(tmp_path / "in.csv", tx_lines(10))
    out = tmp_path / "o.csv"
    assert cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", "-o", str(out),
                     "--rejects", str(out)]) == cli.EXIT_USAGE
    assert cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", "--split",
                     str(tmp_path / "d"), "--rejects", str(tmp_path / "d" / "a.parquet"), "--mkdir"]) == cli.EXIT_USAGE
    assert not out.exists() and not (tmp_path / "d").exists()


# 4. One bad quote is one bad row; a row over the bound is a bad row with its line.
def test_one_bad_quote_does_not_hide_the_rest_of_the_file(tmp_path, cluster_file, placement):
    rows = tx_lines(30_000)
    rows[9] = 't9,"card-9,m9,1.00\n'  # quote never closed
    src = write(tmp_path / "in.csv", rows)
    rejects = tmp_path / "rejects.csv"
    proc = run("route", src, "--cluster", cluster_file, "--key", "card_number", "-o", tmp_path / "o.csv",
               "--on-bad-row", "skip", "--rejects", rejects, "--max-row-bytes", "4096", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["rows_in"], doc["rows_out"], doc["rows_skipped"]) == (30_000, 29_999, 1)
    assert doc["bad_rows"]["unterminated_quote"] == 1
    assert doc["lines_in"] == doc["lines_out"] + doc["lines_rejected"] + doc["blank_lines"] == 30_000
    got = list(csv.reader(rejects.read_text().splitlines()))
    assert [r[:2] for r in got[1:]] == [["11", "unterminated quote"]]
    out = list(csv.DictReader(open(tmp_path / "o.csv")))
    assert len(out) == 29_999 and out[9]["tx_id"] == "t10"
    assert all(r["node"] == placement.get_node(r["card_number"]) for r in out[:500])


def test_summary_prints_the_line_identity(tmp_path, cluster_file):
    src = write(tmp_path / "in.csv", tx_lines(50) + ["\n"] + tx_lines(50, 50))
    proc = run("route", src, "--cluster", cluster_file, "--key", "card_number")
    assert proc.returncode == 0
    assert "lines in 101 = out 100 + rejected 0 + blank 1" in proc.stdout


def test_row_over_max_row_bytes_is_a_bad_row_with_its_line(tmp_path, cluster_file):
    rows = tx_lines(100)
    rows[41] = "t41,card-41,m" + "x" * 5000 + ",1\n"
    src = write(tmp_path / "in.csv", rows)
    proc = run("route", src, "--cluster", cluster_file, "--key", "card_number", "--max-row-bytes", "1000")
    assert proc.returncode == cli.EXIT_BAD_ROW
    assert "line 43" in proc.stderr and "--max-row-bytes 1000" in proc.stderr


# 5. A non-UTF-8 byte is a bad row like any other.
def test_invalid_utf8_is_a_bad_row(tmp_path, cluster_file):
    src = tmp_path / "in.csv"
    src.write_bytes((HEADER + "".join(tx_lines(20))).encode() + b"t20,card-\xff\xfe,m1,2\n" +
                    "".join(tx_lines(20, 21)).encode())
    proc = run("route", src, "--cluster", cluster_file, "--key", "card_number")
    assert proc.returncode == cli.EXIT_BAD_ROW and "line 22" in proc.stderr and "UTF-8" in proc.stderr
    s = route_file(str(src), parse_cluster(CLUSTER), ["card_number"], on_bad_row="skip",
                   rejects=str(tmp_path / "r.csv"), max_bad_rows=1)
    assert (s.rows_in, s.rows_out, s.bad_rows["invalid_utf8"]) == (41, 40, 1)
    rejected = list(csv.reader(open(tmp_path / "r.csv")))
    assert rejected[1][:2] == ["22", "invalid UTF-8"] and rejected[1][3] == "card-\\xff\\xfe"


# 6. Null or empty key: a bad row in every format.
def test_empty_string_key_is_a_bad_row_in_parquet_too(tmp_path):
    pq.write_table(pa.table({"k": ["x", "", "y", None], "v": [1, 2, 3, 4]}), tmp_path / "in.parquet")
    with pytest.raises(ValueError, match="row 2, column 'k': null or empty key"):
        route_file(str(tmp_path / "in.parquet"), parse_cluster(CLUSTER), ["k"])
    s = route_file(str(tmp_path / "in.parquet"), parse_cluster(CLUSTER), ["k"], on_bad_row="skip", max_bad_rows=2)
    assert (s.rows_out, s.bad_rows["empty_key"]) == (2, 2)


# 7. Usage errors exit 2; --json always prints exactly one document.
@pytest.mark.parametrize("extra", [["-o", "x.csv", "--split", "d"], ["--on-bad-row", "drop"], ["--bogus"],
                                   ["--max-bad-rows", "lots"], ["-o", "out.txt"]])
def test_usage_errors_exit_2_with_one_json_document(tmp_path, cluster_file, extra):
    src = write(tmp_path / "in.csv", tx_lines(10))
    proc = run("route", src, "--cluster", cluster_file, "--key", "card_number", "--json", *extra, cwd=tmp_path)
    assert proc.returncode == cli.EXIT_USAGE, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "usage" and doc["exit_code"] == 2 and doc["error"]
    assert len(proc.stderr.strip().splitlines()) == 1


def test_json_on_a_failed_run_has_counts_so_far(tmp_path, cluster_file):
    src = write(tmp_path / "in.csv", tx_lines(3000) + ["t,,m,1\n"] + tx_lines(10, 3000))
    proc = run("route", src, "--cluster", cluster_file, "--key", "card_number", "--json", "--batch-rows", "1000")
    assert proc.returncode == cli.EXIT_BAD_ROW
    doc = json.loads(proc.stdout)
    assert doc["status"] == "bad_row" and doc["exit_code"] == 3 and "line 3002" in doc["error"]
    assert doc["rows_in"] == 3000 and doc["committed"] is False


# 8. Progress: the fraction done, from rows written (Parquet) or bytes read (CSV).
def test_progress_fractions_track_rows_actually_done(tmp_path):
    table = pa.table({"k": [f"k{i}" for i in range(10_000)]})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=1000)
    seen = []
    route_file(str(tmp_path / "in.parquet"), parse_cluster(CLUSTER), ["k"], batch_rows=1000,
               progress=lambda rows, fraction: seen.append((rows, fraction)))
    assert seen == [(1000 * (i + 1), (i + 1) / 10) for i in range(10)]
    write(tmp_path / "in.csv", tx_lines(20_000))
    seen.clear()
    route_file(str(tmp_path / "in.csv"), parse_cluster(CLUSTER), ["card_number"], batch_rows=2000,
               progress=lambda rows, fraction: seen.append(fraction))
    assert len(seen) >= 10 and seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[0] < 0.2


# 9. CSV to Parquet keeps the types Arrow infers; key columns stay text; --schema overrides.
def test_csv_to_parquet_keeps_types(tmp_path, cluster_file):
    src = write(tmp_path / "in.csv", ["t1,0042,7,1.50\n", "t2,0043,8,2.25\n"])
    assert cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number",
                     "-o", str(tmp_path / "o.parquet")]) == 0
    t = pq.read_table(tmp_path / "o.parquet")
    assert t.schema.field("card_number").type == pa.string() and t.column("card_number").to_pylist() == ["0042", "0043"]
    assert t.schema.field("merchant_id").type == pa.int64() and t.schema.field("amount").type == pa.float64()
    assert cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", "--schema",
                     "merchant_id=string", "-o", str(tmp_path / "p.parquet")]) == 0
    assert pq.read_table(tmp_path / "p.parquet").schema.field("merchant_id").type == pa.string()


def test_a_value_that_breaks_the_inferred_type_names_line_and_column(tmp_path, cluster_file, capsys):
    src = write(tmp_path / "in.csv", tx_lines(5000) + ["t,card-x,4111111111111111x,1\n"])
    code = cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number",
                     "-o", str(tmp_path / "o.parquet"), "--batch-rows", "1000", "--schema", "merchant_id=string"])
    assert code == 0
    src = write(tmp_path / "in2.csv", [f"t{i},card-{i},{i},1.0\n" for i in range(3000)] + ["t,card,4111111111111111x,1\n"])
    code = cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number",
                     "-o", str(tmp_path / "q.parquet"), "--batch-rows", "1000"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_FAILURE and "line 3002" in err and "'merchant_id'" in err and "--schema" in err
    assert "4111111111111111" not in err and not (tmp_path / "q.parquet").exists()


# 10. The sample data ships inside the package (the demo works from a wheel).
def test_demo_data_is_package_data(tmp_path):
    import fastroute

    package_dir = Path(fastroute.__file__).resolve().parent
    assert cli._bundled("sample_transactions.csv").resolve().parent == package_dir / "data"
    proc = run("demo", cwd=tmp_path)
    assert proc.returncode == 0 and "rows in 20000 = out 20000" in proc.stdout


# 11. A missing output directory is a usage error unless --mkdir.
def test_missing_output_directory_needs_mkdir(tmp_path, cluster_file):
    src = write(tmp_path / "in.csv", tx_lines(10))
    for flag, target in (("-o", tmp_path / "typo" / "o.csv"), ("--split", tmp_path / "typo" / "split")):
        args = ["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", flag, str(target)]
        assert cli.main(args) == cli.EXIT_USAGE and not (tmp_path / "typo").exists()
        assert cli.main(args + ["--mkdir"]) == 0 and target.exists()
        (tmp_path / "typo").rename(tmp_path / f"done-{flag.strip('-')}")


# 12. Quoted multi-line values across parse blocks; a quoted newline in the header.
def test_multiline_values_across_blocks(tmp_path, cluster_file, placement):
    lines = [f't{i},card-{i},"memo {i}\nsecond line, with comma\r\nthird ""quoted""",{i}\n' for i in range(40_000)]
    src = write(tmp_path / "in.csv", lines, header='tx_id,card_number,"merchant\nid",amount\n')
    for batch in ("1000", "1048576"):
        proc = run("route", src, "--cluster", cluster_file, "--key", "card_number", "-o", tmp_path / "o.csv",
                   "--batch-rows", batch, "--json")
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["rows_out"] == 40_000 and doc["lines_in"] == 120_000 and doc["rows_skipped"] == 0
        got = list(csv.DictReader(open(tmp_path / "o.csv", newline="")))
        assert list(got[0]) == ["tx_id", "card_number", "merchant\nid", "amount", "node"]
        assert got[12345]["merchant\nid"] == 'memo 12345\nsecond line, with comma\r\nthird "quoted"'
        assert all(r["node"] == placement.get_node(r["card_number"]) for r in got[::997])


# 14. Outputs are committed as one step: an interrupt before the first rename keeps
# every previous file; one during the renames waits for them all.
def _previous_outputs(tmp_path):
    out, rejects, report = tmp_path / "o.csv", tmp_path / "r.csv", tmp_path / "report.html"
    for p in (out, rejects, report):
        p.write_text(f"previous {p.name}\n")
    return out, rejects, report


def test_interrupt_before_commit_keeps_every_previous_file(tmp_path, cluster_file, monkeypatch, capsys):
    src = write(tmp_path / "in.csv", tx_lines(100) + ["bad\n"])
    out, rejects, report = _previous_outputs(tmp_path)
    original_close = outputs_module._RejectsWriter.close

    def interrupted_close(self):
        original_close(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs_module._RejectsWriter, "close", interrupted_close)
    code = cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", "-o", str(out),
                     "--rejects", str(rejects), "--report", str(report), "--on-bad-row", "skip",
                     "--max-bad-rows", "5"])
    assert code == cli.EXIT_INTERRUPTED and "nothing was committed" in capsys.readouterr().err
    assert [p.read_text() for p in (out, rejects, report)] == [f"previous {p.name}\n" for p in (out, rejects, report)]
    assert leftovers(tmp_path) == []


def test_interrupt_during_renames_completes_them_and_says_so(tmp_path, cluster_file, monkeypatch, capsys):
    src = write(tmp_path / "in.csv", tx_lines(100) + ["bad\n"])
    out, rejects, report = _previous_outputs(tmp_path)
    original = outputs_module._Temp.publish
    sent = []

    def publish_with_signal(self):
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)  # held back until every rename is done
        original(self)

    monkeypatch.setattr(outputs_module._Temp, "publish", publish_with_signal)
    code = cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", "-o", str(out),
                     "--rejects", str(rejects), "--report", str(report), "--on-bad-row", "skip",
                     "--max-bad-rows", "5"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_SIGTERM and "after all outputs were committed" in err
    assert len(list(csv.DictReader(open(out)))) == 100
    assert rejects.read_text().splitlines()[1].startswith("102,")
    assert "<svg" in report.read_text() and leftovers(tmp_path) == []


# 15. A header-only CSV writes an empty output with the schema.
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_header_only_csv(tmp_path, cluster_file, suffix):
    src = write(tmp_path / "in.csv", [])
    out = tmp_path / f"o.{suffix}"
    assert cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", "-o", str(out)]) == 0
    if suffix == "csv":
        assert out.read_text().strip() == '"tx_id","card_number","merchant_id","amount","node"'
    else:
        assert pq.read_table(out).column_names == ["tx_id", "card_number", "merchant_id", "amount", "node"]


# 16. Dictionary-encoded keys route; binary payloads are written to CSV as hex.
def test_dictionary_keys_and_binary_payload(tmp_path, placement):
    keys = pa.array(["x", "y", "x", "z", ""]).dictionary_encode()
    payload = pa.array([b"\x00\xff", b"ab", None, b"", b"\x10"], type=pa.binary())
    pq.write_table(pa.table({"k": keys, "blob": payload}), tmp_path / "in.parquet")
    s = route_file(str(tmp_path / "in.parquet"), parse_cluster(CLUSTER), ["k"], str(tmp_path / "o.csv"),
                   on_bad_row="skip", rejects=str(tmp_path / "r.csv"), max_bad_rows=1)
    assert s.rows_out == 4
    got = list(csv.DictReader(open(tmp_path / "o.csv")))
    assert [r["blob"] for r in got] == ["00ff", "6162", "", ""]
    assert [r["node"] for r in got] == [placement.get_node(k) for k in ("x", "y", "x", "z")]
    assert list(csv.reader(open(tmp_path / "r.csv")))[1] == ["5", "null or empty key", "", "10"]


# 17. A full disk is reported as what it is; the previous outputs stay.
def test_full_disk_while_writing_rejects(tmp_path, cluster_file):
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True)
    assert mounted.returncode == 0, f"this test mounts a small tmpfs (needs root): {mounted.stderr!r}"
    try:
        rows = tx_lines(20_000)
        for i in range(0, 20_000, 10):
            rows[i] = f"t{i},,m,1\n"  # 2 000 empty keys: far more than 64 KiB of rejects
        src = write(tmp_path / "in.csv", rows)
        out, rejects = tmp_path / "o.csv", small / "r.csv"
        out.write_text("previous\n")
        rejects.write_text("previous\n")
        proc = run("route", src, "--cluster", cluster_file, "--key", "card_number", "-o", out, "--rejects",
                   rejects, "--on-bad-row", "skip", "--max-bad-rows", "20%", "--batch-rows", "1000")
        assert proc.returncode == cli.EXIT_FAILURE
        assert "--rejects" in proc.stderr and "No space left on device" in proc.stderr
        assert out.read_text() == rejects.read_text() == "previous\n"
        assert leftovers(tmp_path) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


# Rejects and routed files hold raw rows: owner-only; the rejects file has a header.
def test_data_files_are_created_0600(tmp_path, cluster_file):
    src = write(tmp_path / "in.csv", tx_lines(50) + ["t,,m,1\n"])
    assert cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", "--on-bad-row",
                     "skip", "--max-bad-rows", "1", "--rejects", str(tmp_path / "r.csv"), "--split",
                     str(tmp_path / "split")]) == 0
    for path in [tmp_path / "r.csv", *(tmp_path / "split").iterdir()]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == "line,reason,tx_id,card_number,merchant_id,amount"


# Batch policy: --max-bad-rows N or P%.
def test_max_bad_rows(tmp_path, cluster_file):
    rows = tx_lines(20_000)
    for i in range(0, 20_000, 500):
        rows[i] = f"t{i},,m,1\n"  # 40 bad rows = 0.2 %
    src = write(tmp_path / "in.csv", rows)
    base = ["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", "--on-bad-row", "skip",
            "-o", str(tmp_path / "o.csv")]
    assert cli.main(base) == 0  # default 1 %
    assert cli.main(base + ["--max-bad-rows", "39"]) == cli.EXIT_BAD_ROW
    # Stopped: the previous run's output (19 960 rows + header) is left exactly as it was.
    assert len(open(tmp_path / "o.csv").readlines()) == 19_961
    os.unlink(tmp_path / "o.csv")
    assert cli.main(base + ["--max-bad-rows", "40"]) == 0
    os.unlink(tmp_path / "o.csv")
    assert cli.main(base + ["--max-bad-rows", "0.1%"]) == cli.EXIT_BAD_ROW and not (tmp_path / "o.csv").exists()


# Values that would be silently ignored are usage errors.
@pytest.mark.parametrize("extra", [["--schema", "amount=float64"], ["--split-format", "csv", "-o", "x.csv"],
                                   ["--schema", "amount=float64", "-o", "x.csv"]])
def test_options_that_would_be_ignored_are_refused(tmp_path, cluster_file, extra):
    src = write(tmp_path / "in.csv", tx_lines(10))
    assert cli.main(["route", str(src), "--cluster", str(cluster_file), "--key", "card_number", *extra]) == cli.EXIT_USAGE


def test_csv_only_options_are_refused_for_parquet(tmp_path, cluster_file):
    pq.write_table(pa.table({"card_number": ["a", "b"]}), tmp_path / "in.parquet")
    for extra in (["--max-row-bytes", "100"], ["--schema", "card_number=string", "-o", str(tmp_path / "o.parquet")]):
        assert cli.main(["route", str(tmp_path / "in.parquet"), "--cluster", str(cluster_file), "--key",
                         "card_number", *extra]) == cli.EXIT_USAGE


def test_signals_at_every_stage_of_a_run_leave_all_or_nothing(tmp_path, cluster_file):
    """Signals swept across one run's life (start-up, reading, routing, commit, exit):
    each run ends committed and complete (exit 0, or 128+signal said after the
    commit) or with nothing new, never a partial file, a traceback or an abort."""
    src = write(tmp_path / "in.csv", tx_lines(60_000) + ["t,,m,1\n"])
    out, rejects = tmp_path / "o.parquet", tmp_path / "r.csv"
    cmd = [FASTROUTE, "route", str(src), "--cluster", str(cluster_file), "--key", "card_number", "-o", str(out),
           "--rejects", str(rejects), "--on-bad-row", "skip", "--max-bad-rows", "1", "--batch-rows", "5000"]
    started = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    full_run = time.monotonic() - started
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]

    def signalled_run(attempt, delay):
        """One run signalled after `delay` seconds; returns its outcome after checking it."""
        out.unlink(missing_ok=True)
        rejects.write_text("previous\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        signum = signals[attempt % 3]
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        assert leftovers(tmp_path) == [] and "terminate called" not in err, err
        if proc.returncode == -signum or "KeyboardInterrupt" in err:
            # Python's default handler: during interpreter start-up, before the CLI installs
            # its handlers (nothing opened yet), or during shutdown after main() returned
            # (everything committed). docs/bulk.md.
            assert ", in main" not in err, err
            if out.exists():
                assert pq.read_metadata(out).num_rows == 60_000 and rejects.read_text().startswith("line,reason")
                return "shutdown"
            assert rejects.read_text() == "previous\n", err
            return "start-up"
        assert "Traceback" not in err, err
        committed = proc.returncode == 0 or "after all outputs were committed" in err
        assert proc.returncode in (0, 128 + signum), (delay, proc.returncode, err)
        if committed:
            assert pq.read_metadata(out).num_rows == 60_000 and rejects.read_text().startswith("line,reason")
            return "committed"
        assert not out.exists() and rejects.read_text() == "previous\n"
        return "nothing"

    by_delay = {}
    for attempt, delay in enumerate(np.linspace(0.0, full_run * 2.5, 15)):  # past the end, even under load
        by_delay[delay] = signalled_run(attempt, delay)
    # Under load the stages shift (start-up alone can outlast a sampling step), so a sweep
    # can step over the reading/routing window. Bisect between the last start-up run and
    # the first committed one until a run is caught mid-way; every probe is checked too.
    for attempt in range(15, 30):
        if "nothing" in by_delay.values():
            break
        before = max((d for d, o in by_delay.items() if o == "start-up"), default=0.0)
        after = min((d for d, o in by_delay.items() if o in ("committed", "shutdown") and d > before),
                    default=full_run * 2.5)
        by_delay[(before + after) / 2] = signalled_run(attempt, (before + after) / 2)
    outcomes = set(by_delay.values())
    # The runs must have caught both sides of the commit (after it: either the CLI's
    # message or, once main() returned, the default action).
    assert "nothing" in outcomes and outcomes & {"committed", "shutdown"}, sorted(by_delay.items())


def test_summary_numbers_are_not_long_digit_runs(tmp_path, cluster_file):
    """Shares like 1/3 would print as 16-digit runs, which PAN scanners flag (one in ten
    passes Luhn): the JSON summary rounds floats to 6 decimals."""
    src = write(tmp_path / "in.csv", tx_lines(3))
    proc = run("route", src, "--cluster", cluster_file, "--key", "card_number", "--json")
    assert proc.returncode == 0
    import re as _re

    assert max(len(run) for run in _re.findall(r"[0-9]+", proc.stdout)) <= 12, proc.stdout
