# SPDX-License-Identifier: Apache-2.0
"""Cross-architecture vectors (issue 19): this platform reproduces, bit for bit,
what x86-64 computed for every placement kind, hash and seeded balancer.

The expected values in tests/data/placement_vectors.json were made on x86-64 by
scripts/make_placement_vectors.py; on x86-64 this test guards against silent
changes, under `make arm-test` it is the aarch64 check.
"""
import json
import platform
from pathlib import Path

import pytest

from tests import _internals
from tests import _placement_vectors as pv

DATA = json.loads((Path(__file__).parent / "data" / "placement_vectors.json").read_text())
INPUTS = pv.decoded_inputs(DATA["inputs"])


def _first_difference(expected, actual, path=""):
    """Where two JSON-shaped values first differ, for a readable failure."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in expected or key not in actual:
                return f"{path}/{key}: present on one side only"
            found = _first_difference(expected[key], actual[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path}: length {len(actual)} != {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            found = _first_difference(e, a, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if expected == actual and type(expected) is type(actual) else f"{path}: {actual!r} != {expected!r}"


def test_file_was_made_on_x86_64_and_covers_every_kind():
    assert DATA["schema"] == pv.SCHEMA
    assert DATA["made_on"]["machine"] == "x86_64"
    kinds = {c.get("class", c["build"]) for c in DATA["cases"]}
    assert {"HashRing", "Maglev", "JumpHash", "Rendezvous", "IPHash", "envoy_ring", "envoy_maglev", "nginx",
            "haproxy", "ketama", "uhashring"} <= kinds
    assert set(DATA["expected"]["hash_keys"]) >= {f"{a}/0" for a in ("xxh3", "xxh64", "murmur2", "crc32")}


def test_every_engine_kind_has_vectors():
    # A kind registered in the engine but built by no case would go unchecked on
    # aarch64; every kind must appear (kind names from the engine's own registry).
    covered = {pv.case_engine_kind(c) for c in DATA["cases"]}
    missing = set(_internals.engine_placement_kinds()) - covered
    assert not missing, f"placement kinds without cross-architecture vectors: {sorted(missing)}"


def test_hash_keys_match():
    actual = pv.hash_outputs(INPUTS)
    assert _first_difference(DATA["expected"]["hash_keys"], actual) is None, platform.machine()


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["name"])
def test_placement_matches(case):
    actual = json.loads(json.dumps(pv.case_outputs(case, INPUTS)))
    assert _first_difference(DATA["expected"]["placements"][case["name"]], actual) is None, platform.machine()


@pytest.mark.parametrize("case", DATA["balancers"], ids=lambda c: c["name"])
def test_balancer_matches(case):
    actual = json.loads(json.dumps(pv.balancer_outputs(case)))
    assert _first_difference(DATA["expected"]["balancers"][case["name"]], actual) is None, platform.machine()
