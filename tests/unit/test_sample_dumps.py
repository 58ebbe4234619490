"""sample_dumps/generate.py: the leak dumps it writes, EXPECTED.json, and --check.

The credentials are checked in memory, from the generator's own ledger: classify and
is_placeholder see the plaintext, nothing is printed or written outside tmp_path."""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook

from incident.ingest.shapes import Match, classify, is_placeholder
from tests.conftest import ROOT

SAMPLES = ROOT / "sample_dumps"
DUMPS = SAMPLES / "dumps"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_dumps_generate",
                                                  SAMPLES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gen = _load()


class Built(tuple[dict[str, bytes], Any]):
    """(files, ledger) from gen.build(), shown in a failure without the file contents."""

    def __repr__(self) -> str:
        return "Built(files, ledger)"


@pytest.fixture(scope="module")
def built() -> Built:
    return Built(gen.build())


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    return json.loads((DUMPS / "EXPECTED.json").read_text())  # type: ignore[no-any-return]


def member_bytes(data: bytes, path: str, member: str) -> bytes:
    """A member of an archive, '!' entering a nested one."""
    for name in member.split("!"):
        if path.endswith(".tar.gz"):
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
                f = tar.extractfile(name)
                assert f is not None
                data = f.read()
        else:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                data = z.read(name)
        path = name
    return data


def plaintext(path: str, data: bytes) -> str:
    """What a reader of the file sees: cell values, unescaped HTML."""
    if path.endswith(".xlsx"):
        wb = load_workbook(io.BytesIO(data))
        return "\n".join(str(c) for ws in wb for row in ws.iter_rows(values_only=True)
                         for c in row if c is not None)
    text = data.decode()
    return html.unescape(text) if path.endswith(".html") else text


# -- --check and determinism ----------------------------------------------------------

def test_check_passes_and_covers_every_dump_file(tmp_path: Path) -> None:
    said: list[str] = []
    assert gen.main(["--check"], report=said.append) == 0, said
    assert gen.main(["--out", str(tmp_path)], report=said.append) == 0 and said == []
    assert gen.main(["--check", "--out", str(tmp_path)], report=said.append) == 0, said

    (tmp_path / "dumps/telegram/result.json").write_text("{}")
    (tmp_path / "dumps/spreadsheet/keys.xlsx").unlink()
    (tmp_path / "dumps/paste/raw_XyZ789.txt").write_text("dropped in by hand\n")
    tgz = tmp_path / "dumps/3commas_2022/3commas_2022.tar.gz"
    inner = gzip.decompress(tgz.read_bytes())
    # Another zlib deflating the same tar differently is not stale ...
    tgz.write_bytes(gzip.compress(inner, compresslevel=1, mtime=0))
    assert gen.main(["--check", "--out", str(tmp_path)], report=said.append) == 1
    assert sorted(said) == [
        "not generated: sample_dumps/dumps/paste/raw_XyZ789.txt (EXPECTED.json does not "
        "know it; remove it or add it to generate.py)",
        "stale: sample_dumps/dumps/spreadsheet/keys.xlsx (run python sample_dumps/generate.py)",
        "stale: sample_dumps/dumps/telegram/result.json (run python sample_dumps/generate.py)"]
    # ... but a different member time inside it is.
    said.clear()
    retimed = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(inner)) as src, \
            tarfile.open(fileobj=retimed, mode="w", format=tarfile.USTAR_FORMAT) as dst:
        for m in src.getmembers():
            m.mtime += 1
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    tgz.write_bytes(gzip.compress(retimed.getvalue(), mtime=0))
    assert gen.main(["--check", "--out", str(tmp_path)], report=said.append) == 1
    assert any("3commas_2022.tar.gz" in line for line in said)


