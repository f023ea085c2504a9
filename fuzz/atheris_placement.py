# SPDX-License-Identifier: Apache-2.0
"""atheris fuzzing of placement constructors and route() (not part of make test).

Run: .venv/bin/pip install atheris && .venv/bin/python fuzz/atheris_placement.py -max_total_time=60
Any exception other than TypeError/ValueError/OverflowError/KeyError, a crash,
or a batch answer differing from the per-key answer is a finding.
"""
import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    import fastroute

CLASSES = [fastroute.HashRing, fastroute.Maglev, fastroute.JumpHash, fastroute.Rendezvous, fastroute.IPHash]
ALLOWED = (TypeError, ValueError, OverflowError, KeyError)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    cls = CLASSES[fdp.ConsumeIntInRange(0, len(CLASSES) - 1)]
    n = fdp.ConsumeIntInRange(0, 12)
    nodes = [fdp.ConsumeUnicodeNoSurrogates(8) for _ in range(n)]
    weights = None if fdp.ConsumeBool() else [fdp.ConsumeRegularFloat() for _ in range(n)]
    try:
        placement = cls(nodes, weights)
    except ALLOWED:
        return
    kind = fdp.ConsumeIntInRange(0, 3)
    m = fdp.ConsumeIntInRange(0, 40)
    if kind == 0:
        keys = [fdp.ConsumeUnicode(16) for _ in range(m)]
    elif kind == 1:
        keys = [fdp.ConsumeBytes(16) for _ in range(m)]
    elif kind == 2:
        keys = [fdp.ConsumeInt(9) for _ in range(m)]
    else:
        raw = fdp.ConsumeBytes(8 * m)
        keys = np.frombuffer(raw[: len(raw) // 8 * 8], dtype=np.uint64)
    try:
        batch = placement.route(keys)
    except ALLOWED:
        return
    single = [placement.get_index(int(k) if isinstance(k, np.integer) else k) for k in keys]
    if batch.tolist() != single:
        raise AssertionError(f"route != get_index for {cls.__name__}: {batch.tolist()} vs {single}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
