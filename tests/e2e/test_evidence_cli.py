"""`incident evidence verify` through the CLI: intact, altered, added and removed bundles,
and the exit code of each (0 intact, 1 a problem, 2 usage, 3 no ZIP file); and the check by
hand that VERIFY.txt describes, pasted into a shell as it stands."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from incident.report import evidence
from incident.report.evidence import BundleFile
from tests.conftest import run_incident
from tests.reports import rewrite_zip

AT = "2026-03-01T12:00:00Z"
CLAIM = b"<html>claim</html>\n"


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, str]:
    files = [BundleFile("report/claim.html", CLAIM, "incident report claim", AT),
             BundleFile("report/claim.json", b"{}", "incident report claim", AT),
             BundleFile("audit/alice.jsonl", b"", "audit log", AT)]
    out = tmp_path / "claim.zip"
    manifest = evidence.write_bundle(out, files, created_at=AT, tool_version="1.0.0",
                                     subject={"label": "alice", "claimant": "Alice Example"})
    return out, manifest.root


def test_an_intact_bundle(cli, bundle) -> None:  # type: ignore[no-untyped-def]
    path, root = bundle
    result = cli("evidence", "verify", path)
    assert (result.code, result.stdout, result.stderr) == (
        0, "", f"bundle intact: 4 files, Merkle root {root}\n")
    result = cli("evidence", "verify", path, "--root", root.upper(), "--json")
    assert (result.code, json.loads(result.stdout), result.stderr) == (
        0, {"ok": True, "files": 4, "root": root, "problems": []}, "")


def test_altered_added_and_removed_files_are_each_named(cli, bundle) -> None:  # type: ignore[no-untyped-def]
    path, root = bundle
    new = CLAIM.replace(b"claim", b"clam")
    tampered = rewrite_zip(path, lambda n, d: new if n == "report/claim.html" else
                        None if n == "report/claim.json" else d, add={"notes.txt": b"x"})
    old_sha, new_sha = (hashlib.sha256(b).hexdigest()[:12] for b in (CLAIM, new))
    result = cli("evidence", "verify", tampered)
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        "bundle FAILED: 3 problems\n"
        "  added: notes.txt (in the bundle, not in manifest.json)\n"
        f"  altered: report/claim.html (size 19 in manifest, 18 in bundle; sha256 {old_sha}.. "
        f"in manifest, {new_sha}.. in bundle)\n"
        "  removed: report/claim.json (in manifest.json, not in the bundle)\n")
    out = json.loads(cli("evidence", "verify", tampered, "--json").stdout)
    assert (out["ok"], out["files"], out["root"]) == (False, 4, root)
    assert [(p["kind"], p["path"]) for p in out["problems"]] == [
        ("added", "notes.txt"), ("altered", "report/claim.html"),
        ("removed", "report/claim.json")]


def test_another_root_fails(cli, bundle) -> None:  # type: ignore[no-untyped-def]
    path, root = bundle
    result = cli("evidence", "verify", path, "--root", "ab" * 32)
    assert (result.code, result.stderr) == (1, (
        "bundle FAILED: 1 problem\n"
        f"  root: manifest.json (Merkle root {root[:12]}.. from its header and files[] "
        "entries, expected abababababab..)\n"))


def _forge_claimant(path: Path) -> Path:
    """The claimant changed in manifest.json, and its root recomputed to match."""
    def change(name: str, data: bytes) -> bytes:
        if name != evidence.MANIFEST:
            return data
        doc = json.loads(data)
        doc["subject"]["claimant"] = "Mallory Example"
        doc["merkle"]["root"] = evidence.merkle_root(doc, doc["files"])
        return json.dumps(doc).encode()
    return rewrite_zip(path, change)


def test_a_forged_claimant_fails_against_the_published_root(cli, bundle) -> None:  # type: ignore[no-untyped-def]
    path, root = bundle
    forged = _forge_claimant(path)
    assert cli("evidence", "verify", forged).code == 0  # consistent in itself
    result = cli("evidence", "verify", forged, "--root", root)
    new = json.loads(cli("evidence", "verify", forged, "--json").stdout)["root"]
    assert new != root
    assert (result.code, result.stderr) == (1, (
        "bundle FAILED: 1 problem\n"
        f"  root: manifest.json (Merkle root {new[:12]}.. from its header and files[] "
        f"entries, expected {root[:12]}..)\n"))


def _by_hand(bundle: Path, tmp_path: Path) -> list[str]:
    """VERIFY.txt's Python check, pasted into bash as VERIFY.txt shows it, in the unzipped
    bundle: the root it computes and the root manifest.json stores."""
    unzipped = tmp_path / "unzipped"
    shutil.rmtree(unzipped, ignore_errors=True)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(unzipped)
    text = (unzipped / "VERIFY.txt").read_text()
    start = text.index("python3 - <<'EOF'\n")
    block = text[start:text.index("\nEOF\n", start) + len("\nEOF\n")]
    python3 = tmp_path / "bin" / "python3"  # this interpreter, whatever python3 is here
    python3.parent.mkdir(exist_ok=True)
    python3.unlink(missing_ok=True)
    python3.symlink_to(sys.executable)
    result = subprocess.run(["bash", "-c", block], cwd=unzipped, capture_output=True,
                            text=True, timeout=60, check=False,
                            env={**os.environ, "PATH": f"{python3.parent}:{os.environ['PATH']}"})
    assert (result.returncode, result.stderr) == (0, "")
    return result.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_verify_txt_by_hand(bundle, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, root = bundle
    assert _by_hand(path, tmp_path) == [root, root]
    forged = _forge_claimant(path)
    new = json.loads(zipfile.ZipFile(forged).read(evidence.MANIFEST))["merkle"]["root"]
    assert _by_hand(forged, tmp_path) == [new, new]
    assert new != root  # the root given with the bundle is what catches it
    stale = rewrite_zip(path, lambda n, d: d.replace(b"Alice Example", b"Mallory Example")
                     if n == evidence.MANIFEST else d)
    got = _by_hand(stale, tmp_path)
    assert got[1] == root and got[0] != root


def test_usage_and_unreadable_bundles(cli, bundle, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, _ = bundle
    result = cli("evidence", "verify", path, "--root", "xyz")
    assert (result.code, result.stderr) == (
        2, "error: --root: not a SHA-256 Merkle root (64 hex digits)\n")
    junk = tmp_path / "junk.zip"
    junk.write_text("api_secret=hunter2-not-a-zip\n")
    result = cli("evidence", "verify", junk)
    assert (result.code, result.stdout, result.stderr) == (
        3, "", f"error: {junk}: not a ZIP file\n")
    short = tmp_path / "short.zip"
    short.write_bytes(path.read_bytes()[:200])
    assert cli("evidence", "verify", short).stderr == \
        f"error: {short}: a ZIP file cut short (no central directory)\n"


def test_as_a_process(bundle, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, root = bundle
    env = {"INCIDENT_HOME": str(tmp_path / "home")}
    result = run_incident("evidence", "verify", str(path), env=env)
    assert (result.code, result.stderr) == (0, f"bundle intact: 4 files, Merkle root {root}\n")
    tampered = rewrite_zip(path, lambda n, d: d + b"." if n == "report/claim.json" else d)
    assert run_incident("evidence", "verify", str(tampered), env=env).code == 1
    assert run_incident("evidence", "verify", str(tmp_path / "none.zip"), env=env).code == 3
