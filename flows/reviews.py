"""`healthplan review` and `healthplan reviews`: record, withdraw and list reviewers' verdicts.

A verdict is for one indicator, stage and data year. On a numeric target it is refused unless
given as an explicit override (人工调整). Verdicts are withdrawn, never deleted.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.markup import escape
from rich.table import Table

from flows.common import catalog, warehouse
from healthplan.settings import console as make_console
from healthplan.settings import get_settings
from transforms.assessment import STAGES, check_data_year, data_year_for
from transforms.reviews import OVERRIDE_ZH, review_standings, subject
from warehouse.results import add_review, load_reviews, withdraw_review


class ReviewRefused(ValueError):
    """A verdict the command does not record; the message says why and what to do instead."""


def default_stage(plan, today: int) -> str:
    """The plan's current evaluation: end of term once the target year is over, else mid-term."""
    return "end" if plan.target_year < today else "mid"


def _this_year() -> int:
    return datetime.now(ZoneInfo(get_settings().timezone)).year


def review_command(
    plan_id: str | None,
    number: int | None,
    stage: str | None,
    year: int | None,
    verdict: bool | None,
    by: str | None,
    reason: str | None,
    override: bool = False,
    goal: str | None = None,
) -> dict:
    """Record one verdict on an indicator or (``goal``) a text goal; returns the stored row.
    Refusals raise ReviewRefused (exit 2)."""
    missing = [
        flag for flag, value in (("--plan", plan_id), ("--verdict", verdict)) if value is None
    ]
    if number is None and goal is None:
        missing.append("--indicator/--goal")
    missing += [f for f, v in (("--by", by), ("--reason", reason)) if not (v or "").strip()]
    if missing:
        raise ReviewRefused(
            f"评定缺少 {' '.join(missing)} / a verdict needs {' '.join(missing)}"
            "（例 e.g. healthplan review --plan P --indicator N --verdict met --by 姓名 --reason 理由）"
        )
    if number is not None and goal is not None:
        raise ReviewRefused(
            "--indicator 与 --goal 只能给一个 / give either --indicator or --goal, not both"
        )
    plan = catalog().plan(plan_id)
    if goal is not None:
        subject, name = _goal_subject(plan, goal, override)
    else:
        subject, name = _indicator_subject(plan, number, override)
    if stage is None:
        stage = default_stage(plan, _this_year())
    if year is None:
        year = data_year_for(plan, stage)
    check_data_year(plan, stage, year)
    row = add_review(
        warehouse(),
        plan_id,
        number,
        verdict,
        by,
        reason.strip(),
        stage=stage,
        data_year=year,
        override=override,
        goal=goal,
    )
    kind = OVERRIDE_ZH if override else "评定"
    make_console().print(
        f"已记录{kind} {row['id']} / {'override' if override else 'verdict'} {row['id']} recorded："
        f"{escape(plan_id)} {subject}「{escape(name)}」，{STAGES[stage]}（{year}年数据）→ "
        f"{'达到 met' if verdict else '未达到 not met'}（{escape(row['reviewer'])}）"
    )
    return row


def _goal_subject(plan, goal: str, override: bool) -> tuple[str, str]:
    """How the messages name a text goal, refusing one the plan lacks or an override."""
    try:
        g = plan.text_goal(goal)
    except KeyError:
        codes = "、".join(t.code for t in plan.text_goals) or "无"
        raise ReviewRefused(
            f"规划 {plan.id} 没有正文目标 {goal}（现有：{codes}）/ "
            f"plan {plan.id} has no text goal {goal}"
        ) from None
    if override:
        raise ReviewRefused(
            f"正文目标{goal}「{g.name_zh}」由人工评定，直接评定即可，无需 --override / "
            f"text goal {goal} is judged by a reviewer: give the verdict without --override"
        )
    return f"正文目标{goal}", g.name_zh


