"""incident.report.pdf: a report's HTML (charts inline as SVG) as PDF, looked at as a
person would (pdftoppm, and the HTML in Chromium), fetching nothing, the same bytes
each time."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from incident.errors import ExitCode, ServiceError
from incident.report.charts import portfolio_chart, price_chart
from incident.report.pdf import RefusedURL, RenderError, fetcher, html_to_pdf
from scripts.loopback import serve_pages
from tests.conftest import ROOT
from tests.imaging import assert_nonempty_png, pdf_first_page_png, pdf_info, screenshot_html

T0 = 1_714_560_000_000
MINUTE = 60_000
RED = (255, 0, 0)


def chart() -> str:
    times = [T0 + i * MINUTE for i in range(90)]
    close = [0.01 * (4 if 30 <= i < 45 else 1) * (1 + 0.01 * (i % 7)) for i in range(90)]
    fills = times[31:44:2]
    return price_chart("XYZ/USDT", times, close, fills, [close[30] * 1.01] * len(fills),
                       ["buy", "sell"] * (len(fills) // 2) + ["buy"] * (len(fills) % 2),
                       0.01, (times[30], times[45]), "USDT",
                       high=[c * 1.02 for c in close], low=[c * 0.98 for c in close])


def page(body: str, head: str = "") -> str:
    return ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Claim</title>"
            f"{head}</head><body><h1>Claim report</h1>{body}<p>End of report.</p>"
            "</body></html>")


def red_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (200, 200), RED).save(out, format="PNG")
    return out.getvalue()


def red_pixels(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as image:
        rgb = image.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 20) or []
    return sum(n for n, c in colours if c[0] > 200 and c[1] < 60 and c[2] < 60)


def test_a_report_with_a_chart_is_a_pdf(tmp_path: Path) -> None:
    html = page(chart() + portfolio_chart([T0, T0 + 30 * MINUTE, T0 + 45 * MINUTE],
                                          [10_000.0, 4_000.0, 1_000.0],
                                          (T0 + 30 * MINUTE, T0 + 45 * MINUTE), "USD",
                                          10_000.0))
    pdf = html_to_pdf(html)
    assert pdf.startswith(b"%PDF-")
    path = tmp_path / "claim.pdf"
    path.write_bytes(pdf)
    png = pdf_first_page_png(path, tmp_path / "page1.png")
    assert_nonempty_png(png)
    # the chart is drawn (its colours), not only the text
    from PIL import Image

    with Image.open(png) as image:
        colours = {c for _, c in image.convert("RGB").getcolors(maxcolors=1 << 20) or []}
    assert any(abs(r - 0xD5) < 40 and abs(g - 0x5E) < 40 and b < 60 for r, g, b in colours)


def test_the_html_in_chromium(tmp_path: Path) -> None:
    path = tmp_path / "claim.html"
    path.write_text(page(chart()), encoding="utf-8")
    assert_nonempty_png(screenshot_html(path, tmp_path / "claim.png"))


def test_same_html_same_bytes(tmp_path: Path) -> None:
    html = page(chart(), head='<meta name="dcterms.created" content="2024-05-01T12:00:00Z">')
    first = html_to_pdf(html)
    assert html_to_pdf(html) == first
    path = tmp_path / "dated.pdf"
    path.write_bytes(first)
    info = pdf_info(path)
    assert info["CreationDate"] == "2024-05-01T12:00:00Z" and "ModDate" not in info
    assert (info["Title"], info["Pages"], info["Producer"]) == ("Claim", "1", "WeasyPrint 70.0")
    # and in another process, with another hash seed
    code = ("import sys; from incident.report.pdf import html_to_pdf; "
            "sys.stdout.buffer.write(html_to_pdf(sys.stdin.read()))")
    proc = subprocess.run([sys.executable, "-c", code], input=html.encode(), cwd=ROOT,
                          capture_output=True, timeout=300, check=True,
                          env={**os.environ, "PYTHONHASHSEED": "7"})
    assert proc.stdout == first


def test_no_date_unless_the_html_gives_one(tmp_path: Path) -> None:
    path = tmp_path / "undated.pdf"
    path.write_bytes(html_to_pdf(page("<p>no dates</p>")))
    info = pdf_info(path)
    assert "CreationDate" not in info and "ModDate" not in info


ASKED: list[str] = []  # what the loopback server was asked for


@pytest.fixture
def loopback() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering red pictures and a red stylesheet, recording
    what it was asked in ASKED."""
    ASKED.clear()
    red = ("image/png", red_png())
    pages = {"/style.css": ("text/css", b"body { background: rgb(255, 0, 0) }"),
             "/bg.png": red, "/img.png": red, "/svg.png": red}
    with serve_pages(pages, ASKED) as url:
        yield url


