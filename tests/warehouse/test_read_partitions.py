"""Frames read partition by partition equal the frames built from every row at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tests.warehouse.helpers import T0, load, obs_frame
from warehouse import _sql
from warehouse._sql import frame_from_partitions
from warehouse.observations import ASOF_COLUMNS, observations_as_of
from warehouse.results import load_indicator_values, save_indicator_values
from warehouse.schema import observation


def _whole(rows: list, columns: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    """The frame as built before partitions: every row at once, then astype."""
    frame = pd.DataFrame(
        {c: list(v) for c, v in zip(columns, zip(*rows, strict=True), strict=True)}
    )
    for column, dtype in dtypes.items():
        if dtype == "utc":
            frame[column] = pd.to_datetime(frame[column], utc=True)
        else:
            frame[column] = frame[column].astype(dtype)
    return frame


def _parts(rows: list, size: int) -> list[list]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


A = datetime(2025, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
ROWS = [
    ("110101", 2020, "pop", "", 1.5, 1, "2-4", A, None, True, [1]),
    ("110101", 2021, "pop", "female", 2.0, 2, None, A + timedelta(days=1), 7, False, []),
    ("110102", 2020, "beds", "", np.inf, 1, "5", A, None, None, {"a": 1}),
    ("110102", 2021, "beds", "", 0.0, 3, "5", None, None, True, None),
    ("110103", 2020, "pop", "male", -1.0, 1, "", A, 8, False, [2, 3]),
]
COLUMNS = ["area", "year", "element", "stratum", "value", "file", "rows", "at", "n", "flag", "js"]
DTYPES = {"year": "int64", "value": "float64", "file": "int64", "at": "utc", "area": "str"}


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_partitions_give_the_whole_frame(size):
    got = frame_from_partitions(_parts(ROWS, size), COLUMNS, DTYPES)
    pd.testing.assert_frame_equal(got, _whole(ROWS, COLUMNS, DTYPES))
    assert got["n"].dtype == "float64" and got["flag"].dtype == object  # inferred as before


def test_times_as_sqlite_text_become_the_same_utc_timestamps():
    text = [(r[7].strftime("%Y-%m-%d %H:%M:%S.%f") if r[7] else None,) for r in ROWS]
    got = frame_from_partitions(_parts(text, 2), ["at"], {"at": "utc"})
    pd.testing.assert_frame_equal(got, _whole([(r[7],) for r in ROWS], ["at"], {"at": "utc"}))


def test_columns_missing_in_every_row_and_empty_results():
    rows = [("a", None, None), ("b", None, None)]
    dtypes = {"at": "utc", "s": "str"}
    got = frame_from_partitions(_parts(rows, 1), ["k", "at", "s"], dtypes)
    pd.testing.assert_frame_equal(got, _whole(rows, ["k", "at", "s"], dtypes))
    empty = frame_from_partitions([], COLUMNS, DTYPES)
    assert empty.empty and list(empty.columns) == COLUMNS
    assert empty["year"].dtype == "int64" and str(empty["at"].dtype).endswith("UTC]")


def test_text_columns_with_missing_or_other_values_are_typed_as_before():
    """'str' columns: missing values stay missing; numbers among the texts are converted
    as ``astype('str')`` converts them."""
    rows = [("a", 1), (None, None), ("b", 2), ("a", 3)]
    for size in (1, 3):
        got = frame_from_partitions(_parts(rows, size), ["s", "n"], {"s": "str", "n": "str"})
        pd.testing.assert_frame_equal(got, _whole(rows, ["s", "n"], {"s": "str", "n": "str"}))
    assert got["s"].isna().tolist() == [False, True, False, False]
    assert got["n"].tolist()[0] == "1.0"  # inferred float first, as a whole list is


def test_repeated_texts_are_held_once():
    rows = [(f"{i % 3}", "same" + "") for i in range(300)]
    got = frame_from_partitions(_parts(rows, 7), ["code", "element"], {"code": "str"})
    assert len({id(v) for v in got["code"].array.to_numpy()}) == 3
    assert got["code"].tolist() == [r[0] for r in rows]


def _reference_as_of(engine, as_of=None) -> pd.DataFrame:
    """observations_as_of as it was: all rows through SQLAlchemy's types, then astype."""
    o = observation.c
    stmt = sa.select(*(o[c] for c in ASOF_COLUMNS))
    if as_of is None:
        stmt = stmt.where(o.valid_to.is_(None))
    else:
        stmt = stmt.where(o.valid_from <= as_of, sa.or_(o.valid_to.is_(None), o.valid_to > as_of))
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(o.area_code, o.year, o.element, o.stratum)).all()
    dtypes = {"year": "int64", "value": "float64", "source_file_id": "int64", "revision": "int64"}
    return _whole(rows, ASOF_COLUMNS, {**dtypes, "valid_from": "utc", "area_code": "str"})


def test_observations_as_of_in_small_partitions(engine, monkeypatch):
    monkeypatch.setattr(_sql, "READ_CHUNK", 7)
    frame = obs_frame(n_areas=6, years=(2019, 2020, 2021))
    frame.loc[::5, "source_rows"] = None
    frame.loc[::4, "stratum"] = "female"
    load(engine, frame, T0, name="a.csv")
    changed = frame.assign(value=frame["value"] + 1).iloc[::3]
    load(engine, changed, T0 + timedelta(days=1, microseconds=1), name="b.csv")
    for moment in (None, T0, T0 + timedelta(days=2)):
        got = observations_as_of(engine, moment)
        expected = _reference_as_of(engine, moment)
        pd.testing.assert_frame_equal(got, expected)
    assert len(observations_as_of(engine, T0 - timedelta(seconds=1))) == 0
    assert observations_as_of(engine, elements=["pop"], years=[2020])["year"].eq(2020).all()


def test_indicator_values_read_in_small_partitions(engine, monkeypatch):
    monkeypatch.setattr(_sql, "READ_CHUNK", 2)
    frame = pd.DataFrame(
        {
            "number": [1, 1, 2, 2, 3],
            "area_code": ["a", "b", "a", "b", "a"],
            "year": [2020, 2020, 2021, 2021, 2020],
            "value": [1.0, np.nan, 3.0, 4.0, 5.0],
            "as_of": [T0, T0, T0 + timedelta(hours=1), T0, T0],
        }
    )
    save_indicator_values(engine, "p", frame)
    got = load_indicator_values(engine, "p")
    assert got["as_of"].tolist() == [pd.Timestamp(t) for t in frame["as_of"]]
    assert str(got["as_of"].dtype) == "datetime64[us, UTC]"
    assert got["value"].isna().tolist() == [False, True, False, False, False]
    assert got["stratum"].tolist() == [""] * 5 and got["number"].dtype == "int64"
