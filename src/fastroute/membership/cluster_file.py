# SPDX-License-Identifier: Apache-2.0
"""Cluster file: the TOML format shared by `fastroute route --cluster`,
`FileMembership` and the demo (public as `fastroute.cluster`).

    algorithm = "ring"            # placement name, see PLACEMENTS
    secret_env = "ROUTE_SECRET"   # optional keyed placement (docs/algorithms.md §22):
                                  # the secret by reference, an environment variable
                                  # or secret_file = "PATH" (relative to this file), never inline
    [params]                      # optional, passed to the placement class
    points_per_weight = 160

    [[nodes]]
    name = "proc-eu-1"            # required, unique
    weight = 2                    # default 1; >= 0
    address = "10.0.0.1:8443"     # optional
    backup = false                # optional
    down = false                  # optional
    locality = "eu-west/eu-west-1a"  # optional: region/zone[/sub_zone], or region = / zone = / sub_zone =
    priority = 0                  # optional Envoy priority level (0 highest), docs/multi_region.md §1
    [nodes.metadata]              # optional free-form table
    rack = "r7"

Unknown keys are errors (a typo must not silently change routing).

A parsed cluster is a `fastroute.membership.Snapshot` (epoch 0) of `Member`s: `down`
becomes state "down", `backup` state "backup", else "up". Its placement is built by
the one `build_placement` every membership source uses (docs/cluster.md §5.1).
"""
from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..redact import quoted
from .base import Member, Snapshot

#: Locality and priority keys of a node (docs/multi_region.md §1); they land in the member's metadata.
_PLACE_KEYS = ("locality", "region", "zone", "sub_zone", "priority")
_NODE_KEYS = {"name", "weight", "address", "backup", "down", "metadata", *_PLACE_KEYS}
_TOP_KEYS = {"algorithm", "params", "nodes", "secret_env", "secret_file"}


def parse_cluster(text: str, *, source: str = "<cluster>") -> Snapshot:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    return cluster_from_dict(doc, source=source)


def load_cluster(path: str | Path) -> Snapshot:
    path = Path(path)
    return parse_cluster(path.read_text(encoding="utf-8"), source=str(path))


def _load_placement_secret(doc: Mapping[str, Any], source: str) -> bytes | None:
    """The keyed placement secret a cluster names by reference (docs/algorithms.md §22)."""
    from ..tokens import load_secret

    if "secret" in doc or "secret" in (doc.get("params") or {}):
        raise ValueError(f"{source}: secret: a secret is never written into the cluster file; "
                         f"name it with secret_env = \"VARIABLE\" or secret_file = \"PATH\"")
    env, file = doc.get("secret_env"), doc.get("secret_file")
    if env is None and file is None:
        return None
    if env is not None and file is not None:
        raise ValueError(f"{source}: secret_env, secret_file: give one of them, not both")
    setting = "secret_env" if env is not None else "secret_file"
    value = env if env is not None else file
    if not isinstance(value, str) or not value:
        raise ValueError(f"{source}: {setting}: must be a non-empty string")
    if file is not None and source != "<cluster>" and not Path(file).is_absolute():
        file = str(Path(source).parent / file)  # relative to the cluster file, not the working directory
    return load_secret(env=env, file=file, what=f"{source}: {setting}")


def cluster_from_dict(doc: Mapping[str, Any], *, source: str = "<cluster>") -> Snapshot:
    unknown = set(doc) - _TOP_KEYS
    if "secret" in unknown:
        unknown.discard("secret")  # reported by _load_placement_secret with the rule
    if unknown:
        raise ValueError(f"{source}: unknown top-level keys {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    algorithm = doc.get("algorithm")
    if not isinstance(algorithm, str) or not algorithm:
        raise ValueError(f"{source}: 'algorithm' must be a non-empty string")
    params = doc.get("params", {})
    if not isinstance(params, Mapping):
        raise ValueError(f"{source}: 'params' must be a table")
    raw_nodes = doc.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise ValueError(f"{source}: at least one [[nodes]] table is required")
    nodes = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_nodes):
        where = f"{source}: nodes[{i}]"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: must be a table")
        unknown = set(raw) - _NODE_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_NODE_KEYS)}")
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: 'name' must be a non-empty string")
        if name in seen:
            raise ValueError(f"{where}: duplicate node name {quoted(name)}")
        seen.add(name)
        weight = raw.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"{where}: 'weight' must be a finite number >= 0, got {quoted(weight)}")
        address = raw.get("address")
        if address is not None and not isinstance(address, str):
            raise ValueError(f"{where}: 'address' must be a string")
        flags = {}
        for flag in ("backup", "down"):
            value = raw.get(flag, False)
            if not isinstance(value, bool):
                raise ValueError(f"{where}: '{flag}' must be true or false")
            flags[flag] = value
        metadata = raw.get("metadata", {})
        if not isinstance(metadata, Mapping):
            raise ValueError(f"{where}: 'metadata' must be a table")
        state = "down" if flags["down"] else "backup" if flags["backup"] else "up"
        metadata = _with_place(raw, dict(metadata), where)
        try:
            nodes.append(Member(name, float(weight), address, state, dict(metadata)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    secret = _load_placement_secret(doc, source)
    return Snapshot(tuple(nodes), 0, source, algorithm=algorithm, params=dict(params), secret=secret)


def _with_place(raw: Mapping[str, Any], metadata: dict, where: str) -> dict:
    """Node-level locality / priority keys, checked, into the metadata (where every
    membership backend carries them); the same key in both places must agree."""
    from ..locality import locality_from_metadata

    for key in _PLACE_KEYS:
        if key in raw:
            if key in metadata and metadata[key] != raw[key]:
                raise ValueError(f"{where}: '{key}' is given twice (node and metadata) with different values")
            metadata[key] = raw[key]
    locality_from_metadata(metadata, where=where)  # a bad locality fails here, naming the node
    if "priority" in metadata:
        p = metadata["priority"]
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 127:
            raise ValueError(f"{where}: 'priority' must be an integer in [0, 127], got {quoted(p)}")
    return metadata
