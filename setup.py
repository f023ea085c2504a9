# SPDX-License-Identifier: Apache-2.0
"""Cython extension list; everything else is in pyproject.toml."""
import re
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
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
