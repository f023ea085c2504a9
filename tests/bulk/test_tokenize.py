# SPDX-License-Identifier: Apache-2.0
"""`fastroute route --tokenize`: card numbers replaced by HMAC-SHA-256 tokens in every
output (single, split, rejects); nothing in the outputs or the summary shows them."""
import csv
import hashlib
import hmac
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fastroute.cluster import parse_cluster
from tests.test_card_number_leaks import PANS, leaked, make_pan

CLUSTER = 'algorithm = "ring"\n[[nodes]]\nname = "a"\n[[nodes]]\nname = "b"\nweight = 2\n'
FASTROUTE = str(Path(sys.executable).parent / "fastroute")
SECRET = "s3cr3t-token-key-0123456789"


def token(pan: str) -> str:
    return hmac.new(SECRET.encode(), pan.replace(" ", "").replace("-", "").encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def env(tmp_path):
    (tmp_path / "c.toml").write_text(CLUSTER)
    import os

    return {**os.environ, "FR_TOKEN_SECRET": SECRET}


def route(tmp_path, env, *args):
    return subprocess.run([FASTROUTE, "route", *map(str, args), "--cluster", str(tmp_path / "c.toml"),
                           "--tokenize", "card_number", "--token-secret-env", "FR_TOKEN_SECRET"],
                          capture_output=True, text=True, env=env, timeout=60)


def transactions(n):
    return [(f"t{i}", make_pan(f"4{i % 100000:05d}", 16), f"m{i % 7}") for i in range(n)]


def write_csv(path, rows, extra_lines=()):
    with open(path, "w", newline="") as f:
        f.write("tx_id,card_number,merchant\n")
        csv.writer(f, lineterminator="\n").writerows(rows)
        f.writelines(extra_lines)
    return path


HEX_TOKEN = re.compile(r"\b[0-9a-f]{64}\b")


def clean(text: str, pans=()) -> bool:
    """No input card number, and no other Luhn-valid digit run outside the hex tokens."""
    return not any(p in text for p in pans) and leaked(HEX_TOKEN.sub("", text)) == []


def every_text(*paths):
    return "".join(Path(p).read_text(errors="replace") for p in paths if Path(p).is_file())


def test_tokens_replace_card_numbers_and_route_by_token(tmp_path, env):
    rows = transactions(3000)
    src = write_csv(tmp_path / "in.csv", rows)
    proc = route(tmp_path, env, src, "--key", "card_number", "-o", tmp_path / "o.csv", "--json",
                 "--report", tmp_path / "r.html")
    assert proc.returncode == 0, proc.stderr
    got = list(csv.DictReader(open(tmp_path / "o.csv")))
    placement = parse_cluster(CLUSTER).build_placement()
    assert [r["card_number"] for r in got] == [token(p) for _, p, _ in rows]
    assert all(r["node"] == placement.get_node(token(p)) for r, (_, p, _) in zip(got, rows))
    texts = [proc.stdout, proc.stderr, every_text(tmp_path / "o.csv", tmp_path / "r.html")]
    assert all(clean(t, [p for _, p, _ in rows]) for t in texts) and SECRET not in "".join(texts)
    assert json.loads(proc.stdout)["status"] == "ok"


def test_split_and_rejects_never_hold_a_card_number(tmp_path, env):
    rows = transactions(500)
    bad_lines = [f"t-x,{PANS[0]},m,extra\n",          # wrong field count: tokens in the raw line
                 f't-q,"{PANS[1]},m\n',                # unterminated quote
                 "t-n,4111-xxxx-1111,m\n",             # not a card number
                 "t-e,,m\n"]                           # empty key
    src = write_csv(tmp_path / "in.csv", rows, bad_lines)
    proc = route(tmp_path, env, src, "--key", "tx_id", "--split", tmp_path / "split", "--split-format", "csv",
                 "--on-bad-row", "skip", "--max-bad-rows", "4", "--rejects", tmp_path / "rejects.csv", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["bad_rows"]["invalid_card_number"] == 1 and doc["bad_rows"]["field_count"] == 1
    assert doc["bad_rows"]["unterminated_quote"] == 1 and doc["rows_out"] == 501  # t-e has a key: routed
    files = list((tmp_path / "split").iterdir()) + [tmp_path / "rejects.csv"]
    for path in files:
        assert clean(path.read_text(), [p for _, p, _ in rows] + PANS), path
    rejects = list(csv.reader(open(tmp_path / "rejects.csv")))
    by_reason = {r[1]: r for r in rejects[1:]}
    assert token(PANS[0]) in rejects[[r[1] for r in rejects].index("4 fields, the header has 3")][3]
    assert "column 'card_number': not a card number (only digits, spaces and dashes)" in by_reason
    routed = [r for p in (tmp_path / "split").iterdir() for r in csv.DictReader(open(p))]
    assert next(r for r in routed if r["tx_id"] == "t-e")["card_number"] == ""  # no card: a null token


def test_not_a_card_number_stops_the_run_with_line_and_column(tmp_path, env):
    src = write_csv(tmp_path / "in.csv", transactions(10), ["t,41111111,m\n"])
    proc = route(tmp_path, env, src, "--key", "tx_id", "-o", tmp_path / "o.csv")
    assert proc.returncode == 3
    assert "line 12, column 'card_number': not a card number (12 to 19 digits)" in proc.stderr
    assert "41111111" not in proc.stderr and not (tmp_path / "o.csv").exists()


def test_luhn_check(tmp_path, env):
    bad = PANS[0][:-1] + str((int(PANS[0][-1]) + 1) % 10)
    src = write_csv(tmp_path / "in.csv", transactions(10), [f"t,{bad},m\n"])
    assert route(tmp_path, env, src, "--key", "tx_id").returncode == 0
    proc = route(tmp_path, env, src, "--key", "tx_id", "--luhn")
    assert proc.returncode == 3 and "fails the Luhn check" in proc.stderr


def test_parquet_integer_card_numbers_and_typed_csv_keep_digits(tmp_path, env):
    pans = [int(p) for _, p, _ in transactions(100)]
    pq.write_table(pa.table({"card_number": pa.array(pans, pa.int64()), "v": list(range(100))}),
                   tmp_path / "in.parquet")
    assert route(tmp_path, env, tmp_path / "in.parquet", "--key", "card_number", "-o",
                 tmp_path / "o.parquet").returncode == 0
    assert pq.read_table(tmp_path / "o.parquet").column("card_number").to_pylist() == [token(str(p)) for p in pans]
    src = write_csv(tmp_path / "z.csv", [("t1", "0012345678901234", "m")])
    assert route(tmp_path, env, src, "--key", "tx_id", "-o", tmp_path / "z.parquet").returncode == 0
    assert pq.read_table(tmp_path / "z.parquet").column("card_number").to_pylist() == [token("0012345678901234")]


@pytest.mark.parametrize("args, fragment", [
    (["--token-secret-env", "FR_NOT_SET"], "'FR_NOT_SET' is not set"),
    (["--token-secret-env", "FR_SHORT"], "at least 16 bytes"),
    (["--token-secret-env", "FR_TOKEN_SECRET", "--token-secret-file", "x"], "give one"),
    ([], "needs a secret"),
    (["--token-secret-env", "FR_TOKEN_SECRET", "--tokenize", "nope"], "no column 'nope'"),
])
def test_secret_and_column_errors_are_usage_errors(tmp_path, env, args, fragment):
    src = write_csv(tmp_path / "in.csv", transactions(5))
    tokenize = [] if "--tokenize" in args else ["--tokenize", "card_number"]
    proc = subprocess.run([FASTROUTE, "route", str(src), "--cluster", str(tmp_path / "c.toml"), "--key", "tx_id",
                           *tokenize, *args, "--json"], capture_output=True, text=True,
                          env={**env, "FR_SHORT": "short"}, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and json.loads(proc.stdout)["status"] == "usage"
    assert SECRET not in proc.stdout + proc.stderr


def test_secret_file_readable_by_others_warns(tmp_path, env):
    secret = tmp_path / "token.key"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o644)
    src = write_csv(tmp_path / "in.csv", transactions(5))
    proc = subprocess.run([FASTROUTE, "route", str(src), "--cluster", str(tmp_path / "c.toml"), "--key", "tx_id",
                           "--tokenize", "card_number", "--token-secret-file", str(secret), "-o",
                           str(tmp_path / "o.csv")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "readable by group or others" in proc.stderr
    assert [r["card_number"] for r in csv.DictReader(open(tmp_path / "o.csv"))][0] == token(transactions(1)[0][1])
    proc = subprocess.run([FASTROUTE, "route", str(src), "--cluster", str(tmp_path / "c.toml"), "--key", "tx_id",
                           "--tokenize", "card_number", "--token-secret-file", str(secret), "-o", str(secret)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and secret.read_text() == SECRET + "\n"
