"""Unit tests of the fixes the reliability work made (the corpus and fault tests show them end to
end): a dead holder's pipeline lock, passwords in URLs SQLAlchemy parses differently."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_holder_gone_only_for_a_dead_process_of_this_host():
    import os

    from warehouse.lock import holder_gone, holder_name

    host = socket.gethostname()
    assert holder_name() == f"{host}:{os.getpid()}"
    assert holder_gone(f"{host}:{_dead_pid()}")
    assert not holder_gone(holder_name())  # this very process
    assert not holder_gone(f"{host}:1")  # alive (or not ours to judge)
    assert not holder_gone(f"some-other-host:{_dead_pid()}")  # only age breaks those
    for odd in ("nightly", "host-a pid 1", f"{host}:", f"{host}:-5", ""):
        assert not holder_gone(odd)


def test_a_dead_holders_lock_is_taken_over_at_once(db_url):
    import sqlalchemy as sa

    from warehouse.engine import get_engine
    from warehouse.lock import LockHeld, acquire, pipeline_lock
    from warehouse.migrate import upgrade
    from warehouse.schema import pipeline_lock as lock_table
    from warehouse.schema import utcnow

    engine = get_engine(db_url)
    upgrade(engine)
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    with engine.begin() as conn:
        conn.execute(
            sa.insert(lock_table).values(name="pipeline", holder=dead, acquired_at=utcnow())
        )
    with pipeline_lock(engine, "pipeline", "next run"):
        with engine.connect() as conn:
            assert conn.execute(sa.select(lock_table.c.holder)).scalar() == "next run"
        with pytest.raises(LockHeld):  # a live holder still keeps others out
            acquire(engine, "pipeline", "third")


@pytest.mark.parametrize(
    "url, secret",
    [
        ("postgresql+psycopg://hp:Kx9-plain-Pw@db.example:5432/hp", "Kx9-plain-Pw"),
        ("postgresql+psycopg://:Kx9-nouser@db.example/hp", "Kx9-nouser"),
        ("postgresql://hp:Kx9%40esc%2Fped@db.example/hp", "Kx9%40esc%2Fped"),
    ],
)
def test_safe_url_hides_every_password(url, secret):
    from warehouse.engine import WarehouseUnavailable, safe_url

    shown = safe_url(url)
    assert secret not in shown and "***" in shown
    assert secret not in str(WarehouseUnavailable(url, "refused", 4))
