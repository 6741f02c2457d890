"""The report's annexes (pure): per-area tables, data-quality notes, sources, method, versions.

Engineering words (the warehouse, layouts, checksums, file names) appear only here, in plain
words and under Chinese headings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import pandas as pd

from healthplan.definitions import Indicator, Plan
from transforms.assessment import STAGES, judging_units
from transforms.evaluation import (
    ACHIEVED,
    AHEAD,
    LAGGING,
    MET_EARLY,
    MOVING_AWAY,
    NEARLY_ACHIEVED,
    NEEDS_REVIEW,
    NEEDS_SPEEDUP,
    NO_DATA,
    NOT_ACHIEVED,
    ON_SCHEDULE,
    Thresholds,
)
from transforms.indicators import AreaTree
from transforms.quality import KIND_ZH, SEVERITY_ZH, printed_tolerance
from transforms.report_format import (
    DASH,
    JUDGED_ZH,
    LABELS,
    LEVEL_ZH,
    MAX_ISSUES,
    _num,
    _series,
    fmt,
    fmt_moment,
    fmt_pct,
    numbers_text,
    plain_words,
    status_view,
    verdict_zh,
    zone_name,
)

# ------------------------------------------------------------------------------ 五、areas


def _area_row(ind: Indicator, row: Mapping | None, stage: str) -> dict:
    row = row or {}
    d = ind.decimals
    return {
        "number": ind.number,
        "name": ind.name_zh,
        "unit": ind.unit,
        "baseline": fmt(row.get("baseline"), d),
        "value": fmt(row.get("value"), d),
        "target": ind.target.text,
        "progress": fmt(row.get("rho") if stage == "mid" else row.get("p"), 3),
        "met": {True: LABELS["met"], False: LABELS["not_met"]}.get(row.get("met"), DASH),
        **status_view(row.get("status") or NO_DATA),
    }


def _areas(plan: Plan, rows, stage, tree: AreaTree) -> dict:
    root = plan.jurisdiction
    children = sorted(code for code, parent in tree.parent.items() if parent == root)
    if not children:
        return {"present": False}
    by_key = {(r["number"], r["area"]): r for r in rows}
    county_level = [c for c in children if tree.areas[c].level in ("district", "county")]
    progress_label = "进度比" if stage == "mid" else "完成进度"
    columns = [root, *children]

    area_tables = []
    if county_level:
        for code in county_level:
            area_tables.append(
                {
                    "code": code,
                    "name": tree.areas[code].name_zh,
                    "heading": tree.areas[code].name_zh,
                    "rows": [
                        _area_row(i, by_key.get((i.number, code)), stage) for i in plan.indicators
                    ],
                }
            )

    unit_tables = []
    for ind in plan.indicators:
        if ind.level == "area":
            continue
        units, judged_at = judging_units(plan, ind, tree)
        if not units:
            continue
        root_row = by_key.get((ind.number, root), {})
        unit_tables.append(
            {
                "number": ind.number,
                "heading": f"指标{ind.number}　{ind.name_zh}"
                + (f"（{ind.unit}）" if ind.unit else ""),
                "level": JUDGED_ZH.get(judged_at, judged_at),
                "target": ind.target.text,
                "summary": (
                    f"以{JUDGED_ZH.get(judged_at, judged_at)}为单位考核，{len(units)}个单位中"
                    f"{len(units) - len(root_row.get('failing_units') or [])}个达标。"
                ),
                "rows": [
                    {
                        "area": tree.areas[u].name_zh,
                        **_area_row(ind, by_key.get((ind.number, u)), stage),
                    }
                    for u in units
                ],
            }
        )

    matrix = {
        "columns": [{"code": c, "name": tree.areas[c].name_zh} for c in columns],
        "rows": [
            {
                "number": i.number,
                "name": i.name_zh,
                "cells": [
                    status_view((by_key.get((i.number, c)) or {}).get("status") or NO_DATA)
                    for c in columns
                ],
            }
            for i in plan.indicators
        ],
        "wide": len(columns) > 9,
    }
    kinds = sorted({LEVEL_ZH.get(tree.areas[c].level, "") for c in children})
    intro = (
        f"{tree.areas[root].name_zh}下辖{len(children)}个{'/'.join(kinds)}。"
        "下级地区没有规划基期值，其基期值取各地区报送的基期年数值。"
    )
    return {
        "present": True,
        "intro": intro,
        "progress_label": progress_label,
        "unit_columns": [
            LABELS["area"],
            f"{plan.baseline_year}年值",
            "现值",
            "目标",
            progress_label,
            "是否达标",
            LABELS["status"],
        ],
        "area_columns": [
            LABELS["number"],
            LABELS["indicator"],
            f"{plan.baseline_year}年值",
            "现值",
            "目标",
            progress_label,
            LABELS["status"],
        ],
        "matrix_title": f"{LABELS['areas_matrix']}（{STAGES[stage]}）",
        "area_tables": area_tables,
        "unit_tables": unit_tables,
        "matrix": matrix,
    }


# ------------------------------------------------------------------------------ 六、quality


def _quality(plan: Plan, values, issues, data_year, tree: AreaTree) -> dict:
    root = plan.jurisdiction
    t0 = plan.baseline_year
    rec, same, missing_wh = [], 0, []
    for ind in plan.indicators:
        d = ind.decimals
        stated = ind.baseline.value if ind.baseline else None
        stated_text = ind.baseline.text if ind.baseline else None
        wh = _series(values, ind.number, root).get(t0)
        diffs = []
        texts = []
        for tf in ind.text_figures:
            texts.append(f"{tf.value:g}（{tf.year}年）")
            if stated is not None and abs(tf.value - stated) > printed_tolerance(
                stated, stated_text
            ) + printed_tolerance(tf.value):
                diffs.append(f"正文{tf.value:g}与表{stated:g}相差{abs(tf.value - stated):.{d}f}")
        if wh is None:
            missing_wh.append(ind.number)
        elif stated is not None and abs(wh - stated) > printed_tolerance(stated, stated_text):
            diffs.append(f"报送数据{fmt(wh, d)}与表{stated:g}相差{fmt(abs(wh - stated), d)}")
        if diffs:
            rec.append(
                {
                    "number": ind.number,
                    "name": ind.name_zh,
                    "unit": ind.unit,
                    "table": stated_text or (fmt(stated, d) if stated is not None else DASH),
                    "text": "；".join(texts) or DASH,
                    "warehouse": fmt(wh, d),
                    "difference": "；".join(diffs),
                }
            )
        elif stated is not None and wh is not None:
            same += 1
    summary = (
        f"{len(rec)}项指标的规划表基期值与规划正文或报送数据{t0}年值不一致（超出四舍五入范围），"
        f"列于下表；评估采用规划所列基期值（规划表或规划正文），"
        f"规划未列基期值的采用报送数据{t0}年值。{same}项与报送数据一致。"
    )
    if missing_wh:
        summary += f"报送数据缺少{t0}年值的指标：{numbers_text(missing_wh)}。"

    numbers = {i.number for i in plan.indicators}
    years = {t0, data_year}
    shown, other = [], 0
    for i in issues:
        if i.get("kind") == "baseline_reconciliation":
            continue
        touches = (
            i.get("number") in numbers
            and (i.get("year") is None or int(i["year"]) in years)
            and (i.get("area_code") in (None, "") or i.get("area_code") in tree.areas)
        )
        if not touches:
            other += 1
            continue
        shown.append(
            {
                "severity": SEVERITY_ZH.get(i.get("severity"), i.get("severity") or ""),
                "severity_css": f"sev-{i.get('severity')}",
                "kind": KIND_ZH.get(i.get("kind"), i.get("kind") or ""),
                "number": str(i.get("number") or ""),
                "area": tree.areas[i["area_code"]].name_zh
                if i.get("area_code") in tree.areas
                else "",
                "year": str(i.get("year") or ""),
                "file": str(i.get("file_name") or ""),
                "row": str(i.get("row") or ""),
                "detail": plain_words(i.get("detail") or ""),
            }
        )
    truncated = max(0, len(shown) - MAX_ISSUES)
    issues_summary = (
        f"涉及本报告数字（主要指标在{t0}年或{data_year}年的数值）的未关闭问题{len(shown)}条"
        + (f"，下表列出前{MAX_ISSUES}条" if truncated else "")
        + (f"；另有{other}条不涉及本报告数字" if other else "")
        + "。"
    )
    return {
        "baseline_summary": summary,
        "baselines": rec,
        "issues_summary": issues_summary,
        "issues": shown[:MAX_ISSUES],
    }


# ------------------------------------------------------------------------------ 附录


def _with_status(table: list[tuple[str, str]]) -> list[tuple[dict, str]]:
    return [(status_view(s), cond) for s, cond in table]


def _method(plan: Plan, stage: str, th: Thresholds) -> dict:
    on, sp, nd = fmt(th.on_schedule_rho, 2), fmt(th.needs_speedup_rho, 2), fmt(th.nearly_done_p, 2)
    tol = fmt_pct(th.about_tolerance, 1 if th.about_tolerance * 100 % 1 else 0)
    return {
        "inputs": [
            (
                "t_{0}，x_{0}",
                f"基期年份（通常为{plan.baseline_year}年）与基期值：规划表或规划正文所列之值；"
                f"规划未列的，采用报送数据{plan.baseline_year}年值（各处注明来源）",
            ),
            ("T，x^{*}", f"目标年份（{plan.target_year}年）与目标值"),
            ("t_{c}，x_{c}", "评估的数据年份与该年的实际值"),
            ("d", "方向：数值越高越好取+1，越低越好取−1"),
        ],
        "step1": [
            "按规划表述的比较关系判断目标是否已达到：“≥”“＞”“≤”“＜”严格按字面比较（如58不满足“＜58”）；"
            "仅列数字的目标按指标方向判断（越高越好时x_{c} ≥ x^{*}，越低越好时x_{c} ≤ x^{*}）。",
            f"“左右”类目标允许目标值±{tol}的误差；相对目标（如比基期提高1个百分点）先由基期值换算为数值。",
            "分城乡等分组目标须每组均达到；以镇（街道）或县（区）为单位考核的指标须每个单位均达到，"
            "其状态取最弱单位的状态，报告同时列出全域自身数值和未达标单位。"
            "比较时使用微小容差，恰在边界上的数值按规划表述归类。",
        ],
        "formulas": [
            ("时间进度", "τ = (t_{c} − t_{0}) / (T − t_{0})"),
            ("完成进度", "p = d · (x_{c} − x_{0}) / |x^{*} − x_{0}|"),
            ("进度比", "ρ = p / τ（ρ = 1 表示恰好“时间过半、任务过半”）"),
            ("直线预测", "hat{x}_{T} = x_{0} + (x_{c} − x_{0}) / τ"),
            ("年均增速", "(x_{c} / x_{0}) 开 (t_{c} − t_{0}) 次方 − 1（两值均为正时列示）"),
        ],
        "undefined": "目标值等于基期值，或规划与报送数据均无基期值时，p、ρ无定义，"
        "状态仅由是否达标和变化方向确定；τ只需年份，凡有基期年份均列示。"
        "直线预测超出指标取值范围（如率低于0、比例高于100%）时不作预测，注明原因。",
        "titles": {
            "inputs": "（一）输入",
            "step1": "（二）第一步：是否已达到目标",
            "step2": "（三）第二步：进度",
            "step3": "（四）第三步：状态（本报告采用的阈值）",
            "mid_table": "中期评估（τ < 1）",
            "end_table": "终期评估（τ = 1）",
            "any_table": "任何阶段",
            "step4": "（五）第四步：报告要求",
        },
        "mid_table": _with_status(
            [
                (MET_EARLY, "目标已达到（若p < 0，即较基期倒退但仍达标，另加提示）"),
                (AHEAD, "ρ ≥ 1"),
                (ON_SCHEDULE, f"{on} ≤ ρ < 1"),
                (NEEDS_SPEEDUP, f"{sp} ≤ ρ < {on}"),
                (LAGGING, f"0 ≤ ρ < {sp}"),
                (MOVING_AWAY, "ρ < 0"),
            ]
        ),
        "end_table": _with_status(
            [
                (ACHIEVED, "目标已达到"),
                (NEARLY_ACHIEVED, f"p ≥ {nd}"),
                (NOT_ACHIEVED, f"0 ≤ p < {nd}"),
                (MOVING_AWAY, "p < 0（较基期倒退）"),
            ]
        ),
        "any_table": _with_status(
            [
                (NO_DATA, "评估年份无实际值"),
                (
                    NEEDS_REVIEW,
                    "定性目标（如“达国家要求”），尚无人工评定结论；评定人、时间与理由另行记录",
                ),
            ]
        ),
        "step4": (
            f"未达标且ρ < {on}（终期评估为未“已完成”）的约束性指标在“存在问题”中首先列出；"
            "规划表基期值与报送数据基期年数值超出四舍五入范围的差异在数据质量说明中列出。"
        ),
        "stage_note": "本报告为中期评估，适用中期状态表。"
        if stage == "mid"
        else "本报告为终期评估，适用终期状态表。",
        "thresholds": {
            "about_tolerance": tol,
            "on_schedule_rho": on,
            "needs_speedup_rho": sp,
            "nearly_done_p": nd,
        },
    }


def _source_rows(source_files, tz: str) -> list[dict]:
    if source_files is None:
        return []
    records = (
        source_files.to_dict("records")
        if isinstance(source_files, pd.DataFrame)
        else list(source_files)
    )
    out = []
    for r in records:
        received = r.get("received_at")
        if isinstance(received, pd.Timestamp):
            received = received.to_pydatetime()
        loaded, rejected = r.get("rows_loaded"), r.get("rows_rejected")
        out.append(
            {
                "name": str(r.get("name") or ""),
                "source": str(r.get("source") or ""),
                "layout": str(r.get("layout") or ""),
                "checksum": str(r.get("checksum") or "")[:12],
                "received_at": fmt_moment(received, tz, zone=False)
                if isinstance(received, datetime)
                else str(received or ""),
                "rows_loaded": str(int(loaded)) if _num(loaded) is not None else DASH,
                "rows_rejected": str(int(rejected)) if _num(rejected) is not None else DASH,
            }
        )
    return out


def _sources_summary(sources: list[dict]) -> str:
    """How many files the numbers come from, and how many of them lost rows to the quarantine
    (their totals may be understated: section 六 names the indicators)."""
    if not sources:
        return "本报告未使用已入库的数据文件。"
    text = f"本报告所用数据来自以下{len(sources)}个已入库文件（按入库顺序）。"
    partial = [int(s["rows_rejected"]) for s in sources if s["rows_rejected"] not in (DASH, "0")]
    if partial:
        text += (
            f"其中{len(partial)}个文件共有{sum(partial)}行未通过核验而被单独存放，未计入合计；"
            f"受影响的指标见附件“{LABELS['quality']}”。"
        )
    return text


def _appendix(
    plan,
    stage,
    data_year,
    as_of,
    source_files,
    reviews,
    th,
    code_version,
    definition_checksum,
    generated_at,
    tz,
) -> dict:
    review_rows = []
    for number in sorted(reviews):
        r = reviews[number]
        when = r.get("reviewed_at")
        review_rows.append(
            {
                "number": str(number),
                "verdict": "达到" if r.get("verdict") else "未达到",
                "reviewer": str(r.get("reviewer") or ""),
                "reviewed_at": fmt_moment(when, tz)
                if isinstance(when, datetime)
                else str(when or ""),
                "reason": str(r.get("reason") or ""),
            }
        )
    sources = _source_rows(source_files, tz)
    return {
        "method": _method(plan, stage, th),
        "sources": sources,
        "sources_summary": _sources_summary(sources),
        "sources_zone": zone_name(tz),
        "as_of": fmt_moment(as_of, tz),
        "as_of_note": "报告按该时点已报送并入库的数据生成；以同一时点重新生成，数字完全一致。",
        "code_version": code_version or DASH,
        "definition_checksum": (definition_checksum or "")[:12] or DASH,
        "generated_at": fmt_moment(generated_at, tz) if generated_at else DASH,
        "data_year": f"{data_year}年",
        "reviews": review_rows,
    }


# ------------------------------------------------------------------------------ issue 18 annexes


def review_history_rows(history: Sequence[Mapping], tz: str) -> list[dict]:
    """Every review and override recorded for the plan, withdrawn ones included, with its
    standing (有效, 已撤回, 需重新评定 …), oldest first, as the annex lists them."""
    out = []
    for r in history:
        when = r.get("at") or r.get("reviewed_at")
        gone = r.get("withdrawn_at")
        out.append(
            {
                "id": r.get("id"),
                "number": str(r.get("goal") or r.get("number") or ""),
                "stage": STAGES.get(r.get("stage"), "未注明") if "stage" in r else "",
                "data_year": f"{r['data_year']}年" if r.get("data_year") else "",
                "kind": "人工调整"
                if r.get("kind") == "override" or r.get("override")
                else "人工评定",
                "verdict": verdict_zh(r.get("verdict")),
                "by": str(r.get("by") or r.get("reviewer") or ""),
                "at": _moment(when, tz),
                "reason": str(r.get("reason") or ""),
                "state": str(r.get("state") or ""),
                "applies": bool(r.get("applies")),
                "note": str(r.get("note") or ""),
                "withdrawn_by": str(r.get("withdrawn_by") or ""),
                "withdrawn_at": _moment(gone, tz) if gone else "",
                "withdraw_reason": str(r.get("withdraw_reason") or ""),
            }
        )
    return out


def _moment(when: object, tz: str) -> str:
    return fmt_moment(when, tz, zone=False) if isinstance(when, datetime) else str(when or "")


def acknowledged_rows(issues: Sequence[Mapping], tz: str) -> list[dict]:
    """Data problems the bureau has looked at and accepted, with who and why."""
    out = []
    for i in issues:
        when = i.get("at") or i.get("acknowledged_at")
        out.append(
            {
                "id": i.get("id"),
                "year": str(i.get("year") or ""),
                "severity": SEVERITY_ZH.get(i.get("severity"), i.get("severity") or ""),
                "number": str(i.get("number") or ""),
                "kind": KIND_ZH.get(i.get("kind"), plain_words(i.get("kind") or "")),
                "detail": plain_words(i.get("detail") or ""),
                "by": str(i.get("by") or i.get("acknowledged_by") or ""),
                "at": fmt_moment(when, tz, zone=False)
                if isinstance(when, datetime)
                else str(when or ""),
                "reason": str(i.get("reason") or i.get("acknowledge_reason") or ""),
            }
        )
    return out


def _incomplete(incomplete: bool, counts: Mapping[str, int] | None, data_year: int) -> dict:
    """数据不完整: a notice on the cover and in every page header when the data are incomplete."""
    if not incomplete:
        return {"present": False, "text": ""}
    if counts and "numeric" in counts:
        text = (
            f"{data_year}年仅有{counts['with_data']}项数值指标有数据（共{counts['numeric']}项），"
            "评估结论仅供参考"
        )
    else:
        parts = [f"{k}{v}项" for k, v in (counts or {}).items() if v]
        text = "本报告所用数据尚不完整" + (f"（{'、'.join(parts)}）" if parts else "")
    return {"present": True, "text": text + "，待数据补齐后复核。"}


def plan_text_goals(
    plan: Plan, stage: str = "mid", goal_reviews: Mapping[str, Mapping] | None = None
) -> list[dict]:
    """Goals the plan states only in its body text, each with the status its reviewer's verdict
    for this stage and data year gives (已实现/滞后, 已完成/未完成), else 待人工评定."""
    from transforms.reviews import review_view, verdict_status

    out = []
    for g in plan.text_goals:
        review = (goal_reviews or {}).get(g.code)
        out.append(
            {
                "goal": g.code,
                "name": g.name_zh,
                "unit": g.unit,
                "text": g.sentence or g.name_zh,
                "target": g.target.text,
                "related_indicator": g.related_indicator,
                "status": NEEDS_REVIEW
                if review is None
                else verdict_status(bool(review["verdict"]), stage),
                "review": None if review is None else review_view(review),
            }
        )
    return out


def text_goals_lead(goals: Sequence[Mapping]) -> str:
    """The sentence above the text goals' table: how many there are and how many await review."""
    total = len(goals)
    waiting = sum(1 for g in goals if g.get("status") == NEEDS_REVIEW)
    head = f"规划正文另提出以下{total}项目标，未列入主要指标表"
    if waiting == total:
        return f"{head}，逐项待人工评定。"
    if waiting == 0:
        return f"{head}，均已经人工评定。"
    return f"{head}；其中{total - waiting}项已经人工评定，{waiting}项待人工评定。"


def _text_goals(goals: Sequence[Mapping]) -> list[dict]:
    """Goals stated only in the plan's text (no row in its indicator table)."""
    out = []
    for g in goals:
        review = g.get("review")
        if isinstance(review, Mapping):
            who = review.get("by") or review.get("reviewer") or ""
            review_text = f"{verdict_zh(review.get('verdict'))}（{who}）" if who else ""
            review_text = review_text or verdict_zh(review.get("verdict"))
        else:
            review_text = str(review or "")
        out.append(
            {
                "goal": g.get("goal"),
                "related_indicator": g.get("related_indicator"),
                "name": str(g.get("name") or ""),
                "unit": str(g.get("unit") or ""),
                "text": str(g.get("text") or ""),
                "target": str(g.get("target") or DASH),
                "review": review_text or DASH,
                **status_view(str(g.get("status") or NEEDS_REVIEW)),
            }
        )
    return out
