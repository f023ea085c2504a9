# SPDX-License-Identifier: Apache-2.0
"""Config importers: build the selector a proxy configuration describes."""
from .haproxy import load_haproxy
from .nginx import load_nginx

__all__ = ["load_haproxy", "load_nginx"]
