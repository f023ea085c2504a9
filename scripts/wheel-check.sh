#!/usr/bin/env bash
# Builds an sdist, builds a wheel from that sdist (as a user's pip would),
# installs it into a scratch virtualenv, smoke-tests it, then runs the whole
# pytest suite — unit and integration (real nginx, HAProxy, ZooKeeper on
# 127.0.0.1) — against the installed wheel, from a copy of tests/ so that only
# the wheel is importable. Needs scripts/ensure-system-deps.sh (make does it).
# WHEEL_CHECK_SMOKE_ONLY=1 stops after the smoke test.
set -euo pipefail
export PATH="$HOME/.cargo/bin:$PATH"
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=${PYTHON:-python3}
"$py" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip build
cd "$top"
"$work/venv/bin/python" -m build --sdist --outdir "$work/dist" . >/dev/null
sdist=$(ls "$work"/dist/fastroute-*.tar.gz)
# Share compiled Rust dependencies with the dev build to keep this fast.
CARGO_TARGET_DIR="$top/rust/target/wheel-check" \
  "$work/venv/bin/python" -m pip wheel -q --no-deps -w "$work/wheels" "$sdist"
wheel=$(ls "$work"/wheels/fastroute-*.whl)
"$work/venv/bin/python" -m pip install -q "$wheel" xxhash pytest pyarrow
cd "$work"   # import the installed wheel, not the checkout
"$work/venv/bin/python" - <<'PY'
import fastroute, numpy as np, xxhash
assert fastroute.RUST_BUILD_PROFILE == "release", fastroute.RUST_BUILD_PROFILE
assert fastroute.hash_keys(["abc"])[0] == xxhash.xxh3_64_intdigest(b"abc")
sel = fastroute.SmoothWeightedRoundRobin(["a", "b", "c"], [5, 1, 1])
assert "".join(sel.pick() for _ in range(7)) == "aabacaa"
from pathlib import Path
assert (Path(fastroute.get_include()) / "fastroute" / "_cext.pxd").exists(), fastroute.get_include()
assert "site-packages" in fastroute.get_include()
print("wheel-check: OK", fastroute.__version__, fastroute.__file__)
PY
# The demo runs from the installed wheel (its sample data is package data), and
# the main job routes that sample through the compiled CSV framer.
"$work/venv/bin/fastroute" demo | tee "$work/demo.txt" | tail -2
grep -q "rows in 20000 = out 20000 + skipped 0" "$work/demo.txt"
sample=$("$work/venv/bin/python" -c "import fastroute.cli as c; print(c._bundled('sample_transactions.csv'))")
"$work/venv/bin/fastroute" route "$sample" --cluster "$(dirname "$sample")/sample_cluster.toml" --key card_id \
  -o "$work/routed.parquet" --json | grep -q '"status": "ok"'
echo "wheel-check: $(basename "$wheel")"
[ "${WHEEL_CHECK_SMOKE_ONLY:-0}" = 1 ] && exit 0

# Every compiled path (Rust placement, Cython balancers, cimport, CLI, live
# proxies, ZooKeeper processes) runs here from the wheel, not the editable build.
"$work/venv/bin/python" -m pip install -q "$wheel[test]" "cython>=3.1,<3.4"
mkdir -p "$work/suite/rust"
cp -r "$top/tests" "$work/suite/tests"
cp "$top/pyproject.toml" "$top/README.md" "$work/suite/"   # pytest settings; README for the recorded versions
cp "$top/rust/Cargo.toml" "$work/suite/rust/"              # the version-agreement test reads it
# tests/test_ceiling.py builds and runs the ceiling benchmark's binary (sources only, no target/)
mkdir -p "$work/suite/benches/ceiling"
cp "$top/benches/ceiling.py" "$work/suite/benches/"
cp -r "$top/benches/ceiling/Cargo.toml" "$top/benches/ceiling/Cargo.lock" "$top/benches/ceiling/src" "$work/suite/benches/ceiling/"
cd "$work/suite"
"$work/venv/bin/python" - <<'PY'
import fastroute
assert "site-packages" in fastroute.__file__, fastroute.__file__  # not the checkout
PY
# Everything except the checks of the checkout itself (marker source_tree).
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider -m "not source_tree" tests
echo "wheel-check: suite passed against $(basename "$wheel")"
