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
from typing import Any

import numpy as np

from incident.errors import InputError
from incident.ingest.dumps import ensure_indexes
from incident.store import Store
from incident.store import dumps as dump_sql
from incident.store import matches as sql
from incident.store.db import utc_now

PASSPHRASE, PASSPHRASE_UNKNOWN, SWAPPED = 1, 2, 4
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
    keys: list[tuple[int, str, str, bool]] = []  # id, label, exchange, hmsl only
    # fingerprint -> 2 * key index + (0 key, 1 secret): one int, not a list, a million times
    # over; a fingerprint registered twice keeps its other holders in `more`
    by_digest: dict[bytes, int] = {}
    more: dict[bytes, list[int]] = {}
    for i, (key_id, label, exchange, key, secret, hmsl_only) in enumerate(sql.registry(conn)):
        keys.append((key_id, label, exchange, hmsl_only))
        for digest, which in ((key, 0), (secret, 1)):
            if digest is not None:
                if digest in by_digest:
                    more.setdefault(digest, []).append(2 * i + which)
                else:
                    by_digest[digest] = 2 * i + which
    found = _candidates(store, dump_id, by_digest)
    # (key index, leak id) -> [role of the registered key, role of the registered secret]
    roles: dict[tuple[int, int], list[str | None]] = {}
    places: dict[int, tuple[Any, ...]] = {}
    for row in found:
        leak_id = row[0]
        for digest, role in ((row[1], "key"), (row[2], "secret")):
            if digest is None or digest not in by_digest:
                continue
            for code in [by_digest[digest], *more.get(digest, ())]:
                pair = roles.setdefault((code // 2, leak_id), [None, None])
                pair[code % 2] = role
                places[leak_id] = row
    known = sql.known(conn)
    previous = sql.last_run(conn)
    fresh = [(keys[i][0], leak, r[0], r[1]) for (i, leak), r in roles.items()
             if (keys[i][0], leak) not in known]
    by_key: dict[int, list[Sighting]] = {}
    for (i, leak_id), (key_role, secret_role) in sorted(roles.items()):
        row = places[leak_id]
        first = known.get((keys[i][0], leak_id))
        by_key.setdefault(i, []).append(_sighting(row, key_role, secret_role,
                                                  first or ran_at, first is None))
    exposed = [Exposure(keys[i][1], keys[i][2], _components(s), s)
               for i, s in sorted(by_key.items(), key=lambda item: keys[item[0]][1])]
    with store.write() as w:
        sql.store_run(w, ran_at, dump_id, len(exposed), fresh)
    return MatchReport(ran_at, previous, exposed,
                       [k[1] for i, k in enumerate(keys) if i not in by_key and not k[3]],
                       [k[1] for k in keys if k[3]], len(fresh))


def _candidates(store: Store, dump_id: int | None, by_digest: dict[bytes, int]
                ) -> list[tuple[Any, ...]]:
    """The sightings whose key or secret prefix is a registered fingerprint's prefix, read
    whole: a set test of all the corpus's prefixes against all the registry's at once."""
    if not by_digest:
        return []
    wanted = np.fromiter((dump_sql.prefix(d) for d in by_digest), dtype=np.int64,
                         count=len(by_digest))
    rows = np.array([(i, k, 0 if s is None else s)
                     for i, k, s in sql.leak_prefixes(store.conn, dump_id)],
                    dtype=np.int64).reshape(-1, 3)
    if not len(rows):
        return []
    hit = np.isin(rows[:, 1], wanted) | np.isin(rows[:, 2], wanted)
    return sql.sightings(store.conn, rows[hit, 0].tolist())


def _sighting(row: tuple[Any, ...], key_role: str | None, secret_role: str | None,
              found_at: str, new: bool) -> Sighting:
    (_, _, _, exchange, flags, position, member, unit, dump_id, name, source, sha256,
     ingested_at) = row
    passphrase = None if flags & PASSPHRASE_UNKNOWN else bool(flags & PASSPHRASE)
    if flags & SWAPPED:  # stored the right way round: report the role the dump gave it
        key_role, secret_role = _OTHER[key_role], _OTHER[secret_role]
    locator = f"{member}: {unit} {position}" if position is not None else member
    return Sighting(dump_id, name, source, bytes(sha256).hex(), locator, ingested_at,
                    exchange, passphrase, key_role, secret_role, found_at, new)


def _components(sightings: list[Sighting]) -> str:
    key = any(s.key_role for s in sightings)
    secret = any(s.secret_role for s in sightings)
    return "both" if key and secret else "key" if key else "secret"
