# SPDX-License-Identifier: Apache-2.0
"""Argument validation shared by every public class: clear errors that name
the argument and the rule, raised before anything reaches compiled code."""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, MappingView, Set
from .redact import quoted

import numpy as np

MAX_INT_WEIGHT = 2**31 - 1


def is_finite_real(value: object) -> bool:
    """A real number (not bool) that is finite as a float; ints too large for a float are not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_bool(value: object, name: str) -> bool:
    """A real bool (not 0/1, not a string): flags that silently accept truthy junk hide typos."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return bool(value)


def check_int(value: object, name: str, minimum: int | None = None, maximum: int | None = None, *,
              maximum_text: str | None = None, wrong_type: type[Exception] = TypeError) -> int:
    """An int (not bool, numpy integers too) in [minimum, maximum]; `maximum_text` shows a bound such as 2**64 - 1.
    `wrong_type=ValueError` keeps the arguments that have always raised ValueError for a non-int doing so."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise wrong_type(f"{name}: expected an int, got {type(value).__name__}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        top = maximum_text or maximum
        bound = (f"in [{minimum}, {top}]" if minimum is not None and maximum is not None
                 else f">= {minimum}" if minimum is not None else f"<= {top}")
        raise ValueError(f"{name}: must be {bound}, got {quoted(value)}")  # repr of an int: digits masked
    return value


def check_finite(value: object, name: str, *, minimum: float | None = None, above: float | None = None,
                 maximum: float | None = None) -> float:
    """A finite real number (not bool) >= minimum (or > above) and <= maximum, as a float."""
    low_ok = (minimum is None or (is_finite_real(value) and value >= minimum)) and \
             (above is None or (is_finite_real(value) and value > above))
    if not is_finite_real(value) or not low_ok or (maximum is not None and value > maximum):
        parts = [f">= {minimum}" if minimum is not None else "", f"> {above}" if above is not None else "",
                 f"<= {maximum}" if maximum is not None else ""]
        bound = " and ".join(p for p in parts if p)
        raise ValueError(f"{name}: must be a finite number{' ' + bound if bound else ''}, got {quoted(value)}")
    return float(value)


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (a tuple, so the message lists them in a fixed order)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {quoted(value)}")
    return value


def reject_unordered(values: object, name: str) -> None:
    """Sets iterate in an order that depends on PYTHONHASHSEED, so anything
    whose order decides a result must be a sequence (dict views are ordered)."""
    if isinstance(values, Set) and not isinstance(values, MappingView):
        raise TypeError(f"{name}: got an unordered {type(values).__name__}; its iteration order differs between "
                        "processes (PYTHONHASHSEED), so results would too. Pass a list or tuple "
                        "(e.g. sorted(...))")


def node_names(nodes: object, *, name: str = "nodes") -> tuple[str, ...]:
    """Non-empty sequence of distinct, non-empty str node names (valid UTF-8)."""
    if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Iterable):
        raise TypeError(f"{name}: expected a sequence of str node names, got {type(nodes).__name__}")
    reject_unordered(nodes, name)
    result = tuple(nodes)
    if not result:
        raise ValueError(f"{name}: must not be empty")
    seen: set[str] = set()
    for i, node in enumerate(result):
        node_name(node, f"{name}[{i}]")
        if node in seen:
            raise ValueError(f"{name}: duplicate node name {quoted(node)}")
        seen.add(node)
    return result


def node_name(node: object, label: str) -> str:
    """One node name: a non-empty str, valid UTF-8 (`label` names it in errors)."""
    if not isinstance(node, str):
        raise TypeError(f"{label}: node names must be str, got {type(node).__name__}")
    if not node:
        raise ValueError(f"{label}: node names must not be empty")
    try:
        node.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{label}: node names must be valid UTF-8 (no lone surrogates)") from None
    return node


def nodes_and_weights(nodes: object, weights: object) -> tuple[tuple[str, ...], object]:
    """Accepts `nodes` as a sequence with separate `weights`, or a mapping name → weight."""
    if isinstance(nodes, Mapping):
        if weights is not None:
            raise TypeError("weights: give weights either in the nodes mapping or as weights=, not both")
        return node_names(list(nodes.keys())), list(nodes.values())
    return node_names(nodes), weights


def float_weights(weights: object, count: int, *, name: str = "weights") -> np.ndarray:
    """Finite, non-negative weights, not all zero; None means all 1.0."""
    if weights is None:
        return np.ones(count, dtype=np.float64)
    values = _sequence(weights, count, name)
    out = np.empty(count, dtype=np.float64)
    for i, w in enumerate(values):
        out[i] = float_weight(w, f"{name}[{i}]")
    if not out.any():
        raise ValueError(f"{name}: at least one weight must be > 0")
    return out


def int_weights(weights: object, count: int, *, name: str = "weights", maximum: int = MAX_INT_WEIGHT) -> np.ndarray:
    """Integer weights in [0, maximum], not all zero; None means all 1."""
    if weights is None:
        return np.ones(count, dtype=np.int64)
    values = _sequence(weights, count, name)
    out = np.empty(count, dtype=np.int64)
    for i, w in enumerate(values):
        out[i] = int_weight(w, f"{name}[{i}]", maximum)
    if not out.any():
        raise ValueError(f"{name}: at least one weight must be > 0")
    return out


def float_weight(w: object, label: str) -> float:
    """One weight: a finite real number >= 0 (`label` names it in errors, e.g. "weights[3]")."""
    if isinstance(w, bool) or not isinstance(w, numbers.Real):
        raise TypeError(f"{label}: weights must be real numbers, got {type(w).__name__}")
    try:
        w = float(w)
    except OverflowError:
        raise ValueError(f"{label}: weights must be finite floats, got an int too large for a float") from None
    if not math.isfinite(w):
        raise ValueError(f"{label}: weights must be finite, got {w}")
    if w < 0:
        raise ValueError(f"{label}: weights must be >= 0, got {w}")
    return w


def int_weight(w: object, label: str, maximum: int = MAX_INT_WEIGHT) -> int:
    """One integer weight in [0, maximum] (an integral float is accepted)."""
    if isinstance(w, bool) or not isinstance(w, numbers.Real):
        raise TypeError(f"{label}: weights must be integers, got {type(w).__name__}")
    if not isinstance(w, numbers.Integral):
        if not (isinstance(w, float) or isinstance(w, np.floating)) or not float(w).is_integer():
            raise TypeError(f"{label}: weights must be integers, got {quoted(w)}")
    w = int(w)
    if w < 0 or w > maximum:
        raise ValueError(f"{label}: weights must be in [0, {maximum}], got {w}")
    return w


def _sequence(values: object, count: int, name: str) -> list:
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise TypeError(f"{name}: expected a 1-D sequence of numbers, got a {values.ndim}-D numpy array")
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name}: expected a sequence of numbers, got {type(values).__name__}")
    reject_unordered(values, name)
    result = list(values.tolist() if isinstance(values, np.ndarray) else values)
    if len(result) != count:
        raise ValueError(f"{name}: expected {count} weights (one per node), got {len(result)}")
    return result
