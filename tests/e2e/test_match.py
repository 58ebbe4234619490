"""`incident match` end to end: the sample registry against the sample dumps."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT

SAMPLES = ROOT / "sample_dumps"
EXPECTED = json.loads((SAMPLES / "dumps" / "EXPECTED.json").read_text())["exposed_labels"]


def setup(cli, *dumps: str) -> None:  # type: ignore[no-untyped-def]
    for name in ("platform_users.csv", "platform_export_sha256.csv"):
        assert cli("keys", "import", SAMPLES / "registry" / name).code == 0
    assert cli("keys", "import", "--exchange", "binance",
               SAMPLES / "registry" / "ggshield_mapping.txt").code == 0
    if dumps:
        assert cli("ingest", *(SAMPLES / "dumps" / d for d in dumps)).code == 0


def match(cli, *args: str):  # type: ignore[no-untyped-def]
    result = cli("match", "--json", *args)
    return result.code, json.loads(result.stdout)


def test_the_sample_victims_are_found_in_every_dump_they_are_in(cli) -> None:
    setup(cli, *sorted({f for e in EXPECTED.values() for f in e["files"]}))
    code, report = match(cli)
    assert code == 1
    exposed = {e["label"]: e for e in report["exposed"]}
    assert set(exposed) == set(EXPECTED)
    for label, want in EXPECTED.items():
        got = exposed[label]
        assert got["exchange"] == want["exchange"] and got["exchange_agrees"]
        assert got["components"] == "both" and got["new"]
        files = {Path(d["source"]).relative_to(SAMPLES / "dumps").as_posix() for d in got["dumps"]}
        assert files == set(want["files"])
        swapped = {Path(d["source"]).relative_to(SAMPLES / "dumps").as_posix()
                   for d in got["dumps"] if d["key_role"] == "secret"}
        assert swapped == set(want["swapped_in"])
        for d in got["dumps"]:
            assert set(d) >= {"name", "source", "sha256", "locator", "first_seen", "passphrase"}
    assert len(report["clean"]) == 36 - len(EXPECTED)
    assert len(report["unmatchable"]) == 3  # the ggshield mapping: hmsl only
    assert report["new"] == sum(len(e["files"]) for e in EXPECTED.values())


def test_a_later_run_says_what_is_new(cli) -> None:
    setup(cli, "3commas_2022")
    code, first = match(cli)
    assert code == 1 and first["previous_run"] is None
    code, again = match(cli)
    assert again["new"] == 0 and not any(e["new"] for e in again["exposed"])
    assert again["previous_run"] == first["ran_at"]
    assert cli("ingest", SAMPLES / "dumps" / "paste" / "raw_AbC123.txt").code == 0
    code, later = match(cli)
    assert later["new"] == 1
    assert [e["label"] for e in later["exposed"] if e["new"]] == ["user-0007-kraken"]


def test_one_dump_only_and_a_removed_dump(cli) -> None:
    setup(cli, "3commas_2022", "paste/raw_AbC123.txt")
    code, only = match(cli, "--dump", "2")
    assert code == 1 and [e["label"] for e in only["exposed"]] == ["user-0007-kraken"]
    assert cli("dumps", "remove", "2").code == 0
    code, rest = match(cli)
    assert "user-0007-kraken" not in {e["label"] for e in rest["exposed"]}
    assert cli("match", "--dump", "2").code == 3


def test_nothing_exposed_exits_0(cli) -> None:
    setup(cli, "bot_repo")
    code, report = match(cli)
    assert (code, report["exposed"]) == (0, [])
    result = cli("match")
    assert result.code == 0 and "0 of 39 registered keys exposed" in result.stderr


def _credential(label: str) -> str:
    import csv
    with open(SAMPLES / "registry" / "platform_users.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["label"] == label)
    return f"{row['api_key']}\n{row['api_secret']}\n{row['passphrase']}\n"


def test_check_one_key_without_registering_it(cli) -> None:
    assert cli("ingest", SAMPLES / "dumps" / "3commas_2022").code == 0
    result = cli("check", "--stdin", "--exchange", "bybit", "--json",
                 input=_credential("user-0006-bybit"))
    report = json.loads(result.stdout)
    assert result.code == 1 and report["exposed"] and report["components"] == "both"
    (seen,) = report["dumps"]
    assert (seen["key_role"], seen["secret_role"]) == ("secret", "key")  # swapped there
    assert seen["locator"].endswith("part_003.csv: line 32") and report["exchange_agrees"]
    human = cli("check", "--stdin", input=_credential("user-0006-bybit"))
    assert "EXPOSED: the key and its secret are in 1 dump." in human.stderr
    assert "key in the secret column, secret in the key column" in human.stderr
    clean = cli("check", "--stdin", "--json", input=_credential("user-0002-binance"))
    assert clean.code == 0 and json.loads(clean.stdout)["exposed"] is False
    assert json.loads(cli("keys", "list", "--json").stdout) == []  # nothing registered
    assert cli("check", "--stdin", "--exchange", "binanse", input="x\n").code == 3
