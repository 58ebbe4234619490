"""The exposure-check page in a real browser, against `incident serve` and a static export.

A small dump with known leaked keys is ingested into a fresh INCIDENT_HOME; the real
server runs as a subprocess on 127.0.0.1; Chromium (Debian's, driven by Playwright)
pastes values into the page. Besides the verdicts, every request the browser made and
everything the server printed are searched: only a 5-hex-character prefix of the
SHA-256 may ever leave the page, and nothing may go anywhere but 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from incident.secret import canonical
from tests.canary import Canary
from tests.conftest import ROOT, run_incident
from tests.servers import incident_serve, static_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
DUMP_NAME = "exposure-page-test-dump"
STATIC = ROOT / "incident" / "exposure" / "static"
RANGE_PATH = re.compile(r"/v1/range/([0-9a-f]{5})")
WAIT_S = 10.0  # bound on every wait in the browser: page load, a check


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# ---- the corpus ----

@dataclass
class Corpus:
    canary: Canary
    home: Path
    env: dict[str, str]
    keys: list[str]
    secrets: list[str]
    clean: list[str]
    outputs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def leaked(self) -> list[str]:
        return self.keys + self.secrets

    @property
    def all_values(self) -> list[str]:
        return self.leaked + self.clean


@pytest.fixture
def corpus(tmp_path: Path, canary: Canary) -> Corpus:
    """Three key/secret pairs ingested (with --exchange binance) into a fresh home.

    The values are the canary's: at the end, every file under the home and the export,
    every server output and every request the browser made are searched for any
    12-character piece of them.
    """
    keys, secs, clean = canary.secrets[0:3], canary.secrets[3:6], canary.secrets[6:8]
    dump = tmp_path / "leak.csv"  # the input itself lives outside every watched dir
    dump.write_text("api_key,api_secret\n" + "".join(f"{k},{s}\n" for k, s in zip(keys, secs)))
    home = canary.watch(tmp_path / "home")
    env = {"INCIDENT_HOME": str(home)}
    done = run_incident("ingest", "--json", "--exchange", "binance", "--name", DUMP_NAME,
                        str(dump), env=env, input="")
    canary.record("ingest stdout", done.stdout)
    canary.record("ingest stderr", done.stderr)
    assert done.code == 0, done.stderr
    assert '"credentials": 3' in done.stdout, done.stdout
    return Corpus(canary, home, env, keys, secs, clean)


# ---- the browser ----

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).is_file(), (
        f"{CHROMIUM} is missing: these tests drive Debian's Chromium "
        "(install it: make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Session:
    """One browser context, recording every request, response, console message, error."""

    context: Any
    page: Any
    requests: list[Any] = field(default_factory=list)
    responses: list[tuple[str, int]] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self, text: str) -> list[dict[str, str]]:
        """Paste `text`, press Check, wait for the verdicts; one dict per result."""
        page = self.page
        page.click("#clear")
        page.wait_for_selector('body[data-state="idle"]', timeout=WAIT_S * 1000)
        page.fill("#values", text)
        page.click("#check")
        page.wait_for_selector('body[data-state="done"]', timeout=WAIT_S * 1000)
        results: list[dict[str, str]] = page.eval_on_selector_all(
            "#results [data-status]",
            """els => els.map(e => ({
                status: e.dataset.status, roles: e.dataset.roles || "",
                exchanges: e.dataset.exchanges || "", count: e.dataset.count || "",
                text: e.innerText}))""")
        return results

    def leaks(self, corpus: Corpus, checked: list[str]) -> None:
        """Nothing the browser sent holds a value, its digest or more than a prefix;
        nothing went anywhere but 127.0.0.1; the only ranges asked for are the checked
        values' prefixes."""
        assert self.requests, "the browser made no request at all"
        needles = {v: "a value" for v in corpus.all_values}
        needles.update({sha256_hex(v): "a full SHA-256" for v in corpus.all_values})
        needles.update({hashlib.sha256(bytes.fromhex(sha256_hex(v))).hexdigest(): "a hint"
                        for v in corpus.all_values})
        asked = set()
        for r in self.requests:
            headers = r.all_headers()
            sent = "\n".join([r.url, r.post_data or "", repr(headers)])
            corpus.canary.record(f"browser request {r.method} {r.url}", sent)
            for needle, what in needles.items():
                assert needle not in sent and needle[:16] not in sent, (
                    f"{what} was sent in {r.method} {r.url}")
            url = urlsplit(r.url)
            assert url.scheme == "http" and url.hostname == "127.0.0.1", (
                f"a request left 127.0.0.1: {r.url}")
            assert r.method == "GET" and not r.post_data, f"{r.method} {r.url} with a body"
            assert not url.query and not url.fragment, f"query or fragment in {r.url}"
            m = RANGE_PATH.search(url.path)
            if "/v1/" in url.path:
                assert m and url.path.endswith(m.group(0)), f"unexpected API call {r.url}"
                assert "referer" not in headers and "cookie" not in headers, headers
                asked.add(m.group(1))
        assert asked == {sha256_hex(canonical(v))[:5] for v in checked}, (
            "the ranges asked for are not exactly the checked values' 5-hex prefixes")
        assert not self.errors, f"page errors: {self.errors}"
        assert not [c for c in self.console if "Content Security Policy" in c], self.console


