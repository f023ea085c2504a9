# SPDX-License-Identifier: Apache-2.0
# Single source of the version: pyproject reads it, setup.py compiles it into
# fastroute._cext, and rust/Cargo.toml ([workspace.package]) must carry the same (checked at import).
__version__ = "0.1.0"
