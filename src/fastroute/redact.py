# SPDX-License-Identifier: Apache-2.0
"""Keeps card numbers out of every message fastroute produces.

PCI DSS v4.0.1 req. 3.4.1 allows at most the first six and last four digits of
a primary account number to be displayed; req. 3.5.1 forbids full numbers in
logs and troubleshooting output. `mask_card_numbers` applies that rule to any
run of 13 to 19 digits (optionally grouped by single spaces or dashes, as card
numbers are often printed); `snippet` also caps the context shown.
"""
from __future__ import annotations

import re

# 13-19 digits, single space/dash separators allowed, not part of a longer digit run.
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
SNIPPET_CHARS = 64


def _mask(match: re.Match) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    seen = 0
    out = []
    for c in text:
        if c.isdigit():
            seen += 1
            out.append(c if seen <= 6 or seen > digits - 4 else "*")
        else:
            out.append(c)
    return "".join(out)


def mask_card_numbers(text: str) -> str:
    """`text` with every 13-19-digit run reduced to its first 6 and last 4 digits."""
    return _DIGIT_RUN.sub(_mask, text)


def snippet(value: object, limit: int = SNIPPET_CHARS) -> str:
    """A masked, length-capped rendering of `value` for an error message."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, (bytes, bytearray)) else str(value)
    text = mask_card_numbers(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: object, limit: int = SNIPPET_CHARS) -> str:
    """`repr(value)` for an error message: card-number runs masked, at most `limit` characters."""
    text = mask_card_numbers(repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"
