# SPDX-License-Identifier: Apache-2.0
"""In-memory membership: the default that needs no server, and the test double."""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from .base import Member, Membership, Snapshot, as_members
from ..redact import quoted


class StaticMembership(Membership):
    """Membership held in memory; every change publishes a new snapshot (epoch + 1).

    members: Members, names, or a mapping name → weight (order is kept: it is the
    node order of tables built from it). algorithm/params: optional placement hint.
    """

    def __init__(self, members, *, algorithm: str | None = None, params: dict[str, Any] | None = None,
                 name: str = "static"):
        super().__init__(name)
        self._edit_lock = threading.Lock()
        self._publish(Snapshot(as_members(members), 1, name, algorithm=algorithm, params=params or {}))

    def _edit(self, change) -> Snapshot:
        with self._edit_lock:
            current = self.snapshot()
            members = as_members(change(list(current.members)))
            snap = replace(current, members=members, epoch=current.epoch + 1, stale=False)
            self._publish(snap)
            return snap

    def update(self, members) -> Snapshot:
        """Replaces the whole member list."""
        new = as_members(members)
        return self._edit(lambda _: new)

    def add(self, member: Member | str, weight: float = 1.0, **fields) -> Snapshot:
        m = member if isinstance(member, Member) else Member(member, weight, **fields)

        def change(members):
            if any(x.name == m.name for x in members):
                raise ValueError(f"member: {quoted(m.name)} is already a member")
            return members + [m]
        return self._edit(change)

    def remove(self, name: str) -> Snapshot:
        def change(members):
            if not any(x.name == name for x in members):
                raise KeyError(f"name: no member {quoted(name)}")
            return [x for x in members if x.name != name]
        return self._edit(change)

    def _modify(self, name: str, **fields) -> Snapshot:
        def change(members):
            if not any(x.name == name for x in members):
                raise KeyError(f"name: no member {quoted(name)}")
            return [replace(x, **fields) if x.name == name else x for x in members]
        return self._edit(change)

    def set_weight(self, name: str, weight: float) -> Snapshot:
        return self._modify(name, weight=weight)

    def set_state(self, name: str, state: str) -> Snapshot:
        return self._modify(name, state=state)
