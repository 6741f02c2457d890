"""Computed results and bookkeeping round-trip through the warehouse."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from tests.warehouse.helpers import T0
from warehouse.observations import counts
from warehouse.results import (
    ReviewError,
    acknowledge_quality_issue,
    add_review,
    find_reports,
    finish_run,
    load_evaluations,
    load_indicator_values,
    load_quality_issues,
    load_reviews,
    recent_runs,
    record_report,
    replace_quality_issues,
    save_evaluations,
    save_indicator_values,
    start_run,
    withdraw_review,
)


def test_indicator_values_round_trip_and_replace(engine):
    frame = pd.DataFrame(
        {
            "number": [1, 1, 2],
            "area_code": ["110101", "110102", "110101"],
            "year": [2023, 2023, 2023],
            "value": [80.1, np.nan, 12.5],
            "numerator": [None, None, 25.0],
            "denominator": [None, None, 200.0],
            "name_zh": ["ignored", "ignored", "ignored"],
        }
    )
    assert save_indicator_values(engine, "p14", frame, as_of=T0) == 3
    save_indicator_values(engine, "other", frame.head(1), as_of=T0)
    got = load_indicator_values(engine, "p14")
    assert got["value"].isna().tolist() == [False, True, False]
    assert got.loc[2, "numerator"] == 25.0 and (got["stratum"] == "").all()
    assert (got["as_of"] == pd.Timestamp(T0)).all()
    # replace: the plan's rows are exactly the new frame, other plans untouched
    save_indicator_values(engine, "p14", frame.tail(1), as_of=T0)
    assert len(load_indicator_values(engine, "p14")) == 1
    assert len(load_indicator_values(engine, "other")) == 1
    assert load_indicator_values(engine, "p14", numbers=[1]).empty
    with pytest.raises(ValueError, match="share a key"):
        save_indicator_values(engine, "p14", pd.concat([frame, frame]))
    assert len(load_indicator_values(engine, "p14")) == 1  # failed save changed nothing


def _evaluation(number, area, **extra):
    row = {
        "number": number,
        "area_code": area,
        "as_of": T0,
        "value": np.float64(79.2),
        "baseline": 78.0,
        "target": 80.5,
        "comparator": ">=",
        "met": np.bool_(False),
        "tau": 0.6,
        "p": np.float64(0.48),
        "rho": 0.8,
        "projection": np.nan,
        "cagr": None,
        "status": "需加快进度",
        "status_en": "needs speed-up",
        "failing_units": ["110102"],
        "warnings": ["基期数据修订"],
        "detail": {"series": [np.int64(1), 2.5, float("nan")]},
    }
    row.update(extra)
    return row


def test_evaluations_round_trip_and_replace(engine):
    rows = [_evaluation(1, "110101"), _evaluation(2, "110101", met=None, name_zh="孕产妇死亡率")]
    assert save_evaluations(engine, "p14", "mid", 2023, rows) == 2
    save_evaluations(engine, "p14", "mid", 2022, rows[:1])
    got = load_evaluations(engine, "p14", "mid", 2023)
    assert [r["number"] for r in got] == [1, 2]
    first = got[0]
    assert first["met"] is False and first["p"] == 0.48 and first["projection"] is None
    assert first["failing_units"] == ["110102"] and first["warnings"] == ["基期数据修订"]
    assert first["detail"] == {"series": [1, 2.5, None]}
    assert first["as_of"] == T0 and first["stage"] == "mid" and first["data_year"] == 2023
    assert got[1]["met"] is None and got[1]["detail"]["name_zh"] == "孕产妇死亡率"
    assert len(load_evaluations(engine, "p14", "mid")) == 3
    assert load_evaluations(engine, "p14", "end") == []
    assert len(load_evaluations(engine, "p14", "mid", 2023, area_code="110101")) == 2
    save_evaluations(engine, "p14", "mid", 2023, rows[:1])
    assert len(load_evaluations(engine, "p14", "mid", 2023)) == 1
    with pytest.raises(ValueError, match="stage"):
        save_evaluations(engine, "p14", "final", 2023, rows)
    with pytest.raises(ValueError, match="data_year"):
        save_evaluations(engine, "p14", "mid", 2023, [_evaluation(1, "x", data_year=2020)])


def test_quality_issues_replace_keeps_history(engine):
    issue_a = {
        "kind": "outlier",
        "severity": "warning",
        "number": 3,
        "area_code": "110101",
        "year": 2022,
        "detail": "jump of 40%",
        "data": {"z": np.float64(4.2)},
    }
    issue_b = {
        "kind": "parts_vs_total",
        "severity": "error",
        "area_code": "110000",
        "year": 2022,
        "detail": "sum of districts ≠ city",
        "difference": 12,
    }
    assert replace_quality_issues(engine, "p14", [issue_a, issue_b]) == {
        "opened": 2,
        "kept": 0,
        "closed": 0,
    }
    first = load_quality_issues(engine, "p14")
    assert [i["kind"] for i in first] == ["parts_vs_total", "outlier"]  # errors first
    assert first[0]["data"] == {"difference": 12} and first[1]["data"] == {"z": 4.2}
    # again with only issue_a: a is kept (same detected_at), b is closed, not deleted
    assert replace_quality_issues(engine, "p14", [issue_a]) == {"opened": 0, "kept": 1, "closed": 1}
    open_now = load_quality_issues(engine, "p14")
    assert [i["kind"] for i in open_now] == ["outlier"]
    assert open_now[0]["detected_at"] == first[1]["detected_at"]
    assert len(load_quality_issues(engine, "p14", open_only=False)) == 2
    # ingest issues without a plan live separately
    replace_quality_issues(
        engine, None, [{"kind": "encoding", "severity": "info", "file_name": "x.csv", "row": 4}]
    )
    assert (
        len(load_quality_issues(engine, None)) == 1 and len(load_quality_issues(engine, "p14")) == 1
    )
    with pytest.raises(ValueError, match="severity"):
        replace_quality_issues(engine, "p14", [{"kind": "x", "severity": "fatal"}])


def test_reviews_carry_stage_year_and_override_and_are_withdrawn_not_deleted(engine):
    first = add_review(
        engine, "p14", 7, True, "王芳", "材料齐全", stage="mid", data_year=2018, reviewed_at=T0
    )
    assert first["id"] and first["verdict"] is True and first["stage"] == "mid"
    later = T0 + timedelta(days=2)
    second = add_review(
        engine, "p14", 3, False, "李强", "抽查不实", stage="end", data_year=2020,
        override=True, reviewed_at=later,
    )  # fmt: skip
    rows = load_reviews(engine, "p14")
    assert [(r["id"], r["stage"], r["data_year"], r["override"]) for r in rows] == [
        (first["id"], "mid", 2018, False),
        (second["id"], "end", 2020, True),
    ]
    gone = withdraw_review(engine, first["id"], "赵六", "材料有误", at=T0 + timedelta(days=3))
    assert gone["withdrawn_by"] == "赵六" and gone["withdraw_reason"] == "材料有误"
    rows = load_reviews(engine, "p14")
    assert len(rows) == 2  # kept, never deleted
    assert rows[0]["withdrawn_at"] == T0 + timedelta(days=3)
    # as of a moment before the withdrawal the verdict was in force; before it, unknown
    then = load_reviews(engine, "p14", as_of=T0 + timedelta(days=2, hours=1))
    assert [r["id"] for r in then] == [first["id"], second["id"]]
    assert then[0]["withdrawn_at"] is None
    assert [r["id"] for r in load_reviews(engine, "p14", as_of=T0 + timedelta(hours=1))] == [
        first["id"]
    ]
    with pytest.raises(ReviewError, match="已于"):
        withdraw_review(engine, first["id"], "赵六", "again")
    with pytest.raises(ReviewError, match="没有编号为 999"):
        withdraw_review(engine, 999, None, None)
    with pytest.raises(ValueError, match="stage"):
        add_review(engine, "p14", 7, True, "王芳", "x", stage="final", data_year=2020)
    assert load_reviews(engine, "other") == []


def test_a_review_without_a_stage_and_year_is_refused_by_the_database(engine):
    import sqlalchemy as sa
    from sqlalchemy.exc import IntegrityError

    from warehouse.schema import review

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            sa.insert(review).values(
                plan_id="p", number=1, verdict=True, reviewer="x", reviewed_at=T0, stage="mid"
            )
        )


def test_a_review_is_for_an_indicator_or_a_text_goal_never_both_nor_neither(engine):
    import sqlalchemy as sa
    from sqlalchemy.exc import IntegrityError

    from warehouse.schema import review

    goal = add_review(engine, "p16", None, True, "王芳", "已落实", stage="mid", data_year=2018,
                      goal="T2", reviewed_at=T0)  # fmt: skip
    add_review(engine, "p16", 5, False, "王芳", "未落实", stage="mid", data_year=2018)
    rows = load_reviews(engine, "p16")
    assert [(r["id"], r["number"], r["goal"]) for r in rows] == [
        (goal["id"], None, "T2"),
        (goal["id"] + 1, 5, None),
    ]
    with pytest.raises(ReviewError, match="exactly one"):
        add_review(engine, "p16", 5, True, "王芳", "x", stage="mid", data_year=2018, goal="T1")
    with pytest.raises(ReviewError, match="exactly one"):
        add_review(engine, "p16", None, True, "王芳", "x", stage="mid", data_year=2018)
    base = {"plan_id": "p16", "verdict": True, "reviewer": "x", "reviewed_at": T0,
            "stage": "mid", "data_year": 2018}  # fmt: skip
    for both_or_neither in ({"number": 1, "goal": "T1"}, {"number": None, "goal": None}):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(sa.insert(review).values(**base, **both_or_neither))
    assert len(load_reviews(engine, "p16")) == 2


def test_an_acknowledged_issue_reopens_when_its_numbers_change(engine):
    replace_quality_issues(
        engine,
        "p15",
        [{"kind": "impossible_value", "number": 4, "detail": "值 120 超过 100", "data": {"value": 120}},
         {"kind": "missing_value", "number": 5, "detail": "缺 2018", "data": {"years": [2018]}}],
    )  # fmt: skip
    issues = {i["kind"]: i for i in load_quality_issues(engine, "p15")}
    assert not any(i["acknowledged"] or i["reopened"] for i in issues.values())
    ack = acknowledge_quality_issue(
        engine, issues["missing_value"]["id"], "王芳", "该年未开展调查", at=T0
    )
    assert ack["acknowledged"] and ack["acknowledged_by"] == "王芳"
    issues = {i["kind"]: i for i in load_quality_issues(engine, "p15")}
    assert issues["missing_value"]["acknowledged"] is True
    assert issues["impossible_value"]["acknowledged"] is False
    # as of a moment before the acknowledgement, the issue was not acknowledged
    before = load_quality_issues(engine, "p15", as_of=T0 - timedelta(seconds=1))
    assert before == [] or not any(i["acknowledged"] for i in before)
    # found again with the same numbers: still acknowledged
    same = [
        {"kind": "impossible_value", "number": 4, "detail": "值 120 超过 100", "data": {"value": 120}},
        {"kind": "missing_value", "number": 5, "detail": "缺 2018", "data": {"years": [2018]}},
    ]  # fmt: skip
    replace_quality_issues(engine, "p15", same)
    assert {i["kind"]: i["acknowledged"] for i in load_quality_issues(engine, "p15")} == {
        "impossible_value": False,
        "missing_value": True,
    }
    # the same issue with other numbers behind it: open again, the acknowledgement kept on record
    same[1]["data"] = {"years": [2018, 2019]}
    replace_quality_issues(engine, "p15", same)
    row = next(i for i in load_quality_issues(engine, "p15") if i["kind"] == "missing_value")
    assert row["acknowledged"] is False and row["reopened"] is True
    assert row["acknowledged_by"] == "王芳"
    # acknowledged again, then its detail changes: a new issue, not acknowledged
    acknowledge_quality_issue(engine, row["id"], "王芳", "两年均未开展")
    same[1]["detail"] = "缺 2018、2019"
    replace_quality_issues(engine, "p15", same)
    row = next(i for i in load_quality_issues(engine, "p15") if i["kind"] == "missing_value")
    assert row["acknowledged"] is False and row["acknowledged_at"] is None
    with pytest.raises(ValueError, match="已关闭"):
        acknowledge_quality_issue(engine, ack["id"], "王芳", "x")
    with pytest.raises(ValueError, match="理由"):
        acknowledge_quality_issue(engine, row["id"], "王芳", " ")
    with pytest.raises(ValueError, match="没有编号为"):
        acknowledge_quality_issue(engine, 99999, "王芳", "x")


def test_reports_are_recorded(engine):
    rid = record_report(
        engine,
        plan_id="p14",
        stage="mid",
        data_year=2023,
        as_of=T0,
        format="pdf",
        path="/reports/p14-mid-2023.pdf",
        checksum="d" * 64,
        inputs={"source_checksums": ["a" * 64], "settings": {"tolerance": 0.02}},
        code_version="abc123",
    )
    record_report(engine, plan_id="p14", stage="end", format="xlsx", path="/r/x.xlsx")
    assert [r["id"] for r in find_reports(engine, "p14", "mid")] == [rid]
    assert len(find_reports(engine)) == 2
    assert find_reports(engine, "p14", "mid")[0]["inputs"]["settings"] == {"tolerance": 0.02}
    with pytest.raises(ValueError, match="format"):
        record_report(engine, plan_id="p14", stage="mid", format="odt", path="x")
    with pytest.raises(ValueError, match="unknown keys"):
        record_report(engine, plan_id="p14", stage="mid", format="pdf", path="x", colour="red")


def test_runs_are_recorded(engine):
    run_id = start_run(engine, "ingest", {"inbox": "samples/inbox", "years": [2023]})
    other = start_run(engine, "compute", None)
    finish_run(engine, run_id, "completed", "12 files")
    runs = recent_runs(engine, 10)
    assert [r["id"] for r in runs] == [other, run_id]
    assert runs[0]["outcome"] == "running" and runs[0]["finished_at"] is None
    assert runs[1]["outcome"] == "completed" and runs[1]["parameters"]["years"] == [2023]
    assert len(recent_runs(engine, 1)) == 1
    finish_run(engine, other, "failed", "step compute failed", parameters={"step": "compute"})
    assert recent_runs(engine, 1)[0]["parameters"] == {"step": "compute"}
    with pytest.raises(ValueError):
        finish_run(engine, run_id, "exploded", "")
    with pytest.raises(ValueError, match="no run"):
        finish_run(engine, 9999, "failed", "")
    assert counts(engine)["run"] == 2
