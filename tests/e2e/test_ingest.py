"""`incident ingest` and `incident dumps` end to end, through the CLI in this process."""

from __future__ import annotations

import gzip
import io
import json
import random
import string
import tarfile
import zipfile
from pathlib import Path

from tests.conftest import ROOT

R = random.Random(11)
AN = string.ascii_letters + string.digits


def key(n: int = 64) -> str:
    return "".join(R.choice(AN) for _ in range(n))


def csv_dump(rows: int, header: str = "id,exchange,api_key,api_secret") -> str:
    return header + "\n" + "".join(f"{i},binance,{key()},{key()}\n" for i in range(rows))


def ingest(cli, *args: object):  # type: ignore[no-untyped-def]
    result = cli("ingest", "--json", *map(str, args))
    return result.code, json.loads(result.stdout or "{}"), result.stderr


def test_same_dump_twice_adds_nothing_and_one_credential_in_two_dumps(cli, tmp_path: Path
                                                                       ) -> None:
    a = tmp_path / "a.csv"
    a.write_text(csv_dump(5))
    code, out, _ = ingest(cli, a)
    assert code == 0 and out["dumps"][0]["credentials"] == 5
    code, again, err = ingest(cli, a)
    assert again["dumps"][0]["already_ingested"] and again["dumps"][0]["id"] == 1
    b = tmp_path / "b.csv"
    b.write_text(a.read_text() + f"9,binance,{key()},{key()}\n")
    ingest(cli, b)
    show = json.loads(cli("dumps", "show", "2", "--json").stdout)
    assert (show["credentials"], show["new"]) == (6, 1)
    listed = json.loads(cli("dumps", "list", "--json").stdout)
    assert [d["id"] for d in listed] == [1, 2]
    assert set(listed[0]) >= {"id", "name", "source", "sha256", "credentials", "rejected",
                              "ingested_at"}


def test_bad_records_are_named_by_place_and_strict_stops(cli, tmp_path: Path) -> None:
    p = tmp_path / "ragged.csv"
    p.write_text(f"id,api_key,api_secret\n1,{key()},{key()}\n2,{key()}\n3,{key()},{key()}\n")
    code, out, err = ingest(cli, p)
    assert code == 0 and out["dumps"][0]["credentials"] == 2
    assert out["dumps"][0]["rejects"] == [f"{p}:3: 2 columns, the header has 3"]
    code, out, err = ingest(cli, "--strict", p.with_name("x.csv"))
    assert code == 3
    p2 = tmp_path / "strict.csv"
    p2.write_text(p.read_text() + "\n")  # other bytes: not the dump already stored
    code, out, err = ingest(cli, "--strict", p2)
    assert code == 3 and out["failures"][0]["error"] == f"{p2}:3: 2 columns, the header has 3"
    assert [d["name"] for d in json.loads(cli("dumps", "list", "--json").stdout)] == [str(p)]


def test_one_bad_source_does_not_stop_the_others(cli, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(csv_dump(3))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(R.randrange(256) for _ in range(4000)))
    truncated = tmp_path / "cut.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("dump.csv", csv_dump(50))
    truncated.write_bytes(buf.getvalue()[:300])
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"api_key": "' + key() + '", ')
    code, out, _ = ingest(cli, empty, garbage, good, truncated, tmp_path / "missing")
    assert code == 3
    assert [d["credentials"] for d in out["dumps"]] == [3]
    errors = [f["error"] for f in out["failures"]]
    assert errors[0] == f"{empty}: empty: nothing to read"
    assert errors[1] == f"{garbage}: binary data or an unknown format; not read"
    assert errors[2].startswith(f"{truncated}: corrupt or truncated zip archive")
    assert errors[3] == f"{tmp_path / 'missing'}: no such file or directory"


