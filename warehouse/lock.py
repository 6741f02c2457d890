"""A named lock row, so two pipeline runs never interleave their writes to the warehouse."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse._sql import dialect_insert
from warehouse.engine import begin_write
from warehouse.schema import pipeline_lock as lock_table
from warehouse.schema import utcnow

DEFAULT_STALE_AFTER = timedelta(hours=6)  # longer than any real run; a killed run's lock expires


class LockHeld(RuntimeError):
    """Someone else holds the lock; says who and since when."""

    def __init__(self, name: str, holder: str, since: datetime):
        self.name, self.holder, self.since = name, holder, since
        stamp = since.strftime("%Y-%m-%d %H:%M:%S UTC")
        super().__init__(
            f"流水线锁“{name}”已被 {holder} 于 {stamp} 起持有，请稍后再试 / "
            f"pipeline lock '{name}' is held by {holder} since {stamp}; try again later"
        )


class LockLost(RuntimeError):
    """This run no longer holds the lock it started under (it was broken and taken by another
    run): it must not publish anything more."""


@dataclass(frozen=True)
class Fence:
    """The lock a run holds, as a fencing token: the lock row's name, holder and the moment it
    was taken. Only the run whose row is still exactly this one may publish (rename report
    files into place, record them); a worker of a run that was killed and replaced fails the
    check instead of overwriting the new run's work."""

    name: str
    holder: str
    acquired_at: datetime

    def still_held(self, engine: Engine) -> bool:
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(lock_table.c.name).where(
                    lock_table.c.name == self.name,
                    lock_table.c.holder == self.holder,
                    lock_table.c.acquired_at == self.acquired_at,
                )
            ).first()
        return row is not None

    def check(self, engine: Engine, what: str) -> None:
        """Raise LockLost unless this run still holds its lock; ``what``: the step about to
        publish, for the message."""
        if not self.still_held(engine):
            raise LockLost(
                f"流水线锁“{self.name}”已不属于本次运行（{self.holder}），不再{what} / this "
                f"run ({self.holder}) no longer holds the pipeline lock '{self.name}': not "
                f"{what} (a newer run took over)"
            )


_held: dict[str, Fence] = {}
_held_lock = threading.Lock()


def held_fence(name: str = "pipeline") -> Fence | None:
    """The fence of the lock ``name`` this process holds now (its render workers get it passed
    explicitly), or None outside a locked run."""
    with _held_lock:
        return _held.get(name)


def holder_name() -> str:
    """This process as a lock holder: 'host:pid' (the form ``holder_gone`` understands)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_gone(holder: str) -> bool:
    """True when the holder is a 'host:pid' of this host whose process no longer exists.

    A run killed with SIGKILL (or a power cut) cannot release its lock; when it ran on this
    host, the next run sees that the process is gone and takes over at once instead of waiting
    for the lock to go stale. Holders on other hosts are only broken by age. (Hosts must have
    distinct names: two containers sharing one host name but not their process ids would each
    see the other's runs as gone.)
    """
    host, sep, pid_text = str(holder).rpartition(":")
    if not sep or host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. EPERM: it exists, under another user
        return False
    return False


def _try_acquire(engine: Engine, name: str, holder: str, stale_after: timedelta | None):
    """One attempt: (acquired_at, None) when ours, or (None, (holder, since)) when held."""
    now = utcnow()
    with begin_write(engine) as conn:
        stmt = (
            dialect_insert(conn, lock_table)
            .values(name=name, holder=holder, acquired_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(lock_table.c.name)  # rowcount of an INSERT is not reliable on psycopg
        )
        if conn.execute(stmt).first() is not None:
            return now, None
        row = conn.execute(
            sa.select(lock_table.c.holder, lock_table.c.acquired_at).where(
                lock_table.c.name == name
            )
        ).one_or_none()
        if row is None:  # released in between: try again right away
            return None, None
        stale = stale_after is not None and now - row.acquired_at > stale_after
        if stale or holder_gone(row.holder):
            # Break it only if it is still the same lock (compare-and-delete).
            conn.execute(
                sa.delete(lock_table).where(
                    lock_table.c.name == name,
                    lock_table.c.holder == row.holder,
                    lock_table.c.acquired_at == row.acquired_at,
                )
            )
            return None, None
        return None, (row.holder, row.acquired_at)


def acquire(
    engine: Engine,
    name: str,
    holder: str,
    wait_seconds: float = 0,
    *,
    stale_after: timedelta | None = DEFAULT_STALE_AFTER,
    poll_seconds: float = 1.0,
) -> datetime:
    """Take the lock or raise LockHeld after ``wait_seconds``; returns when it was taken."""
    deadline = time.monotonic() + max(0.0, wait_seconds)
    while True:
        acquired_at, held = _try_acquire(engine, name, holder, stale_after)
        if acquired_at is not None:
            return acquired_at
        if held is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockHeld(name, *held)
            time.sleep(min(poll_seconds, remaining))


def release(engine: Engine, name: str, acquired_at: datetime | None = None) -> bool:
    """Drop the lock (only the one taken at ``acquired_at`` if given); True if a row went."""
    stmt = sa.delete(lock_table).where(lock_table.c.name == name)
    if acquired_at is not None:
        stmt = stmt.where(lock_table.c.acquired_at == acquired_at)
    with begin_write(engine) as conn:
        return conn.execute(stmt).rowcount > 0


@contextlib.contextmanager
def pipeline_lock(
    engine: Engine,
    name: str,
    holder: str,
    wait_seconds: float = 0,
    *,
    stale_after: timedelta | None = DEFAULT_STALE_AFTER,
    poll_seconds: float = 1.0,
) -> Iterator[datetime]:
    """Hold the named lock for the block; raises LockHeld if another holder has it.

    A run killed without cleanup leaves its row: the next run breaks it at once when the holder
    was a process of this host that is gone (``holder_name()`` gives that form), else after
    ``stale_after`` (``release(engine, name)`` clears it by hand).
    """
    acquired_at = acquire(
        engine, name, holder, wait_seconds, stale_after=stale_after, poll_seconds=poll_seconds
    )
    with _held_lock:
        _held[name] = Fence(name, holder, acquired_at)
    try:
        yield acquired_at
    finally:
        with _held_lock:
            if _held.get(name) == Fence(name, holder, acquired_at):
                del _held[name]
        release(engine, name, acquired_at)


def fail_unfinished_runs(engine: Engine, flow: str) -> int:
    """Mark failed every ``flow`` run still recorded as running: called by the run that has
    just taken the lock, so none of them can still be going (their process was killed, or the
    machine went down). Returns how many were closed."""
    from warehouse.schema import run

    with begin_write(engine) as conn:
        return conn.execute(
            sa.update(run)
            .where(run.c.flow == flow, run.c.outcome == "running")
            .values(
                outcome="failed",
                finished_at=utcnow(),
                message="运行被中断（进程被终止），由下一次运行标记为失败 / interrupted (its "
                "process was killed); marked failed by the next run",
            )
        ).rowcount
