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
import hmac
import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from incident.errors import InputError
from incident.exposure import crypto
from incident.store.dumps import PASSPHRASE, PASSPHRASE_UNKNOWN

log = logging.getLogger("incident.exposure")
SCHEMES = ("sha256", "hmsl")
PREFIX_HEX = 5
PREFIX_BITS = 4 * PREFIX_HEX
PAD_MIN = 4   # every bucket of a scheme has the same number of entries: at least this,
PAD_STEP = 4  # and the largest real bucket rounded up to a multiple of this,
PAD_MAX = 64  # but no more (a dump of values made to share one prefix must not make
# every answer huge); a bucket above it is logged at load
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
    largest: int  # real values in the fullest bucket

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

    def filled(self) -> list[int]:
        """The prefixes that hold at least one value."""
        import numpy as np

        return list(np.flatnonzero(np.diff(self.offsets)).tolist())

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
    return Index(scheme, words, leaks, role, starts, offsets, min(pad_to, PAD_MAX), largest)


def data_version(conn: sqlite3.Connection) -> bytes:
    """Changes whenever a dump is added or removed: a digest of every dump's id, SHA-256,
    time and leak range (ids are reused after a removal, so counts and maxima are not
    enough: remove a dump and ingest it again, and they come out the same)."""
    digest = hashlib.sha256()
    for row in conn.execute("SELECT id, sha256, ingested_at, first_leak, last_leak, hmsl"
                            " FROM dumps ORDER BY id"):
        digest.update(repr(tuple(bytes(v) if isinstance(v, bytes) else v for v in row))
                      .encode())
    return digest.digest()


def padding_key(data_dir: Path) -> bytes:
    """The secret the dummies and the payloads' nonces are made from: one per data
    directory (a 0600 file in it), so that every worker, every reload, every restart and
    `publish` pad a bucket the same way. Answers that differ only in their dummies would
    tell them from the real entries."""
    path = data_dir / "exposure.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != 32:
            raise InputError(f"{path}: not a padding key (32 bytes); remove it to make a "
                             "new one") from None
        return key
    key = os.urandom(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


class Corpus:
    """Both schemes' indexes over one snapshot of the store, and the entries clients get."""

    def __init__(self, path: Path, indexes: dict[str, Index], version: bytes,
                 dumps: int, key: bytes) -> None:
        self.path = path
        self.indexes = indexes
        self.version = version
        self.dumps = dumps
        self.key = key  # padding_key(): never leaves the process
        self._cache: OrderedDict[tuple[str, int], tuple[str, str]] = OrderedDict()
        self._local = threading.local()

    @classmethod
    def load(cls, path: Path, key: bytes) -> Corpus:
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
                if indexes[scheme].largest > PAD_MAX:
                    log.warning("%s: a bucket holds %d values; buckets are padded to %d "
                                "only (a dump built to fill one prefix?)", scheme,
                                indexes[scheme].largest, PAD_MAX)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return cls(path, indexes, version, dumps, key)

    def manifest(self, every_prefix: bool) -> dict[str, Any]:
        """What clients read first (`manifest.json`) to know they reached a service."""
        from incident import __version__

        return {"tool": f"incident {__version__}", "scheme": "sha256",
                "prefix_length": PREFIX_HEX,
                "entries_per_bucket": self.indexes["sha256"].pad_to,
                "every_prefix": every_prefix, "dumps": self.dumps}

    @staticmethod
    def is_manifest(document: object) -> TypeGuard[dict[str, Any]]:
        """Whether a parsed manifest.json is one of ours (serve's or publish's)."""
        return isinstance(document, dict) and str(document.get("tool", "")).startswith(
            "incident ") and document.get("scheme") == "sha256" \
            and document.get("prefix_length") == PREFIX_HEX

    def stale(self) -> bool:
        """Whether dumps were added or removed since the snapshot."""
        conn = self._conn()
        return data_version(conn) != self.version

    def bucket(self, scheme: str, prefix: int) -> list[tuple[str, str]]:
        """Every (hint, payload) of a bucket, padded to the scheme's fixed size with
        dummies that stay the same from one request to the next (else comparing two
        answers would tell the real entries from the dummies), in hint order."""
        index = self.indexes[scheme]
        entries = [self.entry(scheme, run) for run in index.bucket(prefix)]
        missing = index.pad_to - len(entries)
        if missing > 0:  # SHAKE streams make a bucket's dummies: hints that stay, and
            seed = self.key + scheme.encode() + prefix.to_bytes(3, "big")  # payloads that
            hints = hashlib.shake_256(b"hint" + seed).hexdigest(missing * 32)  # change,
            raw = hashlib.shake_256(b"payload" + self.version + seed  # as real ones do,
                                    ).digest(missing * PAYLOAD)  # with the corpus
            payloads = base64.b64encode(raw).decode()  # PAYLOAD % 3 == 0:
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
        # The nonce is derived from the padding key, the corpus version, the value and the
        # plaintext itself (as SIV does): every worker seals a value alike, a new corpus
        # changes every payload at once, and one nonce never seals two plaintexts.
        plaintext = crypto.padded(self.document(scheme, run))
        nonce = hmac.new(self.key, b"nonce" + self.version + scheme.encode() + fingerprint
                         + plaintext, "sha256").digest()[:crypto.NONCE]
        entry = (crypto.hint(fingerprint), crypto.seal(plaintext, fingerprint, nonce))
        self._cache[(scheme, run)] = entry
        if len(self._cache) > CACHE:
            self._cache.popitem(last=False)
        return entry

    def document(self, scheme: str, run: int) -> dict[str, Any]:
        """What a holder of the value may read: HMSL's count and location, and more. Not
        cached: the sealed entry is (a cache of dicts would be the garbage collector's to
        walk, and its pauses showed in the service's p99)."""
        index = self.indexes[scheme]
        leak_ids, roles = index.rows(run)
        fingerprint = index.fingerprint(run)
        conn = self._conn()
        if scheme != "sha256":  # every sighting, also in dumps ingested without --hmsl:
            role = ("key", "secret")[roles[0]]  # through the same value's sha256
            sha = conn.execute(f"SELECT {role}_sha256 FROM leaks WHERE id = ? AND"
                               f" {role}_hmsl = ?", (leak_ids[0], fingerprint)).fetchone()
            same = self.indexes["sha256"].find(bytes(sha[0])) if sha else None
            if same is not None:
                index, fingerprint = self.indexes["sha256"], bytes(sha[0])
                leak_ids, roles = index.rows(same)
        column = index.scheme
        rows = []
        for chunk in range(0, len(leak_ids), 500):  # the store may have changed since the
            ids = leak_ids[chunk:chunk + 500]  # snapshot (ids are reused): only the rows
            rows += conn.execute(  # that still hold this value count
                "SELECT l.exchange, l.flags, d.name, d.sha256, d.ingested_at, d.kind,"
                " d.source FROM leaks l JOIN dumps d ON d.id = l.dump_id"
                f" WHERE l.id IN ({','.join('?' * len(ids))})"
                f" AND (l.key_{column} = ? OR l.secret_{column} = ?)",
                (*ids, fingerprint, fingerprint)).fetchall()
        rows.sort(key=lambda r: r[4])
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
        document = {"c": len(rows), "l": {"u": url} if url else None,
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
