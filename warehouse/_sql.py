"""Small helpers shared by the warehouse modules (not part of the public API)."""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while rows are turned into or out of objects.

    Bulk reads and writes create (and drop) millions of tuples and strings, none of them in
    reference cycles, and every few hundred thousand the collector walks every object the
    process holds (imports included): half the time of reading 500,000 observations. Memory
    is still freed by reference counting; the collector runs again afterwards.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def dialect_insert(conn: Connection, table: sa.Table):
    """The dialect's own INSERT, which has on_conflict_do_update/do_nothing on both databases."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


@contextlib.contextmanager
def connect(bind: Engine | Connection) -> Iterator[Connection]:
    """Use the caller's connection as is, or a short-lived one from the engine."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def require_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is naive ({value!r}); pass a timezone-aware time (UTC)")
    return value


_PLAIN = frozenset({str, int, bool, list, dict, tuple})


def clean(value: Any) -> Any:
    """NaN/NA/NaT → None and numpy scalars → Python, so drivers get plain values."""
    if value is None:
        return None
    kind = type(value)  # the common plain types first: this runs once per stored value
    if kind is float:
        return None if value != value else value
    if kind in _PLAIN:
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | dict | tuple | str | bool):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):
        return value.item()
    return value


@functools.cache
def _column_names(table: sa.Table) -> frozenset[str]:
    return frozenset(table.c.keys())


def split_known(row: dict, table: sa.Table, what: str) -> tuple[dict, dict]:
    """The row's keys that are columns of ``table``, and the rest."""
    if not isinstance(row, dict):
        raise TypeError(f"{what}: expected a dict, got {type(row).__name__}")
    names = _column_names(table)
    known = {k: v for k, v in row.items() if k in names}
    extra = {k: v for k, v in row.items() if k not in names} if len(known) < len(row) else {}
    return known, extra


def _driver_values(conn: Connection, column: sa.Column, values: list) -> list:
    """``values`` as the driver receives them for ``column``: its type's own bind processor
    (UTC text for SQLite timestamps, JSON text, 1/0 booleans), each distinct time once."""
    processor = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    if processor is None:
        return values
    if not isinstance(column.type, sa.DateTime | sa.TypeDecorator):
        return [processor(v) for v in values]
    done: dict = {}
    out = []
    for v in values:
        if v not in done:
            done[v] = processor(v)
        out.append(done[v])
    return out


def insert_rows(
    conn: Connection,
    table: sa.Table,
    columns: dict[str, list | np.ndarray],
    constants: dict[str, Any],
) -> int:
    """Insert rows given as column lists (plus columns with one value for every row) by the
    driver's bulk path; returns the row count.

    Values go through their column types' bind processors, so they are stored exactly as an
    SQLAlchemy insert stores them, without its per-row work: executemany on SQLite; on
    PostgreSQL COPY into a temporary copy of the table, then one INSERT … SELECT (so
    listeners on the engine still see an ``INSERT INTO <table>``). A column may be a numpy
    array instead of a list: it becomes plain values a batch at a time (NaN → None, numpy
    numbers → Python ones), so a big frame's numbers never all exist as Python objects.
    """
    n = len(next(iter(columns.values()))) if columns else 0
    if not n:
        return 0
    with collector_paused():
        batches = _driver_batches(conn, table, columns, constants, n)
        _insert_batches(conn, table, [*columns, *constants], batches)
    return n


def insert_parts(conn: Connection, table: sa.Table, parts: Iterable[dict[str, list]]) -> int:
    """Insert rows handed over a part at a time, each part column lists of the same columns,
    as ``insert_rows`` stores them, in one statement (PostgreSQL: one COPY); returns the row
    count. A part is let go of before the next one is asked for, so the caller can make its
    parts small (wide rows, such as evaluations) without a statement per part."""
    parts = iter(parts)
    first = next(parts, None)
    if first is None:
        return 0
    names = list(first)
    sent = [0]
    batches = _parts_batches(conn, table, names, [first], parts, sent)
    del first  # the batches' to hold, and to let go of
    with collector_paused():
        _insert_batches(conn, table, names, batches)
    return sent[0]


