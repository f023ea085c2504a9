# SPDX-License-Identifier: Apache-2.0
"""The ways a bulk run ends early; each maps to one CLI exit code."""
from __future__ import annotations

import signal


class UsageError(ValueError):
    """The arguments cannot make a run (checked before any input is read). Exit 2."""

    exit_code = 2


class InputError(ValueError):
    """The input cannot be read as the format it claims. Exit 1."""

    exit_code = 1


class OutputError(OSError):
    """Writing an output failed (the previous files are left as they were). Exit 1."""

    exit_code = 1


class BadRowError(ValueError):
    """A bad row under --on-bad-row error, or more bad rows than --max-bad-rows allows. Exit 3."""

    exit_code = 3


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP: every stage stops, no output is committed. Exit 128 + signal."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