@pytest.fixture
def session(browser: Any) -> Iterator[Session]:
    context = browser.new_context(service_workers="block")
    try:
        page = context.new_page()
        s = Session(context, page)
        context.on("request", lambda r: s.requests.append(r))
        context.on("response", lambda r: s.responses.append((r.url, r.status)))
        page.on("console", lambda m: s.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: s.errors.append(str(e)))
        page.set_default_timeout(WAIT_S * 1000)
        yield s
    finally:
        context.close()


def open_page(session: Session, url: str) -> None:
    session.page.goto(url, wait_until="load")
    session.page.wait_for_selector('body[data-ready="yes"]', timeout=WAIT_S * 1000)


# ---- the tests ----

def test_live_server_shows_exposure_and_receives_only_a_prefix(
        corpus: Corpus, session: Session, tmp_path: Path) -> None:
    with incident_serve(corpus.env, tmp_path / "serve.log") as served:
        base = served.url + "/"
        open_page(session, base)
        page = session.page

        # Privacy attributes of the input: nothing for spell-checkers, autofill or URLs.
        attrs = page.eval_on_selector("#values", """t => ({
            name: t.getAttribute("name"), autocomplete: t.getAttribute("autocomplete"),
            spellcheck: t.getAttribute("spellcheck"), autocorrect: t.getAttribute("autocorrect"),
            autocapitalize: t.getAttribute("autocapitalize"), formName: t.form && t.form.name})""")
        assert attrs["name"] is None
        assert (attrs["autocomplete"], attrs["spellcheck"], attrs["autocorrect"],
                attrs["autocapitalize"]) == ("off", "false", "off", "off")

        key, secret, clean = corpus.keys[0], corpus.secrets[1], corpus.clean[0]
        # One paste, three lines and a blank one: a leaked key, a value no dump holds,
        # and a leaked secret wrapped in whitespace and quotes as a config file would.
        wrapped = f' \u00a0"\'{secret}\'"\t '
        assert canonical(wrapped) == secret
        results = session.check(f"{key}\n\n{clean}\n{wrapped}\n")
        assert [r["status"] for r in results] == ["exposed", "clean", "exposed"], results

        exposed_key, not_found, exposed_secret = results
        assert exposed_key["roles"] == "key" and exposed_secret["roles"] == "secret"
        for r in (exposed_key, exposed_secret):
            assert r["exchanges"] == "binance" and r["count"] == "1", r
            assert DUMP_NAME in r["text"] and "EXPOSED" in r["text"]
            assert "Revoke" in r["text"] and "incident check" in r["text"]
            assert "incident match" in r["text"] and "IP" in r["text"]
        assert "as an API key" in exposed_key["text"]
        assert "as a secret" in exposed_secret["text"]
        assert "Not found in any leak this service knows" in not_found["text"]
        assert "not proof" in not_found["text"]
        assert "(line 1, 64 characters)" in exposed_key["text"]
        assert "(line 4, 64 characters)" in exposed_secret["text"]

        # A key and its own secret pasted on two lines: two verdicts, both exposed.
        pair = session.check(f"{corpus.keys[2]}\r\n{corpus.secrets[2]}")
        assert [(r["status"], r["roles"]) for r in pair] == [("exposed", "key"),
                                                             ("exposed", "secret")]

        # Nothing of any value is shown or kept in the page, the URL or storage.
        shown = page.content()
        corpus.canary.record("page DOM", shown)
        corpus.canary.record("page URL", page.url)
        for v in corpus.all_values:
            assert v[:12] not in shown and v[-12:] not in shown
        assert page.url == base
        assert page.evaluate("() => document.cookie + localStorage.length + "
                             "sessionStorage.length") == "00"
        page.click("#clear")
        assert page.input_value("#values") == ""
        assert page.eval_on_selector_all("#results > *", "els => els.length") == 0

        session.leaks(corpus, [key, clean, wrapped, corpus.keys[2], corpus.secrets[2]])
    printed = served.output()  # read once the server has stopped
    corpus.canary.record("serve output", printed)
    # The output was captured (its access log has the range requests) and holds no
    # value, no full digest, and not even the prefixes asked for.
    assert "GET /v1/range 200" in printed, printed[-2000:]
    for v in corpus.all_values:
        assert v not in printed and sha256_hex(v)[:5] not in printed, (
            "the server printed a value or its SHA-256 prefix")


