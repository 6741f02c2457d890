"""The pipeline lock keeps a second run out, says who holds it, and expires when stale."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from warehouse.lock import LockHeld, acquire, pipeline_lock, release
from warehouse.schema import pipeline_lock as lock_table
from warehouse.schema import utcnow


def test_second_acquire_raises_lock_held(engine):
    with pipeline_lock(engine, "nightly", "host-a pid 1") as since:
        with pytest.raises(LockHeld) as info, pipeline_lock(engine, "nightly", "host-b pid 2"):
            pass
        message = str(info.value)
        assert "host-a pid 1" in message and "已被" in message and "held by" in message
        assert info.value.since == since
        with pipeline_lock(engine, "other", "host-b pid 2"):  # other names are independent
            pass
    with pipeline_lock(engine, "nightly", "host-b pid 2"):  # released on exit
        pass


def test_lock_is_released_when_the_block_fails(engine):
    with pytest.raises(RuntimeError), pipeline_lock(engine, "nightly", "a"):
        raise RuntimeError("flow failed")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(lock_table)).scalar() == 0


def test_waiting_acquire_gets_the_lock_once_released(engine):
    acquired_at = acquire(engine, "nightly", "first")
    timer = threading.Timer(0.5, release, args=(engine, "nightly", acquired_at))
    timer.start()
    started = time.monotonic()
    with pipeline_lock(engine, "nightly", "second", wait_seconds=10, poll_seconds=0.1):
        waited = time.monotonic() - started
    timer.join()
    assert 0.3 < waited < 5


def test_stale_lock_is_broken(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.insert(lock_table).values(
                name="nightly", holder="killed run", acquired_at=utcnow() - timedelta(hours=7)
            )
        )
    with pytest.raises(LockHeld):
        acquire(engine, "nightly", "new", stale_after=timedelta(hours=8))
    with (
        pipeline_lock(engine, "nightly", "new", stale_after=timedelta(hours=6)),
        engine.connect() as conn,
    ):
        assert conn.execute(sa.select(lock_table.c.holder)).scalar() == "new"
