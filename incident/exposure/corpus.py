"""The leaked values' fingerprints in memory, bucketed by their first 20 bits.

One `Index` per scheme: every sighting's fingerprint (the key and the secret of each leak)
sorted, so that a value's sightings are one run of rows and a prefix's values one range
of runs. Nothing plaintext is here: the store never had it. What a client may read about
a value (how often it leaked, where, in which role) is looked up in the store when its
bucket is first asked for, and sealed under the value's own fingerprint.

The corpus is a snapshot: `Corpus.load` reads the store once, `stale()` tells whether
dumps were added or removed since (the server then loads a new one and swaps it in).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incident.exposure import crypto
from incident.store.dumps import PASSPHRASE, PASSPHRASE_UNKNOWN

SCHEMES = ("sha256", "hmsl")
PREFIX_HEX = 5
PREFIX_BITS = 4 * PREFIX_HEX
PAD_MIN = 4   # every bucket of a scheme has the same number of entries: at least this,
PAD_STEP = 4  # and the largest real bucket rounded up to a multiple of this
MAX_DUMPS_SHOWN = 3  # in a payload (it must fit one PAYLOAD_BLOCK); the rest are counted
CACHE = 200_000  # sealed entries kept (about 1 KB each)
WEB_KINDS = ("web", "twitter")  # dumps whose source is a URL a client may be shown
PAYLOAD = crypto.NONCE + crypto.PAYLOAD_BLOCK + crypto.TAG  # bytes, real or dummy
assert PAYLOAD % 3 == 0  # base64 of many payloads at once cuts between them
_COLUMNS = {"sha256": ("key_sha256", "secret_sha256"), "hmsl": ("key_hmsl", "secret_hmsl")}


def prefix_of(text: str) -> int | None:
    """The bucket number of a 5-character lowercase hex prefix, or None."""
    if len(text) != PREFIX_HEX or text.strip("0123456789abcdef"):
        return None
    return int(text, 16)


@dataclass(frozen=True)
class Index:
    """One scheme's fingerprints. Arrays (numpy), in fingerprint order:
    `words` (n, 4) big-endian uint64 per sighting, `leaks` its leak id, `roles` 0 when the
    value stood as a key, 1 as a secret; `starts` where each distinct value's run begins
    (and n at the end); `offsets` the runs of each prefix (2**20 + 1)."""

    scheme: str
    words: Any
    leaks: Any
    roles: Any
    starts: Any
    offsets: Any
    pad_to: int

    @property
    def values(self) -> int:
        return len(self.starts) - 1

    @property
    def sightings(self) -> int:
        return len(self.leaks)

    def fingerprint(self, run: int) -> bytes:
        return bytes(self.words[self.starts[run]].tobytes())

    def bucket(self, prefix: int) -> range:
        """The runs (distinct values) whose fingerprints start with `prefix`."""
        return range(int(self.offsets[prefix]), int(self.offsets[prefix + 1]))

    def find(self, fingerprint: bytes) -> int | None:
        """The run of a full fingerprint, or None."""
        for run in self.bucket(int.from_bytes(fingerprint[:3], "big") >> 4):
            if self.fingerprint(run) == fingerprint:
                return run
        return None

    def rows(self, run: int) -> tuple[list[int], list[int]]:
        """The leak ids and roles of a value's sightings."""
        a, b = int(self.starts[run]), int(self.starts[run + 1])
        return self.leaks[a:b].tolist(), self.roles[a:b].tolist()


