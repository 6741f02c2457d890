"""Engine set-up, start-up failures, and time zones."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from healthplan.settings import get_settings
from warehouse.engine import (
    SQLITE_CACHE_KIB,
    WarehouseUnavailable,
    dispose_engine,
    get_engine,
    normalize_url,
)
from warehouse.schema import pipeline_lock


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket goes


def test_unreachable_database_retries_then_fails_clearly():
    url = f"postgresql+psycopg://planner:S3cret-pw@127.0.0.1:{_closed_port()}/healthplan"
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailable) as info:
        get_engine(url, attempts=3, backoff=0.1)
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert "S3cret-pw" not in message
    assert "planner:***@127.0.0.1" in message
    assert "3 attempts" in message
    assert "refused" in message.lower() or "connect" in message.lower()
    assert info.value.__cause__ is None and "S3cret" not in repr(info.value.__context__)
    assert elapsed >= 0.1 + 0.2  # it waited between the attempts
    # a failed engine is not cached: the next call tries again
    with pytest.raises(WarehouseUnavailable):
        get_engine(url, attempts=1)


def test_sqlite_engine_is_configured(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'w.sqlite'}"
    engine = get_engine(url)
    try:
        assert (tmp_path / "nested" / "dir").is_dir()
        assert get_engine(url) is engine
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
            # a small page cache: pooled connections keep theirs filled between uses
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
    finally:
        dispose_engine(url)


def test_sqlite_ddl_is_transactional(tmp_path):
    """SQLAlchemy emits BEGIN itself, so even CREATE TABLE rolls back on SQLite."""
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    engine = get_engine(url)
    try:
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            raise RuntimeError("abort")
        assert "t" not in sa.inspect(engine).get_table_names()
    finally:
        dispose_engine(url)


def test_default_url_comes_from_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTHPLAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HEALTHPLAN_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        engine = get_engine()
        assert engine.url.database == str(tmp_path / "data" / "warehouse.sqlite")
        dispose_engine(get_settings().effective_database_url)
    finally:
        get_settings.cache_clear()


def test_plain_postgresql_urls_use_psycopg3():
    assert normalize_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_times_round_trip_as_utc(engine):
    shanghai = timezone(timedelta(hours=8))
    local = datetime(2025, 1, 1, 8, 0, 0, 123456, tzinfo=shanghai)
    with engine.begin() as conn:
        conn.execute(sa.insert(pipeline_lock).values(name="x", holder="h", acquired_at=local))
        stored = conn.execute(sa.select(pipeline_lock.c.acquired_at)).scalar()
        assert stored == local and stored.tzinfo == UTC
        assert stored == datetime(2025, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
        # comparisons happen in UTC on both databases
        found = conn.execute(
            sa.select(sa.func.count()).where(
                pipeline_lock.c.acquired_at > datetime(2024, 12, 31, 23, 59, tzinfo=UTC)
            )
        ).scalar()
        assert found == 1


def test_naive_times_are_refused(engine):
    with pytest.raises(sa.exc.StatementError, match="naive"), engine.begin() as conn:
        conn.execute(
            sa.insert(pipeline_lock).values(name="x", holder="h", acquired_at=datetime(2025, 1, 1))
        )


def test_unusable_sqlite_folder_and_bad_urls_fail_clearly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(WarehouseUnavailable, match="warehouse unavailable"):
        get_engine(f"sqlite:///{blocker}/w.sqlite")
    with pytest.raises(ValueError, match=r"not a database URL: .*\*\*\*") as info:
        get_engine("no-scheme://user:pw@@")
    assert "pw" not in str(info.value).replace("***", "")
