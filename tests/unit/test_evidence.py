"""Evidence bundles: written deterministically, and every kind of tampering named by its file.

Tampered bundles are made as someone holding the ZIP file would make them: by rewriting it
with Python's zipfile (or its bytes), never through our own writer."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident import audit
from incident.errors import InputError
from incident.report import evidence, merkle
from incident.report.evidence import BundleFile, EvidenceError, Problem, verify_bundle
from incident.settings import Settings
from incident.store import Store
from tests.reports import rewrite_zip

AT = "2026-03-01T12:00:00Z"
SNAP = "snapshots/alice/20260301T110000000Z"
RAW = [b'{"balances":[]}', b'[{"id":1,"price":"100.5"}]']
SUBJECT = {"kind": "claim", "label": "alice", "exchange": "binance", "claimant": "Alice Example"}


def _audit_export(tmp_path: Path) -> bytes:
    """A real audit-log export of three entries."""
    with Store.open(Settings(tmp_path / "home")) as store:
        with store.write() as conn:
            audit.append(conn, action="snapshot", phase="read", label="alice",
                         exchange="binance", outcome="ok", detail={"counts": {"trades": 1}})
            audit.append(conn, action="revoke", phase="start", label="alice",
                         exchange="binance")
            audit.append(conn, action="revoke", phase="end", label="alice",
                         exchange="binance", outcome="done")
        audit.export(store.conn, tmp_path / "audit.jsonl")
    return (tmp_path / "audit.jsonl").read_bytes()


def _files(tmp_path: Path) -> list[BundleFile]:
    snapshot = {"label": "alice", "responses": [
        {"endpoint": "GET /api/v3/account", "fetched_at": AT, "status": 200,
         "sha256": hashlib.sha256(RAW[0]).hexdigest(), "bytes": len(RAW[0]),
         "redacted": False, "file": "raw/0001.json"},
        {"endpoint": "GET /api/v3/myTrades", "fetched_at": AT, "status": 200,
         "sha256": hashlib.sha256(RAW[1]).hexdigest(), "bytes": len(RAW[1]),
         "redacted": False, "file": "raw/0002.json"}]}
    big = tmp_path / "candles.csv"
    big.write_bytes(b"t,o,h,l,c\n" + b"1,2,3,4,5\n" * 300_000)  # 3 MB, read in pieces
    return [
        BundleFile("report/claim.html", b"<html>claim</html>\n", "incident report claim", AT),
        BundleFile("report/claim.json", b'{"claim":1}\n', "incident report claim", AT),
        BundleFile(f"{SNAP}/snapshot.json", json.dumps(snapshot).encode(),
                   "binance snapshot", AT),
        BundleFile(f"{SNAP}/raw/0001.json", RAW[0], "binance GET /api/v3/account", AT),
        BundleFile(f"{SNAP}/raw/0002.json", RAW[1], "binance GET /api/v3/myTrades", AT),
        BundleFile("candles/BTCUSDT.csv", big, "binance GET /api/v3/klines", AT, "0.9.0"),
        BundleFile("audit/alice.jsonl", _audit_export(tmp_path), "audit log", AT),
    ]


def _write(tmp_path: Path, name: str = "bundle.zip") -> tuple[Path, evidence.Manifest]:
    out = tmp_path / name
    manifest = evidence.write_bundle(out, _files(tmp_path), created_at=AT, tool_version="1.2.3",
                                     subject=SUBJECT)
    return out, manifest


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return _write(tmp_path)[0]


def _edit_manifest(src: Path, edit: Callable[[dict[str, object]], None]) -> Path:
    def change(name: str, data: bytes) -> bytes:
        if name != evidence.MANIFEST:
            return data
        doc = json.loads(data)
        edit(doc)
        return json.dumps(doc).encode()
    return rewrite_zip(src, change)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Writing -------------------------------------------------------------------------------

def test_round_trip(tmp_path: Path) -> None:
    out, manifest = _write(tmp_path)
    verdict = verify_bundle(out)
    assert verdict == evidence.Verdict(True, 8, manifest.root, ())
    assert out.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "audit.jsonl", "bundle.zip", "candles.csv", "home"]  # no temporary file left
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert names == ["manifest.json", "VERIFY.txt", "audit/alice.jsonl",
                         "candles/BTCUSDT.csv", "report/claim.html", "report/claim.json",
                         f"{SNAP}/raw/0001.json", f"{SNAP}/raw/0002.json",
                         f"{SNAP}/snapshot.json"]
        for info in zf.infolist():
            assert (info.date_time, info.external_attr, info.create_system, info.extra,
                    info.compress_type) == ((2026, 3, 1, 12, 0, 0), 0o644 << 16, 3, b"",
                                            zipfile.ZIP_DEFLATED)
        stored = zf.read("manifest.json")
        candles = zf.read("candles/BTCUSDT.csv")
        verify_txt = zf.read("VERIFY.txt")
    assert stored == audit.canonical(manifest.document())
    doc = json.loads(stored)
    assert {k: v for k, v in doc.items() if k != "files"} == {
        "format": "incident-evidence/1", "created_at": AT, "tool": "incident",
        "tool_version": "1.2.3", "subject": SUBJECT,
        "merkle": {"algorithm": "RFC 9162 SHA-256",
                   "leaves": "leaf 0: canonical JSON of the header (format, created_at, tool, "
                             "tool_version, subject); then each files[] entry, in order",
                   "root": manifest.root}}
    assert doc["files"][0] == {"path": "VERIFY.txt", "sha256": _sha(verify_txt),
                               "size": len(verify_txt), "source": "incident: how to verify "
                               "this bundle", "collected_at": AT, "tool_version": "1.2.3"}
    assert doc["files"][1]["path"] == "audit/alice.jsonl"
    assert doc["files"][2] == {"path": "candles/BTCUSDT.csv", "sha256": _sha(candles),
                               "size": 3_000_010, "source": "binance GET /api/v3/klines",
                               "collected_at": AT, "tool_version": "0.9.0"}
    assert [f["path"] for f in doc["files"]] == names[1:]
    header = (b'{"created_at":"2026-03-01T12:00:00Z","format":"incident-evidence/1",'
              b'"subject":{"claimant":"Alice Example","exchange":"binance","kind":"claim",'
              b'"label":"alice"},"tool":"incident","tool_version":"1.2.3"}')
    leaves = [header, *(audit.canonical(f) for f in doc["files"])]
    assert manifest.root == merkle.root(leaves).hex() == evidence.merkle_root(doc, doc["files"])
    assert audit.canonical(manifest.header()) == header
    for i, leaf in enumerate(leaves):  # the header's and any one file's membership
        proof = merkle.inclusion_proof(leaves, i)
        assert merkle.verify_inclusion(leaf, i, len(leaves), proof, bytes.fromhex(doc[
            "merkle"]["root"]))
    assert b"incident evidence verify FILE.zip" in verify_txt


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    files = _files(tmp_path)

    def write(name: str, created_at: str = AT) -> tuple[bytes, evidence.Manifest]:
        manifest = evidence.write_bundle(tmp_path / name, files, created_at=created_at,
                                         tool_version="1.2.3",
                                         subject={"label": "alice", "exchange": "binance"})
        return (tmp_path / name).read_bytes(), manifest

    first, one = write("a.zip")
    os.utime(tmp_path / "candles.csv", (0, 0))  # a file's own time plays no part
    assert write("b.zip") == (first, one)
    as_bytes = [BundleFile(f.path, f.data.read_bytes(), f.source, f.collected_at,
                           f.tool_version) if isinstance(f.data, Path) else f for f in files]
    manifest = evidence.write_bundle(tmp_path / "c.zip", as_bytes, created_at=AT,
                                     tool_version="1.2.3",
                                     subject={"exchange": "binance", "label": "alice"})
    assert ((tmp_path / "c.zip").read_bytes(), manifest) == (first, one)
    other, two = write("d.zip", "2026-03-01T12:00:02Z")
    assert other != first
    assert two.root != one.root  # VERIFY.txt is collected at the bundle's time


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "bundle.zip"
    out.write_bytes(b"old")
    files = [BundleFile("a.txt", b"a", "x", AT), BundleFile("b.bin", tmp_path / "gone", "x", AT)]
    with pytest.raises(EvidenceError) as e:
        evidence.write_bundle(out, files, created_at=AT, tool_version="1", subject={})
    assert str(e.value) == f"{tmp_path / 'gone'}: cannot read (No such file or directory)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.zip"]
    assert out.read_bytes() == b"old"


@pytest.mark.parametrize("path, why", [
    ("../etc/passwd", "a '..' segment"),
    ("report/../../x", "a '..' segment"),
    ("/etc/passwd", "absolute"),
    ("report\\claim.html", "a backslash"),
    ("C:/claim.html", "a colon (a drive or a stream on Windows)"),
    ("report//claim.html", "an empty or '.' segment"),
    ("./claim.html", "an empty or '.' segment"),
    ("report/", "an empty or '.' segment"),
    ("", "empty"),
    ("a\nb", "a control or invisible character"),
    ("claim\u202elmth.exe", "a control or invisible character"),
    ("\ud800", "not UTF-8"),
    ("x" * 1025, "longer than 1024 bytes"),
])
def test_unsafe_paths_are_refused_at_write(path: str, why: str) -> None:
    with pytest.raises(EvidenceError) as e:
        BundleFile(path, b"", "x", AT)
    assert e.value.message == f"unsafe path in a bundle ({why})"
    assert isinstance(e.value, InputError)


@pytest.mark.parametrize("names, message", [
    (["a.txt", "a.txt"], "a.txt: twice in the bundle"),
    (["A.txt", "a.txt"], "a.txt: the same name as A.txt, ignoring case"),
    (["manifest.json"], "manifest.json: a name the bundle writes itself"),
    (["verify.txt"], "verify.txt: a name the bundle writes itself"),
])
def test_names_must_be_unique_and_not_ours(tmp_path: Path, names: list[str],
                                           message: str) -> None:
    with pytest.raises(EvidenceError) as e:
        evidence.write_bundle(tmp_path / "b.zip", [BundleFile(n, b"", "x", AT) for n in names],
                              created_at=AT, tool_version="1", subject={})
    assert str(e.value) == message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("at", ["2026-03-01T12:00:00", "2026-03-01T12:00:00+02:00", "yesterday",
                                "2026-03-01"])
def test_times_must_be_utc(tmp_path: Path, at: str) -> None:
    with pytest.raises(EvidenceError, match="collected_at is not a UTC ISO 8601 time"):
        BundleFile("a.txt", b"", "x", at)
    with pytest.raises(EvidenceError, match="created_at is not a UTC ISO 8601 time"):
        evidence.write_bundle(tmp_path / "b.zip", [], created_at=at, tool_version="1",
                              subject={})


@given(st.text(max_size=40))
def test_a_path_accepted_stays_inside_the_directory(path: str) -> None:
    if evidence.path_problem(path) is None:
        assert posixpath.normpath(path) == path
        assert not path.startswith(("/", "../")) and "\\" not in path
        assert zipfile.ZipInfo(path).filename == path  # zipfile keeps it as it is


# Verifying -----------------------------------------------------------------------------

def test_one_byte_changed_is_named(bundle: Path) -> None:
    old = b"<html>claim</html>\n"
    new = b"<html>claim</html>!"
    tampered = rewrite_zip(bundle, lambda n, d: new if n == "report/claim.html" else d)
    verdict = verify_bundle(tampered)
    assert not verdict.ok
    assert verdict.problems == (Problem(
        "report/claim.html", "altered",
        f"sha256 {_sha(old)[:12]}.. in manifest, {_sha(new)[:12]}.. in bundle"),)


def test_a_size_change_is_named(bundle: Path) -> None:
    old = b'{"claim":1}\n'
    tampered = rewrite_zip(bundle, lambda n, d: old + b" " if n == "report/claim.json" else d)
    assert verify_bundle(tampered).problems == (Problem(
        "report/claim.json", "altered", f"size 12 in manifest, 13 in bundle; sha256 "
        f"{_sha(old)[:12]}.. in manifest, {_sha(old + b' ')[:12]}.. in bundle"),)


def test_a_file_added_is_named(bundle: Path) -> None:
    tampered = rewrite_zip(bundle, add={"report/extra.pdf": b"%PDF"})
    assert verify_bundle(tampered).problems == (
        Problem("report/extra.pdf", "added", "in the bundle, not in manifest.json"),)


def test_a_file_removed_is_named(bundle: Path) -> None:
    tampered = rewrite_zip(bundle, lambda n, d: None if n == "report/claim.json" else d)
    assert verify_bundle(tampered).problems == (
        Problem("report/claim.json", "removed", "in manifest.json, not in the bundle"),)


def test_a_manifest_entry_edited_to_match_breaks_the_root(bundle: Path) -> None:
    """The file and its entry agree, but the entries no longer hash to the stored root."""
    new = b"<html>another claim</html>\n"

    def edit(doc: dict[str, object]) -> None:
        entry = next(f for f in doc["files"] if f["path"] == "report/claim.html")  # type: ignore[attr-defined]
        entry.update(sha256=_sha(new), size=len(new))

    original = verify_bundle(bundle).root
    step = _edit_manifest(bundle, edit)
    tampered = rewrite_zip(step, lambda n, d: new if n == "report/claim.html" else d)
    verdict = verify_bundle(tampered)
    assert verdict.root != original
    assert verdict.problems == (Problem(
        "manifest.json", "root", f"Merkle root {original[:12]}.. in manifest, "  # type: ignore[index]
        f"{verdict.root[:12]}.. from its header and files[] entries"),)  # type: ignore[index]


def test_a_root_recomputed_too_fails_only_against_the_published_root(bundle: Path) -> None:
    original = verify_bundle(bundle).root
    assert original is not None
    assert verify_bundle(bundle, original.upper()).ok

    def edit(doc: dict[str, object]) -> None:
        files = doc["files"]
        files[1]["source"] = "forged"  # type: ignore[index]
        doc["merkle"]["root"] = evidence.merkle_root(doc, files)  # type: ignore[index, arg-type]

    tampered = _edit_manifest(bundle, edit)
    assert verify_bundle(tampered).ok  # consistent in itself ...
    verdict = verify_bundle(tampered, original)  # ... but not the bundle that was sent
    assert verdict.problems == (Problem(
        "manifest.json", "root", f"Merkle root {verdict.root[:12]}.. from its header and "  # type: ignore[index]
        f"files[] entries, expected {original[:12]}.."),)


# What the header says, each edited in manifest.json alone: the files all still match.
HEADER_EDITS: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("claimant", lambda d: d["subject"].update(claimant="Mallory Example")),
    ("label", lambda d: d["subject"].update(label="bob")),
    ("exchange", lambda d: d["subject"].update(exchange="kraken")),
    ("a subject key added", lambda d: d["subject"].update(note="")),
    ("a subject key removed", lambda d: d["subject"].pop("kind")),
    ("tool_version", lambda d: d.update(tool_version="1.2.4")),
    ("created_at", lambda d: d.update(created_at="2026-02-01T12:00:00Z")),
    ("tool", lambda d: d.update(tool="incident-fork")),
]


@pytest.mark.parametrize("edit", [e for _, e in HEADER_EDITS], ids=[i for i, _ in HEADER_EDITS])
def test_a_header_edited_alone_breaks_the_root(bundle: Path,
                                               edit: Callable[[dict[str, Any]], None]) -> None:
    original = verify_bundle(bundle).root
    assert original is not None
    verdict = verify_bundle(_edit_manifest(bundle, edit))
    assert verdict.root is not None and verdict.root != original
    assert verdict.problems == (Problem(
        "manifest.json", "root", f"Merkle root {original[:12]}.. in manifest, "
        f"{verdict.root[:12]}.. from its header and files[] entries"),)


@pytest.mark.parametrize("edit", [e for _, e in HEADER_EDITS], ids=[i for i, _ in HEADER_EDITS])
def test_a_header_edited_with_its_root_recomputed_fails_against_the_published_root(
        bundle: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    original = verify_bundle(bundle).root
    assert original is not None

    def forge(doc: dict[str, Any]) -> None:
        edit(doc)
        doc["merkle"]["root"] = evidence.merkle_root(doc, doc["files"])

    tampered = _edit_manifest(bundle, forge)
    assert verify_bundle(tampered).ok  # consistent in itself ...
    verdict = verify_bundle(tampered, original)  # ... but not the bundle that was sent
    assert verdict.root is not None and verdict.root != original
    assert verdict.problems == (Problem(
        "manifest.json", "root", f"Merkle root {verdict.root[:12]}.. from its header and "
        f"files[] entries, expected {original[:12]}.."),)


def test_the_root_covers_exactly_the_header_keys() -> None:
    head = {"format": "f", "created_at": "c", "tool": "t", "tool_version": "v",
            "subject": {"label": "alice"}}
    files = [{"path": "a"}]
    root = evidence.merkle_root(head, files)
    assert root == merkle.root([audit.canonical(head), audit.canonical(files[0])]).hex()
    assert evidence.merkle_root({**head, "files": files, "merkle": {}}, files) == root
    for key in evidence.HEADER:
        assert evidence.merkle_root({**head, key: "other"}, files) != root
        with pytest.raises(KeyError):
            evidence.merkle_root({k: v for k, v in head.items() if k != key}, files)
def test_a_raw_response_changed_with_its_manifest_entry(bundle: Path) -> None:
    """Only snapshot.json still knows the raw response; the root is broken too."""
    raw = f"{SNAP}/raw/0002.json"
    new = b'[{"id":1,"price":"999.5"}]'

    def edit(doc: dict[str, object]) -> None:
        entry = next(f for f in doc["files"] if f["path"] == raw)  # type: ignore[attr-defined]
        entry.update(sha256=_sha(new), size=len(new))

    tampered = rewrite_zip(_edit_manifest(bundle, edit), lambda n, d: new if n == raw else d)
    verdict = verify_bundle(tampered)
    assert [(p.path, p.kind) for p in verdict.problems] == [
        ("manifest.json", "root"), (raw, "altered")]
    assert verdict.problems[1].message == (
        f"sha256 {_sha(RAW[1])[:12]}.. in {SNAP}/snapshot.json, {_sha(new)[:12]}.. in bundle")


def test_a_raw_response_missing_from_its_snapshot(bundle: Path) -> None:
    raw = f"{SNAP}/raw/0001.json"
    tampered = rewrite_zip(bundle, lambda n, d: None if n == raw else d)
    assert verify_bundle(tampered).problems == (
        Problem(raw, "removed", "in manifest.json, not in the bundle"),)

    def edit(doc: dict[str, object]) -> None:
        doc["files"] = [f for f in doc["files"] if f["path"] != raw]  # type: ignore[attr-defined]
    tampered = rewrite_zip(_edit_manifest(bundle, edit), lambda n, d: None if n == raw else d)
    assert [(p.path, p.kind, p.message) for p in verify_bundle(tampered).problems] == [
        ("manifest.json", "root", verify_bundle(tampered).problems[0].message),
        (raw, "removed", f"listed in {SNAP}/snapshot.json, not in the bundle")]


def test_an_edited_audit_line_is_named_by_line(bundle: Path) -> None:
    def change(name: str, data: bytes) -> bytes:
        return data.replace(b'"outcome":"done"', b'"outcome":"failed"') \
            if name == "audit/alice.jsonl" else data

    verdict = verify_bundle(rewrite_zip(bundle, change))
    assert [(p.path, p.kind) for p in verdict.problems] == [
        ("audit/alice.jsonl", "altered"), ("audit/alice.jsonl:3", "audit")]
    assert verdict.problems[1].message == \
        "entry 3 was edited: its content does not hash to its recorded sha256"


def test_an_audit_line_that_is_no_entry(bundle: Path) -> None:
    def change(name: str, data: bytes) -> bytes:
        return data.replace(b"\n", b"\nSECRET-VALUE-123\n", 1) \
            if name == "audit/alice.jsonl" else data

    verdict = verify_bundle(rewrite_zip(bundle, change))
    assert verdict.problems[1:] == (
        Problem("audit/alice.jsonl:2", "audit", "not an audit entry: not JSON"),)
    assert "SECRET" not in repr(verdict)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_unsafe_duplicate_and_case_clashing_names_in_the_zip(bundle: Path) -> None:
    tampered = rewrite_zip(bundle, add={"../evil.sh": b"x", "report/claim.html": b"x",
                                     "REPORT/claim.json": b"x"})
    problems = verify_bundle(tampered).problems
    assert [(p.path, p.kind) for p in problems] == [
        ("../evil.sh", "manifest"), ("REPORT/claim.json", "manifest"),
        ("report/claim.html", "manifest"), ("REPORT/claim.json", "added"),
        ("report/claim.html", "altered")]
    assert problems[0].message == "an unsafe name in the ZIP (a '..' segment)"
    assert problems[1].message == ("differs only in case from report/claim.json: unzipped "
                                   "on macOS or Windows, one replaces the other")
    assert problems[2].message == "2 entries of this name in the ZIP: an unzip tool keeps " \
                                  "only one"


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.pop("merkle"), "manifest.json has no 'merkle'"),
    (lambda d: d.update(format="incident-evidence/2"), "'format' is not incident-evidence/1"),
    (lambda d: d["files"][0].update(size=1.5), "files[0].size is not a whole number"),
    (lambda d: d["files"][0].update(path="../x"), "files[0].path is not a safe name"),
    (lambda d: d["files"].reverse(), "files[1]: not in path order, or a path twice"),
    (lambda d: d["merkle"].update(root="AB" * 32),
     "'merkle.root' is not 64 lowercase hex digits"),
])
def test_a_malformed_manifest_is_named(bundle: Path, edit: Callable[[dict], None],  # type: ignore[type-arg]
                                       message: str) -> None:
    verdict = verify_bundle(_edit_manifest(bundle, edit))
    assert (verdict.ok, verdict.root, verdict.problems) == (
        False, None, (Problem("manifest.json", "manifest", message),))


def test_a_manifest_that_is_no_json_or_missing(bundle: Path) -> None:
    bad = rewrite_zip(bundle, lambda n, d: b'{"a":1,"a":2}' if n == "manifest.json" else d)
    assert verify_bundle(bad).problems == (
        Problem("manifest.json", "manifest", "a key twice in one object"),)
    bad = rewrite_zip(bundle, lambda n, d: b"\xff" if n == "manifest.json" else d)
    assert verify_bundle(bad).problems == (Problem("manifest.json", "manifest", "not JSON"),)
    gone = rewrite_zip(bundle, lambda n, d: None if n == "manifest.json" else d)
    assert verify_bundle(gone).problems == (
        Problem("manifest.json", "manifest", "no manifest.json in the bundle"),)


def test_a_file_that_is_no_zip_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "claim.zip"
    path.write_bytes(b"not a zip at all, and a secret: sk-live-0123456789")
    with pytest.raises(EvidenceError) as e:
        verify_bundle(path)
    assert str(e.value) == f"{path}: not a ZIP file"
    assert e.value.exit_code == 3 and isinstance(e.value, InputError)
    with pytest.raises(EvidenceError) as e:
        verify_bundle(tmp_path / "missing.zip")
    assert str(e.value) == f"{tmp_path / 'missing.zip'}: cannot read (No such file or directory)"


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_a_truncated_zip_names_the_file(bundle: Path, keep: float) -> None:
    data = bundle.read_bytes()
    bundle.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(EvidenceError) as e:
        verify_bundle(bundle)
    assert str(e.value) == f"{bundle}: a ZIP file cut short (no central directory)"


def test_damaged_compressed_data_is_named_not_raised(bundle: Path) -> None:
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo("candles/BTCUSDT.csv")
    start = info.header_offset + 30 + len(info.filename) + 1_000  # inside its data
    data[start:start + 8] = b"\x00" * 8
    bundle.write_bytes(bytes(data))
    problems = verify_bundle(bundle).problems
    assert [(p.path, p.kind) for p in problems] == [("candles/BTCUSDT.csv", "altered")]
    assert problems[0].message.startswith("cannot be read: ")


def test_a_lying_size_header_reads_no_more_than_it_declares(bundle: Path) -> None:
    """The central directory says 10 bytes: zipfile stops there, and the CRC fails."""
    data = bytearray(bundle.read_bytes())
    name = b"candles/BTCUSDT.csv"
    central = data.index(b"PK\x01\x02")  # the first central directory header
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 24:central + 28] = (10).to_bytes(4, "little")  # uncompressed size
    bundle.write_bytes(bytes(data))
    assert verify_bundle(bundle).problems == (Problem(
        "candles/BTCUSDT.csv", "altered", "cannot be read: its CRC or header does not match"),)


def test_an_entry_declaring_too_much_is_not_read(bundle: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "MAX_ENTRY", 1_000_000)
    problems = verify_bundle(bundle).problems
    assert problems == (Problem("candles/BTCUSDT.csv", "altered",
                                "declares 3000010 bytes, over the limit of 1000000: not read"),)


def test_a_snapshot_json_that_is_no_snapshot(bundle: Path) -> None:
    """snapshot.json and its manifest entry edited together: its form gives it away."""
    snap = f"{SNAP}/snapshot.json"
    with zipfile.ZipFile(bundle) as zf:
        doc = json.loads(zf.read(snap))
    doc["responses"][1]["file"] = "../../../report/claim.html"
    new = json.dumps(doc).encode()

    def edit(manifest: dict[str, object]) -> None:
        entry = next(f for f in manifest["files"] if f["path"] == snap)  # type: ignore[attr-defined]
        entry.update(sha256=_sha(new), size=len(new))

    tampered = rewrite_zip(_edit_manifest(bundle, edit), lambda n, d: new if n == snap else d)
    problems = verify_bundle(tampered).problems
    assert [(p.path, p.kind) for p in problems] == [("manifest.json", "root"),
                                                    (snap, "altered")]
    assert problems[1].message == \
        "not a snapshot.json: responses[1].file is not a safe relative name"


def test_a_raw_response_altered_alone_is_named_once(bundle: Path) -> None:
    raw = f"{SNAP}/raw/0001.json"
    new = b'{"balances":[1]}'
    problems = verify_bundle(rewrite_zip(bundle, lambda n, d: new if n == raw else d)).problems
    assert problems == (Problem(raw, "altered", f"size {len(RAW[0])} in manifest, {len(new)} "
                                f"in bundle; sha256 {_sha(RAW[0])[:12]}.. in manifest, "
                                f"{_sha(new)[:12]}.. in bundle"),)


def test_a_directory_entry_is_added(bundle: Path) -> None:
    """As `zip -r` would add it when someone re-zips the bundle."""
    problems = verify_bundle(rewrite_zip(bundle, add={"report/": b""})).problems
    assert problems == (Problem("report/", "added", "a directory entry, not in manifest.json"),)