def test_generation_is_byte_identical_whatever_the_time_zone(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert gen.main(["--out", str(a)]) == 0
    proc = subprocess.run([sys.executable, str(SAMPLES / "generate.py"), "--out", str(b)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TZ": "Pacific/Kiritimati",
                               "PYTHONHASHSEED": "12345"})
    assert proc.returncode == 0, proc.stderr

    def tree(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*")) if p.is_file()}

    first, second = tree(a), tree(b)
    assert list(first) == list(second)
    assert [n for n in first if first[n] != second[n]] == []
    assert "dumps/3commas_2022/3commas_2022.tar.gz" in first


# -- what the dumps hold ----------------------------------------------------------------

def test_every_credential_fits_its_exchange_shape(built: Built) -> None:
    _, ledger = built
    assert ledger.planted and ledger.placeholders
    for p in ledger.planted:
        c = p.cred
        where = f"{p.path} {p.member} {c.exchange}"
        written = (c.secret, c.key) if p.swapped else (c.key, c.secret)
        assert classify(*written) == Match(c.exchange, swapped=p.swapped), where
        assert not is_placeholder(c.key) and not is_placeholder(c.secret), where
        assert bool(c.passphrase) == (c.exchange in ("okx", "kucoin", "bitget")), where
        if c.exchange in ("binance", "bybit", "kraken"):
            assert c.key.startswith("FAKE") and c.secret.startswith("FAKE"), where
        if c.exchange == "mexc":
            assert c.key.startswith("mx0FAKE"), where
    for ph in ledger.placeholders:
        assert is_placeholder(ph.key) and is_placeholder(ph.secret), ph.path
        assert classify(ph.key, ph.secret) is None, ph.path
    # Only the registry keys repeat across files; a file never holds a credential twice.
    per_file = Counter((p.path, p.member, p.cred.key) for p in ledger.planted)
    assert max(per_file.values()) == 1
    owners: dict[str, set[str]] = {}
    for p in ledger.planted:
        owners.setdefault(p.cred.key, set()).add(p.path.split("/")[0])
    shared = {p.cred.key for p in ledger.planted if len(owners[p.cred.key]) > 1}
    assert shared <= {p.cred.key for p in ledger.planted if p.cred.label}


def test_every_value_is_where_the_ledger_says(built: Built) -> None:
    files, ledger = built
    seen: dict[tuple[str, str], str] = {}

    def text(path: str, member: str) -> str:
        if (path, member) not in seen:
            data = files[f"dumps/{path}"]
            seen[path, member] = plaintext(member.rsplit("!", 1)[-1] or path,
                                           member_bytes(data, path, member) if member
                                           else data)
        return seen[path, member]

    for p in ledger.planted:
        body = text(p.path, p.member)
        for value in (p.cred.key, p.cred.secret, p.cred.passphrase):
            assert value in body, f"{p.path} {p.member}"
        if p.swapped:
            assert body.index(p.cred.secret) < body.index(p.cred.key)
    for ph in ledger.placeholders:
        assert ph.key in text(ph.path, ph.member) and ph.secret in text(ph.path, ph.member)


def test_expected_json_counts_what_the_ledger_planted(
        built: Built, expected: dict[str, Any]) -> None:
    files, ledger = built
    on_disk = {p.relative_to(DUMPS).as_posix() for p in DUMPS.rglob("*") if p.is_file()}
    assert set(expected["files"]) == on_disk - set(gen.NOT_DUMPS)
    assert {f"dumps/{n}" for n in on_disk} == {n for n in files if n.startswith("dumps/")}
    for path, entry in expected["files"].items():
        planted = [p for p in ledger.planted if p.path == path]
        assert entry["credentials"] == len(planted) == sum(entry["by_exchange"].values())
        assert entry["by_exchange"] == dict(Counter(p.cred.exchange for p in planted))
        assert entry["with_passphrase"] == sum(1 for p in planted if p.cred.passphrase)
        assert entry["swapped"] == sum(1 for p in planted if p.swapped)
        assert entry["placeholders"] == sum(1 for p in ledger.placeholders if p.path == path)
        assert sum(entry.get("members", {}).values()) in (0, len(planted))
    totals = expected["totals"]
    assert totals["credentials"] == sum(e["credentials"] for e in expected["files"].values())
    assert totals["placeholders"] == sum(e["placeholders"] for e in expected["files"].values())
    assert totals["files"] == len(expected["files"])

    # What the brief asked for: three CSV parts of about 40, an archive with a nested zip,
    # placeholders only (and three of them) in the example config, one swapped pair.
    tc = expected["files"]
    for n in (1, 2, 3):
        assert 35 <= tc[f"3commas_2022/part_00{n}.csv"]["credentials"] <= 45
    assert set(tc["3commas_2022/3commas_2022.tar.gz"]["members"]) == {
        "release/part_004.csv", "release/part_005.zip!part_005.csv"}
    example = tc["bot_repo/config.example.json"]
    assert example["credentials"] == 0 and example["placeholders"] == 3
    assert sum(e["swapped"] for e in tc.values()) == 1


def test_exposed_labels_are_registry_keys(built: Built,
                                          expected: dict[str, Any]) -> None:
    _, ledger = built
    with open(SAMPLES / "registry/platform_users.csv", newline="") as f:
        plain = {r["label"]: r for r in csv.DictReader(f)}
    with open(SAMPLES / "registry/platform_export_sha256.csv", newline="") as f:
        hashed = {r["label"]: r for r in csv.DictReader(f)}

    def sha(v: str) -> str:
        return hashlib.sha256(v.encode()).hexdigest()

    exposed = expected["exposed_labels"]
    from_plain = [label for label, e in exposed.items()
                  if e["registry"] == "registry/platform_users.csv"]
    assert len(from_plain) >= 4
    families = {f.split("/")[0] for e in exposed.values() for f in e["files"]}
    assert {"3commas_2022", "paste", "telegram"} <= families
    assert [f for e in exposed.values() for f in e["swapped_in"]] == [
        "3commas_2022/part_003.csv"]
    for label, entry in exposed.items():
        planted = [p for p in ledger.planted if p.cred.label == label]
        assert sorted({p.path for p in planted}) == entry["files"]
        for p in planted:
            if label in plain:
                row = plain[label]
                assert (row["exchange"], row["api_key"], row["api_secret"]) == (
                    p.cred.exchange, p.cred.key, p.cred.secret), label
            else:
                row = hashed[label]
                assert (row["exchange"], row["key_sha256"], row["secret_sha256"]) == (
                    p.cred.exchange, sha(p.cred.key), sha(p.cred.secret)), label
    labelled = {p.cred.label for p in ledger.planted if p.cred.label}
    assert labelled == set(exposed)


# -- each file is in the layout it stands for -----------------------------------------------

def test_the_files_are_in_their_layouts(built: Built) -> None:
    files, _ = built

    def d(name: str) -> bytes:
        return files[f"dumps/{name}"]

    part = d("3commas_2022/part_001.csv").decode().splitlines()[0]
    assert part == "id,user_id,exchange_name,api_key,api_secret,passphrase,created_at"
    assert b"\r\n" in d("3commas_2022/part_003.csv")
    with tarfile.open(fileobj=io.BytesIO(d("3commas_2022/3commas_2022.tar.gz"))) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["release", "release/README.txt",
                                             "release/part_004.csv", "release/part_005.zip"]
        assert {(m.mtime, m.uid, m.gid, m.uname) for m in members} == {
            (gen.RELEASED_EPOCH, 1000, 1000, "user")}
    assert d("3commas_2022/3commas_2022.tar.gz")[4:8] == b"\0\0\0\0"  # gzip mtime 0

    page = d("paste/page.html").decode()
    assert '<a href="/raw/AbC123"' in page
    area = re.search(r"<textarea[^>]*>(.*)</textarea>", page, re.S)
    assert area is not None and "&lt;3 &amp;" in area.group(1)
    raw = d("paste/raw_AbC123.txt").decode()
    assert html.unescape(area.group(1)) == raw.replace("\r\n", "\n")
    assert " | " in raw and "\t" in raw and "\r\n\r\n" in raw and "\n#" in raw

    export = json.loads(d("telegram/result.json"))
    assert export["type"] == "public_channel" and {"name", "id"} <= set(export)
    texts = [m["text"] for m in export["messages"] if m["type"] == "message"]
    assert any(isinstance(t, str) for t in texts) and any(isinstance(t, list) for t in texts)
    for m in export["messages"]:
        flat = m["text"] if isinstance(m["text"], str) else "".join(
            p if isinstance(p, str) else p["text"] for p in m["text"])
        assert flat == "".join(e["text"] for e in m["text_entities"])
    ids = re.findall(r'class="message default clearfix[^"]*" id="message(\d+)"',
                     d("telegram/messages.html").decode())
    assert [int(i) for i in ids] == [m["id"] for m in export["messages"]
                                     if m["type"] == "message"]
    assert 'id="message12"' in d("telegram/messages.html").decode()

    assert json.loads(d("bot_repo/config.json"))["exchange"]["name"] == "binance"
    gate = yaml.safe_load(d("bot_repo/config.yaml"))["exchange"]
    assert isinstance(gate["api_key"], str) and isinstance(gate["api_secret"], str)
    assert b"ccxt.bybit({" in d("bot_repo/bot.py")
    assert b"new ccxt.okx({" in d("bot_repo/index.js")

    mysql = d("sql/bot_platform_mysql.sql").decode()
    assert mysql.count("INSERT INTO `api_keys` VALUES (") == 2 and "Bob\\'s" in mysql
    pg = d("sql/bot_platform_pg.sql").decode()
    assert "COPY public.exchange_accounts (id, user_id, market_code, api_key, api_secret, " \
           "passphrase) FROM stdin;\n" in pg and "\t\\N\n" in pg and "\n\\.\n" in pg

    wb = load_workbook(io.BytesIO(d("spreadsheet/keys.xlsx")))
    assert wb.sheetnames == ["Summary", "Keys"]
    assert [c.value for c in wb["Keys"][3]] == ["Exchange", "API Key", "Secret Key",
                                                "Passphrase", "Note"]
    with zipfile.ZipFile(io.BytesIO(d("spreadsheet/keys.xlsx"))) as z:
        assert z.namelist() == sorted(z.namelist())
        assert {i.date_time for i in z.infolist()} == {gen.ZIP_TIME}
