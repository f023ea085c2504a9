# SPDX-License-Identifier: Apache-2.0
"""Packaging: versions agree, both cores load, CLI works, demo runs."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import fastroute
from fastroute import _native, cli

ROOT = Path(__file__).resolve().parents[1]


def test_versions_agree_everywhere():
    cargo = tomllib.loads((ROOT / "rust" / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert fastroute.__version__ == cargo
    assert _native._rust.__version__ == fastroute.__version__
    assert _native._cext.__version__ == fastroute.__version__


def test_version_mismatch_is_a_clear_import_error():
    with pytest.raises(ImportError, match=r"fastroute._cext 0.0.9"):
        _native.check_versions("0.1.0", "0.1.0", "0.0.9")
    _native.check_versions("1.2.3", "1.2.3", "1.2.3")


def test_release_build_in_use():
    # The editable install must be release (docs/build.md §3 debug trap).
    assert fastroute.RUST_BUILD_PROFILE == "release"


def test_typing_markers_are_shipped():
    pkg = Path(fastroute.__file__).parent
    assert (pkg / "py.typed").exists()
    for stub in ("_rust.pyi", "_cext.pyi"):
        assert (pkg / stub).exists(), stub


def test_stubs_name_every_public_native_function():
    pkg = Path(fastroute.__file__).parent
    stub = (pkg / "_rust.pyi").read_text()
    for name in dir(_native._rust):
        if not name.startswith("_") and callable(getattr(_native._rust, name)):
            assert re.search(rf"\bdef {name}\b|\bclass {name}\b", stub), name


def test_cli_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastroute {fastroute.__version__}"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "demo" in capsys.readouterr().out
    assert cli.main([]) == cli.EXIT_USAGE


def test_console_script_runs_demo():
    exe = Path(sys.executable).parent / "fastroute"
    out = subprocess.run([str(exe), "demo"], capture_output=True, text=True, check=True).stdout
    assert "routed 20000 rows" in out and "rows in 20000 = out 20000 + skipped 0" in out
    rows = {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line.startswith("proc-")}
    # proc-ap-1 is a backup: it takes no keys while the primaries serve.
    assert rows["proc-ap-1"] == 0
    assert sum(rows.values()) == 20000
    assert 0.30 < rows["proc-us-2"] / 20000 < 0.50  # weight 2 of 5
