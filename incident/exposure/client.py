"""`incident check --server URL`: one credential against an exposure service, by
k-anonymity. For the key and for the secret, only the first five hex characters of the
SHA-256 leave the machine (`GET URL/v1/range/<prefix>`); the bucket that comes back is
searched and decrypted here. Works against `incident serve` and against an
`incident publish` export on any static host (its manifest.json is read first)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from incident.errors import ServiceError, UsageError
from incident.exposure import crypto
from incident.exposure.corpus import PREFIX_HEX, Corpus
from incident.fingerprint import sha256
from incident.secret import Secret

MAX_ANSWER = 4 << 20  # bytes: a padded bucket is a few kilobytes
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class RemoteCheck:
    server: str
    exchange: str | None
    key: dict[str, Any] | None  # the service's document about the key, if it leaked
    secret: dict[str, Any] | None
    secret_checked: bool = False  # only when the key was not found (see check_remote)

    @property
    def components(self) -> str | None:
        if self.key and self.secret:
            return "both"
        return "key" if self.key else "secret" if self.secret else None

    @property
    def exchange_agrees(self) -> bool | None:
        """Whether the dumps name the exchange given (None: none given, or none named)."""
        named = {ex for d in (self.key, self.secret) if d for ex in d.get("exchanges", [])}
        return None if not self.exchange or not named else self.exchange in named

    def to_json(self) -> dict[str, Any]:
        return {"exposed": self.components is not None, "server": self.server,
                "exchange": self.exchange, "exchange_agrees": self.exchange_agrees,
                "components": self.components,
                "key": self.key, "secret": self.secret,
                "secret_checked": self.secret_checked}


def base_url(url: str) -> str:
    """The service's base URL (http or https, no query or fragment), ending in '/'."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError("--server: expected an http:// or https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UsageError("--server: a URL without user, query or fragment")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise UsageError("--server: https:// for anything but this machine (over plain http "
                         "anyone on the way could drop your entry from the answer)")
    return url if url.endswith("/") else url + "/"


def check_remote(url: str, key: Secret, secret: Secret | None, exchange: str | None,
                 timeout: float = 30.0) -> RemoteCheck:
    """The key is looked up first; the secret only when the key is not found. Two prefixes
    from one client, 40 bits together, would point at one leaked record, and when the key
    leaked, the answer (revoke it) is the same whatever its secret."""
    import requests

    base = base_url(url)
    with requests.Session() as session:
        session.headers["User-Agent"] = "incident-check"
        every_prefix = _manifest(session, base, timeout)
        found_key = _lookup(session, base, sha256(key.reveal()), timeout, every_prefix)
        found_secret = None
        if found_key is None and secret is not None:
            found_secret = _lookup(session, base, sha256(secret.reveal()), timeout,
                                   every_prefix)
    return RemoteCheck(base, exchange, found_key, found_secret,
                       secret_checked=secret is not None and found_key is None)


def _get(session: Any, url: str, timeout: float) -> tuple[int, bytes, dict[str, str]]:
    """GET without redirects, the body read up to MAX_ANSWER bytes, within `timeout`
    seconds in all."""
    import requests

    deadline = time.monotonic() + timeout
    try:
        with session.get(url, timeout=timeout, allow_redirects=False, stream=True) as answer:
            body = bytearray()
            for chunk in answer.iter_content(65536):
                body += chunk
                if len(body) > MAX_ANSWER:
                    raise ServiceError(f"{url}: the answer is larger than {MAX_ANSWER} bytes")
                if time.monotonic() > deadline:
                    raise ServiceError(f"{url}: no complete answer within {timeout:g} s")
            return answer.status_code, bytes(body), dict(answer.headers)
    except requests.RequestException as e:
        raise ServiceError(f"{url}: cannot reach the service ({type(e).__name__})") from None


def _manifest(session: Any, base: str, timeout: float) -> bool:
    """Make sure `base` is an exposure service (else a wrong URL would read as 'not
    found' through its 404s); whether it has a bucket for every prefix."""
    status, body, _ = _get(session, base + "manifest.json", timeout)
    try:
        manifest = json.loads(body) if status == 200 else None
    except ValueError:
        manifest = None
    if not Corpus.is_manifest(manifest):
        raise ServiceError(f"{base}: not an exposure service (no manifest.json from "
                           "`incident serve` or `incident publish` there)")
    return bool(manifest.get("every_prefix"))


def _lookup(session: Any, base: str, digest: bytes, timeout: float, every_prefix: bool
            ) -> dict[str, Any] | None:
    prefix = digest.hex()[:PREFIX_HEX]
    status, body, headers = _get(session, f"{base}v1/range/{prefix}", timeout)
    if status == 404 and not every_prefix:
        return None  # a static export writes only the buckets that hold something
    if status == 429:
        wait = headers.get("Retry-After", "?")
        raise ServiceError(f"{base}: rate limited; try again in {wait} s")
    if status != 200:
        raise ServiceError(f"{base}: the service answered HTTP {status}")
    try:
        entries = [(m["hint"], m["payload"]) for m in json.loads(body)["matches"]]
    except (ValueError, KeyError, TypeError):
        raise ServiceError(f"{base}: not an exposure service's answer") from None
    mine = crypto.hint(digest)
    for hint, payload in entries:
        if hint == mine:
            document = crypto.unseal(payload, digest)
            if document is None:
                raise ServiceError(f"{base}: an entry for this value could not be decrypted")
            return document
    return None
