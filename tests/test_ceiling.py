# SPDX-License-Identifier: Apache-2.0
"""The ceiling benchmark's binary (benches/ceiling, docs/build.md §12) computes
the same placements as fastroute on the same data: its ratios compare equal work.
Correctness only; speed is the driver's business."""
import importlib.util
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE_COUNTS = (1, 2, 3, 100, 10_000, 1_000_000)


def load_driver():
    spec = importlib.util.spec_from_file_location("ceiling_driver", ROOT / "benches" / "ceiling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    driver = load_driver()
    names = [f"10.0.0.{i}:8443" for i in range(100)]
    ring, maglev, jumps = driver.tables(names, NODE_COUNTS)
    points, _ = ring._ring().points()
    rng = np.random.default_rng(2026)
    # Random hashes plus the ring's edges: every point, its neighbours, 0 and 2**64 - 1
    # (at_or_after: a hash equal to a point lands on it; above the last point it wraps).
    edges = np.concatenate([points, points - np.uint64(1), points + np.uint64(1),
                            np.array([0, 2**64 - 1], dtype=np.uint64)])
    hashes = np.concatenate([rng.integers(0, 2**64 - 1, size=20_000, dtype=np.uint64, endpoint=True), edges])
    strings = pa.array([f"card-{v:012d}" for v in rng.integers(0, 10**12, size=5_000)]
                       + ["", "é", "x" * 300, "€" * 70])
    directory = tmp_path_factory.mktemp("ceiling")
    driver.write_inputs(directory, hashes, ring, maglev, strings)
    driver.run_ceiling(driver.build_binary(), directory, NODE_COUNTS)
    return driver, directory, driver.fastroute_loops(hashes, ring, maglev, strings, jumps)


@pytest.mark.parametrize("loop", ["ring", "maglev", "arrow"] + [f"{k}_{n}" for n in NODE_COUNTS for k in ("jump", "jumpback")])
def test_binary_lookups_equal_fastroute(run, loop):
    driver, directory, loops = run
    got = driver.ceiling_output(directory, loop)
    want = loops[loop]()
    assert len(got) == len(want) > 5_000
    np.testing.assert_array_equal(got, want)


def test_arrow_buffers_rebase_a_slice():
    driver = load_driver()
    data, offsets = driver.arrow_buffers(pa.array(["ab", "cde", "f", "gh"]).slice(1, 2))
    assert data == b"cdef" and offsets.tolist() == [0, 3, 4]
    with pytest.raises(ValueError, match="strings: expected a pyarrow string array without nulls"):
        driver.arrow_buffers(pa.array(["a", None]))
