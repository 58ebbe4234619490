"""The dumps ingested so far: list, show, remove. Views for the CLI, as plain data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from incident.errors import InputError, Place
from incident.store import Store
from incident.store import dumps as sql


def _view(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "sha256": bytes(d["sha256"]).hex(), "formats": json.loads(d["formats"]),
            "per_exchange": json.loads(d["per_exchange"])}


def list_dumps(store: Store) -> Iterator[dict[str, Any]]:
    for d in sql.iter_dumps(store.conn):
        yield _view(d)


def ensure_indexes(store: Store) -> None:
    """Lookups by fingerprint need the leak indexes a bulk ingest leaves to them."""
    if sql.leak_indexes_missing(store.conn):
        with store.write() as conn:
            sql.ensure_leak_indexes(conn)


def show_dump(store: Store, dump_id: int) -> dict[str, Any]:
    ensure_indexes(store)
    d = sql.get_dump(store.conn, dump_id)
    if d is None:
        raise InputError(f"no dump {dump_id} (see 'incident dumps list')")
    view = _view(d)
    view["new"] = d["credentials"] - sql.seen_before(store.conn, dump_id)
    view["members"] = [{"name": n, "format": f, "credentials": c}
                       for n, f, c in sql.members_of(store.conn, dump_id)]
    view["rejects"] = [f"{Place(m, p, c)}: {r}"
                       for m, p, c, r in sql.rejects_of(store.conn, dump_id)]
    return view


def remove_dump(store: Store, dump_id: int) -> dict[str, Any]:
    with store.write() as conn:
        d = sql.get_dump(conn, dump_id)
        if d is None or not sql.delete_dump(conn, dump_id):
            raise InputError(f"no dump {dump_id} (see 'incident dumps list')")
    return _view(d)
