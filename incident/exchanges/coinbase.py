"""Coinbase (Advanced Trade, CDP keys): key read-out. Keys are deleted in the CDP portal only.

Signing (docs "API Key Authentication"): every request carries `Authorization: Bearer <JWT>`,
a JWT signed with the key's private key, valid for 120 s, naming the key (`sub`, header
`kid`), a random header `nonce`, and the request as `uri`: "METHOD host/path". An ECDSA key
(a PEM "EC PRIVATE KEY", key name organizations/.../apiKeys/...) signs ES256 with the claims
of Coinbase's own SDK (`iss` "cdp"); an Ed25519 key (base64 of 64 bytes) signs EdDSA with
`aud` ["cdp_service"] and `uris`, as the CDP docs give for those keys.

Coinbase answers a deleted key and a refused signature alike (HTTP 401 "Unauthorized"), so
verify-revoked can prove a key alive, never dead: a 401 is raised, for the user to confirm
in the portal.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from incident.exchanges.http import Prepared, Reply
from incident.exchanges.interface import (
    ActionResult, Credential, CredentialMismatch, ExchangeAuthError, ExchangeError, KeyAudit,
    ManualStep,
)
from incident.exchanges.keyops import SignedConnector, bucket, refusal

DENIED = {"PERMISSION_DENIED": "the key lacks the permission"}
AMBIGUOUS = ("HTTP 401: Coinbase answers a deleted key and a refused signature alike; "
             "check in the CDP portal that the key is gone")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def jwt(key_name: str, secret: str, uri: str, *, now: int, nonce: str) -> str:
    """The signed JWT for one request (ES256 for a PEM EC key, EdDSA for an Ed25519 key)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    claims: dict[str, Any] = {"sub": key_name, "iss": "cdp", "nbf": now, "exp": now + 120}
    text = secret.replace("\\n", "\n")
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CredentialMismatch("coinbase: the API secret is not an EC private key (PEM) "
                                     "as the CDP portal issues it")
        head = _segment({"alg": "ES256", "kid": key_name, "nonce": nonce, "typ": "JWT"})
        body = _segment({**claims, "uri": uri})
        r, s = decode_dss_signature(key.sign(f"{head}.{body}".encode(),
                                             ec.ECDSA(hashes.SHA256())))
        return f"{head}.{body}." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64:
        raise CredentialMismatch("coinbase: the API secret is neither an EC private key (PEM) "
                                 "nor an Ed25519 key (base64)")
    signer = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    head = _segment({"alg": "EdDSA", "kid": key_name, "nonce": nonce, "typ": "JWT"})
    body = _segment({**claims, "aud": ["cdp_service"], "uris": [uri]})
    return f"{head}.{body}." + _b64url(signer.sign(f"{head}.{body}".encode()))


def sign(cred: Credential, method: str, path: str, *, host: str, now_ms: int,
         nonce: str | None = None) -> Prepared:
    key_name, secret = cred.require_secret("coinbase")
    uri = f"{method} {host}{path.split('?')[0]}"
    token = jwt(key_name, secret, uri, now=now_ms // 1000, nonce=nonce or secrets.token_hex(16))
    return Prepared(method, path, {"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/json"})


class Coinbase(SignedConnector):
    name = "coinbase"
    display = "Coinbase"
    api_management_url = "https://portal.cdp.coinbase.com/projects/api-keys"
    readout = "GET /api/v3/brokerage/key_permissions"
    manual_revoke = (
        ManualStep("Log in to the Coinbase Developer Platform and open API Keys > Secret API "
                   "Keys.", api_management_url),
        ManualStep("Find the key by its nickname or key ID (the last part of "
                   "organizations/.../apiKeys/<id>)."),
        ManualStep("Open the key (Manage, or its menu) and choose Delete, then confirm."),
        ManualStep("Check the key is no longer listed. Coinbase answers a deleted key and a "
                   "bad signature alike, so verify-revoked can only show a key still alive.",
                   api_management_url),
    )
    restrict_step = ("Open the key (Manage): leave only View ticked and add your IP addresses "
                     "to its allowlist, then save.")

    def classify(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError | None:
        if status < 300 and isinstance(body, dict):
            return None
        if status == 401:
            return ExchangeAuthError(AMBIGUOUS, exchange=self.name, code="401")
        code = str(body.get("error", "")) if isinstance(body, dict) else ""
        return refusal(self.name, code, status, revoked={}, auth={}, denied=DENIED)

    def _readout(self, cred: Credential) -> Reply:
        host = urlsplit(self.http.base_url).netloc
        reply: Reply = self.http.call(
            lambda: sign(cred, "GET", "/api/v3/brokerage/key_permissions", host=host,
                         now_ms=int(time.time() * 1000)),
            self.classify, weight=1, bucket=bucket(cred.key.reveal()))
        return reply

    def audit(self, label: str, cred: Credential) -> KeyAudit:
        body = self._readout(cred).json()
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        flags = {k: data.get(k) for k in ("can_view", "can_trade", "can_transfer")}
        known = {k: v if isinstance(v, bool) else None for k, v in flags.items()}
        return KeyAudit(
            self.name, label, can_read=known["can_view"], can_trade=known["can_trade"],
            can_withdraw=known["can_transfer"],  # "transfer" is sending funds out
            can_transfer=known["can_transfer"], ip_restricted=None,
            permissions=tuple(k for k, v in known.items() if v),
            responses=self.http.recorder.take())

    def manual(self, label: str, action: str) -> ActionResult:
        return ActionResult(self.name, label, action, "manual", "manual",
                            detail="Coinbase has no API for this: follow the steps, then "
                                   "check the portal no longer lists the key",
                            steps=self.manual_revoke)
