"""Looking at what a report shows: pictures of PDFs and HTML pages, and checks on them.

    assert_nonempty_png(png)          decodes a PNG (path or bytes) and checks it shows
                                      something: a sane size, not one flat colour
    pdf_first_page_png(pdf, png)      the PDF's first page as a PNG, through pdftoppm
    pdf_info(pdf)                     what pdfinfo says of it: {"Pages": "1", ...}
    screenshot_html(html, png)        a page in Debian's Chromium (headless, Playwright),
                                      as tests/e2e/test_exposure_page.py drives it

pdftoppm and pdfinfo come with poppler-utils and Chromium with Debian's chromium: `make pdf` and
`make browser` install them (`make test` does both).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PDFTOPPM = "pdftoppm"
PDFINFO = "pdfinfo"


def assert_nonempty_png(png: Path | str | bytes, *, min_size: tuple[int, int] = (100, 100),
                        min_colours: int = 8, min_ink: float = 0.005) -> None:
    """The PNG decodes, is at least `min_size` pixels, has more than `min_colours`
    distinct colours and more than `min_ink` of its pixels are not white: a blank page,
    a solid fill or a page with a single dot fails."""
    from PIL import Image

    data = png if isinstance(png, bytes) else Path(png).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        rgb = image.convert("RGB")
    width, height = rgb.size
    assert width >= min_size[0] and height >= min_size[1], f"only {width}x{height} pixels"
    colours = rgb.getcolors(maxcolors=1 << 16)
    distinct = len(colours) if colours is not None else 1 << 16
    assert distinct > min_colours, f"only {distinct} distinct colours"
    # Not white: any channel below 245 (anti-aliased text and light fills count).
    grey = rgb.convert("L").point(lambda v: 255 if v < 245 else 0)
    histogram = grey.histogram()
    ink = histogram[255] / (width * height)
    assert ink > min_ink, f"only {ink:.2%} of the pixels are not white"


def pdf_first_page_png(pdf_path: Path | str, out_png: Path | str, *,
                       resolution: int = 50) -> Path:
    """Render the first page of `pdf_path` to `out_png` (pdftoppm -png -singlefile)."""
    tool = shutil.which(PDFTOPPM)
    assert tool, f"{PDFTOPPM} is missing: install poppler-utils (make pdf)"
    out = Path(out_png)
    # pdftoppm adds the extension itself to the output root it is given.
    root = out.with_suffix("") if out.suffix == ".png" else out
    subprocess.run([tool, "-png", "-r", str(resolution), "-f", "1", "-l", "1",
                    "-singlefile", str(pdf_path), str(root)],
                   check=True, capture_output=True, timeout=120)
    made = root.with_name(root.name + ".png")
    if made != out:
        made.replace(out)
    return out


def pdf_info(pdf_path: Path | str) -> dict[str, str]:
    """pdfinfo's fields (dates in ISO 8601, UTC), as a dict."""
    tool = shutil.which(PDFINFO)
    assert tool, f"{PDFINFO} is missing: install poppler-utils (make pdf)"
    out = subprocess.run([tool, "-isodates", str(pdf_path)], check=True, text=True,
                         capture_output=True, timeout=60, env={"TZ": "UTC", "LC_ALL": "C"})
    fields = (line.partition(":") for line in out.stdout.splitlines())
    return {key.strip(): value.strip() for key, _, value in fields}


def screenshot_html(html_path: Path | str, out_png: Path | str, *,
                    width: int = 1000, height: int = 800, full_page: bool = True) -> Path:
    """A screenshot of the page at `html_path` (a file) in headless Chromium. The browser
    may load nothing but the file itself: any other request is aborted."""
    assert Path(CHROMIUM).is_file(), (
        f"{CHROMIUM} is missing: these tests drive Debian's Chromium "
        "(install it: make browser)")
    from playwright.sync_api import sync_playwright

    url = Path(html_path).resolve().as_uri()
    out = Path(out_png)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                    timeout=30_000)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          service_workers="block")
            page = context.new_page()
            page.route("**/*", lambda route: route.continue_() if route.request.url == url
                       else route.abort())
            page.goto(url, wait_until="load", timeout=30_000)
            page.screenshot(path=str(out), full_page=full_page)
            context.close()
        finally:
            browser.close()
    return out
