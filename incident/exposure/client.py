"""`incident check --server URL`: one credential against an exposure service, by
k-anonymity. For the key and for the secret, only the first five hex characters of the
SHA-256 leave the machine (`GET URL/v1/range/<prefix>`); the bucket that comes back is
searched and decrypted here. Works against `incident serve` and against an
`incident publish` export on any static host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from incident.errors import ServiceError, UsageError
from incident.exposure import crypto
from incident.exposure.corpus import PREFIX_HEX
from incident.fingerprint import sha256
from incident.secret import Secret


@dataclass(frozen=True)
class RemoteCheck:
    server: str
    exchange: str | None
    key: dict[str, Any] | None  # the service's document about the key, if it leaked
    secret: dict[str, Any] | None

    @property
    def components(self) -> str | None:
        if self.key and self.secret:
            return "both"
        return "key" if self.key else "secret" if self.secret else None

    def to_json(self) -> dict[str, Any]:
        return {"exposed": self.components is not None, "server": self.server,
                "exchange": self.exchange, "components": self.components,
                "key": self.key, "secret": self.secret}


def base_url(url: str) -> str:
    """The service's base URL (http or https, no query or fragment), ending in '/'."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError("--server: expected an http:// or https:// URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UsageError("--server: a URL without user, query or fragment")
    return url if url.endswith("/") else url + "/"


def check_remote(url: str, key: Secret, secret: Secret | None, exchange: str | None,
                 timeout: float = 30.0) -> RemoteCheck:
    import requests

    base = base_url(url)
    found: list[dict[str, Any] | None] = []
    with requests.Session() as session:
        session.headers["User-Agent"] = "incident-check"
        for component in (key, secret):
            if component is None:
                found.append(None)
                continue
            digest = sha256(component.reveal())
            found.append(_lookup(session, base, digest, timeout))
            del digest
    return RemoteCheck(base, exchange, found[0], found[1])


def _lookup(session: Any, base: str, digest: bytes, timeout: float) -> dict[str, Any] | None:
    import requests

    prefix = digest.hex()[:PREFIX_HEX]
    try:
        response = session.get(f"{base}v1/range/{prefix}", timeout=timeout,
                               allow_redirects=False)
    except requests.RequestException as e:
        raise ServiceError(f"{base}: cannot reach the service ({type(e).__name__})") from None
    if response.status_code == 404:
        return None  # a static export writes only the buckets that hold something
    if response.status_code == 429:
        wait = response.headers.get("Retry-After", "?")
        raise ServiceError(f"{base}: rate limited; try again in {wait} s")
    if response.status_code != 200:
        raise ServiceError(f"{base}: the service answered HTTP {response.status_code}")
    try:
        matches = response.json()["matches"]
        entries = [(m["hint"], m["payload"]) for m in matches]
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
