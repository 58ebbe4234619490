"""The claim report on the sample data directory: golden files compared whole, and what
must hold whatever the figures are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from incident.errors import UnknownLabel
from incident.report import render
from incident.report.claim import ClaimOptions, build_claim, trades_csv
from incident.report.interface import ReportError
from incident.settings import Settings
from incident.store import Store
from tests.reports import USER, assert_golden, load_sample

VICTIM = "user-0001-binance"


@pytest.fixture
def store(home: Path) -> Any:
    load_sample(home, USER)
    with Store.open(Settings.from_env()) as s:
        yield s


def test_the_claim_matches_its_golden_files(store: Store) -> None:
    report = build_claim(store, VICTIM, ClaimOptions(claimant="Sam Sample"))
    out = render.render(report, ["html", "md", "json"])
    for ext, data in out.items():
        assert_golden(f"claim.{ext}", data)
    assert_golden("claim-trades.csv", trades_csv(report))


def test_the_same_data_gives_the_same_bytes(store: Store) -> None:
    first = render.render(build_claim(store, VICTIM, ClaimOptions()), ["html", "md", "json"])
    again = render.render(build_claim(store, VICTIM, ClaimOptions()), ["html", "md", "json"])
    assert first == again


def test_what_the_claim_says(store: Store) -> None:
    model = build_claim(store, VICTIM, ClaimOptions(charts=False)).model
    trades = model["trades"]
    assert trades and {t["symbol"] for t in trades} == {"SYS/BTC"}
    assert all(t["side"] == "buy" and {"burst", "above", "whole"} <= set(t["flags"])
               for t in trades)
    # the headline is the shortfall, inside the range across the methods
    low, high = (float(model["summary"][k]) for k in ("low_usd", "high_usd"))
    assert low <= float(model["summary"]["headline_usd"]) <= high
    assert model["summary"]["headline_usd"] == model["loss"]["methods"]["vwap"]["shortfall_usd"]
    events = [e["event"] for e in model["timeline"]]
    assert "first unauthorized order" in events
    assert model["timeline"] == sorted(model["timeline"], key=lambda e: (e["at"], e["event"]))
    assert model["custody"]["log_ok"]
    assert model["snapshots"][0]["responses"]


def test_the_json_holds_no_floats(store: Store) -> None:
    data = render.render(build_claim(store, VICTIM, ClaimOptions(charts=False)), ["json"])
    doc = json.loads(data["json"], parse_float=lambda x: pytest.fail(f"a float: {x}"))
    assert doc["format"] == "incident-report/1" and doc["kind"] == "claim"


def test_source_date_epoch_sets_the_time(store: Store, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1671523200")
    model = build_claim(store, VICTIM, ClaimOptions(charts=False)).model
    assert model["generated_at"] == "2022-12-20T08:00:00Z"


def test_the_holders_own_orders_leave_the_claim(store: Store) -> None:
    model = build_claim(store, VICTIM, ClaimOptions(charts=False)).model
    first = model["trades"][0]["order"]
    mine = build_claim(store, VICTIM, ClaimOptions(charts=False,
                                                   own=frozenset({first}))).model
    assert first not in {t["order"] for t in mine["trades"]}
    assert len(mine["trades"]) == len(model["trades"]) - 1


def test_a_snapshot_changed_since_it_was_taken_is_refused(store: Store, home: Path) -> None:
    (path,) = (home / "snapshots").glob(f"{VICTIM}/*/snapshot.json")
    path.write_bytes(path.read_bytes().replace(b'"amount"', b'"amount" ', 1))
    with pytest.raises(ReportError, match=r"snapshot.json: changed since it was taken"):
        build_claim(store, VICTIM, ClaimOptions(charts=False))


def test_no_snapshot_and_no_such_label_are_named(store: Store) -> None:
    with pytest.raises(UnknownLabel, match="nobody"):
        build_claim(store, "nobody", ClaimOptions())
    with store.write() as conn:
        conn.execute("DELETE FROM snapshots")
    with pytest.raises(ReportError, match=f"no snapshot of '{VICTIM}'"):
        build_claim(store, VICTIM, ClaimOptions())


def test_a_key_proven_dead_ends_the_window_when_no_revocation_is_recorded(home: Path) -> None:
    from incident import audit
    from tests.reports import SAMPLE

    load_sample(home, SAMPLE)  # the platform's: a manual revoke given, nothing marked done
    with Store.open(Settings.from_env()) as store:
        before = build_claim(store, VICTIM, ClaimOptions(charts=False)).model["incident"]
        assert before["window_end_source"] != "revocation confirmed (verify-revoked)"
        with store.write() as conn:  # deleted by hand, then `incident verify-revoked`
            proof = audit.append(conn, action="verify-revoked", phase="read", label=VICTIM,
                                 exchange="binance", outcome="revoked")
        after = build_claim(store, VICTIM, ClaimOptions(charts=False)).model["incident"]
        at = next(e["at"] for e in audit.entries(store.conn) if e["id"] == proof.id)
    assert after["window_end_source"] == "revocation confirmed (verify-revoked)"
    assert after["window_end"][:19] == at[:19]
