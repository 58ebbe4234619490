"""Generate the synthetic sample data in sample_dumps/ (deterministic: a fixed seed).

Every key here is random and fake. Where the exchange's key shape allows letters, the
value starts with FAKE so nobody mistakes it for a live credential.

    python sample_dumps/generate.py            # rewrite the files
    python sample_dumps/generate.py --check    # exit 1 if the committed files differ
"""

from __future__ import annotations

import argparse
import hashlib
import random
import string
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2022_12_28  # the day the 3Commas keys were confirmed leaked
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = string.ascii_letters + string.digits + "+/"


def credential(rng: random.Random, exchange: str) -> tuple[str, str, str]:
    """(api_key, api_secret, passphrase) in the exchange's own shape."""
    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    def uid() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    if exchange == "binance":
        return "FAKE" + pick(ALNUM, 60), "FAKE" + pick(ALNUM, 60), ""
    if exchange == "okx":
        return uid(), pick(HEX.upper(), 32), "Fake-" + pick(ALNUM, 8)
    if exchange == "kucoin":
        return pick(HEX, 24), uid(), "Fake-" + pick(ALNUM, 8)
    if exchange == "bybit":
        return "FAKE" + pick(ALNUM, 14), "FAKE" + pick(ALNUM, 32), ""
    if exchange == "kraken":
        return "FAKE" + pick(B64, 52), "FAKE" + pick(B64, 84), ""
    if exchange == "gate":
        return pick(HEX, 32), pick(HEX, 64), ""
    raise ValueError(exchange)


EXCHANGES = ["binance", "binance", "binance", "okx", "kucoin", "bybit", "kraken", "gate"]


def users(rng: random.Random, n: int) -> list[tuple[str, str, str, str, str]]:
    out = []
    for i in range(1, n + 1):
        exchange = EXCHANGES[(i - 1) % len(EXCHANGES)]
        key, secret, passphrase = credential(rng, exchange)
        out.append((exchange, f"user-{i:04d}-{exchange}", key, secret, passphrase))
    return out


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hmsl(value: str) -> str:
    pepper = hashlib.sha256(b"GitGuardian").digest()
    return hashlib.scrypt(value.encode(), salt=pepper, n=2048, r=8, p=1, dklen=32).hex()


def files() -> dict[str, str]:
    rng = random.Random(SEED)
    people = users(rng, 43)
    plain = ["exchange,label,api_key,api_secret,passphrase"]
    plain += [",".join(u) for u in people[:24]]
    export = ["exchange,label,key_sha256,secret_sha256"]
    export += [f"{ex},{label},{sha(k)},{sha(s)}" for ex, label, k, s, _ in people[24:36]]
    # ggshield hmsl fingerprint -n censored (a mapping.txt names no exchange: these are
    # all Binance keys, imported with --exchange binance).
    mapping = [f"{hmsl(k)}:{k[:4]}{'*' * 8}{k[-2:]}" for _, _, k, _, _ in people[40:43]]
    return {
        "registry/platform_users.csv": "\n".join(plain) + "\n",
        "registry/platform_export_sha256.csv": "\n".join(export) + "\n",
        "registry/ggshield_mapping.txt": "\n".join(mapping) + "\n",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    stale = []
    for name, text in files().items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for name in stale:
        print(f"stale: sample_dumps/{name} (run python sample_dumps/generate.py)",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
