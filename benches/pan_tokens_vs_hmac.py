# SPDX-License-Identifier: Apache-2.0
"""Card-number tokens: fastroute.pan_tokens (Rust, HMAC-SHA-256, GIL released)
against Python's hmac module in a loop, in the same run.

Run: .venv/bin/python benches/pan_tokens_vs_hmac.py [N]
"""
import hashlib
import hmac
import sys
import time

import numpy as np
import pyarrow as pa

import fastroute

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
SECRET = bytes(range(32))


def best(fn, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    rng = np.random.default_rng(0)
    pans = rng.integers(4_000_000_000_000_000, 4_999_999_999_999_999, N).astype("U16")
    arrow = pa.array(pans)
    sample = [p.encode() for p in pans[:200_000].tolist()]
    loop = best(lambda: [hmac.new(SECRET, p, hashlib.sha256).hexdigest() for p in sample], 2) * (N / len(sample))
    print(f"python hmac loop         {N / loop / 1e6:6.2f} M/s (timed on {len(sample):,}, scaled)")
    for threads in (1, 2):
        t = best(lambda: fastroute.pan_tokens(arrow, SECRET, threads=threads))
        print(f"pan_tokens arrow, {threads} thr   {N / t / 1e6:6.2f} M/s   {loop / t:5.1f}x the hmac loop")
    t = best(lambda: fastroute.pan_tokens(arrow, SECRET, output="bytes", threads=2))
    print(f"pan_tokens bytes, 2 thr   {N / t / 1e6:6.2f} M/s")


if __name__ == "__main__":
    main()
