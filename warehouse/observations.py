"""Observations with revision history: load set-based, never overwrite, query as of any moment."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from itertools import islice, repeat
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse._sql import (
    clean,
    collector_paused,
    connect,
    dialect_insert,
    frame_from_rows,
    raw_time,
    read_frame,
    require_aware,
)
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
IDS_PER_STATEMENT = 900  # ids bound in one IN (…): under SQLite's oldest parameter limit (999)

STAGE = "_obs_stage"
REVISED = "_obs_revised"


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


def _text_column(frame: pd.DataFrame, column: str) -> list[str]:
    values = frame[column]
    if values.hasnans:
        raise ValueError(f"observation frame: {int(values.isna().sum())} empty {column}")
    if not isinstance(values.dtype, pd.StringDtype):
        values = values.astype(str)
    return values.tolist()


def _increasing(keys: Iterator[tuple]) -> bool:
    """Whether each key is greater than the one before, so that no two are equal: the parser's
    frames come sorted by their key, and this proves them unique one key at a time, without
    a set of every key (≈ 8 MB for a 4× preset facility file) or a frame's fixed cost."""
    before = next(keys, None)
    for key in keys:
        if not before < key:
            return False
        before = key
    return True


def _refuse_repeated_keys(*columns: list) -> None:
    """Raise, naming some, if any two rows share a key (hashed per column by pandas)."""
    keys = pd.DataFrame(dict(zip(KEY, columns, strict=True)))
    dup = keys.duplicated(KEY, keep=False)
    if dup.any():
        examples = keys.loc[dup].drop_duplicates().head(5).to_dict("records")
        raise ValueError(
            f"observation frame has {int(dup.sum())} rows sharing "
            f"{int(keys.loc[dup].drop_duplicates().shape[0])} keys {KEY} "
            f"(quarantine duplicates before loading), e.g. {examples}"
        )


def _prepare(frame: pd.DataFrame) -> dict[str, list]:
    """Validate the frame and turn it into plain Python column lists for the driver.

    Columns already of the right dtype (as the parser delivers them) are not converted: this
    runs once per file and used to cost a third of what the database needs for the rows.
    """
    missing = [c for c in FRAME_COLUMNS if c not in frame.columns and c not in OPTIONAL]
    if missing:
        raise ValueError(f"observation frame lacks columns {missing}; needs {FRAME_COLUMNS}")
    n = len(frame)
    area_code = _text_column(frame, "area_code")
    element = _text_column(frame, "element")
    if "stratum" in frame:
        stratum = frame["stratum"]
        if stratum.hasnans:
            stratum = stratum.fillna("")
        if not isinstance(stratum.dtype, pd.StringDtype):
            stratum = stratum.astype(str)
        strata = stratum.tolist()
    else:
        strata = [""] * n
    year = frame["year"]
    if not pd.api.types.is_integer_dtype(year) or year.hasnans:
        year = pd.to_numeric(year, errors="coerce")
        if year.isna().any() or (year != year.round()).any():
            raise ValueError("observation frame: year must be a whole number in every row")
    years = year.astype("int64").tolist()
    value = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    bad = ~np.isfinite(value.to_numpy())
    if bad.any():
        raise ValueError(
            f"observation frame: {int(bad.sum())} rows without a finite value "
            "(quarantine them before loading)"
        )
    if not _increasing(zip(area_code, years, element, strata, strict=True)):
        _refuse_repeated_keys(area_code, years, element, strata)
    if "source_rows" in frame:
        rows = frame["source_rows"]
        if not pd.api.types.is_string_dtype(rows):
            rows = rows.astype("str")  # missing stays missing
        if rows.hasnans:
            rows = rows.astype(object).where(rows.notna(), None)
        source_rows = rows.tolist()
    else:
        source_rows = [None] * n
    return {
        "area_code": area_code,
        "year": years,
        "element": element,
        "stratum": strata,
        "value": value.tolist(),
        "source_rows": source_rows,
    }


