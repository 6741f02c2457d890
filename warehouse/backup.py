"""Backup and restore of the whole warehouse: SQLite through its online backup API, PostgreSQL
through pg_dump / pg_restore (custom format). A backup is a consistent snapshot taken while runs
go on; a restore replaces everything, under the pipeline lock so no run writes meanwhile."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from warehouse.engine import dispose_engine, normalize_url, safe_url

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says why (no secret in it)."""


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError(f"只能备份 SQLite 文件 / only a SQLite file can be backed up: {url}")
    return Path(url.database).expanduser()


def _pg_tool(name: str) -> str:
    """pg_dump or pg_restore: on PATH, else the newest PostgreSQL installed under /usr/lib."""
    found = shutil.which(name)
    if found:
        return found
    for folder in PG_BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    raise BackupError(f"找不到 {name}（请安装 PostgreSQL 客户端）/ {name} not found")


def _pg_connection(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment carrying it (PGPASSWORD): the
    password never appears in a process list."""
    query = {k: v for k, v in url.query.items() if k != "password"}
    password = url.password or url.query.get("password")
    plain = url.set(drivername="postgresql", password=None, query=query)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password if isinstance(password, str) else password[0])
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [x for x in (proc.stderr or "").splitlines() if x.strip()]
        raise BackupError(f"{what}失败 / {what} failed: {safe_url(' '.join(lines[-3:]))[:500]}")


def backup(database_url: str, target: Path) -> Path:
    """Write a consistent copy of the warehouse to ``target`` (written beside it, then renamed:
    a failed backup never leaves a partial file under the name)."""
    url = make_url(normalize_url(database_url))
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    try:
        if url.get_backend_name() == "sqlite":
            source = sqlite3.connect(str(_sqlite_path(url)))
            dest = sqlite3.connect(str(part))
            try:
                source.backup(dest)
            finally:
                dest.close()
                source.close()
        elif url.get_backend_name() == "postgresql":
            uri, env = _pg_connection(url)
            _run([_pg_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(part), "-d", uri], env,
                 "备份 / backup")  # fmt: skip
        else:
            raise BackupError(f"不支持的数据库 / unsupported database: {url.get_backend_name()}")
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


def restore(database_url: str, source: Path) -> None:
    """Replace the warehouse's whole content with the backup ``source`` (taken by ``backup``
    from a warehouse of the same kind). The caller holds the pipeline lock."""
    url = make_url(normalize_url(database_url))
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"备份文件不存在 / no such backup file: {source}")
    head = source.read_bytes()[:16]
    dispose_engine(database_url)  # no pooled connection may see the old content
    if url.get_backend_name() == "sqlite":
        if not head.startswith(SQLITE_MAGIC):
            raise BackupError(f"不是 SQLite 备份 / not a SQLite backup: {source}")
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        target = sqlite3.connect(str(_sqlite_path(url)))
        try:
            if backup_db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"备份文件已损坏 / the backup is damaged: {source}")
            backup_db.backup(target)
        finally:
            target.close()
            backup_db.close()
    elif url.get_backend_name() == "postgresql":
        if not head.startswith(PG_DUMP_MAGIC):
            raise BackupError(f"不是 pg_dump 备份 / not a pg_dump backup: {source}")
        uri, env = _pg_connection(url)
        _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
              "--single-transaction", "--exit-on-error", "-d", uri, str(source)], env,
             "恢复 / restore")  # fmt: skip
    else:
        raise BackupError(f"不支持的数据库 / unsupported database: {url.get_backend_name()}")
    dispose_engine(database_url)
