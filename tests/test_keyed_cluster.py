# SPDX-License-Identifier: Apache-2.0
"""Keyed placement from the cluster TOML (`secret_env` / `secret_file`) and the CLI
(`fastroute route --secret-env / --secret-file`): by reference only, clear errors
naming the setting, a warning for a readable secret file, and the secret in no
output, summary, report or message (raw, hex or base64)."""
import base64
import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from fastroute import HashRing, cli
from fastroute.cluster import load_cluster, parse_cluster

FASTROUTE = str(Path(sys.executable).parent / "fastroute")
SECRET = "placement-S3CR3T-0123456789abcdef"
NODES = '[[nodes]]\nname = "a"\n[[nodes]]\nname = "b"\nweight = 2\n[[nodes]]\nname = "c"\n'


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [secret, raw.hex(), base64.b64encode(raw).decode(), secret[4:20]]


def shows_secret(text: str) -> bool:
    return any(f in text for f in forms(SECRET))


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("FR_PLACEMENT_SECRET", SECRET)
    return "FR_PLACEMENT_SECRET"


def test_secret_env_gives_a_keyed_placement(secret_env):
    spec = parse_cluster(f'algorithm = "ring"\nsecret_env = "{secret_env}"\n{NODES}')
    placement = spec.build_placement()
    assert placement.keyed and not shows_secret(repr(spec)) and not shows_secret(repr(placement))
    keys = [f"card-{i}" for i in range(300)]
    want = HashRing(["a", "b", "c"], [1, 2, 1], secret=SECRET.encode())
    assert placement.route(keys).tolist() == want.route(keys).tolist()
    assert placement.fingerprint() == want.fingerprint()
    unkeyed = parse_cluster(f'algorithm = "ring"\n{NODES}').build_placement()
    assert not unkeyed.keyed and unkeyed.route(keys).tolist() != want.route(keys).tolist()