def test_rate_limit_is_explained(corpus: Corpus, session: Session, tmp_path: Path) -> None:
    """Past the server's limit the page says how long to wait and asks for nothing more."""
    with incident_serve(corpus.env, tmp_path / "serve.log",
                        "--rate-limit", "2", "--rate-window", "600") as served:
        open_page(session, served.url + "/")
        values = corpus.keys + corpus.clean[:1]  # 4 values: their ranges all differ
        assert len({sha256_hex(v)[:5] for v in values}) == 4
        results = session.check("\n".join(values))
        assert [r["status"] for r in results] == ["exposed", "exposed", "error", "error"]
        assert re.search(r"Too many checks: wait \d+ seconds?", results[2]["text"])
        assert results[3]["text"] == results[2]["text"].replace("Value 3 (line 3",
                                                                "Value 4 (line 4")
        statuses = [s for u, s in session.responses if "/v1/range/" in u]
        assert statuses == [200, 200, 429], "the page went on asking after a 429"
        assert "Checked 4 values: 2 exposed, 0 not found, 2 not checked." in (
            session.page.inner_text("#status"))
        session.leaks(corpus, values[:3])
    corpus.canary.record("serve output", served.output())


def test_static_export_under_a_sub_path(corpus: Corpus, session: Session,
                                        tmp_path: Path) -> None:
    site = tmp_path / "site"
    out = corpus.canary.watch(site / "leaks" / "check")
    done = run_incident("publish", str(out), env=corpus.env, input="")
    corpus.canary.record("publish stdout", done.stdout)
    corpus.canary.record("publish stderr", done.stderr)
    assert done.code == 0, done.stderr
    assert (out / "index.html").is_file() and (out / "v1" / "range").is_dir()

    # A value that is in no dump and whose range the export does not have: a 404.
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits
    for _ in range(1000):
        clean = "".join(rng.choice(alphabet) for _ in range(64))
        if not (out / "v1" / "range" / sha256_hex(clean)[:5]).exists():
            break
    else:
        raise AssertionError("every random value's range was in the export")
    corpus.clean.append(clean)

    log = tmp_path / "http.log"  # outside the served folder
    with static_server(site, log) as static:
        url = static + "/leaks/check/"
        open_page(session, url)
        secret = corpus.secrets[0]
        results = session.check(f"{clean}\n`{secret}`")
        assert [r["status"] for r in results] == ["clean", "exposed"], results
        assert results[1]["roles"] == "secret" and DUMP_NAME in results[1]["text"]
        range_status = {urlsplit(u).path: s for u, s in session.responses if "/v1/" in u}
        assert range_status == {
            f"/leaks/check/v1/range/{sha256_hex(clean)[:5]}": 404,
            f"/leaks/check/v1/range/{sha256_hex(secret)[:5]}": 200,
        }, range_status
        session.leaks(corpus, [clean, secret])

        # Without Web Crypto (an insecure origin) the page says so and sends nothing.
        before = len(session.requests)
        insecure = session.context.new_page()
        insecure.add_init_script(
            "Object.defineProperty(window, 'isSecureContext', {value: false});")
        insecure.goto(url, wait_until="load")
        insecure.wait_for_selector('body[data-ready="unsupported"]', timeout=WAIT_S * 1000)
        assert "secure" in insecure.inner_text("#unsupported")
        assert insecure.is_disabled("#check")
        assert not any("/v1/" in r.url for r in session.requests[before:])
        insecure.close()
    corpus.canary.record("http.server output", log.read_text(errors="replace"))


def test_canonical_form_is_pythons(session: Session, tmp_path: Path) -> None:
    """check.js canonicalizes exactly as incident.secret.canonical, edge cases and fuzz."""
    site = tmp_path / "site"
    site.mkdir()
    for name in ("index.html", "check.js", "style.css"):
        (site / name).write_bytes((STATIC / name).read_bytes())
    with static_server(site, tmp_path / "http.log") as static:
        open_page(session, static + "/index.html")
        edges = [
            "abc", "  abc  ", "\ufeffabc\ufeff", "\u200babc", "\x85abc\xa0",
            "' \"abc\" '", "'\u00a0abc'", "\"'`x`'\"", "'' ", "\t\n\x0b\x0c\r\x1c\x1f",
            "\u3000\u2028a b\u2029\u205f", "e\u0301", "\"e\u0301\"", "A\u030a", "\u212b",
            "\u1680'a'\u202f", "``", "'a\"", " a' ", "\x1d\"\x1e", "\U0001f511 key \U0001f511",
        ]
        rng = random.Random(7)
        pool = list(" \t\n\x0b\x85\xa0\u2000\u200a\u3000\ufeff\u200b'\"`aZ9\u0301\u00e9\u212b")
        fuzz = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 9))) for _ in range(400)]
        cases = edges + fuzz
        js = session.page.evaluate(
            "xs => xs.map(x => window.incidentExposure.canonical(x))", cases)
        wrong = [(c, j, canonical(c)) for c, j in zip(cases, js) if j != canonical(c)]
        assert not wrong, f"check.js differs from canonical() on {wrong[:5]}"