def crafted(tmp_path: Path, server: str) -> str:
    """A report whose every outside reference, if loaded, paints the page red or embeds
    /etc/passwd."""
    red = tmp_path / "red.png"
    red.write_bytes(red_png())
    css = tmp_path / "red.css"
    css.write_text("body { background: rgb(255, 0, 0) }")
    head = (f'<link rel="stylesheet" href="{css.as_uri()}">'
            f'<link rel="stylesheet" href="{server}/style.css">'
            f'<link rel="attachment" href="file:///etc/passwd">'
            f'<style>@import url("{css.as_uri()}"); '
            f'h1 {{ background-image: url("{server}/bg.png") }}</style>')
    body = (f'<img src="file:///etc/passwd" alt="passwd">'
            f'<img src="http://127.0.0.1:1/x" alt="port 1">'
            f'<img src="{red.as_uri()}" alt="local file" width=200 height=200>'
            f'<img src="{server}/img.png" alt="loopback" width=200 height=200>'
            f'<svg width="200" height="200"><image href="{red.as_uri()}" width="200" '
            f'height="200"/></svg>'
            f'<svg width="200" height="200"><image href="{server}/svg.png" width="200" '
            f'height="200"/></svg>{chart()}')
    return page(body, head)


def test_nothing_is_fetched(tmp_path: Path, loopback: str) -> None:
    html = crafted(tmp_path, loopback)
    pdf = html_to_pdf(html)
    assert pdf.startswith(b"%PDF-")
    assert ASKED == []
    assert b"/EmbeddedFile" not in pdf
    path = tmp_path / "crafted.pdf"
    path.write_bytes(pdf)
    png = pdf_first_page_png(path, tmp_path / "crafted.png")
    assert_nonempty_png(png)  # the rest of the report is there
    assert red_pixels(png) == 0


def test_the_crafted_report_would_fetch_without_our_fetcher(tmp_path: Path,
                                                           loopback: str) -> None:
    """The check above would see a fetch: WeasyPrint's own fetcher loads them all."""
    import weasyprint

    pdf = weasyprint.HTML(string=crafted(tmp_path, loopback)).write_pdf()
    assert ASKED
    assert b"/EmbeddedFile" in pdf
    path = tmp_path / "fetched.pdf"
    path.write_bytes(pdf)
    assert red_pixels(pdf_first_page_png(path, tmp_path / "fetched.png")) > 1000


def test_data_urls_are_loaded(tmp_path: Path) -> None:
    uri = "data:image/png;base64," + base64.b64encode(red_png()).decode()
    path = tmp_path / "data.pdf"
    path.write_bytes(html_to_pdf(page(f'<img src="{uri}" width=200 height=200 alt="red">')))
    assert red_pixels(pdf_first_page_png(path, tmp_path / "data.png")) > 1000


def test_the_fetcher_refuses_all_but_data() -> None:
    f = fetcher()
    for url in ("file:///etc/passwd", "http://127.0.0.1:1/x", "https://example.org/",
                "ftp://127.0.0.1/x", "FILE:///etc/passwd", "javascript:alert(1)"):
        with pytest.raises(RefusedURL):
            f.fetch(url)
    assert f.refused[0] == "file:///etc/passwd" and len(f.refused) == 6
    response = f.fetch("data:text/plain;base64,aGk=")
    assert response.read() == b"hi"


MISSING_PANGO = """
import cffi, sys
real = cffi.FFI.dlopen
def dlopen(self, name, *args):
    if "pango" in str(name):
        raise OSError(f"cannot load library {name!r}")
    return real(self, name, *args)
cffi.FFI.dlopen = dlopen
from incident.report.pdf import RenderError, html_to_pdf
try:
    html_to_pdf("<p>x</p>")
except RenderError as e:
    sys.stderr.write(f"RenderError {e.exit_code}: {e}")
"""


def test_missing_pango_is_a_render_error() -> None:
    """Not an OSError traceback, and nothing printed on stdout (where a report may go)."""
    proc = subprocess.run([sys.executable, "-c", MISSING_PANGO], cwd=ROOT, text=True,
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"RenderError {int(ExitCode.SERVICE)}: "), proc.stderr
    assert "make pdf" in proc.stderr
    assert issubclass(RenderError, ServiceError)