def test_secret_file_is_relative_to_the_cluster_file_and_warns_when_readable(tmp_path):
    (tmp_path / "keys").mkdir()
    key = tmp_path / "keys" / "placement.key"
    key.write_text(SECRET + "\n")
    key.chmod(0o600)
    conf = tmp_path / "cluster.toml"
    conf.write_text(f'algorithm = "maglev"\nsecret_file = "keys/placement.key"\n{NODES}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = load_cluster(conf)
    assert spec.secret == SECRET.encode()
    assert spec.build_placement().fingerprint().endswith(
        HashRing(["a"], secret=SECRET.encode()).fingerprint().split("-keyed-")[1])
    key.chmod(0o640)
    with pytest.warns(UserWarning, match="secret_file: secret file .* is readable by group or others") as seen:
        load_cluster(conf)
    assert not any(shows_secret(str(w.message)) for w in seen)


@pytest.mark.parametrize("toml, setting", [
    (f'secret = "{SECRET}"\n', "secret"),
    (f'secret_env = "FR_UNSET_VARIABLE_X"\n', "secret_env"),
    ('secret_file = "/nonexistent/placement.key"\n', "secret_file"),
    ('secret_env = "FR_PLACEMENT_SECRET"\nsecret_file = "x.key"\n', "secret_env, secret_file"),
    ('secret_env = ""\n', "secret_env"),
    ('secret_env = "FR_SHORT_SECRET"\n', "secret_env"),
])
def test_bad_secret_settings_are_errors_naming_the_setting(monkeypatch, secret_env, toml, setting):
    monkeypatch.setenv("FR_SHORT_SECRET", "short")
    monkeypatch.delenv("FR_UNSET_VARIABLE_X", raising=False)
    with pytest.raises(ValueError) as info:
        parse_cluster(f'algorithm = "ring"\n{toml}{NODES}', source="c.toml")
    assert f"c.toml: {setting}:" in str(info.value) and not shows_secret(str(info.value))


def test_inline_secret_in_params_is_refused(secret_env):
    with pytest.raises(ValueError, match="secret: a secret is never written into the cluster file") as info:
        parse_cluster(f'algorithm = "ring"\n[params]\nsecret = "{SECRET}"\n{NODES}', source="c.toml")
    assert not shows_secret(str(info.value))


def test_a_secret_for_a_kind_that_cannot_be_keyed_is_an_error(secret_env):
    spec = parse_cluster(f'algorithm = "ip_hash"\nsecret_env = "{secret_env}"\n{NODES}')
    with pytest.raises(ValueError, match="secret: .*cannot be keyed"):
        spec.build_placement()


def _rows(path, n=400):
    with open(path, "w", newline="") as f:
        f.write("tx,card\n")
        csv.writer(f, lineterminator="\n").writerows((f"t{i}", f"card-{i}") for i in range(n))
    return [f"card-{i}" for i in range(n)]


def test_cli_secret_env_routes_like_the_keyed_ring_and_shows_no_secret(tmp_path):
    cards = _rows(tmp_path / "in.csv")
    (tmp_path / "c.toml").write_text(f'algorithm = "ring"\n{NODES}')
    out, report = tmp_path / "out.csv", tmp_path / "report.html"
    env = {**os.environ, "FR_PLACEMENT_SECRET": SECRET}
    proc = subprocess.run([FASTROUTE, "route", str(tmp_path / "in.csv"), "--cluster", str(tmp_path / "c.toml"),
                           "--key", "card", "--secret-env", "FR_PLACEMENT_SECRET", "-o", str(out),
                           "--report", str(report), "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    ring = HashRing(["a", "b", "c"], [1, 2, 1], secret=SECRET.encode())
    with open(out, newline="") as f:
        assert [r["node"] for r in csv.DictReader(f)] == [ring.get_node(c) for c in cards]
    assert json.loads(proc.stdout)["keyed"] is True  # says placement is keyed, never by what
    assert "(keyed)" in report.read_text()
    for text in (proc.stdout, proc.stderr, report.read_text(), out.read_text()):
        assert not shows_secret(text)
    plain = HashRing(["a", "b", "c"], [1, 2, 1])
    assert [ring.get_node(c) for c in cards] != [plain.get_node(c) for c in cards]


def test_cli_secret_file_warns_and_missing_references_are_usage_errors(tmp_path, capsys, monkeypatch):
    _rows(tmp_path / "in.csv", 20)
    conf = tmp_path / "c.toml"
    conf.write_text(f'algorithm = "ring"\n{NODES}')
    key = tmp_path / "p.key"
    key.write_text(SECRET)
    key.chmod(0o644)
    base = ["route", str(tmp_path / "in.csv"), "--cluster", str(conf), "--key", "card"]
    with pytest.warns(UserWarning, match="--secret-file: secret file .* readable by group or others"):
        assert cli.main([*base, "--secret-file", str(key), "-o", str(tmp_path / "o.csv")]) == 0
    key.chmod(0o600)
    capsys.readouterr()
    monkeypatch.delenv("FR_NOT_SET_PLACEMENT", raising=False)
    assert cli.main([*base, "--secret-env", "FR_NOT_SET_PLACEMENT", "-o", str(tmp_path / "o2.csv")]) == 2
    assert "--secret-env: environment variable 'FR_NOT_SET_PLACEMENT' is not set" in capsys.readouterr().err
    assert cli.main([*base, "--secret-file", str(tmp_path / "missing.key"), "-o", str(tmp_path / "o3.csv")]) == 2
    assert "--secret-file: cannot read secret file" in capsys.readouterr().err
    assert cli.main([*base, "--secret-file", str(key), "--secret-env", "X", "-o", str(tmp_path / "o4.csv")]) == 2
    assert "give one" in capsys.readouterr().err
    # The secret file itself is never an output.
    assert cli.main([*base, "--secret-file", str(key), "-o", str(key)]) == 2
    assert key.read_text() == SECRET
    err = capsys.readouterr().err
    assert not shows_secret(err)


def test_cli_secret_twice_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FR_PLACEMENT_SECRET", SECRET)
    _rows(tmp_path / "in.csv", 5)
    conf = tmp_path / "c.toml"
    conf.write_text(f'algorithm = "ring"\nsecret_env = "FR_PLACEMENT_SECRET"\n{NODES}')
    code = cli.main(["route", str(tmp_path / "in.csv"), "--cluster", str(conf), "--key", "card",
                     "--secret-env", "FR_PLACEMENT_SECRET", "-o", str(tmp_path / "o.csv")])
    assert code == 2 and "already names a secret" in capsys.readouterr().err


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_bad_rows_under_a_keyed_placement_show_no_secret(tmp_path, policy):
    """The leak scan of tests/test_card_number_leaks.py, for the placement secret."""
    with open(tmp_path / "in.csv", "w") as f:
        f.write("tx,card\n" + "".join(f"t{i},card-{i}\n" for i in range(50)) + "t50\nt51,card-51,extra\n\x00,\n")
    (tmp_path / "c.toml").write_text(f'algorithm = "rendezvous"\n{NODES}')
    key = tmp_path / "p.key"
    key.write_text(SECRET)
    key.chmod(0o600)
    args = [FASTROUTE, "route", str(tmp_path / "in.csv"), "--cluster", str(tmp_path / "c.toml"), "--key", "card",
            "--secret-file", str(key), "-o", str(tmp_path / "o.csv"), "--on-bad-row", policy, "--json"]
    if policy == "skip":
        args += ["--rejects", str(tmp_path / "rejects.csv"), "--max-bad-rows", "10"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == (3 if policy == "error" else 0), proc.stderr
    texts = [proc.stdout, proc.stderr] + [p.read_text(errors="replace") for p in tmp_path.glob("*.csv")]
    assert not any(shows_secret(t) for t in texts)


def test_file_membership_refuses_a_keyed_cluster_file_instead_of_dropping_the_secret(tmp_path, secret_env):
    from fastroute.membership import FileMembership

    path = tmp_path / "cluster.toml"
    path.write_text(f'algorithm = "ring"\nsecret_env = "{secret_env}"\n{NODES}')
    with pytest.raises(ValueError, match="secret_env/secret_file: membership snapshots do not carry") as info:
        FileMembership(path, poll_interval=None)
    assert not shows_secret(str(info.value))
