"""`incident report` and `incident evidence` through the CLI, on the frozen samples: every
format written, the HTML drawn by headless Chromium and the PDF's first page by pdftoppm
(both non-empty images), and a bundle tampered three ways failing verify by name."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.imaging import assert_nonempty_png, pdf_first_page_png, screenshot_html
from tests.reports import SAMPLE, USER, load_sample, rewrite_zip

VICTIM = "user-0001-binance"


@pytest.fixture
def user(home: Path) -> Path:
    return load_sample(home, USER)


def test_the_claim_in_every_format_draws(cli, user: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "reports"
    r = cli("report", "claim", VICTIM, "--claimant", "Sam Sample", "--out", out, "--json")
    assert r.code == 0, r.stderr
    written = json.loads(r.stdout)
    assert [w["format"] for w in written] == ["html", "md", "json", "pdf"]
    html = out / f"claim-{VICTIM}.html"
    assert html.read_text().count("<svg") == 2  # the pumped pair, the portfolio
    assert_nonempty_png(screenshot_html(html, tmp_path / "claim.png"), min_size=(800, 2000))
    pdf = out / f"claim-{VICTIM}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert_nonempty_png(pdf_first_page_png(pdf, tmp_path / "claim-page1.png"))


def test_report_options_are_checked(cli, user: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("report", "claim", VICTIM, "--format", "docx").code == 2
    assert cli("report", "claim", VICTIM, "--reference", "median").code == 2
    r = cli("report", "claim", "nobody", "--out", tmp_path)
    assert r.code == 3 and "nobody" in r.stderr
    own = tmp_path / "own.txt"
    own.write_bytes(b"123\n\xff\n")
    r = cli("report", "claim", VICTIM, "--own", own, "--out", tmp_path)
    assert r.code == 3 and f"{own}: not UTF-8" in r.stderr


@pytest.mark.parametrize("kind", ["exposure", "incident"])
def test_the_exposure_and_incident_reports_draw(cli, home: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                kind: str) -> None:
    load_sample(home, SAMPLE)
    out = tmp_path / "reports"
    r = cli("report", kind, "--out", out, "--format", "html,pdf")
    assert r.code == 0, r.stderr
    (html,) = out.glob("*.html")
    assert_nonempty_png(screenshot_html(html, tmp_path / f"{kind}.png"))
    (pdf,) = out.glob("*.pdf")
    assert_nonempty_png(pdf_first_page_png(pdf, tmp_path / f"{kind}-page1.png"))


def test_a_bundle_verifies_and_each_tampering_is_named(cli, user: Path, tmp_path: Path  # type: ignore[no-untyped-def]
                                                        ) -> None:
    bundle = tmp_path / "claim.zip"
    r = cli("evidence", "bundle", VICTIM, bundle, "--json")
    assert r.code == 0, r.stderr
    made = json.loads(r.stdout)
    r = cli("evidence", "verify", bundle, "--root", made["merkle_root"])
    assert r.code == 0 and f"Merkle root {made['merkle_root']}" in r.stderr
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        html = f"report/claim-{VICTIM}.html"
        assert {html, "report/trades.csv", "manifest.json", "VERIFY.txt"} <= set(names)
        assert any(n.endswith(".pdf") for n in names)
        assert any("/raw/" in n for n in names) and any("/candles/" in n for n in names)
        assert any(n.startswith("audit/") for n in names)
        page = z.read(html)
    one_byte = page.replace(b"Compensation claim", b"Compensation claiM", 1)
    cases = {
        "altered": (rewrite_zip(bundle, lambda n, d: one_byte if n == html else d,
                                dst=tmp_path / "a.zip"), html),
        "added": (rewrite_zip(bundle, add={"report/extra.txt": b"x"}, dst=tmp_path / "b.zip"),
                  "report/extra.txt"),
        "removed": (rewrite_zip(bundle, lambda n, d: None if n == "report/trades.csv" else d,
                                dst=tmp_path / "c.zip"), "report/trades.csv"),
    }
    for kind, (path, name) in cases.items():
        r = cli("evidence", "verify", path, "--json")
        assert r.code == 1, (kind, r.stderr)
        problems = json.loads(r.stdout)["problems"]
        assert [(p["kind"], p["path"]) for p in problems] == [(kind, name)], problems
    # the bundle's root went into the audit log, in the chain
    r = cli("audit", "list", "--action", "evidence-bundle", "--json")
    assert made["merkle_root"] in r.stdout


def test_a_raw_response_changed_on_disk_is_refused_not_bundled(cli, user: Path,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path) -> None:
    logged = cli("audit", "list", "--json").stdout.count("evidence-bundle")
    raw = sorted((user / "snapshots").glob(f"{VICTIM}/*/raw/0002.json"))[0]
    raw.write_bytes(raw.read_bytes() + b" ")
    r = cli("evidence", "bundle", VICTIM, tmp_path / "claim.zip")
    assert r.code == 3 and "raw/0002.json: changed since the snapshot was taken" in r.stderr
    assert not (tmp_path / "claim.zip").exists()
    assert cli("audit", "list", "--json").stdout.count("evidence-bundle") == logged
