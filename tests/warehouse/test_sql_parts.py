"""Rows handed over a part at a time are stored as ``insert_rows`` stores them all at once, in
one statement, each part let go of before the next is made."""

from __future__ import annotations

import weakref

import pytest
import sqlalchemy as sa

from tests.warehouse.helpers import T0
from warehouse._sql import insert_parts, insert_rows
from warehouse.schema import evaluation


class _Part(dict):
    """A part that can be watched for when it is freed."""


def _columns(numbers: list[int]) -> _Part:
    n = len(numbers)
    return _Part(
        plan_id=["p"] * n,
        number=numbers,
        area_code=["110101"] * n,
        stage=["mid"] * n,
        data_year=[2023] * n,
        value=[None if i == 2 else i / 3 for i in numbers],
        failing_units=[["110102"] if i == 1 else [] for i in numbers],
        detail=[{"i": i} for i in numbers],
        evaluated_at=[T0] * n,
    )


def _stored(engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(sa.select(evaluation).order_by(evaluation.c.number)).all()


def test_parts_are_stored_as_all_rows_at_once_and_let_go_of_one_by_one(engine):
    with engine.begin() as conn:
        assert insert_rows(conn, evaluation, _columns([1, 2, 3, 4, 5]), {}) == 5
    at_once = _stored(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(evaluation))

    freed_before_next: list[bool] = []

    def parts():
        previous = None
        for numbers in ([1, 2], [3], [4, 5]):
            if previous is not None:
                freed_before_next.append(previous() is None)
            part = _columns(numbers)
            previous = weakref.ref(part)
            yield part
            del part

    with engine.begin() as conn:
        assert insert_parts(conn, evaluation, parts()) == 5
        assert insert_parts(conn, evaluation, iter(())) == 0
    assert _stored(engine) == at_once and len(at_once) == 5
    assert freed_before_next == [True, True]


def test_parts_of_other_columns_are_refused(engine):
    other = _columns([2])
    del other["detail"]
    with pytest.raises(ValueError, match="a part of columns"), engine.begin() as conn:
        insert_parts(conn, evaluation, iter([_columns([1]), other]))
    assert _stored(engine) == []