def build_index(scheme: str, rows: Iterable[tuple[int, bytes | None, bytes | None]]) -> Index:
    """An Index from (leak id, key fingerprint, secret fingerprint) rows."""
    import numpy as np

    ids: list[int] = []
    roles = bytearray()
    blob = bytearray()
    for leak_id, key, secret in rows:
        if key is not None:
            ids.append(leak_id)
            roles.append(0)
            blob += key
        if secret is not None:
            ids.append(leak_id)
            roles.append(1)
            blob += secret
    words = np.frombuffer(bytes(blob), dtype=">u8").reshape(-1, 4)
    order = np.lexsort((words[:, 3], words[:, 2], words[:, 1], words[:, 0]))
    words = words[order]
    leaks = np.asarray(ids, dtype=np.int64)[order]
    role = np.frombuffer(bytes(roles), dtype=np.uint8)[order]
    n = len(words)
    if n:
        new = np.ones(n, dtype=bool)
        new[1:] = (words[1:] != words[:-1]).any(axis=1)
        starts = np.append(np.flatnonzero(new), n)
    else:
        starts = np.zeros(1, dtype=np.int64)
    firsts = (words[starts[:-1], 0] >> np.uint64(64 - PREFIX_BITS)).astype(np.int64)
    offsets = np.searchsorted(firsts, np.arange((1 << PREFIX_BITS) + 1), side="left")
    largest = int(np.diff(offsets).max()) if len(firsts) else 0
    pad_to = max(PAD_MIN, -(-largest // PAD_STEP) * PAD_STEP)
    return Index(scheme, words, leaks, role, starts, offsets, pad_to)


def data_version(conn: sqlite3.Connection) -> tuple[int, ...]:
    """Changes whenever a dump is added or removed."""
    row = conn.execute("SELECT coalesce(max(id), 0), count(*) FROM dumps").fetchone()
    leaks = conn.execute("SELECT coalesce(max(id), 0) FROM leaks").fetchone()
    return int(row[0]), int(row[1]), int(leaks[0])


class Corpus:
    """Both schemes' indexes over one snapshot of the store, and the entries clients get."""

    def __init__(self, path: Path, indexes: dict[str, Index], version: tuple[int, ...],
                 dumps: int, key: bytes | None = None) -> None:
        self.path = path
        self.indexes = indexes
        self.version = version
        self.dumps = dumps
        self.key = key or os.urandom(32)  # makes the dummies; never leaves the process (a
        # reload keeps it, so workers and reloads all pad a bucket with the same dummies)
        self._cache: OrderedDict[tuple[str, int], tuple[str, str]] = OrderedDict()
        self._local = threading.local()

    @classmethod
    def load(cls, path: Path, key: bytes | None = None) -> Corpus:
        conn = _reader(path)
        try:
            conn.execute("BEGIN")  # one snapshot for every read below
            version = data_version(conn)
            dumps = int(conn.execute("SELECT count(*) FROM dumps").fetchone()[0])
            indexes = {}
            for scheme, (k, s) in _COLUMNS.items():
                where = " WHERE key_hmsl IS NOT NULL" if scheme == "hmsl" else ""
                cur = conn.execute(f"SELECT id, {k}, {s} FROM leaks{where}")
                indexes[scheme] = build_index(scheme, cur)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return cls(path, indexes, version, dumps, key)

    def stale(self) -> bool:
        conn = self._conn()
        return data_version(conn) != self.version

    def bucket(self, scheme: str, prefix: int) -> list[tuple[str, str]]:
        """Every (hint, payload) of a bucket, padded to the scheme's fixed size with
        dummies that stay the same from one request to the next (else comparing two
        answers would tell the real entries from the dummies), in hint order."""
        index = self.indexes[scheme]
        entries = [self.entry(scheme, run) for run in index.bucket(prefix)]
        missing = index.pad_to - len(entries)
        if missing > 0:  # one SHAKE stream makes a bucket's dummies, hints first
            raw = hashlib.shake_256(self.key + scheme.encode() + prefix.to_bytes(3, "big")
                                    ).digest(missing * (32 + PAYLOAD))
            hints = raw[:missing * 32].hex()
            payloads = base64.b64encode(raw[missing * 32:]).decode()  # PAYLOAD % 3 == 0:
            step = PAYLOAD // 3 * 4  # each payload is a whole run of base64 characters
            entries += [(hints[i * 64:i * 64 + 64], payloads[i * step:i * step + step])
                        for i in range(missing)]
        entries.sort()
        return entries

    def matches_json(self, scheme: str, prefixes: Iterable[int]) -> str:
        """The entries of these buckets as the inside of a JSON array (hex and base64 need
        no escaping: built as text, it is the bulk of an answer's cost)."""
        return ",".join([f'{{"hint":"{h}","payload":"{p}"}}' for n in prefixes
                         for h, p in self.bucket(scheme, n)])

    def entry(self, scheme: str, run: int) -> tuple[str, str]:
        """A value's (hint, payload): sealed once, then served from the cache."""
        cached = self._cache.get((scheme, run))
        if cached is not None:
            return cached
        fingerprint = self.indexes[scheme].fingerprint(run)
        entry = (crypto.hint(fingerprint),
                 crypto.seal(self.document(scheme, run), fingerprint))
        self._cache[(scheme, run)] = entry
        if len(self._cache) > CACHE:
            self._cache.popitem(last=False)
        return entry

    def document(self, scheme: str, run: int) -> dict[str, Any]:
        """What a holder of the value may read: HMSL's count and location, and more."""
        leak_ids, roles = self.indexes[scheme].rows(run)
        if scheme != "sha256":  # every sighting, also in dumps ingested without --hmsl:
            column = ("key_sha256", "secret_sha256")[roles[0]]  # through the same value's
            sha = self._conn().execute(f"SELECT {column} FROM leaks WHERE id = ?",  # sha256
                                       (leak_ids[0],)).fetchone()
            same = self.indexes["sha256"].find(bytes(sha[0])) if sha else None
            if same is not None:
                leak_ids, roles = self.indexes["sha256"].rows(same)
        marks = ",".join("?" * len(leak_ids))
        rows = self._conn().execute(
            "SELECT l.exchange, l.flags, d.name, d.sha256, d.ingested_at, d.kind, d.source"
            f" FROM leaks l JOIN dumps d ON d.id = l.dump_id WHERE l.id IN ({marks})"
            " ORDER BY d.ingested_at, d.id", leak_ids).fetchall()
        exchanges = sorted({r[0] for r in rows} - {"unknown"})
        flags = [r[1] for r in rows]
        passphrase = (True if any(f & PASSPHRASE for f in flags) else
                      None if all(f & PASSPHRASE_UNKNOWN for f in flags) else False)
        dumps: dict[str, dict[str, str]] = {}
        url = None
        for _, _, name, sha, seen, kind, source in rows:
            dumps.setdefault(bytes(sha).hex(), {"name": name, "sha256": bytes(sha).hex(),
                                                "first_seen": seen[:19] + "Z"})
            if url is None and kind in WEB_KINDS:
                url = source
        document = {"c": len(leak_ids), "l": {"u": url} if url else None,
                    "roles": sorted({("key", "secret")[r] for r in roles}),
                    "exchanges": exchanges, "passphrase": passphrase,
                    "dumps": list(dumps.values())[:MAX_DUMPS_SHOWN],
                    "more_dumps": max(0, len(dumps) - MAX_DUMPS_SHOWN)}
        return _fit(document)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _reader(self.path)
            self._local.conn = conn
        return conn


def _reader(path: Path) -> sqlite3.Connection:
    """A connection that only reads. Not opened `mode=ro`: the last connection to close
    removes the WAL files, and a read-only one cannot, which would leave them behind."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA query_only = 1")
    return conn


def _fit(document: dict[str, Any]) -> dict[str, Any]:
    """Drop shown dumps (counting them) and then the location until the payload fits one
    block: every real payload must be the size of a dummy."""
    while len(crypto.padded(document)) > crypto.PAYLOAD_BLOCK and document["dumps"]:
        document["dumps"].pop()
        document["more_dumps"] += 1
    if len(crypto.padded(document)) > crypto.PAYLOAD_BLOCK:
        document["l"] = None
    return document
