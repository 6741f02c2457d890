"""Results saved by the driver's bulk path are stored exactly as an SQLAlchemy insert of the
same values stores them (the raw cells, as the database holds them, compared)."""

from __future__ import annotations

from datetime import timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tests.warehouse.helpers import T0
from warehouse.results import (
    load_evaluations,
    load_indicator_values,
    save_evaluations,
    save_indicator_values,
)
from warehouse.schema import evaluation, indicator_value


def _stored(conn, table: sa.Table) -> list[tuple]:
    """Every row's cells as the driver returns them (SQLite: text times and JSON as stored)."""
    order = ", ".join(c.name for c in table.primary_key.columns)
    cast = ", ".join(
        f"CAST({c.name} AS TEXT)" if conn.dialect.name == "postgresql" else c.name
        for c in table.columns
    )
    return conn.exec_driver_sql(f"SELECT {cast} FROM {table.name} ORDER BY {order}").all()


def _same_as_sqlalchemy_insert(engine, table: sa.Table) -> None:
    with engine.connect() as conn, conn.begin() as tx:
        fast = _stored(conn, table)
        typed = [dict(r._mapping) for r in conn.execute(sa.select(table))]
        conn.execute(sa.delete(table))
        conn.execute(sa.insert(table), typed)
        assert _stored(conn, table) == fast
        tx.rollback()
    assert fast


@pytest.fixture(params=["one batch", "batches of 3"])
def batches(request, monkeypatch) -> None:
    """The rows sent in one batch, or in several (the last one short)."""
    from warehouse import _sql

    if request.param == "batches of 3":
        monkeypatch.setattr(_sql, "WRITE_CHUNK", 3)


def test_indicator_values_bulk_path_stores_what_sqlalchemy_stores(engine, batches):
    shanghai = timezone(timedelta(hours=8))
    frame = pd.DataFrame(
        {
            "number": np.array([1, 1, 2, 3], dtype="int32"),
            "area_code": ["110101", "110102", "110101", "110101"],
            "year": [2023, 2023, 2022, 2023],
            "stratum": [None, "female", "", "male"],
            "value": [80.1, np.nan, 12.5, 1e-300],
            "numerator": pd.array([None, 3, 25, None], dtype="Int64"),
            "denominator": [np.nan, 200.0, np.inf, -0.0],
            "as_of": [T0, pd.NaT, T0.astimezone(shanghai), T0 + timedelta(microseconds=7)],
        }
    )
    default = T0 - timedelta(days=1)
    assert save_indicator_values(engine, "p14", frame, as_of=default) == 4
    got = load_indicator_values(engine, "p14")
    assert got["stratum"].tolist() == ["", "female", "", "male"]
    assert got["as_of"].tolist() == [
        pd.Timestamp(T0),
        pd.Timestamp(default),
        pd.Timestamp(T0),
        pd.Timestamp(T0 + timedelta(microseconds=7)),
    ]
    assert got["value"].isna().tolist() == [False, True, False, False]
    assert got["numerator"].isna().tolist() == [True, False, False, True]
    assert got.loc[2, "denominator"] == np.inf
    _same_as_sqlalchemy_insert(engine, indicator_value)


def test_indicator_values_refuse_naive_times(engine):
    frame = pd.DataFrame(
        {"number": [1], "area_code": ["1"], "year": [2023], "value": [1.0], "as_of": [T0]}
    )
    with pytest.raises(ValueError, match="naive"):
        save_indicator_values(engine, "p", frame.assign(as_of=[T0.replace(tzinfo=None)]))
    assert load_indicator_values(engine, "p").empty


def test_evaluations_bulk_path_stores_what_sqlalchemy_stores(engine, batches):
    rows = [
        {
            "number": np.int64(n),
            "area_code": area,
            "as_of": T0,
            "value": np.float64(79.2) if n != 2 else None,
            "baseline": 78,
            "target": float("nan"),
            "comparator": ">=",
            "met": [np.bool_(True), False, None][n % 3],
            "tau": 0.6,
            "status": "需加快进度",
            "failing_units": ["110102"] if n == 1 else [],
            "warnings": None,
            "detail": {"series": [np.int64(1), 2.5, float("nan")], "名称": "孕产妇死亡率"},
            "extra_key": n,
        }
        for n in (1, 2, 3)
        for area in ("110101", "110102")
    ]
    assert save_evaluations(engine, "p14", "mid", 2023, rows) == 6
    got = load_evaluations(engine, "p14", "mid", 2023)
    assert [r["met"] for r in got] == [False, False, None, None, True, True]
    assert got[0]["detail"] == {"series": [1, 2.5, None], "名称": "孕产妇死亡率", "extra_key": 1}
    assert got[0]["warnings"] is None and got[0]["failing_units"] == ["110102"]
    assert got[2]["value"] is None and got[0]["target"] is None and got[0]["baseline"] == 78.0
    _same_as_sqlalchemy_insert(engine, evaluation)


def test_numpy_columns_are_stored_as_the_same_values_in_lists_are(engine, batches):
    from warehouse._sql import insert_rows

    values = np.array([1.5, np.nan, -0.0, np.inf, 1e-300])
    columns = {
        "number": np.array([1, 2, 3, 4, 5], dtype="int64"),
        "area_code": np.array(["1", "2", "3", "4", "5"], dtype=object),
        "year": np.array([2020, 2021, 2022, 2023, 2024], dtype="int32"),
        "stratum": np.array(["", "", "f", "", ""], dtype=object),
        "value": values,
        "numerator": values.astype("float32"),
        "as_of": np.array([T0] * 5, dtype=object),
    }
    as_lists = {
        name: [None if v != v else v for v in column.tolist()] for name, column in columns.items()
    }
    cells = []
    for given in (columns, as_lists):
        with engine.begin() as conn:
            conn.execute(sa.delete(indicator_value))
            assert insert_rows(conn, indicator_value, given, {"plan_id": "p", "computed_at": T0})
            cells.append(_stored(conn, indicator_value))
    assert cells[0] == cells[1]
    got = load_indicator_values(engine, "p")
    assert got["value"].isna().tolist() == [False, True, False, False, False]
    assert got["year"].tolist() == [2020, 2021, 2022, 2023, 2024]
    with pytest.raises(TypeError, match="datetime64"), engine.begin() as conn:
        insert_rows(
            conn, indicator_value, {**columns, "as_of": np.full(5, "2025-03-01", "M8[us]")}, {}
        )


def test_a_bad_evaluation_row_stores_none_of_them(engine, batches):
    def rows(bad_at: int | None):
        for i in range(7):
            row = {"number": i + 1, "area_code": "110101", "status": "已完成"}
            if i == bad_at:
                del row["area_code"]
            yield row

    assert save_evaluations(engine, "p14", "mid", 2023, rows(None)) == 7
    with pytest.raises(ValueError, match="evaluation row 5: number and area_code are required"):
        save_evaluations(engine, "p14", "mid", 2023, rows(5))
    assert len(load_evaluations(engine, "p14", "mid", 2023)) == 7  # the first 7 are still there
    assert save_evaluations(engine, "p14", "mid", 2023, []) == 0
    assert load_evaluations(engine, "p14", "mid", 2023) == []
