# SPDX-License-Identifier: Apache-2.0
"""End-to-end `fastroute route` on a Parquet file vs a plain pyarrow read + write
of the same file in the same run (the floor any router pays).

Run: .venv/bin/python benches/route_file_vs_pyarrow.py [ROWS] [DIR]
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
WORK = Path(sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="fastroute-bench-"))
WORK.mkdir(parents=True, exist_ok=True)
BATCH = 1 << 20


def make_input(path: Path) -> None:
    rng = np.random.default_rng(0)
    with pq.ParquetWriter(path, pa.schema([("card_id", pa.string()), ("amount_minor", pa.int64()),
                                           ("currency", pa.string())]), compression="snappy") as w:
        for start in range(0, ROWS, BATCH):
            n = min(BATCH, ROWS - start)
            cards = pa.array(np.char.add("card-", rng.integers(0, 10**12, n).astype("U12")))
            w.write_table(pa.table({"card_id": cards, "amount_minor": rng.integers(100, 10**6, n),
                                    "currency": pa.array(rng.choice(["EUR", "USD", "GBP"], n))}))


def plain_copy(src: Path, dst: Path) -> None:
    pf = pq.ParquetFile(src)
    with pq.ParquetWriter(dst, pf.schema_arrow, compression="snappy") as w:
        for batch in pf.iter_batches(batch_size=BATCH):
            w.write_batch(batch)


def main() -> None:
    src = WORK / "input.parquet"
    if not src.exists():
        make_input(src)
    cluster = WORK / "cluster.toml"
    cluster.write_text('algorithm = "ring"\n' + "".join(f'[[nodes]]\nname = "proc-{i}"\n' for i in range(16)))
    timings = {}
    for name, run in [
        ("pyarrow read+write", lambda: plain_copy(src, WORK / "copy.parquet")),
        ("fastroute route", lambda: subprocess.run(
            [str(Path(sys.executable).parent / "fastroute"), "route", str(src), "--cluster", str(cluster),
             "--key", "card_id", "-o", str(WORK / "routed.parquet")], check=True, capture_output=True)),
    ]:
        best = min(_timed(run) for _ in range(3))
        timings[name] = best
        print(f"{name:<20} {best:6.2f} s  {ROWS / best / 1e6:6.1f} M rows/s")
    overhead = timings["fastroute route"] / timings["pyarrow read+write"] - 1
    print(f"routing adds {overhead:.0%} to a plain pyarrow read+write ({ROWS:,} rows, {WORK})")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