def _parts_batches(
    conn: Connection,
    table: sa.Table,
    names: list[str],
    first: list[dict],
    rest: Iterator[dict],
    sent: list[int],
) -> Iterator[list[tuple]]:
    """The driver's rows of each part in turn (the one in ``first``, then the ``rest``), the
    rows counted in ``sent``."""
    part = first.pop()
    while part is not None:
        if list(part) != names:
            raise ValueError(f"{table.name}: a part of columns {list(part)}, not {names}")
        n = len(next(iter(part.values()))) if part else 0
        sent[0] += n
        batches = _driver_batches(conn, table, part, {}, n)
        del part  # held by its batches until they are sent
        yield from batches
        del batches
        part = next(rest, None)


# Rows converted for the driver and sent at a time when writing: bounds what is held as Python
# tuples and converted values (JSON texts …) while a big frame is written (≈ 1 MB per batch of
# indicator values; all 187,000 of Guilin at 4× the preset at once held ≈ 20 MB more).
WRITE_CHUNK = 5_000


def _driver_batches(
    conn: Connection,
    table: sa.Table,
    columns: dict[str, list | np.ndarray],
    constants: dict[str, Any],
    n: int,
) -> Iterator[list[tuple]]:
    """The rows as the driver receives them, WRITE_CHUNK at a time."""
    fixed = [_driver_values(conn, table.c[c], [v])[0] for c, v in constants.items()]
    for start in range(0, n, WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, n)
        lists = [
            _driver_values(conn, table.c[c], _plain_values(values[start:stop]))
            for c, values in columns.items()
        ]
        lists += [repeat(value, stop - start) for value in fixed]
        yield list(zip(*lists, strict=False))  # repeat() is endless: the lists end the rows


def _plain_values(values: list | np.ndarray) -> list:
    """A slice of a column as plain Python values: a list as it is; a numpy array's numbers as
    Python numbers with NaN → None, an object array's values as they are."""
    if not isinstance(values, np.ndarray):
        return values
    kind = values.dtype.kind
    if kind == "f":
        return [None if v != v else v for v in values.tolist()]
    if kind in "iubO":
        return values.tolist()
    raise TypeError(f"cannot store a numpy array of {values.dtype} as plain values")


def _insert_batches(
    conn: Connection, table: sa.Table, names: list[str], batches: Iterator[list[tuple]]
) -> None:
    """Send the driver's rows of columns ``names``, a batch at a time, by the bulk path."""
    listed = ", ".join(names)
    if conn.dialect.name == "postgresql":
        stage = f"_{table.name}_stage"
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {stage} (LIKE {table.name}) ON COMMIT DROP")
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {stage} ({listed}) FROM STDIN") as copy:
            for batch in batches:
                for row in batch:
                    copy.write_row(row)
                del batch  # not kept while the next batch is made
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM {stage}")
        conn.exec_driver_sql(f"DROP TABLE {stage}")
    else:
        marks = ", ".join("?" * len(names))
        sql = f"INSERT INTO {table.name} ({listed}) VALUES ({marks})"
        for batch in batches:
            conn.exec_driver_sql(sql, batch)
            del batch  # not kept while the next batch is made


# Rows fetched at a time when reading a big result: bounds what is held as Python row objects
# (≈ 2 MB per partition of observations) while the frame's columns are built; 20,000 held
# ≈ 10 MB more at the peak and read no faster.
READ_CHUNK = 5_000


def read_frame(
    conn: Connection, stmt: sa.Select, columns: list[str], dtypes: dict[str, str]
) -> pd.DataFrame:
    """Run ``stmt`` and build its typed frame partition by partition (on PostgreSQL through
    a server-side cursor, so neither the driver nor Python holds every row at once)."""
    result = conn.execute(stmt.execution_options(yield_per=READ_CHUNK))
    return frame_from_partitions(result.partitions(), columns, dtypes)


def raw_time(conn: Connection, column: sa.Column) -> sa.ColumnElement:
    """A UTC timestamp column as the driver returns it (SQLite: its fixed text; PostgreSQL: an
    aware datetime), for the frame builder to convert each distinct value once ("utc")."""
    raw = sa.Text() if conn.dialect.name == "sqlite" else sa.DateTime(timezone=True)
    return sa.type_coerce(column, raw).label(column.name)


