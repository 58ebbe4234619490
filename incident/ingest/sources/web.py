"""A URL: a file fetched whole, or a paste page, its text blocks and the raw files it links.

    https://paste.example/Ab12 ──► #textarea[1], #pre[1] ... ──► /raw/Ab12, keys.csv ...
                                   (a member per block)          (one level, at most 20)

Every body is read in chunks under `options.max_bytes`. Messages and member names show a
URL without its userinfo, query and fragment (`shown`): a query may hold a token. A link
that fails is skipped and named in `skipped`; the page itself failing raises.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

import requests
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # bs4 is imported with the first page (see html.bs4_types)
    from bs4 import BeautifulSoup

from incident import __version__
from incident.errors import IncidentError, InputError, Place, ServiceError
from incident.ingest.decode import decode
from incident.ingest.formats.html import bs4_types, parse
from incident.ingest.interface import Member, Source, SourceOptions, SourceState

USER_AGENT = f"incident/{__version__} (leaked-key dump ingest)"
MAX_REDIRECTS = 5
MAX_LINKS = 20
CHUNK = 64 * 1024
BLOCKS = ("textarea", "pre", "code")
RAW_PARTS = ("/raw/", "/raw.", "/dl/", "/download/")
DUMP_SUFFIXES = (".txt", ".csv", ".tsv", ".json", ".jsonl", ".sql", ".xlsx", ".zip", ".tar",
                 ".gz", ".tgz", ".bz2", ".xz", ".7z", ".env", ".yaml", ".yml", ".toml")
_HTML_STARTS = (b"<!doctype html", b"<html")


def shown(url: str) -> str:
    """The URL as messages and member names show it: no userinfo, query or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unparsable host ("http://[x"): cut by hand
        base = url.split("#", 1)[0].split("?", 1)[0]
        scheme, sep, rest = base.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def new_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.max_redirects = MAX_REDIRECTS
    return session


@dataclass(frozen=True)
class Fetched:
    body: bytes
    media_type: str | None  # the Content-Type's type/subtype, lower case, no parameters
    url: str  # where the body came from, after redirects


def fetch(session: requests.Session, url: str, options: SourceOptions) -> tuple[bytes, str | None]:
    """GET `url`: its body (at most options.max_bytes) and media type; raises InputError
    (HTTP 4xx, too large) or ServiceError (connection, timeout, HTTP 5xx or 429)."""
    got = get(session, url, options)
    return got.body, got.media_type


def get(session: requests.Session, url: str, options: SourceOptions) -> Fetched:
    where = shown(url)
    try:
        with session.get(url, timeout=(options.timeout, options.timeout), stream=True,
                         allow_redirects=True) as response:
            _check_status(where, response.status_code)
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > options.max_bytes:
                raise _too_large(where, options.max_bytes)
            body = bytearray()
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > options.max_bytes:
                    raise _too_large(where, options.max_bytes)
            media = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            return Fetched(bytes(body), media or None, response.url or url)
    except requests.RequestException as e:
        # A requests error's text holds the whole URL: chain it only when that shows nothing
        # more than `where` does.
        raise _failure(where, e, options) from (e if where == url else None)


def _check_status(where: str, status: int) -> None:
    if 200 <= status < 300:
        return
    if 400 <= status < 500 and status != 429:
        raise InputError(f"HTTP {status}", Place(where))
    raise ServiceError(f"{where}: HTTP {status}")


def _too_large(where: str, limit: int) -> InputError:
    size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
    return InputError(f"larger than {size}; not fetched", Place(where))


def _failure(where: str, e: requests.RequestException, options: SourceOptions) -> IncidentError:
    causes = list(_chain(e))
    if isinstance(e, requests.Timeout) or any("Timeout" in type(c).__name__ for c in causes):
        return ServiceError(f"{where}: timed out after {options.timeout:g} s")
    if isinstance(e, requests.TooManyRedirects):
        return ServiceError(f"{where}: more than {MAX_REDIRECTS} redirects")
    if isinstance(e, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                      requests.exceptions.InvalidSchema)):
        return InputError("not a URL this tool can fetch (http or https)", Place(where))
    if isinstance(e, requests.ConnectionError):
        return ServiceError(f"{where}: could not connect ({_reason(causes)})")
    return ServiceError(f"{where}: the transfer failed ({type(e).__name__})")


