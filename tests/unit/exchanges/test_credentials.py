"""Credentials come at run time, from one of four places, and must be the registered key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import pytest

from incident.errors import InputError, UsageError
from incident.exchanges.credentials import Sources, resolve
from incident.exchanges.interface import Credential, CredentialMismatch
from incident.fingerprint import hmsl, sha256
from incident.registry.interface import RegisteredKey
from incident.secret import Secret

KEY = "FAKEcredKEY0123456789abcdefghij"
SECRET = "FAKEcredSECRET0123456789abcdefgh"
OTHER = "FAKEotherKEY0123456789abcdefghij"


def registered(label: str = "alice-binance", exchange: str = "binance", *,
               by_hmsl: bool = False, secret: bool = True,
               passphrase: bool = False) -> RegisteredKey:
    return RegisteredKey(label, exchange, None if by_hmsl else sha256(KEY),
                         sha256(SECRET) if secret and not by_hmsl else None,
                         hmsl(KEY) if by_hmsl else None, None, passphrase, "prompt", None,
                         None, "2026-01-01T00:00:00Z")


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


@pytest.fixture
def memory_keyring() -> Any:
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    yield ring
    keyring.set_keyring(before)


def creds_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "creds.csv"
    path.write_text(body, encoding="utf-8")
    return path


def test_file_row_by_label(tmp_path: Path) -> None:
    path = creds_file(tmp_path, "exchange,label,api_key,api_secret,passphrase\n"
                      f"binance,bob,{OTHER},x,\nbinance,alice-binance,{KEY},{SECRET},\n")
    cred = resolve(registered(), Sources(file=path, use_keyring=False))
    assert cred.key == Secret(KEY) and cred.secret == Secret(SECRET)
    assert cred.source == "creds.csv:3" and cred.passphrase is None


@pytest.mark.parametrize("body, message", [
    ("label,secret\nalice-binance,x\n", "creds.csv:1: the header has no 'api_key' column"),
    (f"label,api_key\nbob,{KEY}\n", "creds.csv: no row labelled 'alice-binance'"),
    (f"label,api_key,api_secret\nalice-binance,{KEY}\n",
     "creds.csv:2: 2 columns, the header has 3"),
    ("label,api_key\nalice-binance,\n", "creds.csv:2: column 'api_key': empty api_key"),
    ("", "creds.csv:1: the header has no 'label' column"),
])
def test_file_errors_name_the_place_not_the_content(tmp_path: Path, body: str,
                                                    message: str) -> None:
    path = creds_file(tmp_path, body)
    with pytest.raises(InputError) as e:
        resolve(registered(), Sources(file=path, use_keyring=False))
    assert str(e.value).startswith(message) and KEY not in str(e.value)


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "creds.csv"
    path.write_bytes(b"label,api_key\nalice-binance,\xff\xfe\n")
    with pytest.raises(InputError, match="creds.csv: not UTF-8 text"):
        resolve(registered(), Sources(file=path, use_keyring=False))


def test_environment() -> None:
    env = {"INCIDENT_API_KEY": KEY, "INCIDENT_API_SECRET": SECRET}
    cred = resolve(registered(), Sources(env=env, use_keyring=False))
    assert cred.source == "the environment" and cred.secret == Secret(SECRET)
    master = {"INCIDENT_MASTER_API_KEY": KEY, "INCIDENT_MASTER_API_SECRET": SECRET}
    assert resolve(registered(), Sources(env=master, use_keyring=False),
                   env_prefix="INCIDENT_MASTER_").source == "the environment"


def test_keyring(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("incident", "alice-binance/api_key", KEY)
    memory_keyring.set_password("incident", "alice-binance/api_secret", SECRET)
    cred = resolve(registered(), Sources(env={}))
    assert cred.source == "the OS keyring" and cred.key == Secret(KEY)


def test_prompt_last() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return {"API key": KEY, "API secret": SECRET}[text.split(" of ")[0]]

    cred = resolve(registered(), Sources(env={}, use_keyring=False, prompt=prompt))
    assert cred.source == "the prompt"
    assert asked == ["API key of 'alice-binance' (binance)",
                     "API secret of 'alice-binance' (binance)"]


def test_nowhere_says_where_to_put_it() -> None:
    with pytest.raises(UsageError, match="no credential for 'alice-binance': give "
                       "--credentials FILE, set INCIDENT_API_KEY"):
        resolve(registered(), Sources(env={}, use_keyring=False))


def test_the_file_wins_over_the_environment(tmp_path: Path) -> None:
    path = creds_file(tmp_path, f"label,api_key,api_secret\nalice-binance,{KEY},{SECRET}\n")
    env = {"INCIDENT_API_KEY": OTHER}
    assert resolve(registered(), Sources(file=path, env=env, use_keyring=False)).source \
        == "creds.csv:2"


@pytest.mark.parametrize("key, secret, message", [
    (OTHER, SECRET, "the API key from the environment is not the key registered as "
                    "'alice-binance'; nothing was sent"),
    (KEY, OTHER, "the API secret from the environment is not the one registered with "
                 "'alice-binance'; nothing was sent"),
])
def test_mismatch_is_refused(key: str, secret: str, message: str) -> None:
    env = {"INCIDENT_API_KEY": key, "INCIDENT_API_SECRET": secret}
    with pytest.raises(CredentialMismatch) as e:
        resolve(registered(), Sources(env=env, use_keyring=False))
    assert str(e.value) == message and e.value.exit_code == 3


def test_registered_by_hmsl_only() -> None:
    env = {"INCIDENT_API_KEY": f"  '{KEY}' "}  # canonical form, as registered
    assert resolve(registered(by_hmsl=True), Sources(env=env, use_keyring=False)).key \
        == Secret(KEY)
    with pytest.raises(CredentialMismatch):
        resolve(registered(by_hmsl=True),
                Sources(env={"INCIDENT_API_KEY": OTHER}, use_keyring=False))


def test_passphrase_exchange_needs_it() -> None:
    env = {"INCIDENT_API_KEY": KEY, "INCIDENT_API_SECRET": SECRET}
    with pytest.raises(UsageError, match="needs its passphrase"):
        resolve(registered(exchange="okx", passphrase=True),
                Sources(env=env, use_keyring=False))


def test_credential_repr_is_masked() -> None:
    cred = Credential(Secret(KEY), Secret(SECRET), Secret("pass-phrase-1"), "the prompt")
    assert repr(cred) == "Credential(key=Secret('********'), source='the prompt')"
    assert KEY not in str(cred) and SECRET not in f"{cred!r}"
