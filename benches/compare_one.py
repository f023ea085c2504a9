# SPDX-License-Identifier: Apache-2.0
"""One side of benches/compare_builds.sh: times per-call lookups and batch
routes with whichever fastroute this interpreter imports, using only public
APIs that every compared build has, and prints {name: best seconds} as JSON.

Run: python benches/compare_one.py REPEATS
     python benches/compare_one.py --run CASE TIMES   (no timing: runs CASE TIMES
     times, for `compare_builds.sh --instructions` to count instructions; batches
     hold COMPARE_BATCH keys, default 1 000 000)
Per-call cases time many short runs (2,000 calls each, 10 × REPEATS of them)
and keep the best: on a shared machine the minimum of short runs is the
figure least disturbed by other load.
"""
import json
import os
import sys
import time

import numpy as np

import fastroute
from fastroute.compat import uhashring

if fastroute.RUST_BUILD_PROFILE != "release":
    raise SystemExit(f"compare_one: needs a release build, got {fastroute.RUST_BUILD_PROFILE!r}")

RUN_ONE = sys.argv[1:2] == ["--run"]
REPEATS = 5 if RUN_ONE or len(sys.argv) < 2 else int(sys.argv[1])
BATCH = int(os.environ.get("COMPARE_BATCH", 1_000_000))
NAMES = [f"10.0.{i // 256}.{i % 256}:8443" for i in range(100)]
rng = np.random.default_rng(7)
KEYS_PER_CALL = [f"card-{v:012d}" for v in rng.integers(0, 10**12, size=2_000)]
KEYS_BATCH = [f"card-{v:012d}" for v in rng.integers(0, 10**12, size=BATCH)]
HASHES = rng.integers(0, 2**64 - 1, size=BATCH, dtype=np.uint64, endpoint=True)
NGINX = "upstream pay {\n hash $arg_card consistent;\n" + "".join(f" server {n} weight={1 + i % 3};\n"
                                                                 for i, n in enumerate(NAMES[:20])) + "}\n"


def per_call(get_node):
    def run():
        for k in KEYS_PER_CALL:
            get_node(k)
    return run, len(KEYS_PER_CALL), 10 * REPEATS


def batch(fn, arg):
    return (lambda: fn(arg)), len(arg), REPEATS


ring = fastroute.HashRing(NAMES)
maglev = fastroute.Maglev(NAMES)
jump = fastroute.JumpHash(NAMES)
rendezvous = fastroute.Rendezvous(NAMES[:20])
uhr = uhashring.HashRing(NAMES[:20])
nginx = fastroute.load_nginx(NGINX, "pay")
CASES = {
    "get_node ring": per_call(ring.get_node),
    "get_node maglev": per_call(maglev.get_node),
    "get_node jump": per_call(jump.get_node),
    "get_node rendezvous(20)": per_call(rendezvous.get_node),
    "get_node uhashring compat": per_call(uhr.get_node),
    "get_node nginx consistent": per_call(nginx.get_node),
    "route ring 1M str": batch(ring.route, KEYS_BATCH),
    "route maglev 1M str": batch(maglev.route, KEYS_BATCH),
    "route jump 1M str": batch(jump.route, KEYS_BATCH),
    "route_replicas ring 1M str n=2": batch(lambda k: ring.route_replicas(k, 2), KEYS_BATCH),
    "route_hashed ring 1M 1 thread": batch(lambda h: ring.route_hashed(h, threads=1), HASHES),
    "route_hashed maglev 1M 1 thread": batch(lambda h: maglev.route_hashed(h, threads=1), HASHES),
    "route nginx consistent 1M str": batch(nginx.route, KEYS_BATCH),
    "route uhashring compat 1M str": batch(uhr.route, KEYS_BATCH),
}

if RUN_ONE:
    run, count, _ = CASES[sys.argv[2]]
    for _ in range(int(sys.argv[3])):
        run()
    print(json.dumps({"keys_per_run": count}))
    raise SystemExit(0)

best = {}
for name, (run, count, repeats) in CASES.items():
    run()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    best[name] = min(times) / count
print(json.dumps({"version": fastroute.__file__, "best_s_per_key": best}))