_STAGE_COLUMNS = (
    "(area_code VARCHAR(64) NOT NULL, year INTEGER NOT NULL, element VARCHAR(64) NOT NULL,"
    " stratum VARCHAR(64) NOT NULL, value DOUBLE PRECISION NOT NULL, source_rows TEXT)"
)
_KEY_MATCH = (
    "o.area_code = s.area_code AND o.year = s.year AND o.element = s.element"
    " AND o.stratum = s.stratum AND o.valid_to IS NULL"
)
# How staged rows (s) meet their key's current row (o): on PostgreSQL a LATERAL probe of the
# unique index, a nested loop whatever the statistics say (a stale estimate would otherwise pick
# a hash join over every current row); SQLite always probes the index.
_LATERAL = (
    "LATERAL (SELECT o.id, o.value, o.revision, o.valid_from FROM observation o"
    f" WHERE {_KEY_MATCH} LIMIT 1) o"
)
_CURRENT = {
    "postgresql": f"CROSS JOIN {_LATERAL}",
    "sqlite": f"JOIN observation o ON {_KEY_MATCH}",
}
_MAYBE_CURRENT = {
    "postgresql": f"LEFT JOIN {_LATERAL} ON true",
    "sqlite": f"LEFT JOIN observation o ON {_KEY_MATCH}",
}
_CHANGED = f"abs(o.value - s.value) > {TOLERANCE!r} * (1 + abs(o.value))"
_OBS_COLUMNS = (
    "area_code, year, element, stratum, value, source_rows, source_file_id, revision, valid_from"
)
_T = sa.bindparam("t", type_=UTCDateTime())
_FILE = sa.bindparam("file_id", type_=sa.Integer())


def _statements(dialect: str) -> dict[str, sa.TextClause]:
    """The merge's statements for one database (they differ only in how rows meet their key)."""
    current = _CURRENT[dialect]
    return {
        # existing keys among the staged rows, how many changed, how many of those go back in time
        "tally": sa.text(
            f"SELECT count(*), coalesce(sum(CASE WHEN {_CHANGED} THEN 1 ELSE 0 END), 0),"
            f" coalesce(sum(CASE WHEN {_CHANGED} AND o.valid_from > :t THEN 1 ELSE 0 END), 0)"
            f" FROM {STAGE} s {current}"
        ).bindparams(_T),
        "insert_all": sa.text(
            f"INSERT INTO observation ({_OBS_COLUMNS}) SELECT area_code, year, element, stratum,"
            f" value, source_rows, :file_id, 1, :t FROM {STAGE}"
        ).bindparams(_T, _FILE),
        "insert_new": sa.text(
            f"INSERT INTO observation ({_OBS_COLUMNS}) SELECT s.area_code, s.year, s.element,"
            f" s.stratum, s.value, s.source_rows, :file_id, 1, :t FROM {STAGE} s"
            f" {_MAYBE_CURRENT[dialect]} WHERE o.id IS NULL"
        ).bindparams(_T, _FILE),
        "revised": sa.text(
            f"CREATE TEMPORARY TABLE {REVISED} AS SELECT o.id AS cur_id,"
            " o.revision AS cur_revision, s.area_code, s.year,"
            f" s.element, s.stratum, s.value, s.source_rows FROM {STAGE} s {current}"
            f" WHERE {_CHANGED}"
        ),
        "close": sa.text(
            f"UPDATE observation SET valid_to = :t WHERE id IN (SELECT cur_id FROM {REVISED})"
        ).bindparams(_T),
        "insert_revised": sa.text(
            f"INSERT INTO observation ({_OBS_COLUMNS}) SELECT area_code, year, element, stratum,"
            f" value, source_rows, :file_id, cur_revision + 1, :t FROM {REVISED}"
        ).bindparams(_T, _FILE),
    }


_SQL = {dialect: _statements(dialect) for dialect in _CURRENT}

# SQLite: every row straight into observation; keys already current are left for the merge
INSERT_BATCH = 10_000  # rows a statement inserts (SQLite): 55,000 tuples held ≈ 8 MB
_SQLITE_INSERT = (
    f"INSERT INTO observation ({_OBS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)"
    " ON CONFLICT (area_code, year, element, stratum) WHERE valid_to IS NULL DO NOTHING"
)


def _backwards(loaded_at: datetime) -> ValueError:
    return ValueError(
        f"loaded_at {loaded_at.isoformat()} is earlier than the current revision of some "
        "observations it would replace; history must move forward"
    )


def _rows(data: dict[str, list], *constants: Any) -> Iterator[tuple]:
    """The frame's rows as tuples in FRAME_COLUMNS order, each followed by ``constants``."""
    n = len(data["year"])
    return zip(*(data[c] for c in FRAME_COLUMNS), *(repeat(c, n) for c in constants), strict=True)


def _bound(conn: Connection, column: sa.Column, value: Any) -> Any:
    """``value`` as the driver receives it for ``column`` (SQLite: the fixed UTC text)."""
    processor = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return processor(value) if processor else value