def test_archives_nested_at_any_depth(cli, tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("deep/keys.csv", csv_dump(4))
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as t:
        for name, data in (("release/inner.zip", inner.getvalue()),
                           ("release/more.csv.gz", gzip.compress(csv_dump(2).encode()))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    path = tmp_path / "release.tar.xz"
    import lzma
    path.write_bytes(lzma.compress(tar_bytes.getvalue()))
    code, out, _ = ingest(cli, path)
    assert code == 0 and out["dumps"][0]["credentials"] == 6
    members = {m["name"]: m["credentials"] for m in
               json.loads(cli("dumps", "show", "1", "--json").stdout)["members"]}
    assert members == {f"{path}!release.tar!release/inner.zip!deep/keys.csv": 4,
                       f"{path}!release.tar!release/more.csv.gz!more.csv": 2}


def test_a_directory_is_one_dump_and_a_bad_member_is_a_reject(cli, tmp_path: Path) -> None:
    d = tmp_path / "repo"
    (d / ".git").mkdir(parents=True)
    (d / ".git" / "config").write_text(csv_dump(1))  # skipped
    (d / "a.csv").write_text(csv_dump(2))
    (d / "broken.gz").write_bytes(gzip.compress(csv_dump(30).encode())[:-40])
    code, out, _ = ingest(cli, d)
    dump = out["dumps"][0]
    assert code == 0 and dump["credentials"] == 2 and dump["rejected"] == 1
    assert dump["rejects"][0].startswith(f"{d / 'broken.gz'}!broken: corrupt or truncated")


def test_encodings(cli, tmp_path: Path) -> None:
    text = csv_dump(3, "id,exchange,api_key,api_secret,note")
    text = text.replace("\n", ",café\n").replace("api_secret,café", "api_secret,note", 1)
    for name, data in (("utf16.csv", text.encode("utf-16")),
                       ("bom.csv", b"\xef\xbb\xbf" + text.encode()),
                       ("cp1252.csv", text.encode("cp1252"))):
        (tmp_path / name).write_bytes(data)
    code, out, _ = ingest(cli, *(tmp_path / n for n in ("utf16.csv", "bom.csv", "cp1252.csv")))
    assert code == 0 and [d["credentials"] for d in out["dumps"]] == [3, 3, 3]
    assert [d["rejected"] for d in out["dumps"]] == [0, 0, 0]


def test_dumps_remove(cli, tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text(csv_dump(3))
    ingest(cli, a)
    assert cli("dumps", "remove", "1").code == 0
    assert cli("dumps", "show", "1").code == 3
    assert cli("dumps", "remove", "1").code == 3
    code, out, _ = ingest(cli, a)  # it can come back
    assert out["dumps"][0]["credentials"] == 3 and not out["dumps"][0]["already_ingested"]


def test_sample_dumps_give_what_expected_json_says(cli) -> None:
    root = ROOT / "sample_dumps" / "dumps"
    expected = json.loads((root / "EXPECTED.json").read_text())["files"]
    code, out, err = ingest(cli, *(root / name for name in expected))
    assert code == 0, err
    got = {str(Path(d["source"]).relative_to(root)): (d["credentials"], d["per_exchange"])
           for d in out["dumps"]}
    want = {name: (e["credentials"], e["by_exchange"]) for name, e in expected.items()}
    assert got == want


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_a_bad_member_spoils_only_itself(cli, tmp_path: Path) -> None:
    """Damage inside an archive (a truncated member, an encrypted one, one packed with a
    method zipfile cannot read) is a reject; the members after it are still read."""
    cut = gzip.compress(csv_dump(30).encode())[:-60]
    path = tmp_path / "mixed.zip"
    data = bytearray(_zip({"a.csv": csv_dump(3).encode(), "b.csv.gz": cut,
                           "c.csv": csv_dump(4).encode(), "d.csv": csv_dump(2).encode(),
                           "e.csv": csv_dump(5).encode()}))
    d_header = data.index(b"PK\x03\x04", data.index(b"d.csv") - 40)  # d.csv's local header
    data[d_header + 6] |= 0x1  # flag: encrypted (local header)
    central = data.rindex(b"d.csv") - 46  # d.csv's central directory entry
    data[central + 8] |= 0x1
    e_central = data.rindex(b"e.csv") - 46
    data[e_central + 10] = 99  # method: unknown to zipfile
    path.write_bytes(bytes(data))
    code, out, _ = ingest(cli, path)
    dump = out["dumps"][0]
    assert (code, dump["credentials"]) == (0, 7)
    assert dump["rejected"] == 3
    assert [r.split(": ", 1)[0] for r in dump["rejects"]] == [
        f"{path}!b.csv.gz!b.csv", f"{path}!d.csv", f"{path}!e.csv"]


def test_a_single_damaged_member_fails_the_dump(cli, tmp_path: Path) -> None:
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(csv_dump(2000).encode())[:-500])
    code, out, _ = ingest(cli, path)
    assert code == 3 and out["dumps"] == []
    assert out["failures"][0]["error"].startswith(f"{path}!x.csv: corrupt or truncated")


def test_a_header_below_odd_line_breaks(cli, tmp_path: Path) -> None:
    path = tmp_path / "ff.csv"
    path.write_text("Exported\fby tool\u2028today\napi_key,api_secret\n"
                    + "".join(f"{key()},{key()}\n" for _ in range(3)))
    assert ingest(cli, path)[1]["dumps"][0]["credentials"] == 3


def test_a_large_utf16_file_is_read_whole(cli, tmp_path: Path) -> None:
    path = tmp_path / "excel-unicode.txt"
    rows = 33_000  # a little over 8 MiB in UTF-16: large enough to be split, if it could be
    text = "api_key\tapi_secret\n" + "".join(f"{key()}\t{key()}\n" for _ in range(rows))
    path.write_bytes(text.encode("utf-16"))
    assert path.stat().st_size > 8 << 20
    code, out, _ = ingest(cli, path)
    assert (code, out["dumps"][0]["credentials"], out["dumps"][0]["rejected"]) == (0, rows, 0)


def test_a_folder_is_the_same_dump_however_it_is_named(cli, tmp_path: Path,
                                                       monkeypatch) -> None:
    folder = tmp_path / "leak"
    folder.mkdir()
    (folder / "a.csv").write_text(csv_dump(2))
    (folder / "b.csv").write_text(csv_dump(2))
    monkeypatch.chdir(tmp_path)
    assert ingest(cli, "leak")[1]["dumps"][0]["credentials"] == 4
    assert ingest(cli, folder)[1]["dumps"][0]["already_ingested"]


def test_a_zip_that_is_no_workbook_is_opened(cli, tmp_path: Path) -> None:
    path = tmp_path / "office.zip"
    path.write_bytes(_zip({"[Content_Types].xml": b"<Types/>", "keys.csv": csv_dump(3).encode()}))
    code, out, _ = ingest(cli, path)
    assert (code, out["dumps"][0]["credentials"]) == (0, 3)


def test_a_line_over_a_mebibyte_is_refused_by_place(cli, tmp_path: Path) -> None:
    for name, quote in (("long.csv", ""), ("long-quoted.csv", '"')):
        path = tmp_path / name
        path.write_text(csv_dump(3) + f"9,binance,{quote}{key(2 << 20)}{quote},x\n")
        code, out, _ = ingest(cli, path)
        assert code == 3
        assert out["failures"][0]["error"] == f"{path}: a line longer than 1 MiB: not a text dump"


def test_a_row_naming_two_credentials_gives_both(cli, tmp_path: Path) -> None:
    """A header like a bot's settings export: one user's keys for two exchanges a row."""
    path = tmp_path / "settings.csv"
    path.write_text("user,BINANCE_API_KEY,BINANCE_API_SECRET,BYBIT_API_KEY,BYBIT_API_SECRET\n"
                    + "".join(f"{i},{key()},{key()},{key(18)},{key(36)}\n" for i in range(3)))
    code, out, _ = ingest(cli, path)
    assert (code, out["dumps"][0]["per_exchange"]) == (0, {"binance": 3, "bybit": 3})


def test_hmsl_fingerprints_are_kept_when_asked_for(cli, home: Path, tmp_path: Path) -> None:
    """--hmsl: every leak of the dump carries the hmsl fingerprints of its key and secret
    (a table, which would otherwise take the fast path, and a JSON file alike)."""
    import sqlite3

    from incident.fingerprint import hmsl

    pairs = [(key(), key()) for _ in range(5)]
    table = tmp_path / "t.csv"
    table.write_text("id,exchange,api_key,api_secret\n" + "".join(
        f"{i},binance,{k},{s}\n" for i, (k, s) in enumerate(pairs[:3])))
    doc = tmp_path / "d.json"
    doc.write_text(json.dumps([{"apiKey": k, "secret": s} for k, s in pairs[3:]]
                              + [{"apiKey": key()}]))  # a key alone: no secret fingerprint
    plain = tmp_path / "p.csv"
    plain.write_text(f"api_key,api_secret\n{key()},{key()}\n")
    code, out, _ = ingest(cli, "--hmsl", table, doc)
    assert code == 0 and [d["hmsl"] for d in out["dumps"]] == [True, True]
    assert ingest(cli, plain)[1]["dumps"][0]["hmsl"] is False
    db = sqlite3.connect(home / "incident.db")
    rows = db.execute("SELECT key_hmsl, secret_hmsl FROM leaks ORDER BY id").fetchall()
    assert [(bytes(k), s and bytes(s)) for k, s in rows[:5]] == [
        (hmsl(k), hmsl(s)) for k, s in pairs]
    assert rows[5][0] is not None and rows[5][1] is None
    assert rows[6] == (None, None)  # ingested without --hmsl
    again = cli("ingest", "--hmsl", str(plain))
    assert "already ingested" in again.stderr and "no hmsl fingerprints" in again.stderr
    assert "ingest it again with --hmsl" in again.stderr