def _chain(e: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps (args, urllib3's `reason`, causes), a few deep."""
    todo: list[BaseException] = [e]
    seen: set[int] = set()
    while todo and len(seen) < 12:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        inner = [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
        todo.extend(x for x in inner if isinstance(x, BaseException))


def _reason(causes: list[BaseException]) -> str:
    names = {type(c).__name__ for c in causes}
    if "NameResolutionError" in names or "gaierror" in names:
        return "host name not resolved"
    if "ConnectionRefusedError" in names:
        return "connection refused"
    if names & {"SSLError", "SSLCertVerificationError"}:
        return "TLS handshake failed"
    if "ProxyError" in names:
        return "proxy failed"
    return "network error"


def is_html(body: bytes, media_type: str | None) -> bool:
    if media_type in ("text/html", "application/xhtml+xml"):
        return True
    start = body[:1024].removeprefix(b"\xef\xbb\xbf").lstrip()
    return start[:14].lower().startswith(_HTML_STARTS)


class UrlSource(Source):
    """An http(s) URL: a file, or a paste page (its text blocks and raw links)."""

    kind = "url"

    def __init__(self, spec: str, options: SourceOptions, state: SourceState, *,
                 session: requests.Session | None = None) -> None:
        super().__init__(spec, options, state)
        self.session = session
        self.skipped: list[str] = []  # links that failed, each "<shown url>: <reason>"

    @classmethod
    def handles(cls, spec: str) -> bool:
        return spec[:8].lower().startswith(("http://", "https://"))

    def members(self) -> Iterator[Member]:
        session = self.session or new_session()
        try:
            yield from self._members(session)
        finally:
            if self.session is None:
                session.close()

    def _members(self, session: requests.Session) -> Iterator[Member]:
        page = get(session, self.spec, self.options)
        name = shown(self.spec)
        if not is_html(page.body, page.media_type):
            yield Member.of_bytes(name, page.body, page.media_type)
            return
        soup = parse(decode(page.body, name)[0], name)  # markup it rejects: by place
        blocks = list(text_blocks(soup, name))
        links = raw_links(soup, page.url)
        if len(links) > MAX_LINKS:
            self.skipped.append(f"{name}: {len(links) - MAX_LINKS} more raw links not "
                                f"followed (at most {MAX_LINKS})")
            del links[MAX_LINKS:]
        if not blocks and not links:
            yield Member.of_bytes(name, page.body, "text/html")
            return
        fetched: list[Member] = []
        for link in links:
            try:
                got = get(session, link, self.options)
            except IncidentError as e:  # InputError or ServiceError, place-only messages
                self.skipped.append(str(e))
                continue
            fetched.append(Member.of_bytes(shown(link), got.body, got.media_type))
        # A paste page shows its text in a textarea and links the same text raw: read it
        # once, from the raw link (the exact bytes), so one paste is not two sightings.
        raw_texts = {_gist(m.head()) for m in fetched if m.size and m.size <= HEAD_LIMIT}
        yield from (b for b in blocks if _gist(b.head()) not in raw_texts)
        yield from fetched


HEAD_LIMIT = 64 * 1024  # a block and a raw body are compared whole up to this size


def _gist(data: bytes) -> bytes:
    """Text as compared for sameness: each line stripped, blank lines and a BOM dropped
    (a raw endpoint sends CRLF where the page's textarea has LF)."""
    lines = data.removeprefix(b"\xef\xbb\xbf").splitlines()
    return b"\n".join(stripped for line in lines if (stripped := line.strip()))


def text_blocks(soup: BeautifulSoup, name: str) -> Iterator[Member]:
    """A member per textarea, pre and code block with text, in page order, numbered by
    its position among the page's blocks of its tag; a block inside another (a code
    inside a pre) is read with the outer one only.

    One iterative walk, linear whatever the page's depth: bs4's find_parent is linear in
    the depth, so asking it of each block made a deeply nested page quadratic."""
    counts = dict.fromkeys(BLOCKS, 0)
    inside: list[bool] = [False]  # of each open tag: whether it is in a block
    tag_type = bs4_types()[1]
    stack: list[Iterator[object]] = [iter(soup.contents)]
    while stack:
        tag = next(stack[-1], None)
        if tag is None:
            stack.pop()
            inside.pop()
            continue
        if not isinstance(tag, tag_type):
            continue
        outer = inside[-1]
        if tag.name in BLOCKS:
            counts[tag.name] += 1
            if not outer:
                text = tag.get_text()  # outermost blocks: each string is read once
                if text.strip():
                    yield Member.of_bytes(f"{name}#{tag.name}[{counts[tag.name]}]",
                                          text.encode("utf-8"), "text/plain")
        stack.append(iter(tag.contents))
        inside.append(outer or tag.name in BLOCKS)


def raw_links(soup: BeautifulSoup, base: str) -> list[str]:
    """The page's links to raw text or dump-like files, absolute, deduplicated, in page
    order. Links back to the page itself are left out."""
    page = urldefrag(base).url
    found: dict[str, None] = {}  # ordered, deduplicated
    for a in soup.find_all("a", href=True):
        href = a.get("href") if isinstance(a, bs4_types()[1]) else None
        if not isinstance(href, str) or not href.strip():
            continue
        try:
            url = urldefrag(urljoin(base, href.strip())).url
            parts = urlsplit(url)
        except ValueError:
            continue
        path = parts.path.lower()
        if parts.scheme not in ("http", "https") or url == page or url in found:
            continue
        raw = any(p in path for p in RAW_PARTS)
        if raw or posixpath.basename(path).endswith(DUMP_SUFFIXES):
            found[url] = None
    return list(found)
