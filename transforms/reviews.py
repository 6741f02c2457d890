"""Reviewers' verdicts: which of them apply to an evaluation, and what each does to its row.

A verdict belongs to one indicator, one stage and one data year (spec, "Decisions where the
steps above were silent"). On a qualitative target it is the indicator's status; on a numeric
target it counts only as an explicit override (人工调整), shown beside the computed status. A
verdict is withdrawn, never deleted. Of the verdicts in force for the same indicator, stage and
year, the latest one that fits the indicator as the plan now defines it applies; one that no
longer fits (the indicator is gone, or turned numeric) is ignored and reported, never a crash.
Pure functions on plain values: the rows come from the warehouse's ``review`` table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from healthplan.definitions import Plan
from transforms.evaluation import ACHIEVED, LAGGING, MET_EARLY, NOT_ACHIEVED

IN_FORCE = "有效"
WITHDRAWN = "已撤回"
NEEDS_NEW_REVIEW = "需重新评定"
NOT_APPLICABLE = "不再适用"
STATE_EN = {
    IN_FORCE: "in force",
    WITHDRAWN: "withdrawn",
    NEEDS_NEW_REVIEW: "to be given again with a stage and data year",
    NOT_APPLICABLE: "no longer fits its indicator",
}
STAGE_ZH = {"mid": "中期评估", "end": "终期评估"}
OVERRIDE_ZH = "人工调整"


def verdict_status(verdict: bool, stage: str) -> str:
    """The status a verdict gives: met → 已实现 (mid) / 已完成 (end); not met → 滞后 (mid: no
    pace can be measured, so it ranks with lagging) / 未完成 (end)."""
    if stage == "mid":
        return MET_EARLY if verdict else LAGGING
    if stage == "end":
        return ACHIEVED if verdict else NOT_ACHIEVED
    raise ValueError(f"stage must be 'mid' or 'end', got {stage!r}")


def subject(review: Mapping) -> str:
    """What a verdict is about, as a reader names it: 指标N, or 正文目标Tk for a text goal."""
    if review.get("goal"):
        return f"正文目标{review['goal']}"
    return f"指标{review['number']}"


def _key(review: Mapping) -> tuple:
    return (review.get("goal"), review.get("number"), review["stage"], int(review["data_year"]))


def misfit(plan: Plan, review: Mapping) -> str | None:
    """Why a verdict no longer fits its indicator or text goal as the plan now defines it
    (None: it fits)."""
    if review.get("goal"):
        if review["goal"] not in {g.code for g in plan.text_goals}:
            return f"正文目标{review['goal']}已不在规划中"
        if review.get("override"):
            return f"正文目标{review['goal']}无计算结果可调整"
        return None
    number = int(review["number"])
    try:
        ind = plan.indicator(number)
    except (KeyError, ValueError):
        return f"指标{number}已不在规划中"
    qualitative = ind.target.comparator == "qualitative"
    if review.get("override") and qualitative:
        return f"指标{number}现为定性目标，人工调整无计算结果可调整"
    if not review.get("override") and not qualitative:
        return f"指标{number}现为数值目标，按数据评定（人工调整须明确标注）"
    return None


def review_standings(plan: Plan, reviews: Sequence[Mapping]) -> list[dict]:
    """Every review with its state (有效 / 已撤回 / 需重新评定 / 不再适用), whether it applies
    to its stage and data year (the latest fitting one in force does), and why not."""
    out = [dict(r) for r in sorted(reviews, key=lambda r: (r["reviewed_at"], r["id"]))]
    latest: dict[tuple, dict] = {}
    for r in out:
        r["applies"] = False
        if r.get("withdrawn_at") is not None:
            r["state"], r["note"] = WITHDRAWN, "已撤回，不计入评估"
        elif r.get("stage") is None or r.get("data_year") is None:
            r["state"] = NEEDS_NEW_REVIEW
            r["note"] = "旧版记录未注明评估阶段和数据年份，不计入评估；请按阶段和年份重新评定"
        elif (why := misfit(plan, r)) is not None:
            r["state"], r["note"] = NOT_APPLICABLE, f"{why}；已忽略"
        else:
            r["state"], r["note"] = IN_FORCE, ""
            latest[_key(r)] = r
    applying = {id(r) for r in latest.values()}
    for r in out:
        if id(r) in applying:
            r["applies"] = True
        elif r["state"] == IN_FORCE:
            r["note"] = f"已被评定{latest[_key(r)]['id']}取代"
        r["state_en"] = STATE_EN[r["state"]]
    return out


def applicable_reviews(
    plan: Plan, reviews: Sequence[Mapping], stage: str, data_year: int
) -> dict[int, dict]:
    """The verdict that applies per indicator number to this stage and data year."""
    return {
        int(r["number"]): r
        for r in _applying(plan, reviews, stage, data_year)
        if r.get("number") is not None
    }


def applicable_goal_reviews(
    plan: Plan, reviews: Sequence[Mapping], stage: str, data_year: int
) -> dict[str, dict]:
    """The verdict that applies per text goal code to this stage and data year."""
    return {r["goal"]: r for r in _applying(plan, reviews, stage, data_year) if r.get("goal")}


def _applying(plan: Plan, reviews: Sequence[Mapping], stage: str, data_year: int) -> list[dict]:
    return [
        r
        for r in review_standings(plan, reviews)
        if r["applies"] and r["stage"] == stage and int(r["data_year"]) == int(data_year)
    ]


def _moment(value: Any) -> str | None:
    return (
        value.isoformat()
        if isinstance(value, datetime)
        else (None if value is None else str(value))
    )


def review_view(review: Mapping) -> dict:
    """The ``review`` key of an evaluation row: id, verdict (met / not-met), by, reason, at."""
    return {
        "id": int(review["id"]),
        "verdict": "met" if review["verdict"] else "not-met",
        "by": review.get("reviewer"),
        "reason": review.get("reason"),
        "at": _moment(review.get("reviewed_at")),
    }


def override_view(review: Mapping, computed_status: str) -> dict:
    """The ``override`` key of an evaluation row: the review's fields and the computed status
    it replaced."""
    return {**review_view(review), "computed_status": computed_status}


def misfit_issues(plan: Plan, reviews: Sequence[Mapping]) -> list[dict]:
    """Quality warnings for the verdicts in force that apply to nothing: recorded before stages
    existed, or no longer fitting their indicator."""
    issues = []
    for r in review_standings(plan, reviews):
        if r["state"] not in (NEEDS_NEW_REVIEW, NOT_APPLICABLE):
            continue
        where = (
            f"{STAGE_ZH.get(r['stage'], r['stage'])}{r['data_year']}年"
            if r.get("stage")
            else "未注明阶段"
        )
        kind = OVERRIDE_ZH if r.get("override") else "人工评定"
        issues.append(
            {
                "kind": "review_not_applied",
                "severity": "warning",
                "number": None if r.get("number") is None else int(r["number"]),
                "area_code": None,
                "year": r.get("data_year"),
                "file_name": None,
                "row": None,
                "detail": f"{kind}{r['id']}（{subject(r)}，{where}，{r['reviewer']}）：{r['note']}",
                "data": {"review_id": int(r["id"]), "state": r["state"]},
            }
        )
    return issues
