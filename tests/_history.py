# SPDX-License-Identifier: Apache-2.0
"""History of locks, primary terms and fenced writes across processes, and its checker
(docs/cluster.md §11; ANCHORS §5: a fenced-write history check is enough for locks).

The storage is a server in the test process (`StoreServer`), reached over a UNIX socket
by every process (also from another network namespace): a client paused by SIGSTOP in
the middle of a request holds nothing the others need. It appends one JSON line per
request to the history file:
    {"kind": "acquire", "process", "resource", "token", "t"}      lock taken / term begins
    {"kind": "release", "process", "resource", "token", "t"}      released / term ends
    {"kind": "lost",    "process", "resource", "token", "t"}      the holder learnt it lost the role
    {"kind": "write",   "process", "resource", "token", "start", "end", "accepted", "seq"}
A write is accepted iff its token is >= the highest token the store has seen for the
resource (Kleppmann's fencing), like a database that refuses stale tokens; `start` is when
the client sent it, `end` when the store decided, `seq` the store's acceptance order.
Times are time.time() (one clock: one machine).
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path


class History:
    """Reads the history file a StoreServer writes."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


class StoreServer:
    """The fenced storage and history recorder; `with StoreServer(history_path):`."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._dir = tempfile.mkdtemp(prefix="frstore")  # short: AF_UNIX paths are <= 107 bytes
        self.address = os.path.join(self._dir, "s")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.address)
        self._sock.listen(64)
        self.path.with_suffix(".addr").write_text(self.address)
        self._lock = threading.Lock()
        self._highest: dict[str, int] = {}
        self._seq = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rw") as f:
            for line in f:
                f.write(json.dumps(self.handle(json.loads(line))) + "\n")
                f.flush()

    def handle(self, req: dict) -> dict:
        with self._lock:  # the whole request at once: nothing of it is left to a client
            if req["kind"] == "write":
                token, resource = int(req["token"]), req["resource"]
                accepted = token >= self._highest.get(resource, -1)
                if accepted:
                    self._highest[resource] = token
                    self._seq += 1
                record = {**req, "end": time.time(), "accepted": accepted, "seq": self._seq if accepted else None}
            else:
                record = req
            with open(self.path, "a") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
            return record

    def close(self) -> None:
        self._closed = True
        self._sock.close()
        try:
            os.unlink(self.address)
            os.rmdir(self._dir)
        except OSError:
            pass

    def __enter__(self) -> "StoreServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FencedStore:
    """A client of the StoreServer whose history file is `path` (one connection each)."""

    def __init__(self, path: Path | str, process: str | None = None):
        self.process = process or str(os.getpid())
        self._address = Path(path).with_suffix(".addr").read_text()
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._conn.connect(self._address)
        self._file = self._conn.makefile("rw")
        self._lock = threading.Lock()

    def _call(self, req: dict) -> dict:
        with self._lock:
            self._file.write(json.dumps(req) + "\n")
            self._file.flush()
            return json.loads(self._file.readline())

    def record(self, kind: str, resource: str, token: int, **extra) -> None:
        self._call({"kind": kind, "process": self.process, "resource": resource, "token": int(token),
                    "t": time.time(), **extra})

    def write(self, resource: str, token: int, payload: str = "") -> bool:
        return self._call({"kind": "write", "process": self.process, "resource": resource, "token": int(token),
                           "start": time.time(), "payload": payload})["accepted"]


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
