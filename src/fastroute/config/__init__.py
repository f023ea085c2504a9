# SPDX-License-Identifier: Apache-2.0
"""Config importers: build the selector a proxy configuration describes."""
from .nginx import load_nginx

__all__ = ["load_nginx"]
