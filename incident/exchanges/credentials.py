"""Credentials for an exchange action, supplied at run time and checked before any call.

Where a credential comes from, first found wins:

1. `--credentials FILE`: a CSV in the `keys import` layout (`exchange,label,api_key,
   api_secret,passphrase`), the row whose label is asked for;
2. the environment: INCIDENT_API_KEY, INCIDENT_API_SECRET, INCIDENT_API_PASSPHRASE for the
   key acted on (INCIDENT_MASTER_API_KEY, ... for a master account's key);
3. the OS keyring (service `incident`, user `LABEL/api_key`, `LABEL/api_secret`,
   `LABEL/passphrase`);
4. hidden prompts, when standard input is a terminal.

Before any call, the key's SHA-256 (and the secret's, when one is registered) must equal
the fingerprints registered for the label; otherwise CredentialMismatch, and nothing is
sent. Nothing is stored: the plaintext lives in the returned Credential, in memory.
"""

from __future__ import annotations

import csv
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incident.errors import InputError, Place, UsageError
from incident.exchanges.interface import Credential, CredentialMismatch
from incident.fingerprint import hmsl, sha256
from incident.registry.interface import RegisteredKey
from incident.secret import Secret

KEYRING_SERVICE = "incident"
PASSPHRASE_EXCHANGES = frozenset({"kucoin", "okx", "bitget", "coinbase"})

Prompt = Callable[[str], str]  # hidden prompt: label -> typed value


class NotInFile(InputError):
    """The credentials file has no row for the label: the next source is asked, and this
    is the error if none has it (a master key's row may live in the environment)."""


@dataclass(frozen=True)
class Sources:
    """Where to look, in order; built by the CLI from its options and the environment."""

    file: Path | None = None
    env: Mapping[str, str] | None = None
    use_keyring: bool = True
    prompt: Prompt | None = None  # None: no terminal to ask on


def resolve(key: RegisteredKey, sources: Sources, *, env_prefix: str = "INCIDENT_") -> Credential:
    """The credential for a registered key, from the first source that has it, checked
    against the key's fingerprints."""
    missing: NotInFile | None = None
    try:
        cred = _from_file(sources.file, key) if sources.file else None
    except NotInFile as e:
        cred, missing = None, e
    cred = cred or _from_env(sources.env, env_prefix) \
        or (_from_keyring(key.label) if sources.use_keyring else None) \
        or (_from_prompt(sources.prompt, key) if sources.prompt else None)
    if cred is None and missing is not None:
        if sources.env is None and not sources.use_keyring and sources.prompt is None:
            raise missing
        raise UsageError(f"no credential for '{key.label}': not in {missing.place}, nor in "
                         f"{env_prefix}API_KEY, nor in the OS keyring")
    if cred is None:
        env_hint = f"{env_prefix}API_KEY and {env_prefix}API_SECRET"
        raise UsageError(f"no credential for '{key.label}': give --credentials FILE, set "
                         f"{env_hint}, store it in the OS keyring (service "
                         f"'{KEYRING_SERVICE}', user '{key.label}/api_key'), or run in a "
                         "terminal to be asked")
    check(key, cred)
    return cred


def check(key: RegisteredKey, cred: Credential) -> None:
    """CredentialMismatch unless the credential's fingerprints are the registered ones."""
    where = f"the API key from {cred.source}"
    if key.key_sha256 is not None:
        ok = hmac.compare_digest(sha256(cred.key.reveal()), key.key_sha256)
    elif key.key_hmsl is not None:
        ok = hmac.compare_digest(hmsl(cred.key.reveal()), key.key_hmsl)
    else:
        ok = False
    if not ok:
        raise CredentialMismatch(f"{where} is not the key registered as '{key.label}'; "
                                 "nothing was sent")
    if cred.secret is not None:
        if key.secret_sha256 is not None:
            ok = hmac.compare_digest(sha256(cred.secret.reveal()), key.secret_sha256)
        elif key.secret_hmsl is not None:
            ok = hmac.compare_digest(hmsl(cred.secret.reveal()), key.secret_hmsl)
        if not ok:
            raise CredentialMismatch(f"the API secret from {cred.source} is not the one "
                                     f"registered with '{key.label}'; nothing was sent")
    if key.exchange in PASSPHRASE_EXCHANGES and key.has_passphrase and cred.passphrase is None:
        raise UsageError(f"'{key.label}' ({key.exchange}) needs its passphrase as well")


def _credential(key: str, secret: str | None, passphrase: str | None, source: str
                ) -> Credential | None:
    k = Secret(key)
    if not k:
        return None
    s = Secret(secret) if secret else None
    p = Secret(passphrase) if passphrase else None
    return Credential(k, s or None, p or None, source)


def _from_env(env: Mapping[str, str] | None, prefix: str) -> Credential | None:
    if not env or not env.get(f"{prefix}API_KEY"):
        return None
    return _credential(env[f"{prefix}API_KEY"], env.get(f"{prefix}API_SECRET"),
                       env.get(f"{prefix}API_PASSPHRASE"), "the environment")


def _from_keyring(label: str) -> Credential | None:
    try:
        import keyring
        import keyring.errors
    except ImportError:  # pragma: no cover - a dependency; kept optional at run time
        return None
    try:
        key = keyring.get_password(KEYRING_SERVICE, f"{label}/api_key")
        if not key:
            return None
        secret = keyring.get_password(KEYRING_SERVICE, f"{label}/api_secret")
        passphrase = keyring.get_password(KEYRING_SERVICE, f"{label}/passphrase")
    except keyring.errors.KeyringError:  # no usable keyring on this machine
        return None
    return _credential(key, secret, passphrase, "the OS keyring")


def _from_prompt(prompt: Prompt, key: RegisteredKey) -> Credential | None:
    who = f"'{key.label}' ({key.exchange})"
    k = prompt(f"API key of {who}")
    s = prompt(f"API secret of {who}")
    p = prompt(f"Passphrase of {who} (Enter if none)") \
        if key.exchange in PASSPHRASE_EXCHANGES else ""
    return _credential(k, s or None, p or None, "the prompt")


def _from_file(path: Path, key: RegisteredKey) -> Credential | None:
    """The row for the key's label in a `keys import` plaintext CSV."""
    name = path.name
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return _row_of(csv.reader(f), name, key.label)
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", Place(name)) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", Place(name)) from None
    except csv.Error:
        raise InputError("malformed CSV", Place(name)) from None


def _row_of(reader: Any, name: str, label: str) -> Credential:
    """Read rows one at a time until the label's; only that row's values are kept."""
    header = [h.strip().lower() for h in next(reader, [])]
    for need in ("label", "api_key"):
        if need not in header:
            raise InputError(f"the header has no '{need}' column (the keys import layout: "
                             "exchange,label,api_key,api_secret,passphrase)", Place(name, 1))
    col = {h: i for i, h in enumerate(header)}
    for row in reader:
        line = reader.line_num
        if len(row) <= col["label"] or row[col["label"]].strip() != label:
            continue
        if len(row) != len(header):
            raise InputError(f"{len(row)} columns, the header has {len(header)}",
                             Place(name, line))

        def cell(c: str) -> str | None:
            return row[col[c]] if c in col else None

        cred = _credential(cell("api_key") or "", cell("api_secret"), cell("passphrase"),
                           f"{name}:{line}")
        if cred is None:
            raise InputError("empty api_key", Place(name, line, "api_key"))
        return cred
    raise NotInFile(f"no row labelled '{label}'", Place(name))
