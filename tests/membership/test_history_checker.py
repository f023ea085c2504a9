# SPDX-License-Identifier: Apache-2.0
"""The history checker of tests/_history.py must catch each violation it claims to
(else the fault tests' `check_history(...) == []` proves nothing), and the fenced store
must refuse stale tokens across processes."""
from __future__ import annotations

import multiprocessing

from .._history import FencedStore, History, StoreServer, check_history

R = "lock:x"


def acq(process, token, t):
    return {"kind": "acquire", "process": process, "resource": R, "token": token, "t": t}


def rel(process, token, t, kind="release"):
    return {"kind": kind, "process": process, "resource": R, "token": token, "t": t}


def write(process, token, start, end, accepted, seq):
    return {"kind": "write", "process": process, "resource": R, "token": token, "start": start, "end": end,
            "accepted": accepted, "seq": seq}


SAFE = [acq("a", 5, 1.0), write("a", 5, 1.1, 1.2, True, 1), rel("a", 5, 1.3),
        acq("b", 9, 2.0), write("b", 9, 2.1, 2.2, True, 2), write("a", 5, 2.3, 2.4, False, None)]


def test_a_safe_history_passes():
    assert check_history(SAFE) == []


def test_tokens_that_do_not_increase_are_reported():
    bad = [acq("a", 9, 1.0), rel("a", 9, 1.5), acq("b", 5, 2.0)]
    assert any("strictly increase" in p for p in check_history(bad))


def test_a_write_accepted_after_a_newer_token_was_seen_is_reported():
    bad = [acq("a", 5, 1.0), acq("b", 9, 2.0), write("b", 9, 2.1, 2.2, True, 1), write("a", 5, 2.3, 2.4, True, 2)]
    problems = check_history(bad)
    assert any("accepted after token 9 was seen" in p for p in problems)
    assert any("overlapping terms" in p for p in problems)


def test_a_write_inside_the_next_term_before_the_new_holder_wrote_is_reported():
    # the store alone accepts it (no newer token seen yet): only the term check catches it
    bad = [acq("a", 5, 1.0), acq("b", 9, 2.0), write("a", 5, 2.1, 2.2, True, 1), write("b", 9, 2.3, 2.4, True, 2)]
    problems = check_history(bad)
    assert len(problems) == 1 and "overlapping terms" in problems[0]


def test_a_write_after_the_holder_learnt_it_lost_is_reported():
    bad = [acq("a", 5, 1.0), rel("a", 5, 1.5, "lost"), write("a", 5, 1.6, 1.7, True, 1)]
    assert any("learnt it lost" in p for p in check_history(bad))


def test_a_write_with_a_token_never_acquired_is_reported():
    assert any("never acquired" in p for p in check_history([write("a", 3, 1.0, 1.1, True, 1)]))


def _write_many(path, token, n):
    store = FencedStore(path, process=f"p{token}")
    for _ in range(n):
        store.write(R, token)


def test_fenced_store_refuses_older_tokens_across_processes(tmp_path):
    path = tmp_path / "h.jsonl"
    with StoreServer(path):
        _check_store(path)


def _check_store(path):
    store = FencedStore(path, process="main")
    assert store.write(R, 4) and store.write(R, 4)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(path, token, 20)) for token in (3, 7)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    records = History(path).records()
    assert all(not r["accepted"] for r in records if r["token"] == 3)
    accepted = sorted((r for r in records if r["accepted"]), key=lambda r: r["seq"])
    assert [r["seq"] for r in accepted] == list(range(1, len(accepted) + 1))
    tokens = [r["token"] for r in accepted]
    assert tokens == sorted(tokens) and tokens[-1] == 7
    assert not store.write(R, 5)
