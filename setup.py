# SPDX-License-Identifier: Apache-2.0
"""Cython extension list; everything else is in pyproject.toml."""
import re
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
# Ship the .pxd declarations inside the package so `fastroute.get_include()`
# works for wheels too (the copy is generated, not committed).
_PXD_SRC = HERE / "cext" / "fastroute"
_PXD_DST = HERE / "src" / "fastroute" / "include" / "fastroute"
for pxd in _PXD_SRC.rglob("*.pxd"):
    target = _PXD_DST / pxd.relative_to(_PXD_SRC)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != pxd.read_bytes():
        target.write_bytes(pxd.read_bytes())

VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "src/fastroute/_version.py").read_text()).group(1)

setup(
    ext_modules=cythonize(
        [
            Extension(
                "fastroute._cext",
                ["cext/fastroute/_cext.pyx"],
                include_dirs=["cext"],
                define_macros=[("FASTROUTE_VERSION", f'"{VERSION}"')],
                # No fused multiply-add: GCC contracts a*b+c by default where the
                # CPU has FMA (always on aarch64), which changes the last bit of
                # e.g. PeakEWMA's cost*w + rtt*(1-w) versus x86-64 (issue 19).
                extra_compile_args=["-O3", "-ffp-contract=off"],
            ),
            Extension(
                "fastroute._locality",
                ["cext/fastroute/_locality.pyx"],
                include_dirs=["cext"],
                extra_compile_args=["-O3", "-ffp-contract=off"],
            ),
        ],
        include_path=["cext"],
        build_dir="build/cython",
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "freethreading_compatible": True,
        },
    )
)
