# SPDX-License-Identifier: Apache-2.0
"""Membership read from a cluster TOML file (the `fastroute.cluster` format),
reloaded when its content changes.

A bad edit (invalid TOML, unknown key, negative weight, missing file) keeps the
last good snapshot and reports the error; the first load must succeed.

How operators must write the file: replace it atomically (write a temporary
file in the same directory, then rename it over the old one — `fastroute
cluster` and most config tools do). Non-atomic writers are tolerated by the
settle rule: new content is published only once the file has stayed the
same — identical bytes, size, mtime and inode — over `settle` seconds
(default 0.25). A file still growing in chunks is therefore never published
as a cut-off prefix that happens to be valid TOML; a writer that stalls for
longer than `settle` mid-write is the one case the rule cannot catch, so
write atomically.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from pathlib import Path

from .base import Membership, NoServingMemberError
from .cluster_file import parse_cluster
from ..redact import quoted

log = logging.getLogger(__name__)


class FileMembership(Membership):
    """Follows a cluster TOML file.

    poll_interval: seconds between content checks by a daemon thread (the content,
    not only mtime, is compared: two edits within one mtime tick are still seen).
    None disables the thread; call `reload()` yourself.
    settle: seconds new content must stay unchanged before it is published (see
    the module docstring: write the file atomically; this guards non-atomic
    writers). 0 publishes at once (only for files replaced atomically).
    """

    def __init__(self, path: str | os.PathLike, *, poll_interval: float | None = 1.0, settle: float = 0.25):
        if poll_interval is not None and (isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float))
                                          or not poll_interval > 0):
            raise ValueError(f"poll_interval: expected a number > 0 or None, got {quoted(poll_interval)}")
        if isinstance(settle, bool) or not isinstance(settle, (int, float)) or not 0 <= settle <= 60:
            raise ValueError(f"settle: expected seconds in [0, 60], got {quoted(settle)}")
        self._settle = float(settle)
        self._path = Path(path)
        super().__init__(str(self._path))
        self._digest: bytes | None = None
        self._bad_digest: bytes | None = None
        self._epoch = 0
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        if not self.reload():
            raise ValueError(f"path: {self._last_error}")
        self._thread = None
        if poll_interval is not None:
            self._thread = threading.Thread(target=self._poll, args=(float(poll_interval),),
                                            name=f"fastroute-file-membership:{self._path.name}", daemon=True)
            self._thread.start()

    @property
    def path(self) -> Path:
        return self._path

    def reload(self) -> bool:
        """Re-reads the file now. Returns False if it is unreadable or invalid (the
        error goes to `last_error` and `on_error` subscribers; the snapshot stays)."""
        with self._reload_lock:
            try:
                data, stamp = self._read()
            except OSError as exc:
                if self._bad_digest == b"unreadable":
                    return False  # already reported
                return self._fail(ValueError(f"{self._path}: cannot read: {exc.strerror or exc}"), b"unreadable")
            digest = hashlib.sha256(data).digest()
            if digest == self._digest:
                return True
            if digest == self._bad_digest:
                return False  # already reported
            if self._settle:
                try:
                    data = self._settled(data, stamp)
                except OSError:
                    data = None
                if data is None:
                    log.debug("%s: still being written; will read it again", self._path)
                    return False  # not an error: the next reload() looks again
                digest = hashlib.sha256(data).digest()
                if digest == self._digest:
                    return True
                if digest == self._bad_digest:
                    return False
            self._publish_content(data, digest)
            return self._digest == digest

    def _read(self) -> tuple[bytes, tuple]:
        before = os.stat(self._path)
        data = self._path.read_bytes()
        after = os.stat(self._path)
        stamp = (after.st_ino, after.st_size, after.st_mtime_ns)
        if (before.st_ino, before.st_size, before.st_mtime_ns) != stamp or len(data) != after.st_size:
            stamp = None  # changed while we read it
        return data, stamp

    def _settled(self, data: bytes, stamp: tuple | None) -> bytes | None:
        """The content once the same bytes and stat are seen `settle` seconds
        apart; None if the file keeps changing (or we are closing)."""
        deadline = time.monotonic() + max(4 * self._settle, 1.0)
        while True:
            if self._stop.wait(self._settle):
                return None  # closing
            again, stamp_again = self._read()
            if stamp is not None and again == data and stamp_again == stamp:
                return data
            data, stamp = again, stamp_again
            if time.monotonic() >= deadline:
                return None

    def _publish_content(self, data: bytes, digest: bytes) -> None:
        try:
            text = data.decode("utf-8")
            spec = parse_cluster(text, source=str(self._path))
            if spec.secret is not None:
                # Snapshots are compared and fingerprinted in the clear; never silently drop the key.
                raise ValueError(f"{self._path}: secret_env/secret_file: membership snapshots do not carry the "
                                 f"placement secret; pass secret= to follow_router / the router instead")
            try:  # unknown algorithm or bad params are a bad edit too
                spec.build_placement()
            except NoServingMemberError:
                pass  # a valid file with every node down: published; followers keep their table
        except UnicodeDecodeError as exc:
            self._fail(ValueError(f"{self._path}: not UTF-8: {exc}"), digest)
            return
        except ValueError as exc:
            self._fail(exc, digest)
            return
        self._epoch += 1
        self._publish(dataclasses.replace(spec, epoch=self._epoch, source=str(self._path)))
        self._digest, self._bad_digest = digest, None

    def _fail(self, error: Exception, digest: bytes | None) -> bool:
        self._bad_digest = digest
        self._report_error(error)
        return False

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.reload()
            except Exception as exc:  # never let the poller die silently
                self._report_error(exc)

    def close(self) -> None:
        super().close()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
