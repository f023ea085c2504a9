# SPDX-License-Identifier: Apache-2.0
"""The one rule both config loaders apply to what they do not support
(docs/checks.md §6): by default a warning naming the line, the directive is
ignored; with `strict=True` a ValueError with the same text."""
from __future__ import annotations

import warnings


class UnsupportedDirectiveWarning(UserWarning):
    """A config directive or parameter fastroute ignored."""


def unsupported(where: str, what: str, strict: bool, *, stacklevel: int = 4) -> None:
    message = f"{where}: unsupported {what}"
    if strict:
        raise ValueError(message + " (strict=True)")
    warnings.warn(message + "; ignored (strict=True makes this an error)", UnsupportedDirectiveWarning,
                  stacklevel=stacklevel)


def check_strict(strict: object) -> bool:
    if strict is not True and strict is not False:
        raise TypeError(f"strict: expected True or False, got {type(strict).__name__}")
    return strict