def _indicator_subject(plan, number: int, override: bool) -> tuple[str, str]:
    """How the messages name an indicator, refusing a numeric one without --override and a
    qualitative one with it."""
    try:
        ind = plan.indicator(number)
    except KeyError:
        raise ReviewRefused(
            f"规划 {plan.id} 没有指标 {number} / plan {plan.id} has no indicator {number}"
        ) from None
    qualitative = ind.target.comparator == "qualitative"
    if not qualitative and not override:
        raise ReviewRefused(
            f"指标{number}「{ind.name_zh}」的目标“{ind.target.text}”是数值目标，由数据评定，"
            "不接受人工评定；确需人工调整时请加 --override 并写明理由，报告将标注“人工调整” / "
            f"indicator {number} has a numeric target: it is judged from the data; "
            "use --override to record an explicit adjustment"
        )
    if qualitative and override:
        raise ReviewRefused(
            f"指标{number}「{ind.name_zh}」是定性目标，直接评定即可，无需 --override / "
            f"indicator {number} is qualitative: give the verdict without --override"
        )
    return f"指标{number}", ind.name_zh


def withdraw_command(review_id: int, by: str | None, reason: str | None) -> dict:
    """Withdraw one verdict (kept in the history); returns it as stored now."""
    row = withdraw_review(warehouse(), review_id, by, reason)
    make_console().print(
        f"已撤回评定 {review_id} / review {review_id} withdrawn："
        f"{escape(row['plan_id'])} {subject(row)}"
        + (f"（{escape(row['withdrawn_by'])}）" if row.get("withdrawn_by") else "")
        + "；记录保留 / kept in the history (healthplan reviews)"
    )
    return row


def review_listing(plan_id: str, as_of: datetime | None = None) -> list[dict]:
    """Every review of a plan with its state and whether it applies, as JSON-ready dicts."""
    plan = catalog().plan(plan_id)
    names = {i.number: i.name_zh for i in plan.indicators}
    goals = {g.code: g.name_zh for g in plan.text_goals}
    rows = []
    for r in review_standings(plan, load_reviews(warehouse(), plan_id, as_of=as_of)):
        rows.append(
            {
                "id": r["id"],
                "plan": plan_id,
                "number": r["number"],
                "goal": r.get("goal"),
                "name": goals.get(r["goal"]) if r.get("goal") else names.get(r["number"]),
                "stage": r["stage"],
                "data_year": r["data_year"],
                "verdict": "met" if r["verdict"] else "not-met",
                "override": bool(r["override"]),
                "by": r["reviewer"],
                "reason": r["reason"],
                "at": r["reviewed_at"].isoformat(),
                "status": r["state"],
                "status_en": r["state_en"],
                "applies": r["applies"],
                "note": r["note"],
                "withdrawn_at": r["withdrawn_at"].isoformat() if r["withdrawn_at"] else None,
                "withdrawn_by": r["withdrawn_by"],
                "withdraw_reason": r["withdraw_reason"],
            }
        )
    return rows


def reviews_command(plan_id: str, fmt: str = "table") -> None:
    rows = review_listing(plan_id)
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    plan = catalog().plan(plan_id)
    tz = ZoneInfo(get_settings().timezone)
    t = Table(title=f"{plan.short_title_zh}：人工评定 / reviews（{len(rows)}）")
    for col in [
        "编号",
        "指标",
        "阶段·年份",
        "结论",
        "评定人",
        "时间",
        "理由",
        "状态",
        "适用",
        "说明",
    ]:
        t.add_column(col, overflow="fold")
    for r in rows:
        when = datetime.fromisoformat(r["at"]).astimezone(tz)
        where = f"{STAGES[r['stage']]}·{r['data_year']}" if r["stage"] else "—"
        verdict = ("达到" if r["verdict"] == "met" else "未达到") + (
            f"（{OVERRIDE_ZH}）" if r["override"] else ""
        )
        note = r["note"]
        if r["withdrawn_at"]:
            gone = datetime.fromisoformat(r["withdrawn_at"]).astimezone(tz)
            note = f"{r['withdrawn_by'] or ''} {gone:%Y-%m-%d %H:%M} 撤回：{r['withdraw_reason'] or ''}"
        t.add_row(
            str(r["id"]),
            escape(f"{r['goal'] or r['number']} {r['name'] or ''}"),
            where,
            verdict,
            escape(r["by"]),
            f"{when:%Y-%m-%d %H:%M}",
            escape(r["reason"] or ""),
            r["status"],
            "是" if r["applies"] else "否",
            escape(note),
        )
    console = make_console()
    console.print(t)
    if not rows:
        console.print("尚无评定 / no reviews yet")
