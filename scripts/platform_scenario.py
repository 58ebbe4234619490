"""The platform side of the simulated exchange's world, as files: what a platform whose
users' sub-account keys leaked would hold and receive. Used by the demo, the playbook tests
and the reliability benchmark.

From `incident sim-exchange --accounts-file`, for `count` sub-account keys of a master
(from the `first`th):

- `leak/dump.csv`: the leaked records (plaintext simulated keys: the input a leak is);
- `fingerprints.csv`: `exchange,label,key_sha256,secret_sha256`, what the platform
  registers (`incident keys import`), exported from its database without plaintext;
- `accounts.csv`: `label,email,sub_account`, who owns each key (every `shared`th user owns
  two keys, so one mail must list both);
- `credentials.csv`: the keys-import layout with the keys' plaintext, which the platform
  holds anyway and hands to `revoke` (Binance names the key to delete by its API key).

Files are 0600 in a 0700 directory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Platform:
    folder: Path
    master: dict[str, str]
    subs: list[dict[str, str]]  # the leaked ones
    users: int  # distinct e-mail addresses

    @property
    def dump(self) -> Path:
        return self.folder / "leak" / "dump.csv"

    @property
    def fingerprints(self) -> Path:
        return self.folder / "fingerprints.csv"

    @property
    def accounts(self) -> Path:
        return self.folder / "accounts.csv"

    @property
    def credentials(self) -> Path:
        return self.folder / "credentials.csv"


def _private(path: Path, rows: list[list[str]]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def build(accounts_file: Path, folder: Path, *, count: int, first: int = 0,
          master_label: str = "binance-platform-master", shared: int = 10) -> Platform:
    doc: dict[str, Any] = json.loads(accounts_file.read_text())
    master = next(a for a in doc["accounts"] if a["label"] == master_label)
    subs = [a for a in doc["accounts"] if a.get("master_label") == master_label
            and a["kind"] == "sub"][first:first + count]
    if len(subs) < count:
        raise ValueError(f"the simulator has {len(subs)} sub-accounts of {master_label}")
    (folder / "leak").mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    _private(folder / "leak" / "dump.csv", [["exchange", "apiKey", "secret"]] +
             [[s["exchange"], s["api_key"], s["api_secret"]] for s in subs])

    def sha(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()

    _private(folder / "fingerprints.csv", [["exchange", "label", "key_sha256", "secret_sha256"]]
             + [[s["exchange"], s["label"], sha(s["api_key"]), sha(s["api_secret"])]
                for s in subs])
    emails = []
    for n, s in enumerate(subs):
        owner = n - 1 if shared and n % shared == shared - 1 else n  # shares the previous
        emails.append(f"user-{owner:04d}@users.invalid")
    _private(folder / "accounts.csv", [["label", "email", "sub_account"]] +
             [[s["label"], e, s["sub_account"]] for s, e in zip(subs, emails)])
    _private(folder / "credentials.csv", [["exchange", "label", "api_key", "api_secret",
                                           "passphrase"]] +
             [[s["exchange"], s["label"], s["api_key"], s["api_secret"], ""] for s in subs])
    return Platform(folder, master, subs, len(set(emails)))
