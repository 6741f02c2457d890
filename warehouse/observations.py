"""Observations with revision history: load set-based, never overwrite, query as of any moment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse._sql import clean, connect, dialect_insert, frame_from_rows, require_aware
from warehouse.schema import (
    UTCDateTime,
    metadata,
    observation,
    quarantine,
    source_file,
    utcnow,
)

KEY = ["area_code", "year", "element", "stratum"]
FRAME_COLUMNS = [*KEY, "value", "source_rows"]
ASOF_COLUMNS = [*FRAME_COLUMNS[:5], "source_file_id", "source_rows", "revision", "valid_from"]
# Values closer than this (relative, plus the same absolute near zero) are "the same value":
# a re-read of a file must not create revisions from float noise.
TOLERANCE = 1e-9
OPTIONAL = ("stratum", "source_rows")  # default '' and NULL

STAGE = "_obs_stage"
DIFF = "_obs_diff"


@dataclass(frozen=True)
class LoadStats:
    """What one load did: new keys, keys whose value changed, keys already holding the value."""

    inserted: int
    revised: int
    unchanged: int

    @property
    def rows(self) -> int:
        return self.inserted + self.revised + self.unchanged


# ---------------------------------------------------------------------------------- source files


def register_source_file(
    conn: Connection,
    *,
    checksum: str,
    name: str,
    source: str | None,
    layout: str | None,
    encoding: str | None,
    rows_read: int | None,
    received_at: datetime | None = None,
) -> tuple[int, bool]:
    """Record a file by its sha256; returns (file_id, already_loaded).

    A checksum seen before is not loaded again and nothing changes, unless its earlier
    attempt ended with status 'failed' (committed as such): then the row is reused.
    """
    checksum = str(checksum).strip().lower()
    if len(checksum) != 64 or any(c not in "0123456789abcdef" for c in checksum):
        raise ValueError(f"checksum must be a sha256 hex digest, got {checksum!r}")
    values = {
        "name": name,
        "source": source,
        "layout": layout,
        "encoding": encoding,
        "rows_read": clean(rows_read),
        "rows_loaded": None,
        "rows_rejected": None,
        "received_at": require_aware(received_at, "received_at") if received_at else utcnow(),
        "status": "received",
    }
    stmt = (
        dialect_insert(conn, source_file)
        .values(checksum=checksum, **values)
        .on_conflict_do_nothing(index_elements=["checksum"])
        .returning(source_file.c.id)
    )
    new_id = conn.execute(stmt).scalar()
    if new_id is not None:
        return int(new_id), False
    file_id, status = conn.execute(
        sa.select(source_file.c.id, source_file.c.status).where(source_file.c.checksum == checksum)
    ).one()
    if status == "failed":
        conn.execute(sa.update(source_file).where(source_file.c.id == file_id).values(**values))
        return int(file_id), False
    return int(file_id), True


def finish_source_file(
    conn: Connection, file_id: int, rows_loaded: int, rows_rejected: int, status: str
) -> None:
    """Record the outcome of a file (e.g. status 'loaded', 'partial' or 'failed')."""
    result = conn.execute(
        sa.update(source_file)
        .where(source_file.c.id == int(file_id))
        .values(rows_loaded=clean(rows_loaded), rows_rejected=clean(rows_rejected), status=status)
    )
    if result.rowcount != 1:
        raise ValueError(f"no source file with id {file_id}")


def write_quarantine(conn: Connection, rows: list[dict]) -> int:
    """Store rejected rows with their reason; returns how many were written."""
    if not rows:
        return 0
    now = utcnow()
    records = []
    for i, row in enumerate(rows):
        unknown = set(row) - set(quarantine.c.keys())
        if unknown:
            raise ValueError(f"quarantine row {i}: unknown keys {sorted(unknown)}")
        if not row.get("file_name") or not row.get("reason"):
            raise ValueError(f"quarantine row {i}: file_name and reason are required")
        value = clean(row.get("value"))
        records.append(
            {
                "source_file_id": clean(row.get("source_file_id")),
                "file_name": str(row["file_name"]),
                "checksum": row.get("checksum"),
                "row": clean(row.get("row")),
                "field": clean(row.get("field")),
                "value": None if value is None else str(value),
                "reason": str(row["reason"]),
                "created_at": row.get("created_at") or now,
            }
        )
    conn.execute(sa.insert(quarantine), records)
    return len(records)


# ---------------------------------------------------------------------------------- loading


def _prepare(frame: pd.DataFrame) -> dict[str, list]:
    """Validate the frame and turn it into plain Python column lists for the driver."""
    missing = [c for c in FRAME_COLUMNS if c not in frame.columns and c not in OPTIONAL]
    if missing:
        raise ValueError(f"observation frame lacks columns {missing}; needs {FRAME_COLUMNS}")
    df = pd.DataFrame(
        {
            "area_code": frame["area_code"],
            "year": frame["year"],
            "element": frame["element"],
            "stratum": frame["stratum"].fillna("") if "stratum" in frame else "",
            "value": frame["value"],
        }
    )
    for column in ("area_code", "element"):
        if df[column].isna().any():
            raise ValueError(f"observation frame: {int(df[column].isna().sum())} empty {column}")
        df[column] = df[column].astype(str)
    df["stratum"] = df["stratum"].astype(str)
    year = pd.to_numeric(df["year"], errors="coerce")
    if year.isna().any() or (year != year.round()).any():
        raise ValueError("observation frame: year must be a whole number in every row")
    df["year"] = year.astype("int64")
    value = pd.to_numeric(df["value"], errors="coerce").astype("float64")
    bad = ~np.isfinite(value.to_numpy())
    if bad.any():
        raise ValueError(
            f"observation frame: {int(bad.sum())} rows without a finite value "
            "(quarantine them before loading)"
        )
    df["value"] = value
    dup = df.duplicated(KEY, keep=False)
    if dup.any():
        examples = df.loc[dup, KEY].drop_duplicates().head(5).to_dict("records")
        raise ValueError(
            f"observation frame has {int(dup.sum())} rows sharing "
            f"{int(df.loc[dup, KEY].drop_duplicates().shape[0])} keys {KEY} "
            f"(quarantine duplicates before loading), e.g. {examples}"
        )
    if "source_rows" in frame:
        rows = frame["source_rows"]
        if not pd.api.types.is_string_dtype(rows):
            rows = rows.astype("str")  # missing stays missing
        source_rows = rows.astype(object).where(rows.notna(), None)
    else:
        source_rows = pd.Series([None] * len(df), dtype=object)
    return {
        "area_code": df["area_code"].tolist(),
        "year": df["year"].tolist(),
        "element": df["element"].tolist(),
        "stratum": df["stratum"].tolist(),
        "value": df["value"].tolist(),
        "source_rows": source_rows.tolist(),
    }


def _stage(conn: Connection, data: dict[str, list]) -> None:
    """Put the frame into a temporary table with the driver's fast path (COPY / executemany)."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {DIFF}")
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {STAGE} (area_code VARCHAR(64) NOT NULL, year INTEGER NOT NULL,"
        " element VARCHAR(64) NOT NULL, stratum VARCHAR(64) NOT NULL,"
        " value DOUBLE PRECISION NOT NULL, source_rows TEXT)"
    )
    rows = zip(*(data[c] for c in FRAME_COLUMNS), strict=True)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur:
            with cur.copy(f"COPY {STAGE} ({', '.join(FRAME_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if len(data["year"]) >= 10_000:
                cur.execute(f"ANALYZE {STAGE}")  # temp tables are never auto-analyzed
    else:
        raw.executemany(f"INSERT INTO {STAGE} VALUES (?, ?, ?, ?, ?, ?)", rows)


_DIFF_SQL = f"""
CREATE TEMPORARY TABLE {DIFF} AS
SELECT s.area_code, s.year, s.element, s.stratum, s.value, s.source_rows,
       o.id AS cur_id, o.revision AS cur_revision, o.valid_from AS cur_valid_from,
       CASE WHEN o.id IS NULL THEN 'N'
            WHEN abs(o.value - s.value) > {TOLERANCE!r} * (1 + abs(o.value)) THEN 'R'
            ELSE 'S' END AS action
FROM {STAGE} s
LEFT JOIN observation o
  ON o.area_code = s.area_code AND o.year = s.year AND o.element = s.element
 AND o.stratum = s.stratum AND o.valid_to IS NULL
"""

_T = sa.bindparam("t", type_=UTCDateTime())

_BACKWARDS_SQL = sa.text(
    f"SELECT count(*) FROM {DIFF} WHERE action = 'R' AND cur_valid_from > :t"
).bindparams(_T)

_CLOSE_SQL = sa.text(
    f"UPDATE observation SET valid_to = :t WHERE id IN (SELECT cur_id FROM {DIFF} WHERE action = 'R')"
).bindparams(_T)

_INSERT_SQL = sa.text(
    f"""
INSERT INTO observation (area_code, year, element, stratum, value, source_file_id, source_rows,
                         revision, valid_from)
SELECT area_code, year, element, stratum, value, :file_id, source_rows,
       COALESCE(cur_revision, 0) + 1, :t
FROM {DIFF} WHERE action IN ('N', 'R')
"""
).bindparams(_T, sa.bindparam("file_id", type_=sa.Integer()))


def load_observations(
    conn: Connection, file_id: int, frame: pd.DataFrame, loaded_at: datetime
) -> LoadStats:
    """Merge ``frame`` into the observations inside the caller's transaction.

    New key → revision 1; same value (within TOLERANCE) → untouched; other value → the current
    row is closed at ``loaded_at`` and revision+1 opens. A handful of set-based statements over a
    temporary table, so 1M rows cost about what the driver needs to ship them.
    """
    require_aware(loaded_at, "loaded_at")
    data = _prepare(frame)
    if not data["year"]:
        return LoadStats(0, 0, 0)
    _stage(conn, data)
    conn.exec_driver_sql(_DIFF_SQL)
    tally = dict(conn.exec_driver_sql(f"SELECT action, count(*) FROM {DIFF} GROUP BY action").all())
    stats = LoadStats(int(tally.get("N", 0)), int(tally.get("R", 0)), int(tally.get("S", 0)))
    if stats.revised and conn.execute(_BACKWARDS_SQL, {"t": loaded_at}).scalar():
        raise ValueError(
            f"loaded_at {loaded_at.isoformat()} is earlier than the current revision of some "
            "observations it would replace; history must move forward"
        )
    if stats.revised:
        conn.execute(_CLOSE_SQL, {"t": loaded_at})
    if stats.inserted or stats.revised:
        conn.execute(_INSERT_SQL, {"t": loaded_at, "file_id": int(file_id)})
    conn.exec_driver_sql(f"DROP TABLE {DIFF}")
    conn.exec_driver_sql(f"DROP TABLE {STAGE}")
    if conn.dialect.name == "postgresql" and stats.inserted:
        _analyze_if_grown(conn, stats.inserted)
    return stats


def _analyze_if_grown(conn: Connection, added: int) -> None:
    """Refresh PostgreSQL's statistics of the observation table when this load grew it by more
    than a fifth (or it was never analyzed).

    With stale statistics the planner takes the table for nearly empty and joins each file's
    stage to it by a hash join over every current row: each load then costs as much as the
    whole warehouse, and ingesting a year of files turns quadratic (autovacuum's own ANALYZE
    comes only after a minute and 10 % growth). ANALYZE samples a fixed number of rows, so this
    costs milliseconds, and only while the table is small relative to what is being added.
    """
    known = conn.exec_driver_sql(
        "SELECT reltuples FROM pg_class WHERE oid = 'observation'::regclass"
    ).scalar()
    if known is None or known < 0 or added > 0.2 * known:
        conn.exec_driver_sql("ANALYZE observation")


# ---------------------------------------------------------------------------------- queries


def _listed(values) -> list:
    return [values] if isinstance(values, str | int) else list(values)


def _filters(stmt: sa.Select, elements, areas, years) -> sa.Select:
    o = observation.c
    if elements is not None:
        stmt = stmt.where(o.element.in_([str(e) for e in _listed(elements)]))
    if areas is not None:
        stmt = stmt.where(o.area_code.in_([str(a) for a in _listed(areas)]))
    if years is not None:
        stmt = stmt.where(o.year.in_([int(y) for y in _listed(years)]))
    return stmt


_ASOF_DTYPES = {
    "area_code": "str",
    "year": "int64",
    "element": "str",
    "stratum": "str",
    "value": "float64",
    "source_file_id": "int64",
    "revision": "int64",
    "valid_from": "utc",
}


def observations_as_of(
    bind: Engine | Connection,
    as_of: datetime | None = None,
    *,
    elements: Iterable[str] | None = None,
    areas: Iterable[str] | None = None,
    years: Iterable[int] | None = None,
) -> pd.DataFrame:
    """What the warehouse held at ``as_of`` (None = now), one row per key."""
    o = observation.c
    stmt = sa.select(*(o[c] for c in ASOF_COLUMNS))
    if as_of is None:
        stmt = stmt.where(o.valid_to.is_(None))
    else:
        require_aware(as_of, "as_of")
        stmt = stmt.where(o.valid_from <= as_of, sa.or_(o.valid_to.is_(None), o.valid_to > as_of))
    stmt = _filters(stmt, elements, areas, years).order_by(*(o[c] for c in KEY))
    with connect(bind) as conn:
        rows = conn.execute(stmt).all()
    return frame_from_rows(rows, ASOF_COLUMNS, _ASOF_DTYPES)


def observation_history(
    bind: Engine | Connection, area_code: str, year: int, element: str, stratum: str = ""
) -> pd.DataFrame:
    """Every revision of one key, oldest first, with the file each came from."""
    o, f = observation.c, source_file.c
    stmt = (
        sa.select(
            o.revision,
            o.value,
            o.valid_from,
            o.valid_to,
            o.source_file_id,
            f.name.label("file_name"),
            f.checksum,
            o.source_rows,
        )
        .join_from(observation, source_file, o.source_file_id == f.id)
        .where(
            o.area_code == str(area_code),
            o.year == int(year),
            o.element == str(element),
            o.stratum == str(stratum),
        )
        .order_by(o.revision)
    )
    with connect(bind) as conn:
        rows = conn.execute(stmt).all()
    columns = [
        "revision",
        "value",
        "valid_from",
        "valid_to",
        "source_file_id",
        "file_name",
        "checksum",
        "source_rows",
    ]
    dtypes = {"revision": "int64", "value": "float64", "valid_from": "utc", "valid_to": "utc"}
    return frame_from_rows(rows, columns, dtypes)


def counts(bind: Engine | Connection) -> dict[str, int]:
    """Row count of every warehouse table (idempotence checks, summaries)."""
    with connect(bind) as conn:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())
            for name, table in metadata.tables.items()
        }


def source_files(bind: Engine | Connection, checksums: Iterable[str] | None = None) -> pd.DataFrame:
    """Registered source files (all, or those with the given checksums), in load order."""
    stmt = sa.select(source_file).order_by(source_file.c.id)
    if checksums is not None:
        stmt = stmt.where(source_file.c.checksum.in_([str(c).lower() for c in checksums]))
    with connect(bind) as conn:
        rows = conn.execute(stmt).all()
    return frame_from_rows(rows, list(source_file.c.keys()), {"received_at": "utc"})


def quarantined(bind: Engine | Connection, source_file_id: int | None = None) -> pd.DataFrame:
    """Quarantined rows (all, or one file's), in the order written."""
    stmt = sa.select(quarantine).order_by(quarantine.c.id)
    if source_file_id is not None:
        stmt = stmt.where(quarantine.c.source_file_id == int(source_file_id))
    with connect(bind) as conn:
        rows = conn.execute(stmt).all()
    return frame_from_rows(rows, list(quarantine.c.keys()), {"created_at": "utc"})
