#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates tests/data/jumpback_vectors.json and tests/data/jumpback_anchor_vectors.json
# from hash4j (Dynatrace, Apache-2.0), the reference implementation of JumpBackHash
# (docs/algorithms.md §23) and JumpBackAnchor (§24).
#
# How hash4j's source is obtained: from a git repository of
# https://github.com/dynatrace-oss/hash4j — HASH4J_GIT names an existing clone (a work tree
# or a bare/mirror git dir); without it the script clones GitHub into a temporary directory.
# Only `src/main/java` of commit HASH4J_COMMIT is exported, to a temporary directory; javac
# compiles just the classes our driver (scripts/hash4j/JumpBackVectors.java, our own code)
# reaches through hash4j's public API. Nothing of hash4j is committed to fastroute.
#
# Needs: git, a JDK >= 17 (javac, java), python3. Usage:
#   HASH4J_GIT=/path/to/hash4j scripts/make_jumpback_vectors.sh
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
commit=${HASH4J_COMMIT:-41d814f94c5289a6108ad77c2f4529329a65e146}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -n "${HASH4J_GIT:-}" ]; then
  if [ -d "$HASH4J_GIT/.git" ]; then gitdir="$HASH4J_GIT/.git"; else gitdir="$HASH4J_GIT"; fi
else
  git clone --quiet --bare https://github.com/dynatrace-oss/hash4j "$work/hash4j.git"
  gitdir="$work/hash4j.git"
fi
commit_date=$(git --git-dir="$gitdir" show -s --format=%cI "$commit")
mkdir -p "$work/src" "$work/classes"
git --git-dir="$gitdir" archive "$commit" src/main/java | tar -x -C "$work/src"
# hash4j is a JPMS module; compiling the driver in the unnamed module needs the plain source tree.
rm -f "$work/src/src/main/java/module-info.java"
javac -nowarn -Xlint:none -d "$work/classes" -sourcepath "$work/src/src/main/java" -implicit:class \
  "$top/scripts/hash4j/JumpBackVectors.java" 2>/dev/null
java -cp "$work/classes" JumpBackVectors jumpback > "$work/jumpback.txt"
java -cp "$work/classes" JumpBackVectors anchor > "$work/anchor.txt"
java_version=$(java -version 2>&1 | head -n 1)

python3 - "$top" "$work" "$commit" "$commit_date" "$java_version" <<'PY'
import datetime
import json
import sys
from pathlib import Path

top, work, commit, commit_date, java_version = sys.argv[1:]
base = "src/main/java/com/dynatrace/hash4j/consistent/"
made = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def provenance(files, call):
    return {"repository": "https://github.com/dynatrace-oss/hash4j", "commit": commit, "commit_date": commit_date,
            "files": [base + f for f in files], "call": call, "driver": "scripts/hash4j/JumpBackVectors.java",
            "generator": "scripts/make_jumpback_vectors.sh", "generated": made, "java": java_version}


def dump(doc):
    """One case per line so a regenerated file diffs readably."""
    lines = []
    for k, v in doc.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            body = ",\n".join("  " + json.dumps(x, separators=(",", ":")) for x in v)
            lines.append(f"{json.dumps(k)}: [\n{body}\n]")
        else:
            lines.append(f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


jump = json.loads("{" + Path(work, "jumpback.txt").read_text() + "}")
doc = {
    "about": "JumpBackHash bucket of each 64-bit hash for each bucket count, computed by hash4j. "
             "Input: the key's 64-bit hash h (u64; Java sees the same 64 bits as a signed long) is the "
             "`hash` argument of ConsistentBucketHasher.getBucket(hash, numBuckets); hash4j seeds its "
             "SplitMix64 generator with h (state = h, each draw adds 0x9e3779b97f4a7c15 then mixes). "
             "fastroute feeds the table's u64 key hash (xxh3/…/SipHash of the key bytes) as h. "
             "expected[i] belongs to hashes[i]. docs/algorithms.md §23.",
    "provenance": provenance(["ConsistentHashing.java", "ConsistentJumpBackBucketHasher.java",
                              "AbstractConsistentJumpBackBucketHasher.java",
                              "ConsistentJumpBackBucketHasherSplitMix64.java"],
                             "ConsistentHashing.jumpBackHash(PseudoRandomGeneratorProvider.splitMix64_V1()) "
                             "and jumpBackHashSplitMix64() (asserted equal)"),
    **jump,
}
Path(top, "tests/data/jumpback_vectors.json").write_text(dump(doc))

anchor = json.loads("{" + Path(work, "anchor.txt").read_text() + "}")
doc = {
    "about": "JumpBackAnchor (hash4j ConsistentBucketSetHasher): each scenario applies `ops` to a fresh "
             "hasher (['add', id returned] / ['remove', id]); `state` is getState() in hex (LE u32 "
             "historic bucket count, then the LE u32 stack of removed ids), `buckets` is getBuckets(), "
             "expected[i] = getBucket(hashes[i]). A copy made by setState(state) gives the same buckets "
             "(checked by the driver). docs/algorithms.md §24.",
    "provenance": provenance(["ConsistentHashing.java", "ConsistentJumpBackAnchorBucketSetHasher.java",
                              "ConsistentJumpBackBucketHasher.java"],
                             "ConsistentHashing.jumpBackAnchorHash(PseudoRandomGeneratorProvider.splitMix64_V1())"),
    **anchor,
}
Path(top, "tests/data/jumpback_anchor_vectors.json").write_text(dump(doc))
print("wrote tests/data/jumpback_vectors.json and tests/data/jumpback_anchor_vectors.json")
PY
