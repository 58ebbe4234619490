"""Forward-only schema migrations. Append; never edit one that has shipped.

Fingerprints are stored as 32-byte BLOBs (half the size of hex, and faster to index and
join); times as UTC ISO 8601 text ending in Z.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the key registry, and the events that filled it
    """
    CREATE TABLE key_sources (
        id          INTEGER PRIMARY KEY,
        kind        TEXT    NOT NULL CHECK (kind IN ('prompt', 'stdin', 'import')),
        file        TEXT,               -- an import's file, as named on the command line
        layout      TEXT,               -- plaintext | fingerprints | hmsl-mapping
        rows        INTEGER,
        added       INTEGER,
        updated     INTEGER,            -- registered before; this import filled in NULLs
        unchanged   INTEGER,
        started_at  TEXT    NOT NULL,
        finished_at TEXT
    );
    CREATE TABLE keys (
        id             INTEGER PRIMARY KEY,
        label          TEXT    NOT NULL,
        exchange       TEXT    NOT NULL,
        key_sha256     BLOB    CHECK (key_sha256 IS NULL OR length(key_sha256) = 32),
        secret_sha256  BLOB    CHECK (secret_sha256 IS NULL OR length(secret_sha256) = 32),
        key_hmsl       BLOB    CHECK (key_hmsl IS NULL OR length(key_hmsl) = 32),
        secret_hmsl    BLOB    CHECK (secret_hmsl IS NULL OR length(secret_hmsl) = 32),
        has_passphrase INTEGER CHECK (has_passphrase IN (0, 1)),  -- NULL: unknown
        source_id      INTEGER NOT NULL REFERENCES key_sources (id),
        source_line    INTEGER,           -- the line of an imported file
        CHECK (key_sha256 IS NOT NULL OR key_hmsl IS NOT NULL)
    );
    -- Uniqueness lives in named indexes (not column constraints) so that a bulk import
    -- can rebuild them in one sort, inside its transaction. Partial: NULLs cost nothing.
    CREATE UNIQUE INDEX keys_label ON keys (label);
    CREATE UNIQUE INDEX keys_key_sha256 ON keys (key_sha256) WHERE key_sha256 IS NOT NULL;
    CREATE UNIQUE INDEX keys_key_hmsl ON keys (key_hmsl) WHERE key_hmsl IS NOT NULL;
    """,
    # 2: leak dumps and the credentials found in them (fingerprints only)
    """
    CREATE TABLE dumps (
        id           INTEGER PRIMARY KEY,
        name         TEXT    NOT NULL,
        source       TEXT    NOT NULL,    -- as named: a path, a URL, twitter:@handle
        kind         TEXT    NOT NULL,    -- file | url | twitter
        sha256       BLOB    NOT NULL UNIQUE CHECK (length(sha256) = 32),
        size         INTEGER NOT NULL,
        formats      TEXT    NOT NULL,    -- JSON list of the formats seen
        credentials  INTEGER NOT NULL,
        per_exchange TEXT    NOT NULL,    -- JSON object: ccxt id -> count
        rejected     INTEGER NOT NULL,
        first_leak   INTEGER,             -- leaks.id range of this dump (one transaction,
        last_leak    INTEGER,             -- so contiguous)
        ingested_at  TEXT    NOT NULL
    );
    CREATE TABLE dump_members (
        dump_id   INTEGER NOT NULL REFERENCES dumps (id) ON DELETE CASCADE,
        member_no INTEGER NOT NULL,       -- 1, 2, ... in reading order
        name      TEXT    NOT NULL,       -- dump.zip!inner/keys.csv, a URL, a tweet
        format    TEXT    NOT NULL,
        unit      TEXT    NOT NULL,       -- what a leak's position counts: line, row, ...
        PRIMARY KEY (dump_id, member_no)
    );
    CREATE TABLE dump_rejects (            -- the first ones of each dump, by place only
        dump_id  INTEGER NOT NULL REFERENCES dumps (id) ON DELETE CASCADE,
        member   TEXT    NOT NULL,
        position INTEGER,
        field    TEXT,
        reason   TEXT    NOT NULL
    );
    CREATE INDEX dump_rejects_dump ON dump_rejects (dump_id);
    -- One row per sighting: a credential in two dumps is two rows with the same
    -- fingerprints. Narrow on purpose (a million-row dump is a million rows): the dump
    -- and member as numbers, the first 8 bytes of each fingerprint as an integer, which
    -- is what the indexes hold (a third the cost of indexing the BLOBs). No foreign key:
    -- a dump's leaks are one id range (one transaction), deleted by that range.
    CREATE TABLE leaks (
        id            INTEGER PRIMARY KEY,
        dump_id       INTEGER NOT NULL,
        member_no     INTEGER NOT NULL,   -- dump_members (dump_id, member_no)
        key_sha256    BLOB    NOT NULL CHECK (length(key_sha256) = 32),
        secret_sha256 BLOB    CHECK (secret_sha256 IS NULL OR length(secret_sha256) = 32),
        key_prefix    INTEGER NOT NULL,
        secret_prefix INTEGER,
        exchange      TEXT    NOT NULL,   -- a ccxt id, or 'unknown'
        flags         INTEGER NOT NULL,   -- 1 passphrase present, 2 passphrase unknown,
                                          -- 4 key and secret were swapped in the dump
        position      INTEGER             -- line, row, record or message id (see unit)
    );
    CREATE INDEX leaks_key ON leaks (key_prefix);
    CREATE INDEX leaks_secret ON leaks (secret_prefix) WHERE secret_prefix IS NOT NULL;
    CREATE TABLE source_state (           -- what a source remembers (newest tweet id)
        source     TEXT PRIMARY KEY,
        state      TEXT NOT NULL,          -- JSON object
        updated_at TEXT NOT NULL
    );
    """,
    # 3: matches of registered keys against leaked credentials, and the runs that found them
    """
    CREATE TABLE match_runs (
        id         INTEGER PRIMARY KEY,
        started_at TEXT    NOT NULL,
        dump_id    INTEGER,              -- a run over one dump (--dump), else NULL: all
        exposed    INTEGER NOT NULL,     -- registered keys found exposed
        new        INTEGER NOT NULL      -- matches this run found first
    );
    CREATE TABLE matches (
        key_id      INTEGER NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
        leak_id     INTEGER NOT NULL,    -- leaks.id (deleted with its dump)
        key_role    TEXT CHECK (key_role IN ('key', 'secret')),     -- where the registered
        secret_role TEXT CHECK (secret_role IN ('key', 'secret')),  -- key / secret stood
        run_id      INTEGER NOT NULL REFERENCES match_runs (id),   -- the run that found it
        found_at    TEXT    NOT NULL,
        PRIMARY KEY (key_id, leak_id)
    ) WITHOUT ROWID;
    CREATE INDEX matches_leak ON matches (leak_id);
    """,
    # 4: HasMySecretLeaked fingerprints of leaked values, for the exposure service that
    # ggshield queries (`ingest --hmsl`: scrypt is slow, so only where asked for)
    """
    ALTER TABLE leaks ADD COLUMN key_hmsl BLOB
        CHECK (key_hmsl IS NULL OR length(key_hmsl) = 32);
    ALTER TABLE leaks ADD COLUMN secret_hmsl BLOB
        CHECK (secret_hmsl IS NULL OR length(secret_hmsl) = 32);
    ALTER TABLE dumps ADD COLUMN hmsl INTEGER NOT NULL DEFAULT 0;  -- 1: leaks have them
    """,
    # 5: the audit log (append-only; each entry chained to the one before by SHA-256) and
    # the snapshots taken of accounts (their files live under snapshots/)
    """
    CREATE TABLE audit_log (
        id          INTEGER PRIMARY KEY,
        at          TEXT    NOT NULL,      -- UTC
        actor       TEXT    NOT NULL,      -- the OS user
        action      TEXT    NOT NULL,      -- audit-key | snapshot | revoke | restrict | ...
        phase       TEXT    NOT NULL CHECK (phase IN ('start', 'end', 'read')),
        label       TEXT,
        exchange    TEXT,
        key_prefix  TEXT,                  -- the first 12 hex of the key's sha256
        outcome     TEXT,
        detail      TEXT    NOT NULL,      -- canonical JSON: what was asked and answered
        prev_sha256 TEXT    NOT NULL,      -- the entry before's sha256 (64 zeros for the first)
        sha256      TEXT    NOT NULL       -- of this entry's canonical JSON
    );
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE snapshots (
        id          INTEGER PRIMARY KEY,
        label       TEXT    NOT NULL,
        exchange    TEXT    NOT NULL,
        path        TEXT    NOT NULL,      -- relative to the data directory
        since       TEXT    NOT NULL,
        until       TEXT    NOT NULL,
        taken_at    TEXT    NOT NULL,
        sha256      TEXT    NOT NULL,      -- of snapshot.json
        counts      TEXT    NOT NULL       -- JSON
    );
    CREATE INDEX snapshots_label ON snapshots (label, taken_at);
    """,
    # 6: playbook runs, persisted step by step and item by item, so a run killed at any
    # moment resumes where it was; and the approvals and manual tasks people marked done
    """
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        playbook    TEXT    NOT NULL,      -- its name
        source      TEXT    NOT NULL,      -- the YAML as started: a resume runs the same
        sha256      TEXT    NOT NULL,      -- of source
        inputs      TEXT    NOT NULL,      -- JSON
        dry_run     INTEGER NOT NULL,
        started_by  TEXT    NOT NULL,      -- the OS user
        started_at  TEXT    NOT NULL,      -- UTC
        updated_at  TEXT    NOT NULL,
        status      TEXT    NOT NULL CHECK (status IN ('running', 'waiting', 'failed',
                                                       'done')),
        position    TEXT,                  -- the step it is at (NULL: finished)
        reason      TEXT                   -- why it waits or failed
    );
    CREATE TABLE run_steps (
        run_id      INTEGER NOT NULL REFERENCES runs (id),
        step        TEXT    NOT NULL,
        status      TEXT    NOT NULL CHECK (status IN ('running', 'waiting', 'failed',
                                                       'done', 'skipped')),
        items       INTEGER NOT NULL,      -- how many (1 without for_each)
        output      TEXT,                  -- JSON, once done
        error       TEXT,
        started_at  TEXT    NOT NULL,
        ended_at    TEXT,
        PRIMARY KEY (run_id, step)
    ) WITHOUT ROWID;
    CREATE TABLE run_items (
        run_id      INTEGER NOT NULL,
        step        TEXT    NOT NULL,
        idx         INTEGER NOT NULL,
        name        TEXT    NOT NULL,      -- shown and used in ids (a label, an address)
        item        TEXT    NOT NULL,      -- JSON: the for_each value, fixed when the step
                                           -- began
        status      TEXT    NOT NULL CHECK (status IN ('pending', 'started', 'done',
                                                       'failed', 'waiting')),
        attempts    INTEGER NOT NULL DEFAULT 0,
        output      TEXT,                  -- JSON
        error       TEXT,
        started_at  TEXT,
        ended_at    TEXT,
        PRIMARY KEY (run_id, step, idx),
        FOREIGN KEY (run_id, step) REFERENCES run_steps (run_id, step)
    ) WITHOUT ROWID;
    CREATE TABLE run_approvals (
        run_id      INTEGER NOT NULL REFERENCES runs (id),
        step        TEXT    NOT NULL,
        idx         INTEGER,               -- a manual task's item; NULL: the whole step
        kind        TEXT    NOT NULL CHECK (kind IN ('approval', 'manual')),
        actor       TEXT    NOT NULL,
        at          TEXT    NOT NULL,
        note        TEXT
    );
    CREATE INDEX run_approvals_step ON run_approvals (run_id, step);
    CREATE INDEX audit_log_label ON audit_log (label, id);  -- a key's history (notices)
    """,
]
