# SPDX-License-Identifier: Apache-2.0
"""Loads both compiled cores and checks they belong to this Python package.

A missing extension fails the import with a build hint; there is no pure-Python
fallback (the pure references live in tests/reference/ only).
"""
from __future__ import annotations

from ._version import __version__

_REBUILD_HINT = "rebuild with `pip install .` (or `make dev` in a checkout)"

try:
    from . import _rust
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    raise ImportError(f"fastroute: the Rust core fastroute._rust is missing or broken ({exc}); {_REBUILD_HINT}") from exc
try:
    from . import _cext
except ImportError as exc:  # pragma: no cover
    raise ImportError(f"fastroute: the Cython core fastroute._cext is missing or broken ({exc}); {_REBUILD_HINT}") from exc


def check_versions(python: str, rust: str, cext: str) -> None:
    """Raises ImportError unless both extensions were built from this version."""
    mismatched = {name: v for name, v in (("fastroute._rust", rust), ("fastroute._cext", cext)) if v != python}
    if mismatched:
        found = ", ".join(f"{name} {v}" for name, v in mismatched.items())
        raise ImportError(f"fastroute {python}: compiled cores are from another version ({found}); {_REBUILD_HINT}")


check_versions(__version__, _rust.__version__, _cext.__version__)

#: Cargo profile of the Rust core ("release" or "debug"); benchmarks refuse debug.
RUST_BUILD_PROFILE: str = _rust.build_profile


def get_include() -> str:
    """Directory holding `fastroute/_cext.pxd` and `fastroute/balancers/*.pxd`,
    for a Cython extension that `cimport`s the balancers (pass it as an include
    path to cythonize)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    shipped = here / "include"
    if (shipped / "fastroute" / "_cext.pxd").exists():
        return str(shipped)
    checkout = here.parents[1] / "cext"
    if (checkout / "fastroute" / "_cext.pxd").exists():
        return str(checkout)
    raise FileNotFoundError("fastroute: the .pxd declarations are not installed with this build")
