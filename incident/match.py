"""Registry x corpus: which registered keys appear in which leaked credentials, by
fingerprint only.

Each registered key brings two fingerprints (key and secret); each sighting in the corpus
two more. They match in any role: a dump that swapped its columns still exposes the key.
The corpus is screened with the 8-byte prefixes the store keeps, a million against a
million in one vectorised set test (numpy), and only the few candidates are read whole and
compared on the full 32 bytes. Keys registered by hmsl fingerprint only cannot be
compared with the corpus's SHA-256 fingerprints: they are listed as such, never as clean.

Every match is stored with the run that found it, so a run after a new ingest says what is
new since the run before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from incident.errors import InputError
from incident.exchanges.names import resolve
from incident.fingerprint import sha256
from incident.ingest.dumps import ensure_indexes
from incident.secret import Secret
from incident.store import Store
from incident.store import dumps as dump_sql
from incident.store import matches as sql
from incident.store.db import utc_now

_OTHER = {"key": "secret", "secret": "key", None: None}


@dataclass(frozen=True)
class Sighting:
    """One place a registered key's fingerprints were seen."""

    dump_id: int
    dump: str
    source: str
    sha256: str
    locator: str  # member, then the line, row, record or message
    first_seen: str  # when the dump was ingested (UTC)
    exchange: str  # as the dump gives it
    passphrase: bool | None  # the leaked record carried one (None: cannot tell)
    key_role: str | None  # where the registered key stood in the dump: key | secret | None
    secret_role: str | None
    found_at: str  # when a match run first found it
    new: bool  # found by this run

    def to_json(self) -> dict[str, Any]:
        return {"dump_id": self.dump_id, "name": self.dump, "source": self.source,
                "sha256": self.sha256, "locator": self.locator,
                "first_seen": self.first_seen, "exchange": self.exchange,
                "passphrase": self.passphrase, "key_role": self.key_role,
                "secret_role": self.secret_role, "found_at": self.found_at, "new": self.new}


@dataclass(frozen=True)
class Exposure:
    label: str
    exchange: str
    components: str  # key | secret | both
    sightings: list[Sighting] = field(default_factory=list)

    @property
    def new(self) -> bool:
        return any(s.new for s in self.sightings)

    @property
    def exchange_agrees(self) -> bool:
        """Every sighting's exchange is the registered one (or could not be told)."""
        return all(s.exchange in (self.exchange, "unknown") for s in self.sightings)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "exchange": self.exchange, "components": self.components,
                "new": self.new, "exchange_agrees": self.exchange_agrees,
                "dumps": [s.to_json() for s in self.sightings]}


@dataclass(frozen=True)
class MatchReport:
    ran_at: str
    previous_run: str | None
    exposed: list[Exposure]
    clean: list[str]  # labels
    unmatchable: list[str]  # registered by hmsl only: the corpus has no hmsl fingerprints
    new: int  # matches this run found first

    def to_json(self) -> dict[str, Any]:
        return {"ran_at": self.ran_at, "previous_run": self.previous_run,
                "exposed": [e.to_json() for e in self.exposed], "clean": self.clean,
                "unmatchable": self.unmatchable, "new": self.new}


def run_match(store: Store, dump_id: int | None = None) -> MatchReport:
    """Match every registered key against the corpus (or one dump), store what was found,
    and report it."""
    conn = store.conn
    if dump_id is not None and dump_sql.get_dump(conn, dump_id) is None:
        raise InputError(f"no dump {dump_id} (see 'incident dumps list')")
    ensure_indexes(store)
    ran_at = utc_now()
    keys, leaks = _candidates(store, dump_id)
    # fingerprint -> (registered key, 0 key | 1 secret), for the few candidates only
    by_digest: dict[bytes, list[tuple[int, int]]] = {}
    info: dict[int, tuple[str, str]] = {}  # key id -> (label, exchange)
    for key_id, label, exchange, key, secret in keys:
        info[key_id] = (label, exchange)
        for digest, which in ((key, 0), (secret, 1)):
            if digest is not None:
                by_digest.setdefault(digest, []).append((key_id, which))
    # (key id, leak id) -> [role of the registered key, role of the registered secret]
    roles: dict[tuple[int, int], list[str | None]] = {}
    places: dict[int, tuple[Any, ...]] = {}
    for row in leaks:
        for digest, role in ((row[1], "key"), (row[2], "secret")):
            for key_id, which in by_digest.get(digest, ()) if digest is not None else ():
                roles.setdefault((key_id, row[0]), [None, None])[which] = role
                places[row[0]] = row
    known = sql.known(conn, sorted({k for k, _ in roles}))
    previous = sql.last_run(conn)
    fresh = [(k, leak, r[0], r[1]) for (k, leak), r in roles.items() if (k, leak) not in known]
    by_key: dict[int, list[Sighting]] = {}
    for (key_id, leak_id), (key_role, secret_role) in sorted(roles.items()):
        first = known.get((key_id, leak_id))
        by_key.setdefault(key_id, []).append(_sighting(places[leak_id], key_role, secret_role,
                                                       first or ran_at, first is None))
    exposed = sorted((Exposure(*info[k], _components(s), s) for k, s in by_key.items()),
                     key=lambda e: e.label)
    with store.write() as w:
        sql.store_run(w, ran_at, dump_id, len(exposed), fresh)
    every = sql.labels(conn)
    unmatchable = [label for _, label, hmsl_only in every if hmsl_only]
    clean = [label for key_id, label, hmsl_only in every
             if not hmsl_only and key_id not in by_key]
    return MatchReport(ran_at, previous, exposed, clean, unmatchable, len(fresh))


