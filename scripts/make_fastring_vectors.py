# SPDX-License-Identifier: Apache-2.0
"""Generate tests/data/fastring_vectors.json from the real fastring package.

fastring ships CPython 3.13+ wheels only, so run this under 3.13:

    ~/.pyenv/versions/3.13.0/bin/python -m venv /tmp/fr313
    /tmp/fr313/bin/pip install fastring==0.2.1
    /tmp/fr313/bin/python scripts/make_fastring_vectors.py

Each case is a sequence of membership operations and the keys' answers
(get_node, get_replicas) after it, as fastring 0.2.1 gives them. The
committed file is checked by tests/compat/test_fastring.py; this script only
records what fastring answers (it imports nothing from fastroute).
"""
from __future__ import annotations

import datetime
import json
import platform
import random
import sys
from importlib.metadata import version
from pathlib import Path

import fastring

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "fastring_vectors.json"


def keys(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = [f"user:{rng.randrange(10**9)}" for _ in range(n - 4)]
    return out + ["", "ünïcode-κλειδί", "x" * 300, "tab\tand\nnewline"]


CASES = [
    {"name": "readme", "virtual_nodes": 128,
     "ops": [["add", "server-A", 1], ["add", "server-B", 3], ["add", "server-C", 1]], "keys": 3000},
    {"name": "hundred-weighted", "virtual_nodes": 128,
     "ops": [["add", f"10.0.{i // 256}.{i % 256}:6379", 1 + i % 4] for i in range(100)], "keys": 5000},
    {"name": "churn", "virtual_nodes": 16,
     "ops": [["add", "a", 1], ["add", "b", 1], ["add", "c", 2], ["add", "d", 3], ["remove", "b"],
             ["add", "e", 1], ["add", "b", 1], ["remove", "zz"], ["add", "a", 5]], "keys": 3000},
    {"name": "zero-weight-and-unicode", "virtual_nodes": 7,
     "ops": [["add", "nœud-1", 1], ["add", "idle", 0], ["add", "nœud-2", 2], ["add", "z", 1]], "keys": 2000},
    {"name": "one-vnode", "virtual_nodes": 1,
     "ops": [["add", f"n{i}", 1] for i in range(12)], "keys": 2000},
]


def run_case(case: dict) -> dict:
    ring = fastring.HashRing(case["virtual_nodes"])
    for op in case["ops"]:
        if op[0] == "add":
            ring.add_node(op[1], weight=op[2])
        else:
            ring.remove_node(op[1])
    ks = keys(case["keys"], seed=len(case["name"]))
    nodes = sorted(ring)
    at = {n: i for i, n in enumerate(nodes)}
    batch = ring.get_node_batch(ks)
    single = [ring.get_node(k) for k in ks]
    assert batch == single
    return {**case, "nodes": nodes, "key_list": ks,
            "node_of_key": [at[n] for n in single],
            "replicas_3": [[at[n] for n in ring.get_replicas(k, 3)] for k in ks[:300]],
            "replicas_all": [[at[n] for n in ring.get_replicas(k, 100)] for k in ks[:50]]}


def main() -> None:
    doc = {
        "provenance": {
            "package": f"fastring=={version('fastring')}",
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "generated": datetime.date.today().isoformat(),
            "command": "scripts/make_fastring_vectors.py (see its docstring)",
        },
        "cases": [run_case(c) for c in CASES],
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