def _copy(conn: Connection, table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    """PostgreSQL's COPY … FROM STDIN of ``rows`` through the connection's driver."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with conn.connection.driver_connection.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


_SEEN_SQL = sa.text(
    "SELECT "
    + " OR ".join(
        f"EXISTS (SELECT 1 FROM observation WHERE area_code = :a{i} AND year = :y{i}"
        f" AND element = :e{i} AND stratum = :s{i} AND valid_to IS NULL)"
        for i in range(3)
    )
)


def _seen_before(conn: Connection, data: dict[str, list]) -> bool:
    """Whether the first, middle or last key of the frame is current already: a hint only, to
    pick the path (a file is usually all new keys or a re-issue of keys already loaded)."""
    params = {}
    for i, row in enumerate((0, len(data["year"]) // 2, len(data["year"]) - 1)):
        for prefix, column in zip("ayes", KEY, strict=True):
            params[f"{prefix}{i}"] = data[column][row]
    return bool(conn.execute(_SEEN_SQL, params).scalar())


def _stage(conn: Connection, data: dict[str, list]) -> None:
    """Put the frame into the temporary stage table with the driver's fast path.

    PostgreSQL keeps one stage per connection (ON COMMIT DELETE ROWS: no table created and
    dropped per file) and fills it by COPY; SQLite's lives for one load and is filled by
    executemany. Emptied first, in case an earlier load in this transaction failed midway.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} {_STAGE_COLUMNS} ON COMMIT DELETE ROWS"
        )
        conn.exec_driver_sql(f"DELETE FROM {STAGE}")
        _copy(conn, STAGE, FRAME_COLUMNS, _rows(data))
    else:
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} {_STAGE_COLUMNS}")
        conn.exec_driver_sql(f"DELETE FROM {STAGE}")
        conn.exec_driver_sql(f"INSERT INTO {STAGE} VALUES (?, ?, ?, ?, ?, ?)", list(_rows(data)))


