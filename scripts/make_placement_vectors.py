#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Regenerates tests/data/placement_vectors.json (issue 19) from the current build.

Run on x86-64 only, and only when a placement rule changed on purpose: the file
is what every other platform must reproduce bit for bit
(tests/test_placement_vectors.py). Usage: .venv/bin/python scripts/make_placement_vectors.py
"""
import json
import platform
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP))

import fastroute  # noqa: E402
from tests import _placement_vectors as pv  # noqa: E402

OUT = TOP / "tests" / "data" / "placement_vectors.json"


def dump(value, depth: int = 0) -> str:
    """JSON with one case per line, so a deliberate rule change shows up as a readable diff."""
    if isinstance(value, dict) and depth < 3:
        pad = " " * (depth + 1)
        items = ",\n".join(f"{pad}{json.dumps(k)}: {dump(v, depth + 1)}" for k, v in sorted(value.items()))
        return "{\n" + items + "\n" + " " * depth + "}"
    return json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


def main() -> None:
    if platform.machine() != "x86_64" and "--any-machine" not in sys.argv:
        sys.exit(f"make_placement_vectors: the reference file is made on x86_64, this is {platform.machine()} "
                 "(pass --any-machine to write it anyway)")
    inputs = pv.make_inputs()
    doc = {
        "schema": pv.SCHEMA,
        "about": "Outputs of every placement kind as computed on x86-64; tests/test_placement_vectors.py checks "
                 "that the running platform reproduces them bit for bit. Regenerate with "
                 "scripts/make_placement_vectors.py.",
        "made_on": {"machine": platform.machine(), "fastroute": fastroute.__version__},
        "inputs": inputs,
        "cases": pv.CASES,
        "hash_seeds": pv.HASH_SEEDS,
        "balancers": pv.BALANCERS,
        "expected": pv.compute_all(inputs, pv.CASES, pv.BALANCERS),
    }
    OUT.write_text(dump(doc) + "\n")
    print(f"wrote {OUT.relative_to(TOP)} ({OUT.stat().st_size} bytes, {len(pv.CASES)} placement cases, "
          f"{len(pv.BALANCERS)} balancers)")


if __name__ == "__main__":
    main()
