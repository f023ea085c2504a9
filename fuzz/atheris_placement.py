# SPDX-License-Identifier: Apache-2.0
"""atheris fuzzing of placement constructors and route() (not part of make test).

Run: .venv/bin/pip install atheris && .venv/bin/python fuzz/atheris_placement.py -max_total_time=60
Any exception other than TypeError/ValueError/OverflowError/KeyError, a crash,
or a batch answer differing from the per-key answer is a finding. Issue 11's
classes are in the search space: any finite float as a weight (huge values
whose sum overflows, subnormals), share-weighted rings with small
max_ring_size (must stay within it), sets as node/key collections (must be
refused), arbitrary `threads=` (must be capped), and bad values for every
balancer argument (must raise TypeError/ValueError naming it).
"""
import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    import fastroute
    from fastroute import balancers

CLASSES = [fastroute.HashRing, fastroute.Maglev, fastroute.JumpHash, fastroute.Rendezvous, fastroute.IPHash]
ALLOWED = (TypeError, ValueError, OverflowError, KeyError)


BALANCERS = [balancers.RoundRobin, balancers.WeightedRandom, balancers.LeastRequest, balancers.PeakEWMA,
             balancers.LeastConnections, balancers.SmoothWeightedRoundRobin]
CLEAR = (TypeError, ValueError, KeyError, fastroute.NoHealthyNode)


def junk(fdp):
    return [None, fdp.ConsumeBool(), fdp.ConsumeInt(12), fdp.ConsumeFloat(), fdp.ConsumeUnicode(3),
            {fdp.ConsumeInt(1)}, np.array(fdp.ConsumeFloat())][fdp.ConsumeIntInRange(0, 6)]


def balancer_input(fdp) -> None:
    cls = BALANCERS[fdp.ConsumeIntInRange(0, len(BALANCERS) - 1)]
    names = ["a", "b", "c"]
    weights = [fdp.ConsumeFloat() for _ in names] if cls is not balancers.RoundRobin \
        and cls is not balancers.PeakEWMA else None
    try:
        sel = cls(names, weights) if weights is not None else cls(names)
    except CLEAR:
        return
    value = junk(fdp)
    action = fdp.ConsumeIntInRange(0, 4)
    try:
        if action == 0:
            sel.pick_many(value)
        elif action == 1:
            sel.report("a", ok=value)
        elif action == 2:
            sel.report("a", latency_s=value)
        elif action == 3:
            sel.set_state("a", value)
        else:
            out = sel.pick_many(200)
            assert out.min() >= 0 and out.max() < 3
    except CLEAR:
        return


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        return balancer_input(fdp)
    cls = CLASSES[fdp.ConsumeIntInRange(0, len(CLASSES) - 1)]
    n = fdp.ConsumeIntInRange(0, 12)
    nodes = [fdp.ConsumeUnicodeNoSurrogates(8) for _ in range(n)]
    weights = None if fdp.ConsumeBool() else [fdp.ConsumeFloat() for _ in range(n)]
    if mode == 1 and nodes:
        try:
            cls(set(nodes), weights)
        except TypeError as exc:
            assert "unordered" in str(exc), exc
        else:
            raise AssertionError(f"{cls.__name__} accepted a set of nodes")
    try:
        if mode == 2 and cls is fastroute.HashRing:
            limit = fdp.ConsumeIntInRange(1, 4096)
            placement = cls(nodes, weights, mode="normalized", weights_are_shares=True, min_ring_size=1,
                            max_ring_size=limit)
            assert placement.points <= limit + len(nodes), (placement.points, limit)
        else:
            placement = cls(nodes, weights)
    except ALLOWED:
        return
    threads = fdp.ConsumeIntInRange(-2, 2**64) if fdp.ConsumeBool() else None
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
        batch = placement.route(keys, threads=threads)
    except ALLOWED:
        return
    single = [placement.get_index(int(k) if isinstance(k, np.integer) else k) for k in keys]
    if batch.tolist() != single:
        raise AssertionError(f"route != get_index for {cls.__name__}: {batch.tolist()} vs {single}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
