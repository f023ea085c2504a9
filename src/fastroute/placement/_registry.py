# SPDX-License-Identifier: Apache-2.0
"""The placement faces by their cluster-TOML `algorithm` name.

Each face class declares its name as `_kind` (the engine kind it builds:
`KINDS` in rust/engine/src/placement/mod.rs) and is decorated with
`@registered`. `fastroute.placement` imports every face module, so `FACES` is
complete once the package is imported; nothing registers kinds at run time.
`membership.base.PLACEMENTS` is derived from it.
"""
from __future__ import annotations

from types import MappingProxyType

_faces: dict[str, type] = {}

#: TOML `algorithm` name → face class, in registration (package import) order.
FACES = MappingProxyType(_faces)


def registered(cls: type) -> type:
    """Class decorator: lists `cls` under its own `_kind` (declared on the class
    itself, not inherited, so a subclass never replaces its base's entry)."""
    name = cls.__dict__.get("_kind")
    if not isinstance(name, str):
        raise TypeError(f"{cls.__name__}: a registered placement declares its kind name as `_kind`")
    if name in _faces:
        raise TypeError(f"{cls.__name__}: placement kind {name!r} is already {_faces[name].__name__}")
    _faces[name] = cls
    return cls
