# SPDX-License-Identifier: Apache-2.0
"""A helper process (tests/_cluster_procs.py, tests/_coord_procs.py) that prints one JSON
event per line (`emit`, in the child); a reader thread collects the events for the test to
wait on (`EventProc`, in the test)."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


_print_lock = threading.Lock()


def emit(**event) -> None:
    """One event line on stdout, stamped with the time and the process id."""
    event.setdefault("t", time.time())
    event.setdefault("pid", os.getpid())
    with _print_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


class EventProc:
    """Starts `argv` with pipes; `wait(predicate)` returns the first matching event."""

    wait_timeout = 15.0

    def __init__(self, argv: list[str], *, cwd: Path):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd)
        self.events: queue.Queue = queue.Queue()
        self.history: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def drain(self) -> list[dict]:
        while True:
            try:
                self.history.append(self.events.get_nowait())
            except queue.Empty:
                return self.history

    def wait(self, predicate, timeout: float | None = None) -> dict:
        for event in self.history:
            if predicate(event):
                return event
        timeout = self.wait_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                last = [{k: v for k, v in e.items() if k != "routes"} for e in self.history[-3:]]
                raise AssertionError(f"pid {self.proc.pid}: no matching event within {timeout} s; "
                                     f"last: {last}; exit code {self.proc.poll()}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.history.append(event)
            if predicate(event):
                return event

    def send(self, text: str) -> None:
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGCONT)  # a paused helper must run to see stdin close
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> float:
        self.proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        self.proc.wait()
        return killed_at
