"""Generate the synthetic sample data in sample_dumps/ (deterministic: a fixed seed).

Every key here is random and fake. Where the exchange's key shape allows letters, the
value starts with FAKE so nobody mistakes it for a live credential.

    python sample_dumps/generate.py                # rewrite the files
    python sample_dumps/generate.py --check        # exit 1 if the committed files differ
    python sample_dumps/generate.py --out DIR      # write (or --check) under DIR instead

registry/ holds a platform's own keys; dumps/ holds leak dumps in the layouts real leaks
used, with dumps/EXPECTED.json saying what each one holds. Output is byte-identical on
every run: fixed seeds, fixed timestamps, archives with fixed metadata.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import datetime as dt
import gzip
import hashlib
import html
import io
import json
import random
import string
import sys
import tarfile
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2022_12_28  # the day the 3Commas keys were confirmed leaked
DUMPS_SEED = SEED + 1  # the dumps draw from their own stream: the registry never changes
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = string.ascii_letters + string.digits + "+/"
# Every timestamp written into a file or an archive header.
RELEASED = dt.datetime(2022, 12, 28, 0, 0, 0)
RELEASED_EPOCH = calendar.timegm(RELEASED.timetuple())
ZIP_TIME = (2022, 12, 28, 0, 0, 0)
NOT_DUMPS = ("EXPECTED.json", ".gitattributes")  # files in dumps/ that hold no dump


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
    if exchange == "bitget":
        return "bg_" + pick(HEX, 32), pick(HEX, 64), "Fake-" + pick(ALNUM, 8)
    if exchange == "mexc":
        return "mx0FAKE" + pick(ALNUM, 11), pick(HEX, 32), ""
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


def registry_people() -> list[tuple[str, str, str, str, str]]:
    return users(random.Random(SEED), 43)


def registry_files() -> dict[str, str]:
    people = registry_people()
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


# ---------------------------------------------------------------------------------------
# What the dumps hold: every credential planted, so EXPECTED.json and the tests agree.

@dataclass(frozen=True)
class Cred:
    exchange: str  # ccxt id
    key: str = field(repr=False)  # fake, but shown nowhere all the same
    secret: str = field(repr=False)
    passphrase: str = field(default="", repr=False)
    label: str | None = None  # the registry label, when the registry holds this key too


@dataclass(frozen=True)
class Planted:
    path: str  # relative to dumps/
    member: str  # inside an archive ("release/part_005.zip!part_005.csv"), else ""
    cred: Cred
    swapped: bool = False  # written with the secret where the key should be


@dataclass(frozen=True)
class Placeholder:
    path: str
    member: str
    key: str = field(repr=False)
    secret: str = field(repr=False)


@dataclass
class Ledger:
    planted: list[Planted] = field(default_factory=list)
    placeholders: list[Placeholder] = field(default_factory=list)

    def add(self, path: str, cred: Cred, member: str = "", swapped: bool = False) -> Cred:
        self.planted.append(Planted(path, member, cred, swapped))
        return cred

    def placeholder(self, path: str, key: str, secret: str, member: str = "") -> None:
        self.placeholders.append(Placeholder(path, member, key, secret))


REGISTRY_FILES = {"plain": "registry/platform_users.csv",
                  "sha256": "registry/platform_export_sha256.csv"}


class Dumps:
    """Builds the files of dumps/ from one random stream, recording what it plants."""

    def __init__(self) -> None:
        self.rng = random.Random(DUMPS_SEED)
        self.ledger = Ledger()
        people = registry_people()
        by_label = {p[1]: p for p in people}

        def reg(label: str) -> Cred:
            exchange, _, key, secret, passphrase = by_label[label]
            return Cred(exchange, key, secret, passphrase, label)
        # Registry keys that leak (platform_users.csv holds the first 24 in plaintext,
        # platform_export_sha256.csv the next 12 as fingerprints only).
        self.reg = reg
        self.registry_of = {p[1]: REGISTRY_FILES["plain"] for p in people[:24]}
        self.registry_of |= {p[1]: REGISTRY_FILES["sha256"] for p in people[24:36]}

    def new(self, exchange: str) -> Cred:
        return Cred(exchange, *credential(self.rng, exchange))

    def stamp(self, start: dt.datetime, n: int, lo: int, hi: int) -> list[dt.datetime]:
        """n increasing times from start, lo..hi seconds apart."""
        out, t = [], start
        for _ in range(n):
            t += dt.timedelta(seconds=self.rng.randrange(lo, hi))
            out.append(t)
        return out

    def files(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for build in (self.three_commas, self.paste, self.telegram, self.bot_repo, self.sql,
                      self.spreadsheet):
            out |= build()
        out[".gitattributes"] = b"# Byte-exact: generate.py --check compares bytes.\n* -text\n"
        out["EXPECTED.json"] = self.expected(sorted(n for n in out if n not in NOT_DUMPS))
        return dict(sorted(out.items()))

    # -- 1. 3Commas 2022: CSV parts, then a tar.gz release with a nested zip ------------

    THREE_COMMAS_NAMES = {"binance": "Binance", "okx": "OKEx", "kucoin": "KuCoin",
                          "bybit": "Bybit", "kraken": "Kraken", "gate": "Gate.io",
                          "bitget": "Bitget", "mexc": "MEXC"}
    THREE_COMMAS_MIX = (["binance"] * 18 + ["okx"] * 4 + ["kucoin"] * 4 + ["bybit"] * 4
                        + ["kraken"] * 3 + ["gate"] * 3 + ["bitget"] * 2 + ["mexc"] * 2)
    THREE_COMMAS_HEADER = ["id", "user_id", "exchange_name", "api_key", "api_secret",
                           "passphrase", "created_at"]

    def three_commas_part(self, path: str, member: str, first_id: int, n: int,
                          registry: dict[int, tuple[str, bool]], crlf: bool = False,
                          quote_all: bool = False) -> bytes:
        """A part of the release: n records from id first_id; registry maps a row index
        to (registry label, swapped) for the rows that leak a registry key."""
        creds = [self.new(self.rng.choice(self.THREE_COMMAS_MIX)) for _ in range(n)]
        swaps = [False] * n
        for row, (label, swapped) in registry.items():
            creds[row], swaps[row] = self.reg(label), swapped
        times = self.stamp(dt.datetime(2020, 3, 1) + dt.timedelta(days=first_id), n,
                           600, 3 * 86400)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n",
                            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(self.THREE_COMMAS_HEADER)
        for i, (cred, swapped, when) in enumerate(zip(creds, swaps, times)):
            self.ledger.add(path, cred, member, swapped)
            key, secret = (cred.secret, cred.key) if swapped else (cred.key, cred.secret)
            writer.writerow([first_id + i, self.rng.randrange(10_000, 999_999),
                             self.THREE_COMMAS_NAMES[cred.exchange], key, secret,
                             cred.passphrase, when.strftime("%Y-%m-%d %H:%M:%S")])
        return buf.getvalue().encode()

    def three_commas(self) -> dict[str, bytes]:
        d = "3commas_2022/"
        out = {
            d + "part_001.csv": self.three_commas_part(
                d + "part_001.csv", "", 1, 40, {17: ("user-0001-binance", False)}),
            d + "part_002.csv": self.three_commas_part(
                d + "part_002.csv", "", 41, 41, {5: ("user-0004-okx", False)}),
            # A user pasted the secret into the key field: the row has them swapped.
            d + "part_003.csv": self.three_commas_part(
                d + "part_003.csv", "", 82, 39, {30: ("user-0006-bybit", True)},
                crlf=True, quote_all=True),
        }
        tgz = d + "3commas_2022.tar.gz"
        part_004 = self.three_commas_part(tgz, "release/part_004.csv", 121, 40, {})
        part_005 = self.three_commas_part(tgz, "release/part_005.zip!part_005.csv", 161, 40,
                                          {})
        readme = ("3commas api keys, part 4 and 5 of 10.\n"
                  "10000 keys a file: id,user_id,exchange_name,api_key,api_secret,"
                  "passphrase,created_at\n").encode()
        out[tgz] = tar_gz([("release/", None),
                           ("release/README.txt", readme),
                           ("release/part_004.csv", part_004),
                           ("release/part_005.zip", zip_of([("part_005.csv", part_005)]))])
        return out

    # -- 2. A paste page and the raw body its link returns --------------------------------

    def paste(self) -> dict[str, bytes]:
        page, raw = "paste/page.html", "paste/raw_AbC123.txt"
        creds: list[tuple[Cred, str]] = []  # (credential, how its line is written)

        def plant(cred: Cred, how: str) -> Cred:
            creds.append((cred, how))
            return cred

        lines = ["# exchange api keys - fresh dump 27/12 <3 & enjoy",
                 "# format: key:secret", ""]
        for exchange in ("binance", "binance", "binance", "binance", "bybit"):
            c = plant(self.new(exchange), "colon")
            lines.append(f"{c.key}:{c.secret}")
        c = plant(self.reg("user-0007-kraken"), "colon")
        lines.insert(5, f"{c.key}:{c.secret}")
        lines += ["", "# with passphrase", "exchange | api key | secret | passphrase"]
        for exchange, name in (("okx", "OKX"), ("kucoin", "KuCoin"), ("bitget", "Bitget")):
            c = plant(self.new(exchange), "pipe")
            lines.append(f"{name} | {c.key} | {c.secret} | {c.passphrase}")
        lines += ["", "# no label, checked working"]
        for exchange, sep in (("binance", " "), ("gate", "\t"), ("mexc", "   ")):
            c = plant(self.new(exchange), "space")
            lines.append(f"{c.key}{sep}{c.secret}")
        lines += ["", "# more tomorrow"]
        text = "\n".join(lines) + "\n"
        for cred, _ in creds:
            for path in (page, raw):
                self.ledger.add(path, cred)
        # The raw endpoint returns the paste body itself, with CRLF line ends.
        return {page: paste_page(text).encode(), raw: text.replace("\n", "\r\n").encode()}

    # -- 3. A Telegram Desktop export: result.json and messages.html ---------------------

    def telegram(self) -> dict[str, bytes]:
        jpath, hpath = "telegram/result.json", "telegram/messages.html"
        channel, channel_id = "Crypto API Drops", 1789012345
        Part = str | dict[str, str]

        def code(value: str) -> dict[str, str]:
            return {"type": "code", "text": value}

        def bold(value: str) -> dict[str, str]:
            return {"type": "bold", "text": value}

        def plant(cred: Cred) -> Cred:
            for path in (jpath, hpath):
                self.ledger.add(path, cred)
            return cred

        def binance_list(c: Cred) -> list[Part]:
            return ["Binance API: ", code(c.key), "\nSecret: ", code(c.secret)]

        def okx(c: Cred) -> list[Part]:
            return [bold("OKX"), "\nAPI key: ", code(c.key), "\nSecret: ", code(c.secret),
                    "\nPassphrase: ", code(c.passphrase)]

        b1, b2 = plant(self.reg("user-0001-binance")), plant(self.new("binance"))
        o1, o2 = plant(self.reg("user-0004-okx")), plant(self.new("okx"))
        b3, b4 = plant(self.new("binance")), plant(self.new("binance"))
        y1, k1 = plant(self.new("bybit")), plant(self.new("kucoin"))
        bodies: list[str | list[Part]] = [
            "Fresh exchange API keys, every day. Read the pinned message first.",
            binance_list(b1),
            f"Binance API: {b2.key}\nSecret: {b2.secret}",
            "are these still working?",
            okx(o1),
            okx(o2),
            [bold("Next drop:"), " tomorrow 20:00 UTC"],
            ["2 more Binance (spot + futures):\n\nAPI: ", code(b3.key), "\nSecret: ",
             code(b3.secret), "\n\nAPI: ", code(b4.key), "\nSecret: ", code(b4.secret)],
            f"Bybit\nKey: {y1.key}\nSecret: {y1.secret}",
            "thanks 🙏",
            ["KuCoin\nKey: ", code(k1.key), "\nSecret: ", code(k1.secret), "\nPassphrase: ",
             code(k1.passphrase)],
        ]
        times = self.stamp(dt.datetime(2022, 12, 20, 9, 0, 0), len(bodies) + 1, 900, 40_000)
        messages: list[dict[str, object]] = [{
            "id": 1, "type": "service", **telegram_date(times[0]),
            "actor": channel, "actor_id": f"channel{channel_id}", "action": "create_channel",
            "title": channel, "text": "", "text_entities": []}]
        for i, (body, when) in enumerate(zip(bodies, times[1:]), start=2):
            parts: list[Part] = [body] if isinstance(body, str) else body
            entities = [{"type": "plain", "text": p} if isinstance(p, str) else p
                        for p in parts]
            message: dict[str, object] = {
                "id": i, "type": "message", **telegram_date(when), "from": channel,
                "from_id": f"channel{channel_id}"}
            if i == 4:
                message["edited"] = (when + dt.timedelta(minutes=3)).isoformat()
                message["edited_unixtime"] = str(calendar.timegm(
                    (when + dt.timedelta(minutes=3)).timetuple()))
            if i == 5:
                message["reply_to_message_id"] = 3
            message["text"] = body
            message["text_entities"] = entities
            messages.append(message)
        export = {"name": channel, "type": "public_channel", "id": channel_id,
                  "messages": messages}
        result = json.dumps(export, ensure_ascii=False, indent=1) + "\n"
        return {jpath: result.encode(), hpath: telegram_html(channel, messages).encode()}

    # -- 4. A public trading-bot repository ----------------------------------------------

    def bot_repo(self) -> dict[str, bytes]:
        d = "bot_repo/"
        binance, kucoin = self.new("binance"), self.new("kucoin")
        freq, bybit = self.new("binance"), self.new("bybit")
        okx, gate = self.new("okx"), self.new("gate")
        for path, cred in ((".env", binance), (".env", kucoin), ("config.json", freq),
                           ("bot.py", bybit), ("index.js", okx), ("config.yaml", gate)):
            self.ledger.add(d + path, cred)
        env = ("# exchange credentials -- do not commit!\n"
               f"BINANCE_API_KEY={binance.key}\n"
               f"BINANCE_API_SECRET={binance.secret}\n"
               "\n"
               f"KUCOIN_API_KEY={kucoin.key}\n"
               f"KUCOIN_API_SECRET={kucoin.secret}\n"
               f'KUCOIN_API_PASSPHRASE="{kucoin.passphrase}"\n'
               "\n"
               "DRY_RUN=false\n"
               "LOG_LEVEL=info\n")
        config = {
            "max_open_trades": 3,
            "stake_currency": "USDT",
            "stake_amount": "unlimited",
            "tradable_balance_ratio": 0.99,
            "fiat_display_currency": "USD",
            "dry_run": False,
            "cancel_open_orders_on_exit": False,
            "trading_mode": "spot",
            "exchange": {
                "name": "binance",
                "key": freq.key,
                "secret": freq.secret,
                "ccxt_config": {},
                "ccxt_async_config": {},
                "pair_whitelist": ["BTC/USDT", "ETH/USDT", "SOL/USDT"],
                "pair_blacklist": ["BNB/.*"],
            },
            "pairlists": [{"method": "StaticPairList"}],
            "telegram": {"enabled": False, "token": "", "chat_id": ""},
            "api_server": {"enabled": False, "listen_ip_address": "127.0.0.1",
                           "listen_port": 8080},
            "bot_name": "freqtrade",
            "initial_state": "running",
            "force_entry_enable": False,
            "internals": {"process_throttle_secs": 5},
        }
        example = {
            "exchange": {
                "name": "binance",
                "key": "your_api_key",
                "secret": "xxxxxxxxxxxxxxxx",
                "ccxt_config": {},
                "ccxt_async_config": {},
            },
            "okx": {"apiKey": "<OKX_API_KEY>", "secret": "<OKX_SECRET>",
                    "password": "<OKX_PASSPHRASE>"},
            "kucoin": {"apiKey": "YOUR_KUCOIN_API_KEY_HERE",
                       "secret": "YOUR_KUCOIN_SECRET_HERE", "password": "changeme"},
            "stake_currency": "USDT",
            "dry_run": True,
        }
        self.ledger.placeholder(d + "config.example.json", "your_api_key", "xxxxxxxxxxxxxxxx")
        self.ledger.placeholder(d + "config.example.json", "<OKX_API_KEY>", "<OKX_SECRET>")
        self.ledger.placeholder(d + "config.example.json", "YOUR_KUCOIN_API_KEY_HERE",
                                "YOUR_KUCOIN_SECRET_HERE")
        bot = ("import time\n"
               "\n"
               "import ccxt\n"
               "\n"
               "exchange = ccxt.bybit({\n"
               f"    'apiKey': '{bybit.key}',\n"
               f"    'secret': '{bybit.secret}',\n"
               "    'enableRateLimit': True,\n"
               "})\n"
               "\n"
               "SYMBOL = 'BTC/USDT'\n"
               "\n"
               "\n"
               "def main():\n"
               "    while True:\n"
               "        ticker = exchange.fetch_ticker(SYMBOL)\n"
               "        print(ticker['last'])\n"
               "        time.sleep(10)\n"
               "\n"
               "\n"
               "if __name__ == '__main__':\n"
               "    main()\n")
        js = ("const ccxt = require('ccxt');\n"
              "\n"
              "const okx = new ccxt.okx({\n"
              f"  apiKey: '{okx.key}',\n"
              f"  secret: '{okx.secret}',\n"
              f"  password: '{okx.passphrase}',\n"
              "});\n"
              "\n"
              "(async () => {\n"
              "  const balance = await okx.fetchBalance();\n"
              "  console.log(balance.total);\n"
              "})();\n")
        # The secret is left bare: 64 hex digits with a letter load as a YAML string.
        assert any(ch.isalpha() for ch in gate.secret)
        yaml = ("# grid bot settings\n"
                "bot:\n"
                "  name: grid-bot\n"
                "  strategy: grid\n"
                "  levels: 20\n"
                "exchange:\n"
                "  name: gateio\n"
                f'  api_key: "{gate.key}"\n'
                f"  api_secret: {gate.secret}\n"
                "pairs:\n"
                "  - BTC_USDT\n"
                "  - ETH_USDT\n")
        readme = ("# grid-bot\n"
                  "\n"
                  "A small grid-trading bot for Binance, Bybit, OKX, KuCoin and Gate.\n"
                  "\n"
                  "## Setup\n"
                  "\n"
                  "1. Copy `config.example.json` to `config.json` and put in your exchange's\n"
                  "   API key and secret.\n"
                  "2. `pip install ccxt` and run `python bot.py`.\n")
        return {
            d + ".env": env.encode(),
            d + "README.md": readme.encode(),
            d + "bot.py": bot.encode(),
            d + "config.example.json": (json.dumps(example, indent=4) + "\n").encode(),
            d + "config.json": (json.dumps(config, indent=4) + "\n").encode(),
            d + "config.yaml": yaml.encode(),
            d + "index.js": js.encode(),
        }

    # -- 5. A bot platform's database dump: mysqldump and pg_dump ------------------------

    def sql(self) -> dict[str, bytes]:
        return {"sql/bot_platform_mysql.sql": self.mysql("sql/bot_platform_mysql.sql"),
                "sql/bot_platform_pg.sql": self.postgres("sql/bot_platform_pg.sql")}

    def mysql(self, path: str) -> bytes:
        specs: list[tuple[str, str, str]] = [  # (exchange, label, status)
            ("binance", "main account", "active"),
            ("okx", "Bob\\'s grid bot", "active"),
            ("binance", "spot (main),(sub)", "active"),
            ("kucoin", "dca", "active"),
            ("", "old key, masked", "revoked"),
            ("bybit", "futures", "active"),
            ("binance", "registry", "active"),
            ("gate", "grid \"safe\" mode", "active"),
            ("bitget", "copy trading", "active"),
            ("binance", "", "revoked"),
            ("okx", "hedge", "active"),
            ("binance", "backup", "active"),
        ]
        times = self.stamp(dt.datetime(2022, 2, 1, 8, 0, 0), len(specs), 3600, 5 * 86400)
        rows = []
        for i, ((exchange, label, status), when) in enumerate(zip(specs, times), start=1):
            if not exchange:  # the platform masked a revoked key: a placeholder pair
                self.ledger.placeholder(path, "********", "********")
                key = secret = "********"
                exchange, passphrase = "binance", "NULL"
            else:
                cred = self.reg("user-0025-binance") if label == "registry" else self.new(
                    exchange)
                label = "" if label == "registry" else label
                self.ledger.add(path, cred)
                key, secret = cred.key, cred.secret
                passphrase = f"'{cred.passphrase}'" if cred.passphrase else "NULL"
            label_sql = "NULL" if not label else "'" + label.replace('"', '\\"') + "'"
            rows.append(f"({i},{100 + 7 * i % 23},'{exchange}',{label_sql},'{key}',"
                        f"'{secret}',{passphrase},'{status}',"
                        f"'{when:%Y-%m-%d %H:%M:%S}')")
        users = ",".join([
            "(1,'ann@example.com','Ann','2022-01-03 10:00:00')",
            "(2,'bob@example.com','Bob O\\'Brien','2022-01-04 11:30:00')",
            "(3,'chen@example.com',NULL,'2022-01-09 17:45:12')"])
        text = (MYSQL_HEAD
                + mysql_table("users", [
                    "`id` int NOT NULL AUTO_INCREMENT",
                    "`email` varchar(255) NOT NULL",
                    "`display_name` varchar(255) DEFAULT NULL",
                    "`created_at` datetime NOT NULL",
                    "PRIMARY KEY (`id`)",
                    "UNIQUE KEY `email` (`email`)"], [users], auto_increment=4)
                + mysql_table("api_keys", [
                    "`id` int NOT NULL AUTO_INCREMENT",
                    "`user_id` int NOT NULL",
                    "`exchange` varchar(32) NOT NULL",
                    "`label` varchar(255) DEFAULT NULL",
                    "`api_key` varchar(255) NOT NULL",
                    "`api_secret` varchar(255) NOT NULL",
                    "`passphrase` varchar(255) DEFAULT NULL",
                    "`status` enum('active','revoked') NOT NULL DEFAULT 'active'",
                    "`created_at` datetime NOT NULL",
                    "PRIMARY KEY (`id`)",
                    "KEY `user_id` (`user_id`)"],
                    # mysqldump starts a new INSERT when a statement grows past
                    # net_buffer_length: two statements here.
                    [",".join(rows[:7]), ",".join(rows[7:])], auto_increment=len(rows) + 1)
                + "\n" + MYSQL_TAIL)
        return text.encode()

    def postgres(self, path: str) -> bytes:
        specs = [("binance", "binance"), ("okx", "okex"), ("kucoin", "kucoin"),
                 ("gate", "gateio"), ("mexc", "mexc"), ("binance", "binance"),
                 ("bitget", "bitget"), ("kraken", "kraken"), ("bybit", "bybit"),
                 ("binance", "binance")]
        rows = []
        for i, (exchange, code) in enumerate(specs, start=1):
            cred = self.ledger.add(path, self.new(exchange))
            rows.append("\t".join([str(i), str(200 + 3 * i), code, cred.key, cred.secret,
                                   cred.passphrase or "\\N"]))
        text = (PG_HEAD
                + "--\n-- Data for Name: users; Type: TABLE DATA; Schema: public; "
                  "Owner: botapp\n--\n\n"
                + "COPY public.users (id, email, name) FROM stdin;\n"
                + "201\tann@example.com\tAnn\n"
                + "202\tbob@example.com\tBob\\tthe builder\n"
                + "203\tcorp@example.com\tCORP\\\\trader\n"
                + "204\tdee@example.com\t\\N\n"
                + "\\.\n\n\n"
                + "--\n-- Data for Name: exchange_accounts; Type: TABLE DATA; "
                  "Schema: public; Owner: botapp\n--\n\n"
                + "COPY public.exchange_accounts (id, user_id, market_code, api_key, "
                  "api_secret, passphrase) FROM stdin;\n"
                + "".join(row + "\n" for row in rows)
                + "\\.\n\n\n"
                + PG_TAIL)
        return text.encode()

    # -- 6. A spreadsheet: a summary sheet, then the keys under a title ------------------

    def spreadsheet(self) -> dict[str, bytes]:
        from openpyxl import Workbook

        path = "spreadsheet/keys.xlsx"
        names = {"binance": "Binance", "okx": "OKX", "kucoin": "KuCoin", "bybit": "Bybit",
                 "kraken": "Kraken", "gate": "Gate.io", "mexc": "MEXC"}
        specs = [("binance", "main"), ("binance", "sub-account 1"), ("okx", ""),
                 ("kucoin", "bot"), ("bybit", "futures"), ("kraken", "cold storage"),
                 ("binance", "sub-account 2"), ("gate", ""), ("mexc", "new listings"),
                 ("okx", "withdrawals off")]
        wb = Workbook()
        summary = wb.active
        assert summary is not None
        summary.title = "Summary"
        summary.append(["Exchange API keys, Q4 2022"])
        summary.append([])
        summary.append(["Exchange", "Accounts"])
        for exchange, count in sorted(Counter(e for e, _ in specs).items()):
            summary.append([names[exchange], count])
        summary.append(["Total", len(specs)])
        keys = wb.create_sheet("Keys")
        keys.append(["API keys (do not share)"])
        keys.merge_cells("A1:E1")
        keys.append([])
        keys.append(["Exchange", "API Key", "Secret Key", "Passphrase", "Note"])
        for i, (exchange, note) in enumerate(specs):
            cred = self.ledger.add(path, self.new(exchange))
            keys.append([names[exchange], cred.key, cred.secret, cred.passphrase or None,
                         note or None])
            if i == 4:
                keys.append(["Binance", "your_api_key_here", "your_secret_key_here", None,
                             "example row, replace"])
                self.ledger.placeholder(path, "your_api_key_here", "your_secret_key_here")
        for column, width in zip("ABCDE", (12, 70, 70, 16, 18)):
            keys.column_dimensions[column].width = width
        wb.properties.creator = "ops"
        wb.properties.created = wb.properties.modified = RELEASED
        return {path: xlsx_bytes(wb)}

    # -- 7. EXPECTED.json -----------------------------------------------------------------

    def expected(self, paths: Sequence[str]) -> bytes:
        files: dict[str, dict[str, object]] = {}
        for path in paths:
            planted = [p for p in self.ledger.planted if p.path == path]
            members = Counter(p.member for p in planted if p.member)
            entry: dict[str, object] = {
                "credentials": len(planted),
                "by_exchange": dict(sorted(Counter(p.cred.exchange for p in planted).items())),
                "with_passphrase": sum(1 for p in planted if p.cred.passphrase),
                "swapped": sum(1 for p in planted if p.swapped),
                "placeholders": sum(1 for p in self.ledger.placeholders if p.path == path),
            }
            if members:
                entry["members"] = dict(sorted(members.items()))
            files[path] = entry
        exposed: dict[str, dict[str, object]] = {}
        for p in self.ledger.planted:
            if p.cred.label is None:
                continue
            where = exposed.setdefault(p.cred.label, {
                "registry": self.registry_of[p.cred.label], "exchange": p.cred.exchange,
                "files": [], "swapped_in": []})
            assert isinstance(where["files"], list) and isinstance(where["swapped_in"], list)
            if p.path not in where["files"]:
                where["files"].append(p.path)
            if p.swapped:
                where["swapped_in"].append(p.path)
        for where in exposed.values():
            assert isinstance(where["files"], list)
            where["files"].sort()
        distinct = {(p.cred.exchange, p.cred.key, p.cred.secret) for p in self.ledger.planted}
        doc = {
            "about": "What each file under sample_dumps/dumps holds. All of it is fake: "
                     "random values made by sample_dumps/generate.py. Paths are relative "
                     "to sample_dumps/dumps; an archive is one entry (members: where inside "
                     "it, '!' entering a nested archive). credentials: key/secret pairs an "
                     "ingester must find; placeholders: example or masked pairs it must drop. "
                     "The paste page and its raw body, and the Telegram JSON and HTML "
                     "exports, each hold the same credentials twice over.",
            "files": files,
            "totals": {
                "files": len(files),
                "credentials": len(self.ledger.planted),
                "distinct_credentials": len(distinct),
                "placeholders": len(self.ledger.placeholders),
            },
            "exposed_labels": dict(sorted(exposed.items())),
        }
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


# ---------------------------------------------------------------------------------------
# Layout helpers: deterministic archives, the HTML pages, the SQL boilerplate.

def tar_gz(entries: Sequence[tuple[str, bytes | None]]) -> bytes:
    """A .tar.gz with fixed names, owners, modes and times (None: a directory)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = (
                RELEASED_EPOCH, 1000, 1000, "user", "user")
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def zip_of(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """A .zip with fixed entry times and attributes, entries in the order given."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the platform
            info.external_attr = 0o100644 << 16
            z.writestr(info, data, compresslevel=9)
    return out.getvalue()


def xlsx_bytes(wb: object) -> bytes:
    """Save through openpyxl's writer (save() would stamp the time into docProps), then
    rewrite the zip with sorted entries at a fixed time."""
    from openpyxl.writer.excel import ExcelWriter

    first = io.BytesIO()
    with zipfile.ZipFile(first, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    with zipfile.ZipFile(first) as z:
        entries = [(name, z.read(name)) for name in sorted(z.namelist())]
    return zip_of(entries)


def paste_page(text: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '  <meta charset="utf-8">\n'
        "  <title>exchange keys 27/12 - Pastebin.example</title>\n"
        '  <link rel="stylesheet" href="/assets/paste.css">\n'
        "</head>\n"
        "<body>\n"
        '  <div class="header"><a class="logo" href="/">Pastebin.example</a></div>\n'
        '  <div class="post-view">\n'
        '    <div class="info-top">\n'
        "      <h1>exchange keys 27/12</h1>\n"
        '      <div class="username">a guest</div>\n'
        '      <div class="date"><span title="Tuesday 27th of December 2022 11:04:32 PM '
        'CDT">Dec 27th, 2022</span></div>\n'
        "    </div>\n"
        '    <div class="top-buttons">\n'
        '      <a href="/raw/AbC123" class="btn -small">raw</a>\n'
        '      <a href="/dl/AbC123" class="btn -small">download</a>\n'
        '      <a href="/report/AbC123" class="btn -small">report</a>\n'
        "    </div>\n"
        '    <textarea class="textarea" readonly>' + html.escape(text, quote=False)
        + "</textarea>\n"
        "  </div>\n"
        '  <div class="footer">Public pastes are visible to anyone.</div>\n'
        "</body>\n"
        "</html>\n")


def telegram_date(when: dt.datetime) -> dict[str, str]:
    return {"date": when.isoformat(), "date_unixtime": str(calendar.timegm(when.timetuple()))}


def telegram_html(channel: str, messages: Sequence[dict[str, object]]) -> str:
    """Telegram Desktop's HTML export layout (messages.html) for the same messages."""
    def render(entities: object) -> str:
        assert isinstance(entities, list)
        out = []
        for e in entities:
            text = html.escape(e["text"]).replace("\n", "<br>")
            out.append({"plain": text, "code": f"<code>{text}</code>",
                        "bold": f"<strong>{text}</strong>"}[e["type"]])
        return "".join(out)

    lines = ["<!DOCTYPE html>", "<html>", "", " <head>", "", '  <meta charset="utf-8"/>',
             "<title>Exported Data</title>",
             '  <meta content="width=device-width, initial-scale=1.0" name="viewport"/>',
             '  <link href="css/style.css" rel="stylesheet"/>',
             '  <script src="js/script.js" type="text/javascript"></script>', "", " </head>",
             "", ' <body onload="CheckLocation();">', "", '  <div class="page_wrap">', "",
             '   <div class="page_header">', "", '    <div class="content">', "",
             '     <div class="text bold">', channel, "     </div>", "", "    </div>", "",
             "   </div>", "", '   <div class="page_body chat_page">', "",
             '    <div class="history">', ""]
    day, separators, joined = None, 0, False
    for m in messages:
        when = dt.datetime.fromisoformat(str(m["date"]))
        if when.date() != day:
            day, separators, joined = when.date(), separators + 1, False
            lines += [f'     <div class="message service" id="message-{separators}">', "",
                      '      <div class="body details">',
                      f"{when:%B} {when.day}, {when.year}", "      </div>", "",
                      "     </div>", ""]
        if m["type"] == "service":
            lines += [f'     <div class="message service" id="message{m["id"]}">', "",
                      '      <div class="body details">',
                      f"Channel &laquo;{html.escape(channel)}&raquo; created",
                      "      </div>", "", "     </div>", ""]
            continue
        title = f"{when:%d.%m.%Y %H:%M:%S} UTC+00:00"
        lines.append(f'     <div class="message default clearfix{" joined" if joined else ""}"'
                     f' id="message{m["id"]}">')
        lines.append("")
        if not joined:
            lines += ['      <div class="pull_left userpic_wrap">', "",
                      '       <div class="userpic userpic2" style="width: 42px; height: 42px">',
                      "", '        <div class="initials" style="line-height: 42px">',
                      channel[0], "        </div>", "", "       </div>", "", "      </div>", ""]
        lines += ['      <div class="body">', "",
                  f'       <div class="pull_right date details" title="{title}">',
                  f"{when:%H:%M}", "       </div>", ""]
        if not joined:
            lines += ['       <div class="from_name">', channel, "       </div>", ""]
        if "reply_to_message_id" in m:
            target = m["reply_to_message_id"]
            lines += ['       <div class="reply_to details">',
                      f'In reply to <a href="#go_to_message{target}" '
                      f'onclick="return GoToMessage({target})">this message</a>',
                      "       </div>", ""]
        lines += ['       <div class="text">', render(m["text_entities"]), "       </div>", "",
                  "      </div>", "", "     </div>", ""]
        joined = True
    lines += ["    </div>", "", "   </div>", "", "  </div>", "", " </body>", "", "</html>"]
    return "\n".join(lines) + "\n"


MYSQL_HEAD = """\
-- MySQL dump 10.13  Distrib 8.0.31, for Linux (x86_64)
--
-- Host: localhost    Database: bot_platform
-- ------------------------------------------------------
-- Server version\t8.0.31

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!50503 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;
"""

MYSQL_TAIL = """\
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed on 2022-12-27 23:04:32
"""


def mysql_table(name: str, columns: Sequence[str], inserts: Sequence[str],
                auto_increment: int) -> str:
    body = ",\n".join("  " + c for c in columns)
    statements = "".join(f"INSERT INTO `{name}` VALUES {values};\n" for values in inserts)
    return (f"\n--\n-- Table structure for table `{name}`\n--\n\n"
            f"DROP TABLE IF EXISTS `{name}`;\n"
            "/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
            "/*!50503 SET character_set_client = utf8mb4 */;\n"
            f"CREATE TABLE `{name}` (\n{body}\n) ENGINE=InnoDB AUTO_INCREMENT={auto_increment} "
            "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;\n"
            "/*!40101 SET character_set_client = @saved_cs_client */;\n\n"
            f"--\n-- Dumping data for table `{name}`\n--\n\n"
            f"LOCK TABLES `{name}` WRITE;\n"
            f"/*!40000 ALTER TABLE `{name}` DISABLE KEYS */;\n"
            + statements
            + f"/*!40000 ALTER TABLE `{name}` ENABLE KEYS */;\n"
            "UNLOCK TABLES;\n")


PG_HEAD = """\
--
-- PostgreSQL database dump
--

-- Dumped from database version 14.6
-- Dumped by pg_dump version 14.6

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: users; Type: TABLE; Schema: public; Owner: botapp
--

CREATE TABLE public.users (
    id integer NOT NULL,
    email character varying(255) NOT NULL,
    name character varying(255)
);


ALTER TABLE public.users OWNER TO botapp;

--
-- Name: exchange_accounts; Type: TABLE; Schema: public; Owner: botapp
--

CREATE TABLE public.exchange_accounts (
    id integer NOT NULL,
    user_id integer NOT NULL,
    market_code character varying(32) NOT NULL,
    api_key text NOT NULL,
    api_secret text NOT NULL,
    passphrase text
);


ALTER TABLE public.exchange_accounts OWNER TO botapp;

"""

PG_TAIL = """\
--
-- Name: exchange_accounts exchange_accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: botapp
--

ALTER TABLE ONLY public.exchange_accounts
    ADD CONSTRAINT exchange_accounts_pkey PRIMARY KEY (id);


--
-- PostgreSQL database dump complete
--

"""


# ---------------------------------------------------------------------------------------

def build() -> tuple[dict[str, bytes], Ledger]:
    """Every file (path relative to sample_dumps/ -> bytes) and what the dumps hold."""
    dumps = Dumps()
    out = {name: text.encode() for name, text in registry_files().items()}
    out |= {f"dumps/{name}": data for name, data in dumps.files().items()}
    return out, dumps.ledger


def files() -> dict[str, bytes]:
    return build()[0]


def unpacked(name: str, data: bytes) -> object:
    """An archive's content and metadata without its compressed bytes: two zlib builds
    may deflate the same input differently, and --check must not call that stale."""
    if name.endswith((".zip", ".xlsx")):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return [(i.filename, i.date_time, i.compress_type, i.external_attr,
                     unpacked(i.filename, z.read(i))) for i in z.infolist()]
    if name.endswith(".gz"):
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            inner = gz.read()
        return (data[3:8], unpacked(name[:-3], inner))  # the header: flags, mtime
    if name.endswith(".tar"):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return [(m.name, m.type, m.mode, m.mtime, m.uid, m.gid, m.uname, m.gname,
                     unpacked(m.name, tar.extractfile(m).read())  # type: ignore[union-attr]
                     if m.isfile() else None) for m in tar.getmembers()]
    return data


def same(name: str, have: bytes, want: bytes) -> bool:
    if have == want:
        return True
    try:
        return unpacked(name, have) == unpacked(name, want)
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError):
        return False


def walk(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path.relative_to(root.parent).as_posix()


def main(argv: Sequence[str] | None = None,
         report: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument("--out", type=Path, default=HERE,
                    help="the sample_dumps folder to write or check (default: this one)")
    args = ap.parse_args(argv)
    out: Path = args.out
    wanted = files()
    stale = []
    for name, data in wanted.items():
        path = out / name
        if args.check:
            if not path.is_file() or not same(name, path.read_bytes(), data):
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    # A file in dumps/ that the generator does not make would be missing from EXPECTED.json.
    extra = [n for n in walk(out / "dumps") if n not in wanted] if (out / "dumps").is_dir() \
        else []
    for name in stale:
        report(f"stale: sample_dumps/{name} (run python sample_dumps/generate.py)")
    for name in extra:
        report(f"not generated: sample_dumps/{name} (EXPECTED.json does not know it; "
               "remove it or add it to generate.py)")
    return 1 if stale or (extra and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
