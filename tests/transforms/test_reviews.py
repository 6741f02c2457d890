"""Reviewers' verdicts applied to their own stage and data year; overrides beside the computed
status; verdicts that no longer fit ignored with a warning; guards on years and data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.transforms.test_report_context import AREAS, AS_OF, demo_plan, demo_values
from transforms.assessment import (
    DataYearError,
    assess_plan,
    check_data_year,
    data_completeness,
    is_incomplete,
)
from transforms.report_context import build_context
from transforms.reviews import (
    IN_FORCE,
    NEEDS_NEW_REVIEW,
    NOT_APPLICABLE,
    WITHDRAWN,
    applicable_reviews,
    misfit_issues,
    review_standings,
)

T = datetime(2019, 2, 1, 9, 0, tzinfo=UTC)


def review(id, number, verdict=True, stage="mid", year=2018, override=False, at=T, **kw):
    return {
        "id": id, "plan_id": "demo", "number": number, "verdict": verdict, "reviewer": "张三",
        "reason": f"理由{id}", "reviewed_at": at, "stage": stage, "data_year": year,
        "override": override, "withdrawn_at": None, "withdrawn_by": None,
        "withdraw_reason": None, **kw,
    }  # fmt: skip


def root(rows, number):
    return next(r for r in rows if r["area"] == "D" and r["number"] == number)


def assess(stage, year, reviews, values=None):
    plan = demo_plan()
    applied = applicable_reviews(plan, reviews, stage, year)
    values = demo_values() if values is None else values
    return assess_plan(plan, AREAS, values, stage, year, reviews=applied)


END_VALUES = demo_values().assign(year=lambda f: f["year"] + 2)


def test_a_verdict_applies_to_its_stage_and_data_year_only():
    mid = [review(1, 5, verdict=True, stage="mid", year=2018)]
    row = root(assess("mid", 2018, mid), 5)
    assert row["status"] == "已实现" and row["met"] is True
    assert row["review"] == {
        "id": 1, "verdict": "met", "by": "张三", "reason": "理由1", "at": T.isoformat()
    }  # fmt: skip
    assert row["override"] is None
    # the mid-term verdict is not the end-of-term one, nor another year's
    assert root(assess("end", 2020, mid, END_VALUES), 5)["status"] == "待人工评定"
    assert root(assess("mid", 2017, mid), 5)["review"] is None
    # end of term: met → 已完成, not met → 未完成; mid not met → 滞后
    end = [review(2, 5, verdict=False, stage="end", year=2020)]
    assert root(assess("end", 2020, end, END_VALUES), 5)["status"] == "未完成"
    end = [review(3, 5, verdict=True, stage="end", year=2020)]
    assert root(assess("end", 2020, end, END_VALUES), 5)["status"] == "已完成"
    assert root(assess("mid", 2018, [review(4, 5, verdict=False)]), 5)["status"] == "滞后"


def test_a_plain_verdict_on_a_numeric_indicator_is_ignored_never_a_crash():
    plan = demo_plan()
    reviews = [review(1, 1, verdict=True), review(2, 99, verdict=True)]
    rows = assess("mid", 2018, reviews)
    assert root(rows, 1)["status"] == "倒退" and root(rows, 1)["review"] is None
    states = {r["id"]: (r["state"], r["applies"]) for r in review_standings(plan, reviews)}
    assert states == {1: (NOT_APPLICABLE, False), 2: (NOT_APPLICABLE, False)}
    issues = misfit_issues(plan, reviews)
    assert [(i["kind"], i["severity"], i["number"]) for i in issues] == [
        ("review_not_applied", "warning", 1),
        ("review_not_applied", "warning", 99),
    ]
    assert "现为数值目标" in issues[0]["detail"] and "已不在规划中" in issues[1]["detail"]
    # a plain boolean for a numeric indicator (the old call) no longer reaches the method
    rows = assess_plan(plan, AREAS, demo_values(), "mid", 2018, reviews={1: True, 5: True})
    assert root(rows, 1)["status"] == "倒退" and root(rows, 5)["status"] == "已实现"


def test_an_override_replaces_the_status_and_keeps_the_computed_one_beside_it():
    reviews = [review(7, 1, verdict=True, override=True)]
    rows = assess("mid", 2018, reviews)
    row = root(rows, 1)
    assert row["status"] == "已实现" and row["met"] is True and row["status_en"] == "met early"
    assert row["override"]["computed_status"] == "倒退"
    assert row["override"]["id"] == 7 and row["override"]["by"] == "张三"
    assert row["review"] is None
    assert row["value"] == 1.95 and row["rho"] == pytest.approx(-0.083, abs=1e-3)  # numbers kept
    # an override on a qualitative target does not fit
    plan = demo_plan()
    (s,) = review_standings(plan, [review(8, 5, override=True)])
    assert s["state"] == NOT_APPLICABLE and "定性目标" in s["note"]


def test_withdrawn_superseded_and_old_verdicts():
    plan = demo_plan()
    later = T + timedelta(days=1)
    reviews = [
        review(1, 5, verdict=True),
        review(2, 5, verdict=False, at=later),
        review(3, 5, verdict=True, at=later + timedelta(days=1), withdrawn_at=later),
        review(4, 5, stage=None, year=None),
    ]
    standings = {r["id"]: r for r in review_standings(plan, reviews)}
    assert [(standings[i]["state"], standings[i]["applies"]) for i in (1, 2, 3, 4)] == [
        (IN_FORCE, False),
        (IN_FORCE, True),
        (WITHDRAWN, False),
        (NEEDS_NEW_REVIEW, False),
    ]
    assert standings[1]["note"] == "已被评定2取代"
    assert root(assess("mid", 2018, reviews), 5)["status"] == "滞后"  # review 2, not 3
    assert [i["data"]["review_id"] for i in misfit_issues(plan, reviews)] == [4]


def test_the_report_context_shows_overrides_history_and_awaiting_ones_apart():
    plan = demo_plan()
    reviews = [
        review(1, 1, verdict=True, override=True),
        review(2, 5, verdict=True, withdrawn_at=T + timedelta(hours=1), withdrawn_by="李四"),
    ]
    applied = applicable_reviews(plan, reviews, "mid", 2018)
    rows = assess_plan(plan, AREAS, demo_values(), "mid", 2018, reviews=applied)
    issues = [
        {"id": 11, "kind": "missing_value", "severity": "warning", "number": 2, "year": 2018,
         "detail": "缺数", "acknowledged": True, "acknowledged_by": "王芳",
         "acknowledged_at": T, "acknowledge_reason": "已知"},
        {"id": 12, "kind": "year_on_year_jump", "severity": "warning", "number": 2, "area_code": "D",
         "year": 2018, "detail": "跳升", "acknowledged": False},
    ]  # fmt: skip
    ctx = build_context(
        plan, rows, demo_values(), stage="mid", data_year=2018, as_of=AS_OF, areas=AREAS,
        quality_issues=issues, reviews=applied, review_history=review_standings(plan, reviews),
        with_charts=False,
    )  # fmt: skip
    notes = [n["text"] for n in ctx["table"]["footnotes"]]
    assert any(n.startswith("人工调整：按数据评定为“倒退”，调整为“已实现”（张三，") for n in notes)
    assert [(h["id"], h["state"], h["kind"]) for h in ctx["review_history"]] == [
        (1, "有效", "人工调整"),
        (2, "已撤回", "人工评定"),
    ]
    assert ctx["review_history"][1]["withdrawn_by"] == "李四"
    assert [(a["id"], a["by"], a["reason"]) for a in ctx["acknowledged_issues"]] == [
        (11, "王芳", "已知")
    ]
    assert [i["detail"] for i in ctx["quality"]["issues"]] == ["跳升"]  # the open list
    assert ctx["incomplete"]["present"] is False
    assert ctx["incomplete_counts"] == {"with_data": 6, "numeric": 7}
    # 5 awaits a reviewer again (its verdict was withdrawn): named apart, never counted
    assert "约束性指标“高血压患者规范管理率”待人工评定" in ctx["problems"]["intro"]


def test_no_sentence_about_zero_binding_indicators():
    plan = demo_plan()
    empty = demo_values().iloc[0:0]
    rows = assess_plan(plan, AREAS, empty, "end", 2020)
    ctx = build_context(
        plan, rows, empty, stage="end", data_year=2020, as_of=AS_OF, areas=AREAS,
        with_charts=False,
    )  # fmt: skip
    intro = ctx["problems"]["intro"]
    assert "0项" not in intro and "均达到" not in intro
    assert intro == (
        "约束性指标“高血压患者规范管理率”待人工评定；约束性指标“注册护士”、“床位使用率”、"
        "“以镇（街道）为单位疫苗接种率”缺少2020年数据，暂无法评估（见下文）。"
    )
    assert ctx["incomplete"]["present"] is True
    assert ctx["incomplete_counts"] == {"with_data": 0, "numeric": 7}
    assert ctx["labels"]["incomplete"] == "数据不完整"
    assert "2020年仅有0项数值指标有数据（共7项）" in ctx["incomplete"]["text"]


def test_data_years_outside_the_period_or_before_the_target_are_refused():
    plan = demo_plan()
    assert check_data_year(plan, "mid", 2018) == 2018 and check_data_year(plan, "end", 2020) == 2020
    with pytest.raises(DataYearError, match="不在规划期.*2016—2020年"):
        check_data_year(plan, "mid", 2030)
    with pytest.raises(DataYearError, match="不能早于目标年2020年.*可选：2020年"):
        check_data_year(plan, "end", 2018)


def test_completeness_counts_the_numeric_indicators_with_a_value():
    plan = demo_plan()
    rows = assess_plan(plan, AREAS, demo_values(), "mid", 2018)
    counts = data_completeness(plan, rows)
    assert counts == {"with_data": 6, "numeric": 7} and not is_incomplete(counts)
    few = demo_values().query("number in (1, 2, 3) or year != 2018")
    counts = data_completeness(plan, assess_plan(plan, AREAS, few, "mid", 2018))
    assert counts == {"with_data": 3, "numeric": 7} and is_incomplete(counts)
    assert not is_incomplete({"with_data": 2, "numeric": 4})


def test_footnote_dates_are_the_bureaus_date_not_utcs():
    """A verdict recorded at 20:00 UTC on 31 January is dated 1 February in Beijing."""
    plan = demo_plan()
    evening = datetime(2019, 1, 31, 20, 0, tzinfo=UTC)
    reviews = [review(1, 1, override=True, at=evening), review(2, 5, verdict=True, at=evening)]
    applied = applicable_reviews(plan, reviews, "mid", 2018)
    rows = assess_plan(plan, AREAS, demo_values(), "mid", 2018, reviews=applied)

    def notes(tz):
        ctx = build_context(
            plan, rows, demo_values(), stage="mid", data_year=2018, as_of=AS_OF, areas=AREAS,
            reviews=applied, with_charts=False, timezone=tz,
        )  # fmt: skip
        return [n["text"] for n in ctx["table"]["footnotes"]]

    beijing = notes("Asia/Shanghai")
    assert any(n.startswith("人工调整：") and "（张三，2019年2月1日）" in n for n in beijing)
    assert "人工评定为达到目标（张三，2019年2月1日）：理由2" in beijing
    assert not any("2019年1月31日" in n for n in beijing)
    assert "人工评定为达到目标（张三，2019年1月31日）：理由2" in notes("UTC")


def _with_text_goals():
    from healthplan.definitions import Plan

    data = demo_plan().model_dump()
    goal = {
        "name_en": "x", "unit": "%", "direction": "higher",
        "target": {"text": "90%左右", "comparator": "about", "value": 90, "year": 2020},
    }  # fmt: skip
    data["text_goals"] = [
        {
            **goal,
            "code": "T1",
            "name_zh": "县域内就诊率",
            "sentence": "县域内就诊率提高到90%左右。",
        },
        {**goal, "code": "T2", "name_zh": "标准化建设达标率", "sentence": "达标率达到90%左右。"},
    ]
    return Plan(**data)


def goal_review(id, goal, **kw):
    return {**review(id, None, **kw), "goal": goal}


def test_a_text_goal_takes_its_verdict_for_its_own_stage_and_year():
    plan = _with_text_goals()
    reviews = [
        goal_review(1, "T1", verdict=True, stage="mid", year=2018),
        goal_review(2, "T2", verdict=False, stage="end", year=2020),
        goal_review(3, "T9", verdict=True),  # no such goal (any more)
        goal_review(4, "T2", verdict=True, override=True, stage="end", year=2020),
        review(5, 5, verdict=True),
    ]
    assert set(applicable_reviews(plan, reviews, "mid", 2018)) == {5}
    from transforms.reviews import applicable_goal_reviews

    assert list(applicable_goal_reviews(plan, reviews, "mid", 2018)) == ["T1"]
    assert list(applicable_goal_reviews(plan, reviews, "end", 2020)) == ["T2"]
    states = {r["id"]: r["state"] for r in review_standings(plan, reviews)}
    assert states == {1: IN_FORCE, 2: IN_FORCE, 3: NOT_APPLICABLE, 4: NOT_APPLICABLE, 5: IN_FORCE}
    details = [i["detail"] for i in misfit_issues(plan, reviews)]
    assert details[0].startswith("人工评定3（正文目标T9，") and "已不在规划中" in details[0]
    assert details[1].startswith("人工调整4（正文目标T2，")

    def context(stage, year):
        rows = assess_plan(plan, AREAS, demo_values(), stage, year)
        return build_context(
            plan, rows, demo_values(), stage=stage, data_year=year, as_of=AS_OF, areas=AREAS,
            goal_reviews=applicable_goal_reviews(plan, reviews, stage, year),
            review_history=review_standings(plan, reviews), with_charts=False,
        )  # fmt: skip

    mid = context("mid", 2018)
    assert [(g["goal"], g["status"]) for g in mid["text_goals"]] == [
        ("T1", "已实现"),
        ("T2", "待人工评定"),
    ]
    assert mid["text_goals"][0]["review"] == "达到（张三）"  # the verdict column as printed
    assert mid["text_goals"][1]["review"] == "—"
    assert mid["text_goals_lead"] == (
        "规划正文另提出以下2项目标，未列入主要指标表；其中1项已经人工评定，1项待人工评定。"
    )
    end = context("end", 2020)
    assert [(g["goal"], g["status"]) for g in end["text_goals"]] == [
        ("T1", "待人工评定"),
        ("T2", "未完成"),
    ]
    history = {h["id"]: h["number"] for h in end["review_history"]}
    assert history[1] == "T1" and history[5] == "5"
    from flows.report import render_html

    html = render_html(mid)
    assert "达到（张三）" in html and "逐项待人工评定" not in html
    assert "其中1项已经人工评定，1项待人工评定" in html
