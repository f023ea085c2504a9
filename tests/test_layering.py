# SPDX-License-Identifier: Apache-2.0
"""Package layering: only a few modules reach the Rust core directly; config/
and compat/ translate into the public placement classes (issue #12)."""
import ast
from pathlib import Path

import fastroute

PKG = Path(fastroute.__file__).parent
#: The modules allowed to touch `fastroute._rust` (placement through its shared base).
RUST_USERS = {"_native.py", "hashing.py", "tokens.py", "bulk/reader.py", "placement/_table.py"}


def _touches_rust(tree: ast.AST) -> list[int]:
    """Lines that import `_rust` or read an attribute named `_rust`."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[-1] == "_rust" or any(a.name == "_rust" for a in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.Import):
            if any(a.name.split(".")[-1] == "_rust" for a in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr == "_rust":
            lines.append(node.lineno)
    return lines


def test_only_the_allowed_modules_touch_the_rust_core():
    offenders = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel in RUST_USERS:
            continue
        lines = _touches_rust(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            offenders[rel] = lines
    assert not offenders, f"modules importing fastroute._rust outside {sorted(RUST_USERS)}: {offenders}"


def test_the_checker_sees_each_import_form():
    for source in ("from .._native import _rust", "from . import _rust", "from .._rust import CsvFramer",
                   "import fastroute._rust", "x = _native._rust.PlacementTable"):
        assert _touches_rust(ast.parse(source)), source
    assert not _touches_rust(ast.parse("from ..placement import HashRing\nrust = 1"))


def test_every_allowed_module_exists():
    # A renamed module must not leave a stale allowance behind.
    assert all((PKG / rel).exists() for rel in RUST_USERS), sorted(r for r in RUST_USERS if not (PKG / r).exists())
