# SPDX-License-Identifier: Apache-2.0
"""The compat drop-ins against the packages they replace (docs/algorithms.md §9.5),
as same-run ratios, best of interleaved rounds.

    .venv/bin/python benches/compat_rings.py [--fastring-python PATH]

uhashring: `get_node` per call, both modes and a callable hash_fn, 100 nodes,
10 000 keys, in this process. fastring (CPython 3.13+ wheels only; fastroute
is built for the venv's Python): the same three comparisons fastring's README
makes — `get_node` per call, `get_node_batch` per key, add + remove of one node
on a 100-node ring — with fastring timed by a child process under
PATH (default /tmp/fr313/bin/python, made with
`~/.pyenv/versions/3.13.0/bin/python -m venv /tmp/fr313 && /tmp/fr313/bin/pip install fastring==0.2.1`)
in each round, between two timings of ours. Both sides time the same loops
over the same keys with perf_counter; the child's interpreter start-up is not
timed.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time

NODES = [f"10.0.{i // 256}.{i % 256}:11211" for i in range(100)]
N_KEYS = 10_000
ROUNDS = 5


def keys(n: int = N_KEYS, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"user:{rng.randrange(10**12)}" for _ in range(n)]


def per_call(get, ks) -> float:
    t = time.perf_counter()
    for k in ks:
        get(k)
    return (time.perf_counter() - t) / len(ks) * 1e9


def batch(get_batch, ks) -> float:
    t = time.perf_counter()
    get_batch(ks)
    return (time.perf_counter() - t) / len(ks) * 1e9


def add_remove(ring, pairs: int = 50) -> float:
    t = time.perf_counter()
    for i in range(pairs):
        ring.add_node(f"extra-{i}")
        ring.remove_node(f"extra-{i}")
    return (time.perf_counter() - t) / pairs * 1e9


def table_add_remove(table, pairs: int = 50) -> float:
    """fastroute's own tables: `with_node` + `without_node` (a new table each, as swapped in)."""
    t = time.perf_counter()
    for i in range(pairs):
        table.with_node(f"extra-{i}").without_node(f"extra-{i}")
    return (time.perf_counter() - t) / pairs * 1e9


def fastring_figures(ring_cls) -> dict:
    """One round over a fastring-API class: ns per call, ns per key batched, ns per add+remove."""
    ring = ring_cls()
    for n in NODES:
        ring.add_node(n)
    ks = keys()
    return {"per_call": per_call(ring.get_node, ks), "batch": batch(ring.get_node_batch, ks),
            "add_remove": add_remove(ring)}


CHILD = f"""
import json, random, time, sys
from fastring import HashRing
NODES, N_KEYS = {NODES!r}, {N_KEYS}
{__import__("inspect").getsource(keys)}
{__import__("inspect").getsource(per_call)}
{__import__("inspect").getsource(batch)}
{__import__("inspect").getsource(add_remove)}
{__import__("inspect").getsource(fastring_figures)}
print(json.dumps(fastring_figures(HashRing)))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fastring-python", default="/tmp/fr313/bin/python")
    args = ap.parse_args()
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
    import common  # noqa: F401 - refuses a debug build
    import uhashring

    from fastroute.compat.fastring import HashRing as OurFastring
    from fastroute.compat.uhashring import HashRing as OurUhashring
    from fastroute.placement import HashRing

    ks = keys()
    print(f"uhashring {uhashring.__version__}, {len(NODES)} nodes, {N_KEYS} keys, get_node per call "
          f"(best of {ROUNDS} interleaved rounds)")
    modes = {"md5 (default)": {}, "ketama": {"hash_fn": "ketama"},
             "callable hash_fn": {"hash_fn": lambda k: hash(str(k)) & (2**64 - 1)}}
    for label, mode in modes.items():
        ours, theirs = OurUhashring(NODES, **mode), uhashring.HashRing(NODES, **mode)
        assert [ours.get_node(k) for k in ks[:2000]] == [theirs.get_node(k) for k in ks[:2000]]
        a, b = [], []
        for _ in range(ROUNDS):
            a.append(per_call(theirs.get_node, ks))
            b.append(per_call(ours.get_node, ks))
        print(f"  {label:17s} uhashring {min(a):7.0f} ns  fastroute {min(b):6.0f} ns  ratio {min(a) / min(b):5.1f}x")

    print(f"\nfastring 0.2.1 (child process: {args.fastring_python}), 100 nodes, virtual_nodes 128")
    theirs_rounds, ours_rounds, table_rounds, same_size_rounds = [], [], [], []
    table = HashRing(NODES)  # the default 160 points per node: 16 000 points against fastring's 12 800
    same_size = HashRing(NODES, points_per_weight=128)  # fastring's ring size
    try:
        for _ in range(ROUNDS):
            ours_rounds.append(fastring_figures(OurFastring))
            table_rounds.append(table_add_remove(table))
            same_size_rounds.append(table_add_remove(same_size))
            out = subprocess.run([args.fastring_python, "-c", CHILD], capture_output=True, text=True, check=True,
                                 timeout=300)
            theirs_rounds.append(json.loads(out.stdout))
            ours_rounds.append(fastring_figures(OurFastring))
            table_rounds.append(table_add_remove(table))
            same_size_rounds.append(table_add_remove(same_size))
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"  fastring not runnable ({type(e).__name__}); make the venv as the docstring says")
        return
    for what, unit in (("per_call", "ns per call"), ("batch", "ns per key, get_node_batch"),
                       ("add_remove", "ns per add + remove")):
        t = min(r[what] for r in theirs_rounds)
        o = min(r[what] for r in ours_rounds)
        print(f"  {unit:27s} fastring {t:10.0f}  fastroute {o:10.0f}  fastring/fastroute {t / o:5.2f}x")
    t = min(r["add_remove"] for r in theirs_rounds)
    for label, rounds in (("HashRing with_node+without_node", table_rounds),
                          ("  same, 128 points per node", same_size_rounds)):
        o = min(rounds)
        print(f"  {label:31s} fastring {t:10.0f}  fastroute {o:10.0f}  fastroute/fastring {o / t:5.2f} "
              "(issue 15 target: <= 0.5)")


if __name__ == "__main__":
    main()
