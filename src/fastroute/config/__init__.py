# SPDX-License-Identifier: Apache-2.0
"""Config importers: build the selector a proxy configuration describes."""
from ._rules import UnsupportedDirectiveWarning
from .apache import apache_checks, load_apache
from .haproxy import haproxy_checks, load_haproxy
from .nginx import load_nginx

__all__ = ["UnsupportedDirectiveWarning", "apache_checks", "load_apache", "haproxy_checks", "load_haproxy", "load_nginx"]