def frame_from_rows(rows: list, columns: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    """A typed DataFrame even when there are no rows, so callers can rely on the dtypes."""
    return frame_from_partitions([rows] if rows else [], columns, dtypes)


def frame_from_partitions(
    partitions: Iterable[Sequence], columns: list[str], dtypes: dict[str, str]
) -> pd.DataFrame:
    """A typed DataFrame from rows fetched in partitions (e.g. ``Result.partitions()``).

    Each partition is turned into column arrays before the next is fetched, so the rows as
    Python objects never exist all at once; the repeated text values (area codes, elements,
    strata, times …) become one shared object each. The dtypes are those a DataFrame built
    from the whole list of rows would get, then ``astype(dtypes)`` ("utc": UTC timestamps).
    """
    builders = [_Column(dtypes.get(c)) for c in columns]
    seen = False
    with collector_paused():
        for rows in partitions:
            if not rows:
                continue
            seen = True
            for builder, values in zip(builders, zip(*rows, strict=True), strict=True):
                builder.add(values)
    if not seen:
        frame = pd.DataFrame({c: [] for c in columns})
        for column, dtype in dtypes.items():
            if dtype == "utc":
                frame[column] = pd.to_datetime(frame[column], utc=True)
            else:
                frame[column] = frame[column].astype(dtype)
        return frame
    data = {}
    builders.reverse()
    for column in columns:  # each builder's parts are freed as soon as its column is made
        data[column] = builders.pop().result()
    # the columns as built, not copied (the constructor's default copy would double the frame)
    return pd.DataFrame(data, copy=False)


class _Column:
    """One column of a frame built partition by partition: numbers straight into one numpy
    array, anything else as codes (into the column's distinct values) in another.

    The array grows in place (``realloc``: a big one is remapped, not copied), so the column
    never exists twice, as partitions and as their concatenation (Guilin's 485,000
    observations at 4× the preset: ≈ 10 MB less at the peak of a read).
    """

    def __init__(self, dtype: str | None):
        self.dtype = dtype
        self.numeric = dtype not in (None, "str", "utc")
        self.array: np.ndarray | None = None  # numbers, or codes of the distinct values
        self.size = 0
        self.index: dict[Any, int] = {}  # distinct value → code
        self.plain: list | None = None  # unhashable values (JSON): kept as they are

    def add(self, values: tuple) -> None:
        if self.numeric:
            self._append(np.asarray(values, dtype=self.dtype))
            return
        if self.plain is None:
            try:
                codes, uniques = pd.factorize(np.fromiter(values, object, len(values)))
            except TypeError:
                self.plain = self._decoded()
            else:
                index = self.index
                known = [index.setdefault(u, len(index)) for u in uniques]
                known.append(-1)  # factorize's code for a missing value stays -1
                self._append(np.asarray(known, dtype=np.int32)[codes])
                return
        self.plain.extend(values)

    def _append(self, part: np.ndarray) -> None:
        end = self.size + len(part)
        if self.array is None:
            self.array = np.empty(len(part), dtype=part.dtype)
        elif end > len(self.array):
            self.array.resize(max(end, 2 * len(self.array)), refcheck=False)
        self.array[self.size : end] = part
        self.size = end

    def _filled(self) -> np.ndarray:
        """The values added, the array's spare room given back."""
        assert self.array is not None
        if len(self.array) > self.size:
            self.array.resize(self.size, refcheck=False)
        array, self.array = self.array, None
        return array

    def _decoded(self) -> list:
        if self.array is None:
            return []
        distinct = np.array([*self.index, None], dtype=object)  # code -1 → None
        return distinct[self._filled()].tolist()

    def result(self) -> Any:
        if self.numeric:
            return self._filled()
        if self.plain is not None:
            values = self.plain
        elif self.dtype == "utc" and self.index:
            codes = self._filled()
            distinct = list(self.index)
            text = isinstance(distinct[0], str)
            moments = pd.to_datetime(
                pd.Series([*distinct, None], dtype=object),
                utc=True,
                format="ISO8601" if text else None,
            )
            return pd.Series(moments.array.take(codes), dtype=moments.dtype)
        elif self.dtype == "str" and all(type(v) is str for v in self.index):
            # each distinct text made a string once, then taken by code (-1, the last: missing):
            # the same column as below without a list and an inference over every row
            distinct = pd.array([*self.index, None], dtype="str")
            return pd.Series(distinct.take(self._filled()))
        else:
            values = self._decoded()  # a list: inferred as usual
        series = pd.Series(values)
        if self.dtype == "utc":
            return pd.to_datetime(series, utc=True)
        return series if self.dtype is None else series.astype(self.dtype)
