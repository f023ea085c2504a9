#!/usr/bin/env bash
# Same-run speed comparison of this checkout's build against REV's:
#   benches/compare_builds.sh REV [ROUNDS] [REPEATS]
#   benches/compare_builds.sh --instructions REV [CASE...]
# --instructions counts user-space instructions per key under valgrind's
# cachegrind instead of timing (one run of each case minus a run of zero
# iterations, so start-up cancels): deterministic and blind to other load on
# the machine, so a per-call change of a few instructions shows (docs/build.md
# §11, per-call cost). Batches hold COMPARE_BATCH keys there (default 100 000).
# Builds REV's wheel (git archive → pip wheel, Rust dependencies shared through
# rust/target/compare) into a scratch venv under build/compare/, then runs
# benches/compare_one.py with the two builds alternately, ROUNDS times each
# (default 5), and prints per benchmark best-time ratios this/REV (< 1: faster).
# This checkout must be built (`make dev`); the comparison runs on .venv.
set -euo pipefail
metric=time
if [ "${1:-}" = --instructions ]; then metric=instructions; shift; fi
rev=${1:?usage: benches/compare_builds.sh REV [ROUNDS] [REPEATS]}
rounds=${2:-5}
repeats=${3:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
head_py="$top/.venv/bin/python"
[ -x "$head_py" ] || { echo "compare_builds: run 'make dev' first" >&2; exit 2; }
sha=$(git -C "$top" rev-parse --short "$rev^{commit}")
work="$top/build/compare/$sha"
base_py="$work/venv/bin/python"
if [ ! -x "$base_py" ] || ! "$base_py" -c "import fastroute" 2>/dev/null; then
  rm -rf "$work"
  mkdir -p "$work/src"
  git -C "$top" archive "$sha" | tar -x -C "$work/src"
  "$head_py" -m venv "$work/venv"
  "$base_py" -m pip install -q --upgrade pip
  "$base_py" -m pip install -q "setuptools>=77" "setuptools-rust>=1.12" "cython>=3.1,<3.4" "numpy>=2" wheel
  # Seed the scratch target dir with the dev build's compiled dependencies (crates.io ones are reused).
  if [ ! -d "$top/rust/target/compare/release" ] && [ -d "$top/rust/target/release" ]; then
    mkdir -p "$top/rust/target/compare" && cp -a "$top/rust/target/release" "$top/rust/target/compare/"
  fi
  CARGO_TARGET_DIR="$top/rust/target/compare" \
    "$base_py" -m pip wheel -q --no-deps --no-build-isolation -w "$work/wheels" "$work/src"
  "$base_py" -m pip install -q "$work"/wheels/fastroute-*.whl pyarrow
fi
if [ "$metric" = instructions ]; then
  command -v valgrind >/dev/null || { echo "compare_builds: --instructions needs valgrind" >&2; exit 2; }
  shift
  cd "$work"
  export COMPARE_BATCH=${COMPARE_BATCH:-100000} OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0
  if [ $# -eq 0 ]; then
    mapfile -t cases < <("$head_py" -c 'import ast, sys
src = open(sys.argv[1]).read()
tree = ast.parse(src)
for node in ast.walk(tree):
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "CASES":
        print("\n".join(k.value for k in node.value.keys))' "$top/benches/compare_one.py")
  else
    cases=("$@")
  fi
  count_ir() {  # count_ir PY CASE TIMES -> instructions of the whole process
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$1" "$top/benches/compare_one.py" \
      --run "$2" "$3" 2>&1 >/dev/null | sed -n 's/.*I *refs: *//p' | tr -d ','
  }
  printf '%-34s %12s %12s %9s   (base = %s, instructions per key)\n' benchmark base this this/base "$sha"
  for name in "${cases[@]}"; do
    keys=$("$head_py" "$top/benches/compare_one.py" --run "$name" 0 | sed 's/[^0-9]//g')
    times=$(( (200000 + keys - 1) / keys ))  # >= 200 000 keys, so start-up noise is < 1 per key
    per=()
    for py in "$base_py" "$head_py"; do
      zero=$(count_ir "$py" "$name" 0); many=$(count_ir "$py" "$name" "$times")
      per+=("$(awk -v d="$(( many - zero ))" -v k="$(( keys * times ))" 'BEGIN { printf "%.1f", d / k }')")
    done
    awk -v n="$name" -v b="${per[0]}" -v h="${per[1]}" 'BEGIN { printf "%-34s %12.1f %12.1f %9.3f\n", n, b, h, h / b }'
  done
  exit 0
fi
results="$work/results.jsonl"
: > "$results"
cd "$work"   # neither interpreter may import this checkout's src/ by accident (head is an editable install)
for ((r = 1; r <= rounds; r++)); do
  for side in base head; do
    py=$base_py; [ "$side" = head ] && py=$head_py
    echo "compare_builds: round $r/$rounds, $side" >&2
    printf '{"side": "%s", "run": %s}\n' "$side" "$("$py" "$top/benches/compare_one.py" "$repeats")" >> "$results"
  done
done
"$head_py" - "$results" "$sha" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
best = {}
for row in rows:
    for name, t in row["run"]["best_s_per_key"].items():
        key = (row["side"], name)
        best[key] = min(best.get(key, t), t)
names = list(rows[0]["run"]["best_s_per_key"])
print(f"{'benchmark':34} {'base ns/key':>12} {'this ns/key':>12} {'this/base':>9}   (base = {sys.argv[2]})")
for name in names:
    b, h = best[("base", name)], best[("head", name)]
    print(f"{name:34} {b * 1e9:12.1f} {h * 1e9:12.1f} {h / b:9.3f}")
PY
