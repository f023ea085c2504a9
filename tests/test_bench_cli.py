# SPDX-License-Identifier: Apache-2.0
"""`fastroute bench`: the report is complete and well-formed (no speed assertions)."""
import json
import subprocess
import sys
from pathlib import Path

FASTROUTE = str(Path(sys.executable).parent / "fastroute")


def test_quick_compare_json_report():
    proc = subprocess.run([FASTROUTE, "bench", "--quick", "--compare", "--json"], capture_output=True, check=True,
                          timeout=120)
    report = json.loads(proc.stdout)
    env = report["environment"]
    assert env["cpu_count"] >= 1 and env["cpu_model"] and env["rust_build_profile"] == "release"
    assert [r["algorithm"] for r in report["results"]] == ["ring", "maglev", "jump", "rendezvous"]
    for row in report["results"]:
        for field in ("get_node_str_ns", "route_hashed_1t_Mkeys_s", "route_hashed_all_Mkeys_s",
                      "route_str_list_1t_Mkeys_s", "route_str_list_all_Mkeys_s"):
            assert row[field] > 0, (row["algorithm"], field)
    peers = {c["peer"] for c in report["comparisons"] if not c.get("missing")}
    assert peers == {"uhashring", "jump-consistent-hash", "numpy searchsorted ring"}
    assert all(c["speedup"] > 0 for c in report["comparisons"])


def test_table_output():
    out = subprocess.run([FASTROUTE, "bench", "--quick"], capture_output=True, check=True, text=True).stdout
    assert "get_node ns" in out and "maglev" in out and "smooth weighted RR" in out
