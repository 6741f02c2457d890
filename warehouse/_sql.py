"""Small helpers shared by the warehouse modules (not part of the public API)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine


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


def clean(value: Any) -> Any:
    """NaN/NA/NaT → None and numpy scalars → Python, so drivers get plain values."""
    if value is None:
        return None
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


def split_known(row: dict, table: sa.Table, what: str) -> tuple[dict, dict]:
    """The row's keys that are columns of ``table``, and the rest."""
    if not isinstance(row, dict):
        raise TypeError(f"{what}: expected a dict, got {type(row).__name__}")
    known = {k: v for k, v in row.items() if k in table.c}
    extra = {k: v for k, v in row.items() if k not in table.c}
    return known, extra


def frame_from_rows(rows: list, columns: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    """A typed DataFrame even when there are no rows, so callers can rely on the dtypes."""
    # column lists via zip: DataFrame.from_records walks SQLAlchemy rows cell by cell (2× slower)
    frame = (
        pd.DataFrame(dict(zip(columns, (list(c) for c in zip(*rows, strict=True)), strict=True)))
        if rows
        else pd.DataFrame({c: [] for c in columns})
    )
    for column, dtype in dtypes.items():
        if dtype == "utc":
            frame[column] = pd.to_datetime(frame[column], utc=True)
        else:
            frame[column] = frame[column].astype(dtype)
    return frame
