# SPDX-License-Identifier: Apache-2.0
"""Reference: JumpBackAnchor (hash4j's `jumpBackAnchorHash`; docs/algorithms.md §24).

AnchorHash (Mendelson et al., IEEE/ACM ToN 2020, arXiv 1812.09674;
docs/algorithms.md §24.2), memory-optimised form, on top of JumpBackHash instead of a fixed anchor set:
the "anchor" is every bucket id ever used (`total`). A key first takes its
JumpBackHash bucket among `total`; while that bucket is removed, the key redraws
a position uniformly among the buckets that were live right after the removal
(`view`) and resolves which bucket holds that position in that view, following
"who took the place of whom" links (`successor`). The random stream continues
the one JumpBackHash used (same SplitMix64 seeded with the key hash).

State (what a coordinator stores): `total` and the stack of removed ids —
hash4j's getState() layout: LE u32 total, then LE u32 per removed id, oldest
first. Written from the papers and hash4j's documented behaviour, pinned by
tests/data/jumpback_anchor_vectors.json.
"""
import struct

from .jumpback import SplitMix64, bucket_from


class JumpBackAnchor:
    def __init__(self, total: int, removed: tuple[int, ...] = ()):
        self.total = total
        self.removed: list[int] = []
        self.view: dict[int, int] = {}       # removed id -> live count right after its removal
        self.successor: dict[int, int] = {}  # removed id -> the bucket that took its position
        for b in removed:
            self._push(b)

    def _holder(self, position: int, view: int) -> int:
        """The bucket at `position` among the `view` live buckets of that moment."""
        b = position
        while self.view.get(b, 0) >= view:
            b = self.successor[b]
        return b

    def _push(self, b: int) -> None:
        if not 0 <= b < self.total or b in self.view:
            raise ValueError(f"bucket {b} is not live")
        self.removed.append(b)
        live = self.total - len(self.removed)
        if live < 1:
            raise ValueError("the last bucket cannot be removed")
        # b's position is taken by the bucket in the last position of the previous view.
        self.successor[b] = self._holder(live, live + 1)
        self.view[b] = live

    def remove(self, b: int) -> None:
        if not self.removed and b == self.total - 1 and self.total > 1:
            self.total -= 1  # jump-like shrink: nothing to remember
        else:
            self._push(b)

    def add(self) -> int:
        """The id a new bucket gets: the most recently removed one, else a fresh id."""
        if self.removed:
            b = self.removed.pop()
            del self.view[b], self.successor[b]
            return b
        self.total += 1
        return self.total - 1

    def live(self) -> list[int]:
        return [b for b in range(self.total) if b not in self.view]

    def bucket(self, h: int) -> int:
        if self.total <= 1:
            return 0
        rng = SplitMix64(h)
        b = bucket_from(rng, self.total)
        while b in self.view:
            view = self.view[b]
            b = self._holder(rng.below(view), view)
        return b

    def state(self) -> bytes:
        return struct.pack(f"<{1 + len(self.removed)}I", self.total, *self.removed)

    @classmethod
    def from_state(cls, data: bytes) -> "JumpBackAnchor":
        total, *removed = struct.unpack(f"<{len(data) // 4}I", data)
        return cls(total, tuple(removed))
