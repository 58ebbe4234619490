from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

import incident
from incident import registry
from incident.cli import app
from tests.conftest import ROOT, run_incident

SAMPLES = ROOT / "sample_dumps" / "registry"


def command_paths() -> list[tuple[str, Any]]:
    """Every leaf command as 'incident group name' (typer's own command classes)."""
    found = []

    def walk(cmd: Any, path: str) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}")
        else:
            found.append((path, cmd))

    walk(typer.main.get_command(app), "incident")
    return found


def test_every_command_has_help_text_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    paths = command_paths()
    assert {p for p, _ in paths} >= {"incident keys add", "incident keys import",
                                     "incident keys list", "incident keys remove"}
    for path, cmd in paths:
        assert (cmd.help or "").strip(), f"{path} has no help text"
        assert f"`{path}" in readme, f"{path} is not documented in README.md"
        for param in cmd.params:
            if param.param_type_name == "option":
                assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help"


def test_version(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("--version")
    assert (result.code, result.stdout) == (0, f"incident {incident.__version__}\n")


def test_usage_errors_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("keys", "add", "--label", "x").code == 2  # --exchange missing
    assert cli("keys", "frobnicate").code == 2
    assert cli("--no-such-option").code == 2


def test_hidden_prompts_need_a_terminal(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("keys", "add", "--exchange", "okx", "--label", "a", input="k\n")
    assert result.code == 2 and "pass --stdin" in result.stderr


def test_add_list_remove_with_json(cli) -> None:  # type: ignore[no-untyped-def]
    added = cli("keys", "add", "--exchange", "okx", "--label", "alice", "--stdin", "--json",
                input="key-1\nsecret-1\npass\n")
    assert added.code == 0, added.stderr
    entry = json.loads(added.stdout)
    assert entry["label"] == "alice" and entry["has_passphrase"] is True
    listed = cli("keys", "list", "--json")
    assert listed.code == 0 and listed.stderr == ""
    rows = json.loads(listed.stdout)
    assert rows == [entry]
    assert set(rows[0]) >= {"label", "exchange", "key_sha256", "secret_sha256",
                            "has_passphrase", "added_at"}
    assert cli("keys", "remove", "alice").code == 0
    assert json.loads(cli("keys", "list", "--json").stdout) == []


def test_human_output_goes_to_stderr_without_colour(cli) -> None:  # type: ignore[no-untyped-def]
    cli("keys", "import", SAMPLES / "platform_users.csv")
    listed = cli("keys", "list", "--exchange", "kraken")
    assert listed.code == 0 and listed.stdout == ""
    assert "user-0007-kraken" in listed.stderr and "3 keys registered" in listed.stderr
    assert "\x1b[" not in listed.stderr


def test_import_json_summary(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("keys", "import", "--json", SAMPLES / "platform_export_sha256.csv")
    assert json.loads(result.stdout) == {
        "source": str(SAMPLES / "platform_export_sha256.csv"), "layout": "fingerprints",
        "rows": 12, "added": 12, "updated": 0, "unchanged": 0}


def test_bad_input_exits_3_and_names_the_place(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "k.csv"
    path.write_text("exchange,label,api_key\nbinance,a,k1\nbinance,b\n")
    result = cli("keys", "import", path)
    assert result.code == 3
    assert f"{path}:3: 2 columns, header has 3" in result.stderr
    assert cli("keys", "remove", "nobody").code == 3
    assert cli("keys", "import", tmp_path / "missing.csv").code == 3


def test_an_unexpected_error_exits_128_and_withholds_its_message(
        cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    value = "S3cret" + "ValueThatMustNotShow"  # built at run time: source lines are shown

    def boom(*args: object, **kwargs: object) -> None:
        raise ValueError(f"could not parse {value!r}")

    monkeypatch.setattr(registry, "list_keys", boom)
    plain = cli("keys", "list")
    assert plain.code == 128
    assert "unexpected error (ValueError); run with --debug" in plain.stderr
    debug = cli("--debug", "keys", "list")
    assert debug.code == 128
    assert "Traceback (most recent call last)" in debug.stderr and "in boom" in debug.stderr
    assert "builtins.ValueError: (message withheld)" in debug.stderr
    assert "S3cretValue" not in plain.stderr + debug.stderr


def test_the_real_process(tmp_path: Path) -> None:
    env = {"INCIDENT_HOME": str(tmp_path / "home")}
    result = run_incident("keys", "import", SAMPLES / "platform_users.csv", env=env)
    assert result.code == 0, result.stderr
    assert "24 rows: 24 added, 0 already registered" in result.stderr
    assert run_incident("--version").stdout.startswith("incident ")


def test_usage_errors_never_echo_what_was_typed(cli) -> None:  # type: ignore[no-untyped-def]
    key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
    for args in (["keys", "add", "--exchange", "okx", "--label", "x", key],
                 ["keys", "list", "--limit", key],
                 ["keys", "add", "--exchange", "okx", "--label", "x", f"--{key}"]):
        result = cli(*args)
        assert result.code == 2 and result.stderr.startswith("error: ")
        assert key[:12] not in result.stderr
    for args in (["it's-hunter2"], ["keys", "a'b\"hunter2"], ["keys", "list", "x",
                 "pass)hunter2"], ["keys", "list", "--hunter2-pass"],
                 ["keys", "list", "--limit=hunter2"]):
        result = cli(*args)
        assert result.code == 2 and "hunter2" not in result.stderr, args
    hint = cli("keys", "add", "--exchange", "okx", "--labl", "x")
    assert "(Possible options: --label)" in hint.stderr
    assert "Did you mean 'add'?" in cli("keys", "ad").stderr
    assert "withheld" not in cli("--help").stdout + cli().stdout + cli().stderr


def test_a_label_is_shown_as_typed_never_as_markup(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("keys", "add", "--exchange", "okx", "--label", "[/x] [red]r", "--stdin",
               input="k1\n").code == 0
    listed = cli("keys", "list")
    assert listed.code == 0 and "[/x] [red]r" in listed.stderr


def test_a_bad_environment_is_a_clear_error(cli, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("INCIDENT_BUSY_TIMEOUT", "soon")
    assert cli("keys", "list").code == 2
    monkeypatch.delenv("INCIDENT_BUSY_TIMEOUT")
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("INCIDENT_HOME", str(tmp_path / "a-file"))
    result = cli("keys", "list")
    assert result.code == 3 and "cannot use as the data directory" in result.stderr


def test_a_reader_that_stops_early_gets_141_and_silence(tmp_path: Path) -> None:
    keys = tmp_path / "keys.csv"
    keys.write_text("exchange,label,api_key\n" + "".join(
        f"okx,user-{i:05d},key-{i}\n" for i in range(600)))  # JSON far past a pipe's buffer
    env = {**os.environ, "INCIDENT_HOME": str(tmp_path / "home")}
    assert run_incident("keys", "import", keys, env=env).code == 0
    proc = subprocess.Popen([sys.executable, "-m", "incident", "keys", "list", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10).startswith(b"[")
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert proc.stderr.read() == b""
