# SPDX-License-Identifier: Apache-2.0
"""End-to-end `fastroute route` against the plain pyarrow job on the same file, in
the same run (the floor any router pays):

- Parquet → Parquet: fastroute route vs pyarrow iter_batches + ParquetWriter;
- CSV → Parquet: fastroute route vs pyarrow's streaming CSV reader + ParquetWriter.

Both sides run as fresh processes (each pays interpreter start-up and imports),
best of REPEATS. The input mimics a card batch: tx_id, 16-digit card_number,
merchant_id, amount, currency, timestamp; the key is card_number (text).

Run: .venv/bin/python benches/route_file_vs_pyarrow.py [PARQUET_ROWS] [CSV_ROWS] [DIR]
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

PARQUET_ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
CSV_ROWS = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000_000
WORK = Path(sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="fastroute-bench-"))
WORK.mkdir(parents=True, exist_ok=True)
BATCH = 1 << 20
REPEATS = 3
PYTHON = sys.executable
FASTROUTE = str(Path(sys.executable).parent / "fastroute")

PLAIN_PARQUET = """
import sys, pyarrow.parquet as pq
pf = pq.ParquetFile(sys.argv[1])
with pq.ParquetWriter(sys.argv[2], pf.schema_arrow, compression="snappy") as w:
    for batch in pf.iter_batches(batch_size=1 << 20):
        w.write_batch(batch)
"""
PLAIN_CSV = """
import sys, pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
reader = pacsv.open_csv(sys.argv[1], convert_options=pacsv.ConvertOptions(column_types={"card_number": pa.string()}))
with pq.ParquetWriter(sys.argv[2], reader.schema, compression="snappy") as w:
    for batch in reader:
        w.write_batch(batch)
"""


def batches(rows: int):
    rng = np.random.default_rng(0)
    for start in range(0, rows, BATCH):
        n = min(BATCH, rows - start)
        yield pa.table({
            "tx_id": pa.array(np.char.add("tx-", np.arange(start, start + n).astype("U10"))),
            "card_number": pa.array(rng.integers(4_000_000_000_000_000, 4_999_999_999_999_999, n).astype("U16")),
            "merchant_id": rng.integers(0, 100_000, n),
            "amount": np.round(rng.random(n) * 1000, 2),
            "currency": pa.array(rng.choice(["EUR", "USD", "GBP", "PLN"], n)),
            "timestamp": rng.integers(1_764_000_000, 1_767_000_000, n),
        })


def make_inputs(parquet: Path, csv: Path) -> None:
    if not parquet.exists():
        first = next(batches(1))
        with pq.ParquetWriter(parquet, first.schema, compression="snappy") as w:
            for t in batches(PARQUET_ROWS):
                w.write_table(t)
    if not csv.exists():
        with open(csv, "wb") as f:
            for i, t in enumerate(batches(CSV_ROWS)):
                pacsv.write_csv(t, f, pacsv.WriteOptions(include_header=i == 0, quoting_style="none"))


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    parquet, csv = WORK / "input.parquet", WORK / "input.csv"
    make_inputs(parquet, csv)
    cluster = WORK / "cluster.toml"
    cluster.write_text('algorithm = "ring"\n' + "".join(f'[[nodes]]\nname = "proc-{i}"\n' for i in range(16)))
    route = [FASTROUTE, "route", "--cluster", str(cluster), "--key", "card_number"]
    cases = [
        ("parquet", PARQUET_ROWS, [PYTHON, "-c", PLAIN_PARQUET, str(parquet), str(WORK / "copy.parquet")],
         route[:2] + [str(parquet)] + route[2:] + ["-o", str(WORK / "routed.parquet")]),
        ("csv", CSV_ROWS, [PYTHON, "-c", PLAIN_CSV, str(csv), str(WORK / "copy-csv.parquet")],
         route[:2] + [str(csv)] + route[2:] + ["-o", str(WORK / "routed-csv.parquet")]),
    ]
    for name, rows, baseline_cmd, route_cmd in cases:
        # Interleave the two sides so a change in machine load hits both.
        baseline = route_time = float("inf")
        for _ in range(REPEATS):
            baseline = min(baseline, timed(baseline_cmd))
            route_time = min(route_time, timed(route_cmd))
        print(f"{name:>7}: pyarrow {baseline:6.2f} s ({rows / baseline / 1e6:5.2f} M rows/s)   "
              f"fastroute route {route_time:6.2f} s ({rows / route_time / 1e6:5.2f} M rows/s)   "
              f"route/pyarrow time {route_time / baseline:.2f}x, speed {baseline / route_time:.2f}x")
    print(f"({WORK})")


if __name__ == "__main__":
    main()