@dataclass(frozen=True)
class CheckResult:
    """One credential checked against the local corpus, without registering it."""

    exchange: str | None
    components: str | None  # key | secret | both; None: not found
    sightings: list[Sighting]
    dumps: int  # searched
    credentials: int  # searched

    def to_json(self) -> dict[str, Any]:
        return {"exposed": bool(self.sightings), "exchange": self.exchange,
                "components": self.components,
                "exchange_agrees": all(s.exchange in (self.exchange, "unknown")
                                       for s in self.sightings) if self.exchange else None,
                "dumps": [s.to_json() for s in self.sightings],
                "searched": {"dumps": self.dumps, "credentials": self.credentials}}


def check_credential(store: Store, key: Secret, secret: Secret | None,
                     exchange: str | None = None) -> CheckResult:
    """Where this key (and secret) appear in the corpus, in any role. Only their
    fingerprints are used, and nothing is stored."""
    ex = resolve(exchange) if exchange else None
    mine = {sha256(key.reveal()): 0}
    if secret:
        mine.setdefault(sha256(secret.reveal()), 1)
    ensure_indexes(store)
    now = utc_now()
    sightings = []
    for row in sql.by_prefixes(store.conn, [dump_sql.prefix(d) for d in mine]):
        pair: list[str | None] = [None, None]
        for digest, role in ((row[1], "key"), (row[2], "secret")):
            if digest in mine:
                pair[mine[digest]] = role
        if pair != [None, None]:
            sightings.append(_sighting(row, pair[0], pair[1], now, True))
    sightings.sort(key=lambda s: (s.dump_id, s.locator))
    dumps, credentials = sql.count_sightings(store.conn)
    return CheckResult(ex, _components(sightings) if sightings else None, sightings, dumps,
                       credentials)


def _among(values: Any, pool: Any) -> Any:
    """values[i] in pool, for each i: a binary search in the sorted pool (numpy's isin
    hashes both sides, several times slower at a million)."""
    import numpy as np  # here, not at the top: it costs every command 0.1 s to import
    if not len(pool):
        return np.zeros(len(values), dtype=bool)
    pool = np.sort(pool)
    at = np.minimum(np.searchsorted(pool, values), len(pool) - 1)
    return pool[at] == values


def _prefixes(blobs: Any) -> Any:
    """8-byte big-endian prefixes (as the store keeps them) as one int64 array."""
    import numpy as np
    return np.frombuffer(b"".join(blobs), dtype=">i8").astype(np.int64)


def _candidates(store: Store, dump_id: int | None
                ) -> tuple[list[tuple[int, str, str, bytes | None, bytes | None]],
                           list[tuple[Any, ...]]]:
    """The registered keys and the sightings whose fingerprints share an 8-byte prefix:
    every prefix of both sides in arrays, one vectorised set test each way, and only the
    few candidates read whole (to be compared on all 32 bytes)."""
    import numpy as np
    reg = sql.registry_prefixes(store.conn)
    cursor = sql.leak_prefixes(store.conn, dump_id)
    corpus = np.fromiter(chain.from_iterable(cursor), dtype=np.int64).reshape(-1, 4)
    if not reg or not len(corpus):
        return [], []
    ids = np.fromiter((r[0] for r in reg), dtype=np.int64, count=len(reg))
    key_p, secret_p = _prefixes(r[1] for r in reg), _prefixes(r[2] for r in reg)
    has_key = np.fromiter((r[3] for r in reg), dtype=bool, count=len(reg))
    has_secret = np.fromiter((r[4] for r in reg), dtype=bool, count=len(reg))
    del reg
    registered = np.concatenate([key_p[has_key], secret_p[has_secret]])
    leak_secret = corpus[:, 3].astype(bool)
    hit = _among(corpus[:, 1], registered) | (_among(corpus[:, 2], registered) & leak_secret)
    seen = np.concatenate([corpus[hit, 1], corpus[hit & leak_secret, 2]])
    mine = (_among(key_p, seen) & has_key) | (_among(secret_p, seen) & has_secret)
    return (sql.registered(store.conn, ids[mine].tolist()),
            sql.sightings(store.conn, corpus[hit, 0].tolist()))


def _sighting(row: tuple[Any, ...], key_role: str | None, secret_role: str | None,
              found_at: str, new: bool) -> Sighting:
    (_, _, _, exchange, flags, position, member, unit, dump_id, name, source, sha256,
     ingested_at) = row
    passphrase = None if flags & dump_sql.PASSPHRASE_UNKNOWN else bool(
        flags & dump_sql.PASSPHRASE)
    if flags & dump_sql.SWAPPED:  # stored the right way round: report the role the dump gave it
        key_role, secret_role = _OTHER[key_role], _OTHER[secret_role]
    locator = f"{member}: {unit} {position}" if position is not None else member
    return Sighting(dump_id, name, source, bytes(sha256).hex(), locator, ingested_at,
                    exchange, passphrase, key_role, secret_role, found_at, new)


def _components(sightings: list[Sighting]) -> str:
    key = any(s.key_role for s in sightings)
    secret = any(s.secret_role for s in sightings)
    return "both" if key and secret else "key" if key else "secret"
