"""Computed results and bookkeeping round-trip through the warehouse."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from tests.warehouse.helpers import T0
from warehouse.observations import counts
from warehouse.results import (
    add_review,
    find_reports,
    finish_run,
    latest_reviews,
    load_evaluations,
    load_indicator_values,
    load_quality_issues,
    recent_runs,
    record_report,
    replace_quality_issues,
    save_evaluations,
    save_indicator_values,
    start_run,
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


def test_reviews_latest_and_as_of(engine):
    first = add_review(engine, "p14", 7, True, "王芳", "材料齐全", reviewed_at=T0)
    assert first["id"] and first["verdict"] is True
    add_review(engine, "p14", 7, False, "李强", "复核未通过", reviewed_at=T0 + timedelta(days=2))
    add_review(engine, "p14", 8, True, "王芳", None, reviewed_at=T0 + timedelta(days=1))
    latest = latest_reviews(engine, "p14")
    assert latest[7]["verdict"] is False and latest[7]["reviewer"] == "李强"
    assert latest[8]["verdict"] is True
    then = latest_reviews(engine, "p14", as_of=T0 + timedelta(days=1))
    assert then[7]["verdict"] is True and then[7]["reviewed_at"] == T0
    assert latest_reviews(engine, "other") == {}


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
