"""Bulk-load speed: warehouse.observations.load_observations vs the raw driver, on both databases.

    uv run python benchmarks/bench_load.py [--rows 1000000] [--pg-url URL] [--no-pg]

Without --pg-url a throwaway PostgreSQL 15 is started from /usr/lib/postgresql/15/bin.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.pg import temporary_postgres  # noqa: E402
from warehouse.engine import dispose_engine, get_engine  # noqa: E402
from warehouse.migrate import upgrade  # noqa: E402
from warehouse.observations import finish_source_file, load_observations, register_source_file

COLUMNS = ["area_code", "year", "element", "stratum", "value", "source_rows"]


def synthetic(n: int, base: float = 1.0) -> pd.DataFrame:
    i = np.arange(n)
    return pd.DataFrame(
        {
            "area_code": pd.Series(i // 200).map("{:06d}".format).astype("str"),
            "year": 2001 + (i // 20) % 10,
            "element": pd.Series(i % 20).map("e{:02d}".format).astype("str"),
            "stratum": "",
            "value": base + i * 0.5,
            "source_rows": (i + 2).astype(str),
        }
    )


def _ship(conn, table: str, columns: list[str], rows) -> None:
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
    else:
        marks = ", ".join("?" * len(columns))
        raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def raw_driver(engine, frame: pd.DataFrame) -> float:
    """The driver's own fast path into a plain table: the floor for shipping the rows."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_raw")
        conn.exec_driver_sql(
            "CREATE TABLE bench_raw (area_code VARCHAR(64), year INTEGER, element VARCHAR(64),"
            " stratum VARCHAR(64), value DOUBLE PRECISION, source_rows TEXT)"
        )
    started = time.perf_counter()
    with engine.begin() as conn:
        _ship(conn, "bench_raw", COLUMNS, zip(*(frame[c].tolist() for c in COLUMNS), strict=True))
    elapsed = time.perf_counter() - started
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE bench_raw")
    return elapsed


def raw_into_observation(engine, frame: pd.DataFrame) -> float:
    """The same fast path straight into the observation table (its indexes and FK), rolled
    back: the floor for any loader of that table, before any revision logic."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO source_file (checksum, name, received_at, status)"
            f" VALUES ('{'0' * 64}', 'raw', '2000-01-01 00:00:00', 'raw')"
        )
        file_id = conn.exec_driver_sql("SELECT max(id) FROM source_file").scalar()
    now = datetime.now(UTC)
    valid_from = (
        now if engine.dialect.name == "postgresql" else now.strftime("%Y-%m-%d %H:%M:%S.%f")
    )
    n = len(frame)
    columns = [*COLUMNS, "source_file_id", "revision", "valid_from"]
    values = [frame[c].tolist() for c in COLUMNS] + [[file_id] * n, [1] * n, [valid_from] * n]
    started = time.perf_counter()
    with engine.connect() as conn, conn.begin() as tx:
        _ship(conn, "observation", columns, zip(*values, strict=True))
        elapsed = time.perf_counter() - started
        tx.rollback()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM source_file WHERE id = {file_id}")
    return elapsed


def our_load(engine, frame: pd.DataFrame, name: str, loaded_at: datetime):
    started = time.perf_counter()
    with engine.begin() as conn:
        file_id, _ = register_source_file(
            conn, checksum=hashlib.sha256(name.encode()).hexdigest(), name=name, source="bench",
            layout="v1", encoding="utf-8", rows_read=len(frame),
        )  # fmt: skip
        stats = load_observations(conn, file_id, frame, loaded_at)
        finish_source_file(conn, file_id, stats.rows, 0, "loaded")
    return time.perf_counter() - started, stats


def bench(label: str, url: str, n: int, to_sql: bool) -> list[tuple]:
    engine = get_engine(url)
    upgrade(engine)
    frame = synthetic(n)
    changed = frame.copy()
    changed.loc[changed.index % 10 == 0, "value"] += 1  # 10 % corrected values
    t0 = datetime.now(UTC)
    results = [
        (label, "raw driver (executemany / COPY) into a plain table", raw_driver(engine, frame), "")
    ]
    if to_sql:
        started = time.perf_counter()
        frame.to_sql("bench_to_sql", engine, if_exists="replace", index=False, chunksize=100_000)
        results.append(
            (label, "DataFrame.to_sql (default method)", time.perf_counter() - started, "")
        )
    for step, data, name, at in [
        ("load_observations, empty warehouse", frame, "first", t0),
        ("load_observations, same values again", frame, "again", t0 + timedelta(hours=1)),
        ("load_observations, 10 % values changed", changed, "changed", t0 + timedelta(hours=2)),
    ]:
        seconds, stats = our_load(engine, data, name, at)
        results.append((label, step, seconds, f"{stats}"))
    with engine.begin() as conn:  # an empty table again, as for the first load
        conn.exec_driver_sql("DELETE FROM observation")
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("TRUNCATE observation")
    results.insert(
        1, (label, "raw driver into the observation table", raw_into_observation(engine, frame), "")
    )
    dispose_engine(url)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", help="an empty PostgreSQL database to use")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--to-sql", action="store_true", help="also time DataFrame.to_sql")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results += bench("SQLite", f"sqlite:///{tmp}/bench.sqlite", args.rows, args.to_sql)
    if not args.no_pg:
        with contextlib.ExitStack() as stack:
            url = args.pg_url or stack.enter_context(temporary_postgres())
            results += bench("PostgreSQL", url, args.rows, args.to_sql)

    print(f"\n{args.rows:,} rows\n")
    print("| database | step | seconds | rows/s | result |\n| --- | --- | ---: | ---: | --- |")
    for db, step, seconds, note in results:
        print(f"| {db} | {step} | {seconds:.2f} | {args.rows / seconds:,.0f} | {note} |")


if __name__ == "__main__":
    main()
