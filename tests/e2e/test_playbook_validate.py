"""`incident playbook validate | list | show` through the CLI, on the shipped playbooks and
on a malformed one."""

from __future__ import annotations

from pathlib import Path

import pytest

from incident.playbook.schema import load_file

ROOT = Path(__file__).resolve().parent.parent.parent
SHIPPED = sorted((ROOT / "playbooks").glob("*.yaml"))
BAD = ROOT / "tests" / "data" / "playbooks" / "several_problems.yaml"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_validate_a_shipped_playbook(cli, path: Path) -> None:  # type: ignore[no-untyped-def]
    book = load_file(path)
    result = cli("playbook", "validate", path)
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == (f"{path}: valid playbook '{book.name}' ({len(book.steps)} steps, "
                             f"{len(book.writes)} writing)\n")


def test_validate_a_bad_playbook(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("playbook", "validate", BAD)
    assert (result.code, result.stdout) == (3, "")
    assert result.stderr == (
        f"error: {BAD}: the playbook does not validate (5 problems):\n"
        f"  {BAD}:3: inputs.since.type: unknown type 'date'; known: str, int, number, bool, "
        "path, list, label, exchange\n"
        f"  {BAD}:8: steps[0].with.exchange: unknown exchange 'binanse'\n"
        f"  {BAD}:15: steps[1].with.timout: step 'revoke' takes no argument 'timout' (did you "
        "mean timeout?); it takes: label, credentials, keyring, base_url, timeout, master, "
        "sub_account\n"
        f"  {BAD}:12: steps[1].timeout: seconds, from 1 to 86400\n"
        f"  {BAD}:16: steps[1].on_error.goto: no step 'nowhere'\n")


def test_validate_a_missing_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "nope.yaml"
    result = cli("playbook", "validate", path)
    assert result.code == 3
    assert f"{path}: cannot read (No such file or directory)" in result.stderr


def test_list_names_every_shipped_playbook(cli) -> None:  # type: ignore[no-untyped-def]
    books = [load_file(p) for p in SHIPPED]
    result = cli("playbook", "list")
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr.splitlines() == [
        f"{b.name:<28} {b.description.strip().splitlines()[0]}" for b in books]


def test_list_json(cli) -> None:  # type: ignore[no-untyped-def]
    import json

    result = cli("playbook", "list", "--json")
    assert result.code == 0
    assert [b["name"] for b in json.loads(result.stdout)] == [load_file(p).name
                                                              for p in SHIPPED]


def test_show_prints_the_steps_then_the_yaml(cli) -> None:  # type: ignore[no-untyped-def]
    path = ROOT / "playbooks" / "3commas-2022.yaml"
    book = load_file(path)
    result = cli("playbook", "show", "3commas-2022")
    assert result.code == 0
    assert result.stdout == path.read_text()
    shown = [line for line in result.stderr.splitlines() if line[:4].strip().endswith(".")]
    assert [line.split(" (")[0] for line in shown] == [
        f"  {n}. {s.id}: {s.uses}" for n, s in enumerate(book.steps)]
    n, revoke = next((n, s) for n, s in enumerate(book.steps) if s.uses == "revoke")
    assert f"  {n}. {revoke.id}: revoke (for each {revoke.for_each}, write)" in shown


def test_show_an_unknown_playbook(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("playbook", "show", "no-such-book")
    assert result.code == 2
    assert "no playbook 'no-such-book'; shipped: " in result.stderr
