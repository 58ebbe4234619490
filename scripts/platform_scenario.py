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

    python scripts/platform_scenario.py ACCOUNTS_FILE FOLDER [--count N] [--first N]
                                        [--master LABEL] [--shared N] [--with-master]

writes them for practice (see docs/responding-as-a-platform.md) and prints what it wrote:
file names and counts, never a key. `--with-master` also puts the master key's row in
`credentials.csv`, where the playbooks' revoke step looks for it (by its label) before the
environment.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
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


def _add_master(platform: Platform) -> None:
    """Append the master key's row to credentials.csv (the keys-import layout)."""
    m = platform.master
    with open(platform.credentials, "a", newline="") as f:
        csv.writer(f).writerow([m["exchange"], m["label"], m["api_key"], m["api_secret"],
                                m.get("passphrase") or ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("accounts_file", type=Path, metavar="ACCOUNTS_FILE",
                        help="what `incident sim-exchange --accounts-file` wrote")
    parser.add_argument("folder", type=Path, metavar="FOLDER", help="where to write (0700)")
    parser.add_argument("--count", type=int, default=5, help="leaked sub-account keys (5)")
    parser.add_argument("--first", type=int, default=0, help="from the Nth sub-account (0)")
    parser.add_argument("--master", default="binance-platform-master", metavar="LABEL",
                        help="the master account's label (binance-platform-master)")
    parser.add_argument("--shared", type=int, default=10, metavar="N",
                        help="every Nth user owns two keys (10; 0: none)")
    parser.add_argument("--with-master", action="store_true",
                        help="also write the master key's row to credentials.csv")
    args = parser.parse_args(argv)
    if args.count < 1 or args.first < 0 or args.shared < 0:
        parser.error("--count must be 1 or more; --first and --shared 0 or more")
    try:
        platform = build(args.accounts_file, args.folder, count=args.count, first=args.first,
                         master_label=args.master, shared=args.shared)
    except (OSError, ValueError, KeyError, StopIteration) as e:
        reason = e.strerror if isinstance(e, OSError) else (
            f"no account labelled '{args.master}'" if isinstance(e, StopIteration)
            else "not an accounts file" if isinstance(e, KeyError) else str(e))
        print(f"error: {args.accounts_file}: {reason}", file=sys.stderr)
        return 3
    if args.with_master:
        _add_master(platform)
    n = len(platform.subs)
    where = platform.master["exchange"]
    master = f" + {args.master}" if args.with_master else ""
    print(f"{platform.folder}/ (0700), each file 0600:")
    rows = [("leak/dump.csv", f"the leak: {n} {where} sub-account keys, in plaintext"),
            ("fingerprints.csv", f"{n} keys by SHA-256 only, for `incident keys import`"),
            ("accounts.csv",
             f"who owns them: {n} keys, {platform.users} users (label,email,sub_account)"),
            ("credentials.csv", f"{n} keys{master}, in plaintext, for revoke")]
    for name, what in rows:
        print(f"  {name:<18}{what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
