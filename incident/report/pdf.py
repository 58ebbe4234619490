"""A report's HTML as PDF, through WeasyPrint (imported here, when a PDF is asked for).

    RenderError (ServiceError)   the PDF cannot be made on this machine: WeasyPrint's
                                 system libraries (Pango) are missing (exit 4)

Nothing is fetched. A report is self-contained (its charts are inline SVG), so the URL
fetcher refuses every URL but `data:`: a crafted report (a value from a leak dump that
ends up in a page) cannot make the renderer read a local file (`file:///etc/passwd`) or
reach the network. A refused resource is left out, as a browser leaves out a broken
image, and the rest of the page is rendered.

Same HTML, same bytes, on the same machine and versions: WeasyPrint writes no creation
or modification date unless the HTML has `<meta name="dcterms.created">` (or `modified`),
which a report template may set from the data's own time; the file identifier (`/ID`) is
a hash of the document's content, not random; fonts are subset under names hashed from
their description; compression is zlib, deterministic. What may change the bytes: another
WeasyPrint, Pango, HarfBuzz or font version (the Producer field names WeasyPrint's
version; the embedded glyphs and their metrics come from the installed fonts), and so a
PDF made on another machine may differ. PDF/X-4 and later would add a random document id
(WeasyPrint 70 uses uuid4 there): we never ask for them.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from incident.errors import ServiceError

INSTALL_HINT = ("WeasyPrint cannot load Pango, which PDF reports need: run 'make pdf' "
                "(or 'sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
                "libharfbuzz-subset0 fonts-dejavu-core')")


class RenderError(ServiceError):
    """A report cannot be rendered here: a library it needs is missing or broken."""


class RefusedURL(ValueError):
    """A report asked for a resource that is not inline (`data:`)."""


def html_to_pdf(html: str, *, base_url: str | None = None) -> bytes:
    """The PDF of `html`. Only `data:` URLs are loaded; `base_url` resolves relative
    links (they stay links in the PDF, nothing is fetched from them)."""
    weasyprint = _weasyprint()
    document = weasyprint.HTML(string=html, base_url=base_url, url_fetcher=fetcher())
    pdf: bytes = document.write_pdf(pdf_identifier=True)
    return pdf


def fetcher() -> Any:
    """WeasyPrint's URL fetcher, refusing everything but `data:` URLs. It keeps the URLs
    it refused in `.refused` (in the order asked)."""
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no types
        def __init__(self) -> None:
            super().__init__(allowed_protocols=("data",), allow_redirects=False,
                             fail_on_errors=False)
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url[:5].lower() != "data:":
                self.refused.append(url)
                raise RefusedURL("only data: URLs are loaded in a report")
            return super().fetch(url, headers)

    return DataOnlyFetcher()


def _weasyprint() -> Any:
    """`import weasyprint`, or a RenderError saying what to install.

    WeasyPrint loads Pango, GObject, HarfBuzz and fontconfig as it is imported; when one is
    missing it prints a notice to stdout (which is where a report may be going) and
    raises OSError. The notice is swallowed; the error is ours."""
    notice = io.StringIO()
    try:
        with contextlib.redirect_stdout(notice):
            import weasyprint  # type: ignore[import-untyped]
    except OSError as e:
        raise RenderError(INSTALL_HINT) from e
    return weasyprint
