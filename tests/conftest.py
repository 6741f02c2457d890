"""Shared test fixtures. Keep this module light: heavy imports go inside the fixtures."""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# openpyxl writes other (equally valid) bytes when lxml is installed (python-docx brings it): the
# generators' committed files are compared byte for byte, so openpyxl keeps its own XML writer.
os.environ.setdefault("OPENPYXL_LXML", "False")

# Prefect reads these at import: set them before any test module imports prefect (stack notes).
_PREFECT_HOME = tempfile.mkdtemp(prefix="healthplan-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_API_URL"] = ""
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# openpyxl writes with lxml when it is installed (python-docx brings it): other bytes. The
# committed corpus and the tests that patch sheet XML expect openpyxl's own writer.
os.environ.setdefault("OPENPYXL_LXML", "False")

# ------------------------------------------------------------------------------------------------
# PostgreSQL: a real PostgreSQL 15 server for the whole session, started only when a test asks.

PG_BIN = Path(os.environ.get("HEALTHPLAN_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
# Set to use an existing server instead (e.g. a CI service): a URL to its maintenance database.
PG_URL_ENV = "HEALTHPLAN_TEST_POSTGRES_URL"
_db_counter = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; as root, run its tools as the postgres user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of the maintenance database of a throwaway PostgreSQL 15 on 127.0.0.1."""
    if os.environ.get(PG_URL_ENV):
        yield os.environ[PG_URL_ENV]
        return
    missing = [b for b in ("initdb", "pg_ctl") if not (PG_BIN / b).exists()]
    if missing:
        pytest.fail(
            f"PostgreSQL 15 binaries {missing} not found in {PG_BIN}: install the Debian "
            f"package postgresql-15 (or set {PG_URL_ENV} to an existing server). "
            "The warehouse tests must run against PostgreSQL too, so this is not skipped."
        )
    base = Path(tempfile.mkdtemp(prefix="healthplan-pg-"))
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        for d in (data, sock):
            shutil.chown(d, "postgres", "postgres")
    _run(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        "initdb",
    )
    port = _free_port()
    options = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _run(
        [
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-t",
            "60",
            "-l",
            str(base / "server.log"),
            "-o",
            options,
            "start",
        ],
        "pg_ctl start",
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"]),
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)


def _admin(server_url: str, sql: str) -> None:
    import psycopg

    conninfo = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    name = f"test_{os.getpid()}_{next(_db_counter)}"
    _admin(postgres_server, f"CREATE DATABASE {name}")
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        from warehouse.engine import dispose_engine

        dispose_engine(url)
        _admin(postgres_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty warehouse database URL; tests using it run on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{(tmp_path / 'warehouse.sqlite').as_posix()}"
        yield url
        from warehouse.engine import dispose_engine

        dispose_engine(url)
    else:
        yield request.getfixturevalue("postgres_url")


# ------------------------------------------------------------------------------------------------
# Prefect: one test harness (a temporary API server) for the whole session, started on demand.


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _clear_caches() -> None:
    from flows import common
    from healthplan.settings import get_settings

    get_settings.cache_clear()
    common.catalog.cache_clear()
    common.warehouse.cache_clear()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing at a fresh data folder and reports folder; caches reset around the test."""
    monkeypatch.setenv("HEALTHPLAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("HEALTHPLAN_DATABASE_URL", raising=False)
    _clear_caches()
    yield tmp_path
    _clear_caches()
