"""A report reproduced as of a past moment lists the quality issues that were open then."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from tests.conftest import _clear_caches  # Prefect's test settings are set there, before import
from tests.flows.test_report import demo_assessment, write_plans
from tests.transforms.test_report_context import ISSUES, demo_plan

JUMP = ISSUES[0]["detail"]  # shown in the mid-term report (indicator 2, district D, 2018)
GAP = {
    "kind": "missing_value", "severity": "error", "number": 2, "area_code": "D", "year": 2018,
    "file_name": "beds_2018.csv", "row": 9, "detail": "2018年D区实有床位数缺失",
}  # fmt: skip


@pytest.fixture
def demo_plans(tmp_path, monkeypatch):
    """Settings pointing at a plans folder holding only the demo plan."""
    monkeypatch.setenv("HEALTHPLAN_PLANS_DIR", str(write_plans(tmp_path, demo_plan())))
    monkeypatch.setenv("HEALTHPLAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("HEALTHPLAN_DATABASE_URL", raising=False)
    (tmp_path / "data").mkdir()
    _clear_caches()
    yield tmp_path
    _clear_caches()


def issue_history(engine) -> dict[str, datetime]:
    """The demo issues found, then the jump no longer found and a gap found: the moments between."""
    from warehouse.results import replace_quality_issues

    moments = {"before": datetime.now(UTC)}
    replace_quality_issues(engine, "demo", [dict(i) for i in ISSUES])
    moments["then"] = datetime.now(UTC)
    replace_quality_issues(engine, "demo", [dict(i) for i in ISSUES[1:]])  # the jump is closed
    replace_quality_issues(engine, "demo", [dict(i) for i in ISSUES[1:]] + [dict(GAP)])
    moments["now"] = datetime.now(UTC)
    return moments


def _details(inputs) -> set[str]:
    return {i["detail"] for i in inputs.quality_issues}


def test_inputs_as_of_a_past_moment_hold_the_issues_open_then(demo_plans, db_url):
    from flows.report import load_inputs
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade

    engine = get_engine(db_url)
    upgrade(engine)
    at = issue_history(engine)
    a = demo_assessment()
    past = dataclasses.replace(a, as_of=at["then"])
    assert _details(load_inputs(past, engine, at["then"])) == {i["detail"] for i in ISSUES}
    assert _details(load_inputs(a, engine, at["before"])) == set()
    assert _details(load_inputs(a, engine, at["now"])) == {i["detail"] for i in ISSUES[1:]} | {
        GAP["detail"]
    }
    # not a reproduction: the issues open now, whatever the assessment's moment
    assert _details(load_inputs(past, engine)) == _details(load_inputs(a, engine, at["now"]))


@pytest.mark.integration
def test_a_report_reproduced_as_of_then_prints_the_issues_open_then(demo_plans, tmp_path):
    from flows.common import warehouse
    from flows.report import render_report, report_stem

    engine = warehouse()
    at = issue_history(engine)
    a = dataclasses.replace(demo_assessment(), as_of=at["then"])
    stem = report_stem("demo", "mid", 2018, at["then"])
    then = render_report(a, out_dir=tmp_path, engine=engine, stem=stem, as_of=at["then"])
    html = then.html.read_text(encoding="utf-8")
    assert JUMP in html and GAP["detail"] not in html
    now = render_report(a, out_dir=tmp_path, engine=engine, stem="demo_mid_2018")
    html = now.html.read_text(encoding="utf-8")
    assert GAP["detail"] in html and JUMP not in html
