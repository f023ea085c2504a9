#!/usr/bin/env bash
# Builds an sdist, builds a wheel from that sdist (as a user's pip would),
# installs it into a scratch virtualenv and runs a smoke test against it.
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
"$work/venv/bin/python" -m pip install -q "$wheel" xxhash pytest
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
echo "wheel-check: $(basename "$wheel")"
