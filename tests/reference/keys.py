# SPDX-License-Identifier: Apache-2.0
"""Reference: canonical bytes of a key (the spec every compiled entry point follows)."""
import struct


def key_bytes(key) -> bytes:
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, bytes):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        if key < 0:
            return struct.pack("<q", key)
        return struct.pack("<Q", key)
    raise TypeError(type(key))
