"""One engine per database URL, configured for how the warehouse uses each database."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from healthplan.settings import get_settings, mask_secrets_in_logs, masked_url

CONNECT_ATTEMPTS = 4
CONNECT_BACKOFF_SECONDS = 0.5  # doubles after each failed attempt
SQLITE_BUSY_TIMEOUT_MS = 30_000
# SQLite's page cache per connection, KiB (its own default size). Pooled connections keep it
# filled: 64 MiB cost each phase 60–75 MB of memory from its first big read or load on, and
# loaded no faster (the operating system caches the file: 4× the preset ingested in the same
# time, 1,000,000 rows loaded at the same speed, revisions included).
SQLITE_CACHE_KIB = 2048

log = logging.getLogger("healthplan.warehouse")
mask_secrets_in_logs()
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class WarehouseUnavailable(RuntimeError):
    """The warehouse could not be reached; the message names the masked URL and the cause."""

    def __init__(self, url: str, cause: str, attempts: int):
        self.url = safe_url(url)
        try:
            self.cause = _password_free(cause, url)
        except Exception:  # noqa: BLE001 - not a URL SQLAlchemy parses: the text pattern alone
            self.cause = masked_url(cause)
        self.attempts = attempts
        super().__init__(
            f"数据仓库无法连接 / warehouse unavailable: {self.url} "
            f"(after {attempts} attempt{'s' if attempts != 1 else ''}): {self.cause}"
        )


def safe_url(url: str) -> str:
    """The URL for messages: the password hidden as SQLAlchemy parses it (also with an empty
    user name, which ``masked_url`` alone misses), and as ``masked_url`` finds it."""
    with contextlib.suppress(Exception):  # not a URL: the text pattern alone
        url = make_url(url).render_as_string(hide_password=True)
    return masked_url(url)


def normalize_url(url: str) -> str:
    """PostgreSQL URLs always use psycopg 3 (psycopg2 is not installed)."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy's message would repeat the whole URL
        raise ValueError(f"not a database URL: {safe_url(url)}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _jsonable(value: Any) -> Any:
    # NaN is not JSON (PostgreSQL rejects it) and numpy scalars are not serializable.
    kind = type(value)  # plain leaves first: this runs for every value of every JSON column
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return _jsonable(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # numpy scalar
        return _jsonable(value.item())
    if hasattr(value, "tolist"):  # numpy array, pandas Series
        return _jsonable(value.tolist())
    try:
        if value != value:  # NaT
            return None
    except TypeError:  # pd.NA refuses to be a bool
        return None
    return str(value)


def json_dumps(value: Any) -> str:
    return json.dumps(_jsonable(value), ensure_ascii=False)


def _password_free(text: str, url: str) -> str:
    """The text with every secret of ``url`` taken out: its password and the values of query
    parameters named like a secret (a driver's message may repeat them in any form)."""
    from healthplan.settings import _SECRET_NAME

    parsed = make_url(url)
    secrets = [str(parsed.password)] if parsed.password else []
    for name, value in parsed.query.items():
        if re.fullmatch(_SECRET_NAME, name, flags=re.IGNORECASE):
            secrets += [value] if isinstance(value, str) else list(value)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return masked_url(text)


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy, not the sqlite3 module, emits BEGIN: DDL and SAVEPOINTs become transactional.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; fsync at checkpoints
        cur.execute(f"PRAGMA cache_size = {-SQLITE_CACHE_KIB}")
        cur.execute("PRAGMA temp_store = MEMORY")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _create(url: str) -> Engine:
    parsed = make_url(url)
    common: dict[str, Any] = {"json_serializer": json_dumps, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **common
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(
            url,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": 10,
                "application_name": "healthplan",
                "options": "-c timezone=UTC",
            },
            **common,
        )
    return sa.create_engine(url, **common)


def _check(engine: Engine, url: str, attempts: int, backoff: float) -> None:
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return
        except Exception as exc:  # noqa: BLE001 - every start-up failure gets the same treatment
            orig = getattr(exc, "orig", None) or exc
            cause = _password_free(f"{type(orig).__name__}: {orig}".strip(), url)
            cause = (cause.splitlines() or [type(orig).__name__])[0]
            if attempt == attempts:
                engine.dispose()
                raise WarehouseUnavailable(url, cause, attempts) from None
            log.warning(
                "数据仓库连接失败（第 %d/%d 次），%.1f 秒后重试 / warehouse connection failed "
                "(attempt %d of %d), retrying in %.1f s: %s: %s",
                attempt,
                attempts,
                delay,
                attempt,
                attempts,
                delay,
                safe_url(url),
                cause,
            )
            time.sleep(delay)
            delay *= 2


def get_engine(
    url: str | None = None,
    *,
    attempts: int = CONNECT_ATTEMPTS,
    backoff: float = CONNECT_BACKOFF_SECONDS,
) -> Engine:
    """The engine for ``url`` (default: the settings' warehouse), created and checked once.

    A database that is down at start is retried ``attempts`` times with doubling backoff, then
    ``WarehouseUnavailable`` is raised; a failed engine is not cached.
    """
    url = normalize_url(url or get_settings().effective_database_url)
    with _lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        try:
            engine = _create(url)
        except OSError as exc:  # e.g. the SQLite folder cannot be created
            raise WarehouseUnavailable(url, f"{type(exc).__name__}: {exc}", 1) from None
        _check(engine, url, max(1, attempts), backoff)
        _engines[url] = engine
        return engine


def dispose_engine(url: str) -> None:
    """Close pooled connections and forget the engine (e.g. before dropping a database)."""
    with _lock:
        engine = _engines.pop(normalize_url(url), None)
    if engine is not None:
        engine.dispose()


def dispose_all() -> None:
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


def _after_fork() -> None:
    # A forked child must not reuse the parent's pooled connections.
    for engine in list(_engines.values()):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


@contextlib.contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A transaction meant to write: on SQLite it takes the write lock at BEGIN (IMMEDIATE).

    A deferred SQLite transaction that reads first and writes later can fail with "database is
    locked" when another writer got in between; taking the lock up front makes it wait instead.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


def warehouse_down(exc: BaseException) -> bool:
    """Whether the error means the warehouse itself cannot be used (unreachable, a dropped
    connection, a locked or failing database): the whole run's problem, not one file's."""
    if isinstance(exc, WarehouseUnavailable):
        return True
    if getattr(exc, "connection_invalidated", False):
        return True
    return isinstance(
        exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.DisconnectionError
    )


DB_ERROR_ZH = {
    "DataError": "数值不符合列的类型或长度 / a value does not fit its column",
    "IntegrityError": "违反数据完整性约束 / a constraint of the warehouse was violated",
    "OperationalError": "数据库操作失败 / the database could not do it",
    "ProgrammingError": "数据库结构与程序不符（是否已运行 healthplan db upgrade？）/ the schema does "
    "not match the code (run healthplan db upgrade?)",
}


def db_error_message(exc: BaseException, operation: str) -> str:
    """A SQLAlchemy error as a user reads it: Chinese first, naming the operation and the
    database's own one-line reason, never the SQL statement or its parameters (those go to the
    log at debug level)."""
    log.debug("%s failed", operation, exc_info=exc)
    orig = getattr(exc, "orig", None)
    kind = next(
        (k for c in type(exc).__mro__ if (k := DB_ERROR_ZH.get(c.__name__))),
        "数据仓库出错 / warehouse error",
    )
    reason = str(orig if orig is not None else exc).strip().splitlines()
    first = masked_url(reason[0])[:300] if reason else type(exc).__name__
    if isinstance(exc, sa.exc.StatementError) and orig is None:
        first = type(exc).__name__  # its text would be the SQL
    return f"{operation}失败：{kind}（{first}）"


def check_lengths(
    table: sa.Table, row: dict[str, Any], labels: dict[str, str] | None = None
) -> None:
    """Raise ValueError (Chinese first, naming the field) when a text value is longer than its
    column allows: checked before the database, so SQLite (which would store it) and PostgreSQL
    (which would refuse it mid-transaction) behave alike."""
    for name, value in row.items():
        column = table.c.get(name)
        length = getattr(getattr(column, "type", None), "length", None)
        if length is None or not isinstance(value, str) or len(value) <= length:
            continue
        label = (labels or {}).get(name, name)
        raise ValueError(
            f"{label}过长（{len(value)} 个字符，上限 {length}）/ {name} too long "
            f"({len(value)} characters, at most {length})"
        )
