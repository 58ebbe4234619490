"""UrlSource against recorded responses (the `responses` library: no network; a URL with
nothing registered fails as a connection error). Bodies are compared by digest, so a
failing assertion never prints what was fetched."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses
from bs4 import BeautifulSoup

from incident.errors import IncidentError, InputError, ServiceError
from incident.ingest.interface import Member, SourceOptions, SourceState
from incident.ingest.sources.web import (MAX_LINKS, UrlSource, fetch, new_session, shown,
                                         text_blocks)

DATA = Path(__file__).resolve().parents[3] / "data" / "ingest" / "http"
PAGE = "https://paste.example/Ab12Cd34"
RAW = "https://paste.example/raw/Ab12Cd34"
ZIP = "https://paste.example/download/Ab12Cd34.zip"
JSON = "https://files.example/dump/keys.json"
JSON_SIG = JSON + "?sig=FAKEsig9Qw7Zx2Lp"
# A URL whose userinfo and query hold secrets: neither may show in a message.
SECRET_URL = "https://alice:FAKEpw4Kq9@files.example/k.txt?token=FAKEtok7Hy2Wm5#part"
HTML = "text/html; charset=utf-8"


def body(name: str) -> bytes:
    return (DATA / name).read_bytes()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def read(url: str, **options: object) -> tuple[list[Member], UrlSource]:
    source = UrlSource(url, SourceOptions(**options), SourceState())  # type: ignore[arg-type]
    return list(source.members()), source


def failure(url: str, **options: object) -> IncidentError:
    with pytest.raises(IncidentError) as caught:
        read(url, **options)
    return caught.value


@pytest.fixture
def web() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_handles_http_and_https_only() -> None:
    assert UrlSource.handles("https://paste.example/x")
    assert UrlSource.handles("HTTP://paste.example/x")
    assert not UrlSource.handles("ftp://paste.example/x")
    assert not UrlSource.handles("dump.csv")
    assert not UrlSource.handles("twitter:@leakwatch")


def test_a_paste_page_gives_its_blocks_then_its_raw_links(web: responses.RequestsMock) -> None:
    web.get(PAGE, body=body("paste_page.html"), content_type=HTML)
    web.get(RAW, body=body("paste_raw.txt"), content_type="text/plain; charset=utf-8")
    web.get(JSON_SIG, body=body("keys.json"), content_type="application/json")
    web.get(ZIP, status=404, body="<h1>FAKE not found page</h1>")

    members, source = read(PAGE)

    assert [(m.name, m.media_type) for m in members] == [
        # textarea[1] is the raw link's text: read once, from the raw link
        (f"{PAGE}#code[1]", "text/plain"),
        (f"{PAGE}#pre[2]", "text/plain"),  # pre[1] holds only blanks; its code counts once
        (RAW, "text/plain"),  # linked twice (#top), fetched once
        (JSON, "application/json"),  # the query is not in the name
    ]
    by_name = {m.name: m for m in members}
    assert digest(by_name[RAW].open().read()) == digest(body("paste_raw.txt"))
    assert digest(by_name[JSON].read_all()) == digest(body("keys.json"))
    assert by_name[f"{PAGE}#code[1]"].open().read() == b"ccxt.binance()"
    assert by_name[f"{PAGE}#pre[2]"].open().read().count(b"\nBINANCE_API_SECRET=") == 1
    assert source.skipped == [f"{ZIP}: HTTP 404"]
    assert [c.request.url for c in web.calls] == [PAGE, RAW, ZIP, JSON_SIG]
    for call in web.calls:
        assert call.request.headers["User-Agent"].startswith("incident/")
        assert call.request.req_kwargs["stream"] is True  # type: ignore[attr-defined]
        assert call.request.req_kwargs["timeout"] == (30.0, 30.0)  # type: ignore[attr-defined]


def test_a_textarea_unlike_the_raw_text_is_read_too(web: responses.RequestsMock) -> None:
    page = body("paste_page.html").replace(b"api_key,api_secret\n", b"api_key,api_secret\nx,y\n")
    web.get(PAGE, body=page, content_type=HTML)
    web.get(RAW, body=body("paste_raw.txt").replace(b"\n", b"\r\n"), content_type="text/plain")
    web.get(JSON_SIG, body=body("keys.json"), content_type="application/json")
    web.get(ZIP, status=404)
    names = [m.name for m in read(PAGE)[0]]
    assert names[0] == f"{PAGE}#textarea[1]" and RAW in names
    web.replace(responses.GET, PAGE, body=body("paste_page.html"), content_type=HTML)
    assert f"{PAGE}#textarea[1]" not in [m.name for m in read(PAGE)[0]]  # CRLF is no difference


def test_a_file_is_one_member_named_by_its_url(web: responses.RequestsMock) -> None:
    web.get(RAW, body=body("paste_raw.txt"), content_type="text/plain")
    members, source = read(RAW)
    assert [(m.name, m.media_type, m.size) for m in members] == [
        (RAW, "text/plain", len(body("paste_raw.txt")))]
    assert source.skipped == []


def test_html_is_recognised_by_its_start_whatever_the_server_says(
        web: responses.RequestsMock) -> None:
    page = b"\xef\xbb\xbf \n <!DOCTYPE HTML><html><body><pre>FAKE-line</pre></body></html>"
    web.get(PAGE, body=page, content_type="application/octet-stream")
    members, _ = read(PAGE)
    assert [m.name for m in members] == [f"{PAGE}#pre[1]"]


def test_a_page_with_no_block_and_no_raw_link_is_itself_the_member(
        web: responses.RequestsMock) -> None:
    page = b"<html><body><table><tr><td>FAKEcell</td></tr></table><a href='/about'>a</a>"
    web.get(PAGE, body=page, content_type=HTML)
    members, _ = read(PAGE)
    assert [(m.name, m.media_type) for m in members] == [(PAGE, "text/html")]


def test_raw_links_are_followed_one_level_and_at_most_twenty(
        web: responses.RequestsMock) -> None:
    links = "".join(f'<a href="/raw/p{n}">raw</a>' for n in range(MAX_LINKS + 3))
    web.get(PAGE, body=f"<html><body>{links}</body></html>", content_type=HTML)
    for n in range(MAX_LINKS):
        # A raw link answering HTML with more raw links: not followed further.
        web.get(f"https://paste.example/raw/p{n}", body='<html><a href="/raw/deeper">x</a>',
                content_type=HTML)
    members, source = read(PAGE)
    assert [m.name for m in members] == [
        f"https://paste.example/raw/p{n}" for n in range(MAX_LINKS)]
    assert {m.media_type for m in members} == {"text/html"}
    assert len(web.calls) == 1 + MAX_LINKS
    assert source.skipped == [f"{PAGE}: 3 more raw links not followed (at most 20)"]


def test_a_redirect_is_followed_and_the_member_keeps_the_name_asked_for(
        web: responses.RequestsMock) -> None:
    web.get(RAW, status=302, headers={"Location": "https://cdn.paste.example/r/1.txt"})
    web.get("https://cdn.paste.example/r/1.txt", body=b"FAKEline", content_type="text/plain")
    members, _ = read(RAW)
    assert [m.name for m in members] == [RAW]


def test_a_redirect_loop_stops_after_five(web: responses.RequestsMock) -> None:
    web.get(RAW, status=302, headers={"Location": RAW})
    error = failure(RAW)
    assert isinstance(error, ServiceError)
    assert str(error) == f"{RAW}: more than 5 redirects"


@pytest.mark.parametrize("declared", [True, False])
def test_a_body_over_max_bytes_is_refused(web: responses.RequestsMock, declared: bool) -> None:
    limit = 1 << 20
    web.get(RAW, body=b"A" * (limit + 1), content_type="text/plain",
            auto_calculate_content_length=declared)
    error = failure(RAW, max_bytes=limit)
    assert isinstance(error, InputError)
    assert str(error) == f"{RAW}: larger than 1 MiB; not fetched"


def test_a_body_of_exactly_max_bytes_is_read(web: responses.RequestsMock) -> None:
    web.get(RAW, body=b"A" * 1000, content_type="text/plain")
    members, _ = read(RAW, max_bytes=1000)
    assert [m.size for m in members] == [1000]


@pytest.mark.parametrize(("status", "kind"), [
    (400, InputError), (403, InputError), (404, InputError), (410, InputError),
    (429, ServiceError), (500, ServiceError), (502, ServiceError), (503, ServiceError)])
def test_http_errors_map_to_bad_input_or_service(web: responses.RequestsMock, status: int,
                                                 kind: type[IncidentError]) -> None:
    web.get(RAW, status=status, body=b"FAKEbody-never-shown")
    error = failure(RAW)
    assert type(error) is kind
    assert str(error) == f"{RAW}: HTTP {status}"


@pytest.mark.parametrize(("raised", "message"), [
    (requests.exceptions.ConnectTimeout(), "timed out after 2.5 s"),
    (requests.exceptions.ReadTimeout(), "timed out after 2.5 s"),
    (requests.exceptions.ConnectionError(), "could not connect (network error)"),
    (requests.exceptions.ConnectionError(ConnectionRefusedError(111, "refused")),
     "could not connect (connection refused)"),
    (requests.exceptions.ChunkedEncodingError(), "the transfer failed (ChunkedEncodingError)"),
])
def test_network_failures_are_service_errors(web: responses.RequestsMock,
                                             raised: Exception, message: str) -> None:
    web.get(RAW, body=raised)
    error = failure(RAW, timeout=2.5)
    assert isinstance(error, ServiceError)
    assert str(error) == f"{RAW}: {message}"


def test_an_unregistered_url_never_reaches_the_network(web: responses.RequestsMock) -> None:
    error = failure("https://elsewhere.example/x.txt")
    assert str(error) == "https://elsewhere.example/x.txt: could not connect (network error)"


@pytest.mark.parametrize("answer", [
    {"status": 404}, {"status": 503}, {"body": requests.exceptions.ReadTimeout()},
    {"body": requests.exceptions.ConnectionError()}, {"body": b"A" * 2000}])
def test_no_message_shows_a_query_or_userinfo(web: responses.RequestsMock,
                                              answer: dict[str, object]) -> None:
    web.get(SECRET_URL.split("#")[0], **answer)
    error = failure(SECRET_URL, max_bytes=1000)
    text = f"{error}\n{error!r}\n{error.__cause__}"
    assert str(error).startswith("https://files.example/k.txt: ")
    leaked = "FAKEtok7Hy2Wm5" in text or "FAKEpw4Kq9" in text or "#part" in text
    assert not leaked, "the query, the userinfo or the fragment shows"
    assert error.__cause__ is None  # requests' own message would hold the whole URL


def test_a_member_name_shows_no_query_or_userinfo(web: responses.RequestsMock) -> None:
    web.get(SECRET_URL.split("#")[0], body=b"FAKEline", content_type="text/plain")
    members, _ = read(SECRET_URL)
    assert [m.name for m in members] == ["https://files.example/k.txt"]


def test_shown_strips_userinfo_query_and_fragment() -> None:
    assert shown(SECRET_URL) == "https://files.example/k.txt"
    assert shown("http://u@[::1]:8080/a/b?x=1") == "http://[::1]:8080/a/b"
    assert shown("http://u:p@[bad/raw?token=1#f") == "http://[bad/raw"


def test_fetch_gives_the_body_and_media_type(web: responses.RequestsMock) -> None:
    web.get(JSON, body=body("keys.json"), content_type="application/json; charset=utf-8")
    data, media = fetch(new_session(), JSON, SourceOptions())
    assert (digest(data), media) == (digest(body("keys.json")), "application/json")


def test_a_deeply_nested_page_is_walked_in_linear_time() -> None:
    depth = 50_000
    page = ("<html><body>" + "<div>" * depth + "<pre>FAKE-key <code>FAKE-code</code></pre>"
            + "</div>" * depth + "<code>FAKE-more</code></body></html>")
    started = time.monotonic()
    blocks = list(text_blocks(BeautifulSoup(page, "html.parser"), PAGE))
    assert time.monotonic() - started < 10
    assert [m.name for m in blocks] == [f"{PAGE}#pre[1]", f"{PAGE}#code[2]"]
    assert blocks[0].open().read() == b"FAKE-key FAKE-code"


def test_a_block_inside_a_block_is_read_with_the_outer_one() -> None:
    page = "<pre>a<textarea>b</textarea></pre><code><pre>c</pre></code><textarea>d</textarea>"
    blocks = list(text_blocks(BeautifulSoup(page, "html.parser"), PAGE))
    assert [(m.name, m.open().read()) for m in blocks] == [
        (f"{PAGE}#pre[1]", b"ab"), (f"{PAGE}#code[1]", b"c"), (f"{PAGE}#textarea[2]", b"d")]
