from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from incident.errors import InputError, SchemaTooNew, StoreBusy, UsageError
from incident.settings import Settings
from incident.store import Store
from incident.store.migrations import MIGRATIONS


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_is_0700_and_every_database_file_0600(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "a" / "home")  # parents created too
    with Store.open(settings) as store:
        with store.write() as conn:
            conn.execute("INSERT INTO key_sources (kind, started_at) VALUES ('stdin', 'x')")
        files = sorted(p.name for p in settings.data_dir.iterdir())
        assert files == ["incident.db", "incident.db-shm", "incident.db-wal"]
        assert mode(settings.data_dir) == 0o700
        for name in files:
            assert mode(settings.data_dir / name) == 0o600, name


@pytest.mark.parametrize("loose", [0o755, 0o1777])
def test_a_data_dir_others_can_enter_is_refused_not_changed(tmp_path: Path, loose: int) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, loose)
    with pytest.raises(InputError, match="must be yours and private"):
        Store.open(Settings(data_dir=home))
    assert mode(home) == loose and list(home.iterdir()) == []


def test_a_data_dir_that_is_a_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="cannot use as the data directory"):
        Store.open(Settings(data_dir=tmp_path / "file"))


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    with Store.open(Settings(data_dir=tmp_path)) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.schema_version == len(MIGRATIONS)
        versions = [r[0] for r in store.conn.execute("SELECT version FROM schema_version")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))


def test_opening_again_migrates_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    Store.open(settings).close()
    with Store.open(settings) as store:
        count = store.conn.execute("SELECT count(*) FROM schema_version").fetchone()[0]
        assert count == len(MIGRATIONS)


def test_a_database_from_a_newer_incident_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    Store.open(settings).close()
    conn = sqlite3.connect(settings.database)
    conn.execute("INSERT INTO schema_version VALUES (?, 'later')", (len(MIGRATIONS) + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match="written by a newer incident"):
        Store.open(settings)


def test_a_file_that_is_not_a_database_is_bad_input(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    settings.database.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(Exception) as e:
        Store.open(settings)
    assert getattr(e.value, "exit_code", None) == 3


def test_a_writer_waits_for_the_busy_timeout_then_fails_clearly(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, busy_timeout_s=0.2)
    with Store.open(settings) as holder, Store.open(settings) as waiter:
        with holder.write():
            with pytest.raises(StoreBusy, match="another incident process"):
                with waiter.write():
                    pass
        with waiter.write():  # free again
            pass


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with Store.open(Settings(data_dir=tmp_path)) as store:
        with pytest.raises(RuntimeError):
            with store.write() as conn:
                conn.execute("INSERT INTO key_sources (kind, started_at) VALUES ('stdin', 'x')")
                raise RuntimeError("boom")
        assert store.conn.execute("SELECT count(*) FROM key_sources").fetchone()[0] == 0


def test_settings_from_env(tmp_path: Path) -> None:
    s = Settings.from_env({"INCIDENT_HOME": str(tmp_path / "h"), "INCIDENT_BUSY_TIMEOUT": "5"})
    assert s.data_dir == tmp_path / "h" and s.busy_timeout_s == 5.0
    assert Settings.from_env({}).data_dir.name == "incident"  # the platform's user data dir
    for bad in ("abc", "-1", "1e9"):
        with pytest.raises(UsageError, match="INCIDENT_BUSY_TIMEOUT"):
            Settings.from_env({"INCIDENT_BUSY_TIMEOUT": bad})
