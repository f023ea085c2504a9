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

# Ship the sample data `fastroute demo` routes inside the package too; a wheel
# has no checkout data/ folder (found by running the suite against the wheel).
_DATA_SRC = HERE / "data"
_DATA_DST = HERE / "src" / "fastroute" / "data"
for sample in [*_DATA_SRC.glob("*.csv"), *_DATA_SRC.glob("*.toml")]:
    target = _DATA_DST / sample.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != sample.read_bytes():
        target.write_bytes(sample.read_bytes())

VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "src/fastroute/_version.py").read_text()).group(1)

setup(
    ext_modules=cythonize(
        [
            Extension(
                "fastroute._cext",
                ["cext/fastroute/_cext.pyx"],
                include_dirs=["cext"],
                define_macros=[("FASTROUTE_VERSION", f'"{VERSION}"')],
                extra_compile_args=["-O3"],
            )
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
