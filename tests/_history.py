# SPDX-License-Identifier: Apache-2.0
"""History of locks, primary terms and fenced writes across processes, and its checker
(docs/cluster.md §10; ANCHORS §5: a fenced-write history check is enough for locks).

Every process appends JSON lines to one history file (O_APPEND under an exclusive flock,
so lines never interleave):
    {"kind": "acquire", "process", "resource", "token", "t"}      lock taken / term begins
    {"kind": "release", "process", "resource", "token", "t"}      released / term ends
    {"kind": "lost",    "process", "resource", "token", "t"}      the holder learnt it lost the role
    {"kind": "write",   "process", "resource", "token", "start", "end", "accepted", "seq"}
Writes go through `FencedStore`: a storage with its own fencing check (highest token per
resource kept in a state file under the same flock), like a database that refuses stale
tokens. `seq` is the store's acceptance order. Times are time.time() (one clock: one machine).
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path


class History:
    def __init__(self, path: Path | str, process: str | None = None):
        self.path = Path(path)
        self.process = process or str(os.getpid())

    @contextmanager
    def _locked(self):
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _append(self, record: dict) -> None:
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def record(self, kind: str, resource: str, token: int, **extra) -> None:
        with self._locked():
            self._append({"kind": kind, "process": self.process, "resource": resource, "token": int(token),
                          "t": time.time(), **extra})

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


class FencedStore(History):
    """The storage: accepts a write iff its token is >= the highest token it has seen for
    the resource (Kleppmann's fencing), and logs the attempt."""

    def write(self, resource: str, token: int, payload: str = "") -> bool:
        start = time.time()
        with self._locked():
            state_path = self.path.with_suffix(".state")
            state = json.loads(state_path.read_text()) if state_path.exists() else {"highest": {}, "seq": 0}
            highest = state["highest"].get(resource, -1)
            accepted = int(token) >= highest
            if accepted:
                state["highest"][resource] = int(token)
                state["seq"] += 1
                state_path.write_text(json.dumps(state))
            self._append({"kind": "write", "process": self.process, "resource": resource, "token": int(token),
                          "start": start, "end": time.time(), "accepted": accepted,
                          "seq": state["seq"] if accepted else None, "payload": payload})
        return accepted


def check_history(records: list[dict]) -> list[str]:
    """Violations (empty list: the history is safe), per resource:
    1. acquisition tokens strictly increase in acquisition order;
    2. accepted writes, in the store's order, never go back to an older token after a
       newer one was seen (accepted or refused);
    3. an accepted write with token T lies inside T's term: it starts at or after T was
       acquired and ends before the next (higher) token was acquired by anyone and before
       its own holder released or learnt it lost the role — no two holders' writes
       accepted for overlapping terms."""
    problems: list[str] = []
    resources = sorted({r["resource"] for r in records})
    for res in resources:
        rs = [r for r in records if r["resource"] == res]
        acquires = sorted((r for r in rs if r["kind"] == "acquire"), key=lambda r: r["t"])
        tokens = [a["token"] for a in acquires]
        for a, b in zip(acquires, acquires[1:]):
            if b["token"] <= a["token"]:
                problems.append(f"{res}: token {b['token']} of {b['process']} acquired at {b['t']:.3f} after "
                                f"{a['token']} of {a['process']} (tokens must strictly increase)")
        writes = [r for r in rs if r["kind"] == "write"]
        seen = -1
        for w in sorted(writes, key=lambda w: w["end"]):
            if w["accepted"] and w["token"] < seen:
                problems.append(f"{res}: write with token {w['token']} by {w['process']} accepted after token "
                                f"{seen} was seen")
            seen = max(seen, w["token"])
        accepted = sorted((w for w in writes if w["accepted"]), key=lambda w: w["seq"])
        for w1, w2 in zip(accepted, accepted[1:]):
            if w2["token"] < w1["token"]:
                problems.append(f"{res}: store accepted token {w2['token']} (seq {w2['seq']}) after "
                                f"{w1['token']} (seq {w1['seq']})")
        start_of = {a["token"]: a["t"] for a in acquires}
        for w in accepted:
            t = w["token"]
            if t not in start_of:
                problems.append(f"{res}: accepted write with token {t} that was never acquired")
                continue
            if w["start"] < start_of[t]:
                problems.append(f"{res}: write with token {t} started before its acquisition")
            later = [a["t"] for a in acquires if a["token"] > t]
            if later and w["end"] > min(later):
                problems.append(f"{res}: write with token {t} by {w['process']} accepted at {w['end']:.3f}, after "
                                f"token {min(x for x in tokens if x > t)} was acquired at {min(later):.3f} "
                                "(overlapping terms)")
            ends = [r["t"] for r in rs if r["kind"] in ("release", "lost") and r["token"] == t]
            if ends and w["start"] > min(ends):
                problems.append(f"{res}: write with token {t} by {w['process']} started after its holder "
                                "released or learnt it lost the role")
    return problems
