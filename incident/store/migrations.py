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
]