def _unstage(conn: Connection) -> None:
    """Free the stage (SQLite; PostgreSQL's is emptied by the commit)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGE}")


def _merge_staged(
    conn: Connection,
    file_id: int,
    data: dict[str, list],
    loaded_at: datetime,
    undo: Callable[[], None] | None = None,
) -> tuple[int, int]:
    """The general merge: stage the frame, count the keys already current and those whose value
    changed in one read-only pass, then insert the new keys and revise the changed ones.

    Nothing is written before the check that history moves forward (``undo`` takes back what
    the caller wrote before). Returns (keys already current, keys changed).
    """
    sql, n = _SQL[conn.dialect.name], len(data["year"])
    params = {"t": loaded_at, "file_id": int(file_id)}
    _stage(conn, data)
    existing, changed, backwards = (int(x) for x in conn.execute(sql["tally"], params).one())
    if backwards:
        if undo is not None:
            undo()
        _unstage(conn)
        raise _backwards(loaded_at)
    if existing < n:
        conn.execute(sql["insert_all" if existing == 0 else "insert_new"], params)
    if changed:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {REVISED}")
        conn.execute(sql["revised"])
        conn.execute(sql["close"], params)
        conn.execute(sql["insert_revised"], params)
        conn.exec_driver_sql(f"DROP TABLE {REVISED}")
    _unstage(conn)
    return existing, changed


def _insert_new_sqlite(
    conn: Connection, file_id: int, data: dict[str, list], loaded_at: datetime
) -> LoadStats:
    """Every row straight into observation by executemany, keys already current skipped; only
    if some were skipped does the general merge run, to revise those that changed."""
    n = len(data["year"])
    last_id = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM observation").scalar()
    stamp = _bound(conn, observation.c.valid_from, loaded_at)
    rows = _rows(data, int(file_id), stamp)
    inserted = 0
    while batch := list(islice(rows, INSERT_BATCH)):  # not all the rows as tuples at once
        inserted += conn.exec_driver_sql(_SQLITE_INSERT, batch).rowcount
    if inserted == n:
        return LoadStats(n, 0, 0)

    def undo() -> None:  # the rows inserted above
        o = observation.c
        conn.execute(sa.delete(observation).where(o.id > last_id, o.source_file_id == file_id))

    _, changed = _merge_staged(conn, file_id, data, loaded_at, undo)
    return LoadStats(inserted, changed, n - inserted - changed)


def _insert_new_postgresql(
    conn: Connection, file_id: int, data: dict[str, list], loaded_at: datetime
) -> LoadStats:
    """Every row straight into observation by COPY, under a savepoint. A key already current
    makes the COPY fail on the unique index; then (as after any database error) the savepoint
    is rolled back and the general merge runs instead, and raises what it raises as usual."""
    from psycopg import Error

    columns = [*FRAME_COLUMNS, "source_file_id", "revision", "valid_from"]
    savepoint = conn.begin_nested()
    try:
        _copy(conn, "observation", columns, _rows(data, int(file_id), 1, loaded_at))
    except Error:
        savepoint.rollback()
        existing, changed = _merge_staged(conn, file_id, data, loaded_at)
        return LoadStats(len(data["year"]) - existing, changed, existing - changed)
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return LoadStats(len(data["year"]), 0, 0)


def load_observations(
    conn: Connection, file_id: int, frame: pd.DataFrame, loaded_at: datetime
) -> LoadStats:
    """Merge ``frame`` into the observations inside the caller's transaction.

    New key → revision 1; same value (within TOLERANCE) → untouched; other value → the current
    row is closed at ``loaded_at`` and revision+1 opens. A file of new keys (every first load)
    goes straight into the table by the driver's bulk path, so it costs what the driver needs
    to insert its rows; otherwise a handful of set-based statements over a temporary table.
    """
    require_aware(loaded_at, "loaded_at")
    with collector_paused():
        data = _prepare(frame)
        n = len(data["year"])
        if not n:
            return LoadStats(0, 0, 0)
        postgresql = conn.dialect.name == "postgresql"
        if _seen_before(conn, data):
            existing, changed = _merge_staged(conn, file_id, data, loaded_at)
            stats = LoadStats(n - existing, changed, existing - changed)
        elif postgresql:
            stats = _insert_new_postgresql(conn, file_id, data, loaded_at)
        else:
            stats = _insert_new_sqlite(conn, file_id, data, loaded_at)
    return stats


ANALYZE_GROWTH = 0.5  # refresh the statistics when loads add more than this share of rows


def refresh_statistics(bind: Engine | Connection, added: int) -> bool:
    """Refresh PostgreSQL's statistics of the observation table when loads (an ingest run's)
    added more than half of the rows it had (or it was never analyzed); whether it did.

    The loader's own statements do not depend on them (index probes whatever the estimates),
    but the queries that read observations right after an ingest do, and autovacuum's ANALYZE
    comes only after a minute. Once per run, not per file (the preset's first load analyzed
    five times, ≈ 7 % of its load time); only the columns those queries filter and sort on,
    about half the cost of a full ANALYZE. SQLite: nothing to do.
    """
    if added <= 0 or bind.dialect.name != "postgresql":
        return False
    with bind.begin() if isinstance(bind, Engine) else nullcontext(bind) as conn:
        known = conn.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'observation'::regclass"
        ).scalar()
        if known is None or known < 0 or added > ANALYZE_GROWTH * known:
            conn.exec_driver_sql(
                "ANALYZE observation (area_code, year, element, stratum, valid_from, valid_to)"
            )
            return True
    return False


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


def _asof_columns(columns: Iterable[str] | None) -> list[str]:
    """The columns asked for, in ASOF_COLUMNS order (all of them by default)."""
    if columns is None:
        return ASOF_COLUMNS
    wanted = set(_listed(columns))
    unknown = wanted - set(ASOF_COLUMNS)
    if unknown or not wanted:
        raise ValueError(f"observations_as_of: columns must be some of {ASOF_COLUMNS}, "
                         f"got {sorted(wanted)}")  # fmt: skip
    return [c for c in ASOF_COLUMNS if c in wanted]


# The whole numbers as 4 bytes a row instead of 8, for callers that hold a plan's observations
# for long (years, file ids and revisions all fit: Guilin at 4× the preset, ≈ 4 MB less).
_NARROW_DTYPES = {"year": "int32", "source_file_id": "int32", "revision": "int32"}


def _asof_dtypes(read: list[str], narrow: bool) -> dict[str, str]:
    """The dtype of each column read (``narrow``: whole numbers as int32)."""
    dtypes = {c: _ASOF_DTYPES[c] for c in read if c in _ASOF_DTYPES}
    if narrow:
        dtypes.update((c, t) for c, t in _NARROW_DTYPES.items() if c in dtypes)
    return dtypes


def observations_as_of(
    bind: Engine | Connection,
    as_of: datetime | None = None,
    *,
    elements: Iterable[str] | None = None,
    areas: Iterable[str] | None = None,
    years: Iterable[int] | None = None,
    columns: Iterable[str] | None = None,
    narrow: bool = False,
) -> pd.DataFrame:
    """What the warehouse held at ``as_of`` (None = now), one row per key.

    Read in partitions (``read_frame``): the rows as Python objects never exist all at once,
    and repeated texts (codes, elements, strata, times) are held once. ``columns`` (a subset
    of ASOF_COLUMNS, kept in that order) reads only those: a caller that never looks at
    ``source_rows``, a long text unique to each row, needs far less memory (Guilin at 4× the
    preset: ≈ 120 MB less). ``narrow``: year, source_file_id and revision as int32, not int64.
    """
    names = _asof_columns(columns)
    read = [c for c in ASOF_COLUMNS if c in names or c in KEY]  # the order needs the key
    with connect(bind) as conn:
        stmt = _visible(conn, read, as_of, elements, areas, years)
        frame = read_frame(conn, stmt, read, _asof_dtypes(read, narrow))
    return frame if read == names else frame[names]


def _visible(
    conn: Connection, columns: list[str], as_of: datetime | None, elements, areas, years
) -> sa.Select | sa.CompoundSelect:
    """The rows visible at ``as_of``, in key order: the current rows, and (as of a moment) the
    closed ones still valid then, each part read in key order from its own index and merged
    (one ``OR`` over both made the database sort every row: on SQLite in this process's
    memory, ≈ 30 MB more for Guilin's 485,000 observations at 4× the preset, and slower)."""
    o = observation.c
    selected = [raw_time(conn, o[c]) if c == "valid_from" else o[c] for c in columns]

    def part(*conditions: sa.ColumnElement) -> sa.Select:
        return _filters(sa.select(*selected).where(*conditions), elements, areas, years)

    if as_of is None:
        return part(o.valid_to.is_(None)).order_by(*(o[c] for c in KEY))
    require_aware(as_of, "as_of")
    current = part(o.valid_to.is_(None), o.valid_from <= as_of)
    closed = part(o.valid_to.is_not(None), o.valid_from <= as_of, o.valid_to > as_of)
    return sa.union_all(current, closed).order_by(*KEY)


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


def quarantined(
    bind: Engine | Connection,
    source_file_id: int | None = None,
    file_ids: Iterable[int] | None = None,
    name_contains: str | None = None,
    latest: int | None = None,
) -> pd.DataFrame:
    """Quarantined rows (all, one file's, those of ``file_ids``, or of files whose name contains
    ``name_contains``; only the ``latest`` ones), in the order written."""
    stmt = sa.select(quarantine)
    if name_contains:
        stmt = stmt.where(quarantine.c.file_name.contains(name_contains, autoescape=True))
    if latest is not None:
        stmt = stmt.order_by(quarantine.c.id.desc()).limit(max(int(latest), 0))
    if source_file_id is not None:
        file_ids = [source_file_id]
    with connect(bind) as conn:
        if file_ids is None:
            rows = conn.execute(stmt).all()
        else:
            ids = sorted({int(i) for i in file_ids})
            rows = []
            for start in range(0, len(ids), IDS_PER_STATEMENT):
                part = ids[start : start + IDS_PER_STATEMENT]
                rows += conn.execute(stmt.where(quarantine.c.source_file_id.in_(part))).all()
    rows.sort(key=lambda r: r.id)
    if latest is not None:  # the limit held per statement: the latest of all parts
        rows = rows[max(len(rows) - int(latest), 0) :]
    return frame_from_rows(rows, list(quarantine.c.keys()), {"created_at": "utc"})


def observation_state(bind: Engine | Connection, as_of: datetime | None = None) -> tuple:
    """A token of what ``observations_as_of(bind, as_of)`` returns: it changes with every load
    that changes the observations visible at ``as_of`` and stays the same otherwise.

    Rows are never deleted or overwritten; a load inserts rows valid from its time and closes the
    rows it revises at that same time. So the rows visible at ``as_of`` are fixed by how many rows
    began and how many ended by then; the latest start and the highest id tell a backdated load
    apart. One scan of the observation table: ≈ 30 ms for the 175,000 rows of the province
    preset on SQLite.
    """
    o = observation.c
    if as_of is None:
        ended = sa.func.count(o.valid_to)
        stmt = sa.select(sa.func.count(), ended, sa.func.max(o.valid_from), sa.func.max(o.id))
    else:
        require_aware(as_of, "as_of")
        ended = sa.func.count(sa.case((o.valid_to <= as_of, 1)))
        stmt = sa.select(
            sa.func.count(), ended, sa.func.max(o.valid_from), sa.func.max(o.id)
        ).where(o.valid_from <= as_of)
    with connect(bind) as conn:
        return tuple(conn.execute(stmt).one())
