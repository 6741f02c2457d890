"""A throwaway PostgreSQL 15 on 127.0.0.1 for the benchmarks (as tests/conftest.py starts one).

PostgreSQL refuses to run as root, so as root its tools run as the ``postgres`` user. The server
keeps PostgreSQL's default durability settings (fsync on): the figures are what a production
server on this disk would do, not what the test suite's fsync=off server does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PG_BIN = Path(os.environ.get("HEALTHPLAN_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def server_version() -> str:
    proc = subprocess.run([str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True)
    return proc.stdout.strip()


@contextlib.contextmanager
def temporary_postgres(base_dir: Path | None = None) -> Iterator[str]:
    """Yields the URL of the maintenance database of a fresh server; stops and removes it after."""
    missing = [b for b in ("initdb", "pg_ctl") if not (PG_BIN / b).exists()]
    if missing:
        raise RuntimeError(
            f"PostgreSQL 15 binaries {missing} not found in {PG_BIN}: install postgresql-15 "
            "(scripts/setup.sh --with-postgres), give --pg-url, or run with --no-pg"
        )
    base = Path(tempfile.mkdtemp(prefix="bench-pg-", dir=base_dir))
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        for d in (base, data, sock):
            shutil.chown(d, "postgres", "postgres")
    _run(
        [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--locale=C.UTF-8"],
        "initdb",
    )  # fmt: skip
    port = _free_port()
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"
    _run(
        [str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(base / "server.log"),
         "-o", options, "start"],
        "pg_ctl start",
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"]),
            capture_output=True,
            timeout=180,
        )
        shutil.rmtree(base, ignore_errors=True)


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_database(server_url: str, name: str) -> str:
    """A fresh empty database on the server (dropped first if it exists); returns its URL."""
    import psycopg

    with psycopg.connect(_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_conninfo(server_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
