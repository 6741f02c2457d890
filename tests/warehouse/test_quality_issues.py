"""Quality issues keep when they closed, so the issues open at a past moment can be listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.warehouse.helpers import T0
from warehouse.results import load_quality_issues, replace_quality_issues
from warehouse.schema import quality_issue

JUMP = {"kind": "year_on_year_jump", "severity": "warning", "number": 2, "year": 2022}
GAP = {"kind": "missing_value", "severity": "error", "number": 5, "area_code": "110101"}


def _kinds(engine, plan_id="p14", **kw) -> list[str]:
    return [i["kind"] for i in load_quality_issues(engine, plan_id, **kw)]


def test_closing_an_issue_records_when(engine):
    replace_quality_issues(engine, "p14", [JUMP, GAP])
    before = datetime.now(UTC)
    assert replace_quality_issues(engine, "p14", [GAP])["closed"] == 1
    after = datetime.now(UTC)
    rows = {i["kind"]: i for i in load_quality_issues(engine, "p14", open_only=False)}
    closed, still = rows["year_on_year_jump"], rows["missing_value"]
    assert closed["is_open"] is False and before <= closed["closed_at"] <= after
    assert still["is_open"] is True and still["closed_at"] is None
    # a caller's closed_at is not taken for an issue it reports as found
    replace_quality_issues(engine, "p14", [{**GAP, "closed_at": T0}])
    assert load_quality_issues(engine, "p14")[0]["closed_at"] is None


def test_as_of_lists_the_issues_open_at_that_moment(engine):
    replace_quality_issues(engine, "p14", [{**JUMP, "detected_at": T0}, {**GAP, "detected_at": T0}])
    replace_quality_issues(engine, "p14", [GAP])  # the jump closes now
    closed_at = next(
        i["closed_at"]
        for i in load_quality_issues(engine, "p14", open_only=False)
        if i["is_open"] is False
    )
    assert _kinds(engine, as_of=T0 - timedelta(seconds=1)) == []  # before detection
    assert _kinds(engine, as_of=T0) == ["missing_value", "year_on_year_jump"]  # errors first
    between = T0 + timedelta(days=30)
    assert T0 < between < closed_at
    assert _kinds(engine, as_of=between) == ["missing_value", "year_on_year_jump"]
    assert _kinds(engine, as_of=closed_at) == ["missing_value"]  # closed at that moment
    assert _kinds(engine, as_of=datetime.now(UTC)) == _kinds(engine) == ["missing_value"]
    # not open only: what had been detected by then, whatever became of it
    assert len(load_quality_issues(engine, "p14", open_only=False, as_of=between)) == 2
    assert load_quality_issues(engine, "p14", open_only=False, as_of=T0 - timedelta(days=1)) == []
    assert _kinds(engine, "other", as_of=between) == []  # other plans stay apart
    with pytest.raises(ValueError, match="naive"):
        load_quality_issues(engine, "p14", as_of=datetime(2025, 1, 1))


def test_an_issue_found_again_after_closing_is_a_new_row(engine):
    replace_quality_issues(engine, None, [{"kind": "encoding", "file_name": "x.csv", "row": 4}])
    replace_quality_issues(engine, None, [])
    gone = datetime.now(UTC)
    assert _kinds(engine, None) == []
    assert replace_quality_issues(
        engine, None, [{"kind": "encoding", "file_name": "x.csv", "row": 4}]
    ) == {
        "opened": 1,
        "kept": 0,
        "closed": 0,
    }
    first, again = sorted(load_quality_issues(engine, None, open_only=False), key=lambda i: i["id"])
    assert first["is_open"] is False and first["closed_at"] <= gone
    assert again["is_open"] is True and again["closed_at"] is None
    assert again["detected_at"] > first["closed_at"] >= first["detected_at"]
    assert _kinds(engine, None, as_of=first["detected_at"]) == ["encoding"]
    assert _kinds(engine, None, as_of=gone) == []  # between the two: none open
    assert [i["id"] for i in load_quality_issues(engine, None, as_of=again["detected_at"])] == [
        again["id"]
    ]


def test_issues_closed_before_closed_at_existed_are_left_out_of_as_of(engine):
    with engine.begin() as conn:
        conn.execute(
            sa.insert(quality_issue),
            [{"plan_id": "p14", "kind": "old", "severity": "info", "detected_at": T0,
              "is_open": False, "closed_at": None}],
        )  # fmt: skip
    later = T0 + timedelta(days=1)
    assert _kinds(engine, open_only=False) == ["old"]
    assert _kinds(engine, as_of=later) == [] and _kinds(engine) == []
