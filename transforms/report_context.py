"""Everything an evaluation report shows, as one plain dict: the template only lays it out.

Pure: the plan, the assessment rows (``transforms.assessment.assess_plan``), the indicator-value
series, the open quality issues and the source-file rows go in; a dict of strings, lists and
small dicts comes out. Numbers are formatted here (to the indicator's decimals; τ to 2, p and ρ to
3 decimals; '—' when missing), sentences are generated here from the numbers, and every label the
template prints comes from here, so the template names no plan, place or year.

Mini-markup for symbols: labels and formulas may contain ``_{…}`` (subscript), ``^{…}``
(superscript) and ``hat{x}`` (x with a circumflex, as in x̂T; Noto CJK has no combining
circumflex). The template's ``sym`` filter escapes the text first and then turns only these
three forms into markup; everything else is printed as text.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pandas as pd

from healthplan.definitions import Area, Indicator, Plan
from transforms import charts
from transforms.assessment import STAGES, data_completeness, is_incomplete, judging_units
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
    PLAIN_COMPARATORS,
    Thresholds,
    is_met,
)
from transforms.indicators import AreaTree
from transforms.quality import KIND_ZH, SEVERITY_ZH, printed_tolerance
from transforms.reviews import review_view, verdict_status

DASH = "—"
DEFAULT_THRESHOLDS = Thresholds()
ATTRIBUTES = ("约束性", "预期性", "指导性")
NO_ATTRIBUTE = "未注明"
CN_NUMERALS = "一二三四五六七八九十"

# Symbol + colour class per status: the symbol carries the meaning in black-and-white prints.
# Every symbol is in Noto Sans CJK SC (checked by the tests: no .notdef).
STATUS_STYLE: dict[str, tuple[str, str]] = {
    MET_EARLY: ("✓", "st-met"),
    ACHIEVED: ("✓", "st-met"),
    AHEAD: ("▲", "st-ahead"),
    ON_SCHEDULE: ("●", "st-ok"),
    NEEDS_SPEEDUP: ("◆", "st-warn"),
    NEARLY_ACHIEVED: ("◐", "st-warn"),
    LAGGING: ("▼", "st-bad"),
    NOT_ACHIEVED: ("▽", "st-bad"),
    MOVING_AWAY: ("×", "st-away"),
    NO_DATA: ("○", "st-none"),
    NEEDS_REVIEW: ("？", "st-review"),
}
STATUS_ORDER = {
    "mid": (
        MET_EARLY,
        AHEAD,
        ON_SCHEDULE,
        NEEDS_SPEEDUP,
        LAGGING,
        MOVING_AWAY,
        NO_DATA,
        NEEDS_REVIEW,
    ),
    "end": (ACHIEVED, NEARLY_ACHIEVED, NOT_ACHIEVED, MOVING_AWAY, NO_DATA, NEEDS_REVIEW),
}
GOOD = {MET_EARLY, AHEAD, ON_SCHEDULE, ACHIEVED}
CONCERN = {NEEDS_SPEEDUP, NEARLY_ACHIEVED}
BAD = {LAGGING, MOVING_AWAY, NOT_ACHIEVED}
UNKNOWN = {NO_DATA, NEEDS_REVIEW}

LEVEL_ZH = {"city": "市", "district": "区", "county": "县", "town": "镇", "street": "街道"}
JUDGED_ZH = {"area": "全区", "county": "县（区）", "town": "镇（街道）"}
# A change of a share is in percentage (permille) points, not in per cent.
DELTA_UNIT = {"%": "个百分点", "‰": "个千分点"}
MAX_ISSUES = 200

LABELS = {
    "page_before": "第 ",  # footer: 第 X 页　共 Y 页
    "page_between": " 页　共 ",
    "page_after": " 页",
    "toc": "目　录",
    "report": "报告",
    "data_year": "数据年份",
    "as_of": "数据截至",
    "issued_on": "印发日期",
    "issuing_body": "编制单位",
    "overview": "一、总体进展",
    "overview_status": "按评估状态",
    "overview_attribute": "按指标属性",
    "table": "二、主要指标完成情况",
    "table_main": "（一）主要指标完成情况表",
    "charts": "（二）主要指标走势",
    "text_goals": "（三）仅在规划正文中提出的目标",
    "problems": "三、存在问题",
    "problems_binding": "约束性指标未达进度要求",
    "problems_other": "其他滞后或倒退的指标",
    "problems_concern": "需加快推进的指标",
    "problems_units": "分单位考核未达标",
    "problems_unknown": "无法按数值评估的指标",
    "suggestions": "四、下一步建议",
    "areas": "五、分地区情况",
    "areas_matrix": "各地区评估状态一览",
    "quality": "六、数据质量说明",
    "quality_baseline": "（一）基期值核对",
    "quality_issues": "（二）涉及报告数字的未关闭数据质量问题",
    "appendix": "附录",
    "appendix_method": "附录一　评估方法",
    "appendix_sources": "附录二　数据来源",
    "appendix_version": "附录三　数据时点与版本",
    "status": "状态",
    "count": "项数",
    "total": "合计",
    "attribute": "属性",
    "number": "序号",
    "indicator": "指标名称（单位）",
    "indicator_short": "指标",
    "area": "地区",
    "notes": "注",
    "none": "无。",
    "legend": "状态图例",
    "chart_legend_series": "实际值",
    "chart_legend_target": "目标值",
    "chart_legend_path": "基期至目标的直线进度",
    "chart_legend_year": "评估数据年份",
    "no_data": "无数据",
    "met": "达标",
    "not_met": "未达标",
    "symbol": "符号",
    "meaning": "含义",
    "condition": "条件",
    "file_name": "文件名",
    "source": "来源",
    "layout": "格式版本",
    "checksum": "校验值（SHA-256 前12位）",
    "received_at": "接收时间",
    "rows_loaded": "载入行数",
    "rows_rejected": "隔离行数",
    "severity": "级别",
    "kind": "类别",
    "year": "年份",
    "row": "行",
    "detail": "说明",
    "baseline_table": "规划表基期值",
    "baseline_text": "规划正文数字",
    "baseline_warehouse": "数据仓库基期年值",
    "difference": "差异",
    "code_version": "程序版本",
    "definition_checksum": "规划定义校验值",
    "generated_at": "生成时间",
    "reviews": "定性指标人工评定",
    "reviewer": "评定人",
    "reviewed_at": "评定时间",
    "verdict": "结论",
    "reason": "理由",
}

TABLE_COLUMNS = [
    {"key": "number", "label": "序号", "cls": "c-num"},
    {"key": "name", "label": "指标名称（单位）", "cls": "c-name"},
    {"key": "attribute", "label": "属性", "cls": "c-attr"},
    {"key": "baseline", "label": "基期值 x_{0}（年）", "cls": "c-val"},
    {"key": "target", "label": "目标 x^{*}", "cls": "c-target"},
    {"key": "value", "label": "现值 x_{c}", "cls": "c-val"},
    {"key": "tau", "label": "τ", "cls": "c-ratio"},
    {"key": "p", "label": "p", "cls": "c-ratio"},
    {"key": "rho", "label": "ρ", "cls": "c-ratio"},
    {"key": "projection", "label": "预测 hat{x}_{T}", "cls": "c-val"},
    {"key": "cagr", "label": "年均增速", "cls": "c-ratio"},
    {"key": "status", "label": "状态", "cls": "c-status"},
]


# ------------------------------------------------------------------------------ formatting


def _num(v: object) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt(v: object, decimals: int = 2) -> str:
    """A number to fixed decimals, rounded half up; '—' when missing; never '-0.00'."""
    x = _num(v)
    if x is None:
        return DASH
    d = max(0, int(decimals))
    # Half up on the decimal digits as printed (四舍五入): 2.5 → 3, 0.525 → 0.53, where binary
    # floats and round-half-even would give 2 and 0.52.
    q = Decimal(repr(x)).quantize(Decimal(1).scaleb(-d), rounding=ROUND_HALF_UP)
    s = f"{q:f}"
    if s.startswith("-") and q == 0:
        s = s[1:]
    return s


def fmt_pct(v: object, decimals: int = 1) -> str:
    x = _num(v)
    return DASH if x is None else fmt(x * 100, decimals) + "%"


def fmt_date(d: date | datetime | None) -> str:
    return DASH if d is None else f"{d.year}年{d.month}月{d.day}日"


def fmt_moment(moment: datetime | None, tz: str, zone: bool = True) -> str:
    """Local time to the minute; ``zone``: followed by the zone's name (left out in a table
    column whose header names it)."""
    if moment is None:
        return DASH
    local = moment.astimezone(ZoneInfo(tz)) if moment.tzinfo else moment
    return f"{local:%Y-%m-%d %H:%M}" + (f"（{tz}）" if zone else "")


def numbers_text(numbers: Iterable[int]) -> str:
    return "、".join(str(n) for n in numbers)


def cn_ordinal(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 35 → 三十五 (1…99)."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CN_NUMERALS[tens - 1] + "十")
    return head + (CN_NUMERALS[ones - 1] if ones else "")


def strip_ordinal(category: str) -> str:
    """'三、卫生资源' → '卫生资源' (for use inside a sentence)."""
    return re.sub(rf"^[{CN_NUMERALS}]+[、.．]\s*", "", category).strip()


def with_unit(text: str, unit: str) -> str:
    if text == DASH or not unit:
        return text
    return f"{text}{unit}" if not re.match(r"^[A-Za-z]", unit) else f"{text} {unit}"


def with_delta_unit(text: str, unit: str) -> str:
    """A difference or a yearly change: '15.30个百分点' for a share in %, else with the unit."""
    return (
        f"{text}{DELTA_UNIT[unit]}"
        if unit in DELTA_UNIT and text != DASH
        else with_unit(text, unit)
    )


def status_view(status: str) -> dict:
    symbol, css = STATUS_STYLE.get(status, ("·", "st-none"))
    return {"status": status, "symbol": symbol, "css": css}


def attribute_of(ind: Indicator) -> str:
    return ind.attribute or NO_ATTRIBUTE


# ------------------------------------------------------------------------------ helpers


def _series(
    values: pd.DataFrame | None, number: int, area: str, stratum: str = ""
) -> dict[int, float]:
    if values is None or values.empty:
        return {}
    v = values[
        (values["number"] == number)
        & (values["area_code"] == area)
        & (values["stratum"] == stratum)
    ]
    out = {}
    for y, x in zip(v["year"], v["value"], strict=True):
        fx = _num(x)
        if fx is not None:
            out[int(y)] = fx
    return out


def _projection_meets(row: Mapping, ind: Indicator, th: Thresholds) -> bool | None:
    proj, target = _num(row.get("projection")), _num(row.get("target"))
    comp = row.get("comparator")
    if proj is None or target is None:
        return None
    if comp == "relative":
        comp = "reach"
    if comp not in PLAIN_COMPARATORS:
        return None
    tol = ind.target.tolerance if ind.target.tolerance is not None else th.about_tolerance
    return is_met(comp, proj, target, ind.sign, tol)


def _is_binding_problem(row: Mapping, ind: Indicator, stage: str, th: Thresholds) -> bool:
    """Spec step 4: a binding indicator not met with ρ < on-schedule (end of term: not 已完成)."""
    if ind.attribute != "约束性":
        return False
    if row["status"] in UNKNOWN:
        return False  # not judged: awaiting a reviewer or data, named apart (never "not achieved")
    if stage == "end":
        return row["status"] != ACHIEVED
    if row.get("met") is True:
        return False
    rho = _num(row.get("rho"))
    if row.get("jurisdiction_status"):  # per unit: the weakest unit's status, not the area's ρ
        return row["status"] in CONCERN | BAD
    if rho is not None:
        return rho < th.on_schedule_rho
    return row["status"] in CONCERN | BAD


def _count_phrase(counts: Mapping[str, int], order: Sequence[str]) -> str:
    return "、".join(f"{s}{counts[s]}项" for s in order if counts.get(s))


# ------------------------------------------------------------------------------ the builder


def build_context(
    plan: Plan,
    rows: Sequence[Mapping],
    values: pd.DataFrame | None,
    *,
    stage: str,
    data_year: int,
    as_of: datetime,
    areas: Sequence[Area],
    quality_issues: Sequence[Mapping] = (),
    source_files: pd.DataFrame | Sequence[Mapping] | None = None,
    reviews: Mapping[int, Mapping] | None = None,
    goal_reviews: Mapping[str, Mapping] | None = None,
    review_history: Sequence[Mapping] = (),
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    issuing_body: str | None = None,
    issued_on: date | None = None,
    generated_at: datetime | None = None,
    code_version: str = "",
    definition_checksum: str = "",
    timezone: str = "Asia/Shanghai",
    with_charts: bool = True,
) -> dict:
    """The report's context: see the module docstring and ``report_templates/report.html.j2``."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; use 'mid' or 'end'")
    root = plan.jurisdiction
    tree = AreaTree(areas)
    inds = {i.number: i for i in plan.indicators}
    root_rows = {r["number"]: r for r in rows if r["area"] == root and r["number"] in inds}
    by_area: dict[tuple[int, str], Mapping] = {(r["number"], r["area"]): r for r in rows}
    reviews = reviews or {}
    stage_zh = STAGES[stage]
    tau = (data_year - plan.baseline_year) / (plan.target_year - plan.baseline_year)

    ctx = {
        "lang": "zh-CN",
        "labels": dict(LABELS),
        "stage": stage,
        "stage_zh": stage_zh,
        "cover": _cover(plan, stage_zh, data_year, as_of, issuing_body, issued_on, timezone),
        "legend": [{**status_view(s), "en": s} for s in STATUS_ORDER[stage]],
    }
    table = _table(plan, root_rows, stage, reviews, timezone)
    ctx["table"] = table
    ctx["text_goals"] = text_goals(plan, stage, goal_reviews or {})
    ctx["labels"]["text_goals_lead"] = text_goals_lead(ctx["text_goals"])
    ctx["overview"] = _overview(plan, root_rows, stage, data_year, tau, thresholds, by_area, tree)
    ctx["charts"] = (
        _charts(plan, root_rows, values, data_year)
        if with_charts
        else {"categories": [], "skipped": []}
    )
    if not ctx["charts"]["categories"]:  # the text goals come second then
        ctx["labels"]["text_goals"] = ctx["labels"]["text_goals"].replace("（三）", "（二）")
    ctx["problems"] = _problems(plan, root_rows, stage, data_year, thresholds, by_area, tree)
    ctx["suggestions"] = _suggestions(plan, root_rows, stage, data_year, thresholds, by_area, tree)
    ctx["areas"] = _areas(plan, rows, stage, tree)
    open_issues = [i for i in quality_issues if not i.get("acknowledged")]
    ctx["quality"] = _quality(plan, values, open_issues, data_year, tree)
    ctx["acknowledged_issues"] = _acknowledged(quality_issues, timezone)
    ctx["review_history"] = _review_history(plan, review_history, timezone)
    ctx["incomplete_counts"] = data_completeness(plan, rows)
    ctx["incomplete"] = is_incomplete(ctx["incomplete_counts"])
    ctx["labels"]["incomplete_notice"] = _incomplete_notice(ctx["incomplete_counts"], data_year)
    ctx["labels"]["incomplete_head"] = "数据不完整　仅供参考"
    ctx["appendix"] = _appendix(
        plan,
        stage,
        data_year,
        as_of,
        source_files,
        reviews,
        thresholds,
        code_version,
        definition_checksum,
        generated_at,
        timezone,
    )
    ctx["toc"] = _toc(ctx)
    return ctx


# ------------------------------------------------------------------------------ cover


def _cover(plan, stage_zh, data_year, as_of, issuing_body, issued_on, tz) -> dict:
    body = issuing_body or plan.issuing_body_zh
    return {
        "title": plan.title_zh,
        "short_title": plan.short_title_zh,
        "subtitle": f"{stage_zh}报告",
        "stage": stage_zh,
        "running_head": f"{plan.title_zh} · {stage_zh}",
        "data_year": f"{data_year}年",
        "period": f"{plan.period_start}—{plan.period_end}年",
        "as_of": fmt_moment(as_of, tz),
        "issuing_body": body,
        "issued_on": fmt_date(issued_on or (datetime.now(ZoneInfo(tz)).date())),
    }


# ------------------------------------------------------------------------------ 二、table


def _row_notes(ind: Indicator, row: Mapping, reviews: Mapping[int, Mapping], tz: str) -> list[str]:
    notes = []
    if row.get("failing_units"):
        units = "、".join(row["failing_units"])
        note = f"以{JUDGED_ZH.get(row.get('judged_at'), '单位')}为单位考核，未达标：{units}"
        if row.get("weakest_unit") and row.get("jurisdiction_status"):
            note += (
                f"；状态取最弱单位{row['weakest_unit']}的状态，"
                f"全域自身为{row['jurisdiction_status']}"
            )
        notes.append(note)
    if row.get("baseline_source") == "数据仓库":
        notes.append(f"规划未列基期值，基期值取自数据仓库{row.get('baseline_year')}年值")
    if row.get("projection_note"):
        notes.append(f"目标年预测：{row['projection_note']}")
    for inf in row.get("inferred") or []:
        notes.append(f"{INFERRED_FIELD_ZH.get(inf['field'], inf['field'])}为推定：{inf['why']}")
    for key, s in (row.get("strata") or {}).items():
        label = (
            ind.target.strata[key].label_zh
            if ind.target.strata and key in ind.target.strata
            else key
        )
        notes.append(
            f"{label}：现值{fmt(s.get('value'), ind.decimals)}，"
            f"{'达标' if s.get('met') else '未达标'}（{s.get('status')}）"
        )
    failing = row.get("failing_units") or []
    for w in row.get("warnings") or []:
        if failing and all(u in w for u in failing) or w.startswith("状态取自最弱单位"):
            continue  # says again what the note on the failing units above says
        notes.append(w)
    review = reviews.get(ind.number)
    if review and ind.target.comparator == "qualitative":
        when_s = fmt_date(local_date(review.get("reviewed_at"), tz))
        verdict = "达到" if review.get("verdict") else "未达到"
        reason = f"：{review['reason']}" if review.get("reason") else ""
        notes.append(f"人工评定为{verdict}目标（{review.get('reviewer', '')}，{when_s}）{reason}")
    override = row.get("override")
    if override:
        at = local_date(override.get("at"), tz)
        reason = f"：{override['reason']}" if override.get("reason") else ""
        notes.append(
            f"人工调整：按数据评定为“{override.get('computed_status')}”，调整为“{row.get('status')}”"
            f"（{override.get('by') or ''}，{fmt_date(at) if at else ''}）{reason}"
        )
    if ind.target.note_zh:
        notes.append(ind.target.note_zh)
    return notes


INFERRED_FIELD_ZH = {
    "attribute": "指标属性",
    "target": "目标",
    "baseline": "基期值",
    "baseline.year": "基期年份",
}


def local_date(moment: object, tz: str) -> date | None:
    """The calendar date of a stored moment (a datetime or ISO text; naive = UTC) in the
    bureau's zone: a verdict given at 20:00 UTC is dated the next day in Beijing."""
    at = _parse_moment(moment)
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(ZoneInfo(tz)).date()


def _parse_moment(text: object) -> datetime | None:
    if isinstance(text, datetime):
        return text
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _table_row(ind: Indicator, row: Mapping | None, stage: str) -> dict:
    d = ind.decimals
    row = row or {}
    status = row.get("status") or NO_DATA
    base_year = row.get("baseline_year") or (ind.baseline.year if ind.baseline else None)
    cagr = _num(row.get("cagr"))
    return {
        "number": ind.number,
        "name": ind.name_zh,
        "unit": ind.unit,
        "name_unit": f"{ind.name_zh}（{ind.unit}）" if ind.unit else ind.name_zh,
        "category": ind.category_zh,
        "attribute": ind.attribute or DASH,
        "attribute_label": attribute_of(ind),
        "binding": ind.attribute == "约束性",
        "baseline": fmt(row.get("baseline"), d),
        "baseline_year": str(base_year) if base_year else "",
        "target": ind.target.text,
        "target_value": fmt(row.get("target"), d),
        "value": fmt(row.get("value"), d),
        "tau": fmt(row.get("tau"), 2),
        "p": fmt(row.get("p"), 3),
        "rho": fmt(row.get("rho"), 3),
        "projection": fmt(row.get("projection"), d),
        "cagr": fmt_pct(cagr, 1) if cagr is not None else DASH,
        "judged_at": row.get("judged_at", "area"),
        "baseline_source": row.get("baseline_source"),
        "projection_note": row.get("projection_note"),
        "inferred": list(row.get("inferred") or []),
        "weakest_unit": row.get("weakest_unit"),
        "jurisdiction_status": row.get("jurisdiction_status"),
        "jurisdiction_value": fmt(row.get("jurisdiction_value"), d),
        "decimals": d,
        "raw": {
            k: _num(row.get(k))
            for k in ("baseline", "target", "value", "tau", "p", "rho", "projection", "cagr")
        },
        "met": row.get("met"),
        **status_view(status),
    }


def _table(plan: Plan, root_rows, stage, reviews, tz: str) -> dict:
    categories: list[dict] = []
    footnotes: list[dict] = []
    by_text: dict[str, dict] = {}  # one note shared by every indicator it applies to
    for ind in plan.indicators:
        row = root_rows.get(ind.number)
        view = _table_row(ind, row, stage)
        view["notes"] = []
        for text in _row_notes(ind, row or {}, reviews, tz):
            note = by_text.get(text)
            if note is None:
                note = {"id": len(footnotes) + 1, "numbers": [], "text": text}
                footnotes.append(note)
                by_text[text] = note
            if ind.number not in note["numbers"]:
                note["numbers"].append(ind.number)
                view["notes"].append(note["id"])
        if not categories or categories[-1]["name"] != ind.category_zh:
            categories.append({"name": ind.category_zh, "rows": []})
        categories[-1]["rows"].append(view)
    for note in footnotes:
        note["numbers_text"] = numbers_text(note["numbers"])
    for cat in categories:
        for view in cat["rows"]:
            view["notes"].sort()
    with_attributes = any(i.attribute for i in plan.indicators)
    return {
        "columns": [c for c in TABLE_COLUMNS if with_attributes or c["key"] != "attribute"],
        "show_attribute": with_attributes,
        "categories": categories,
        "footnotes": footnotes,
        "count": len(plan.indicators),
    }


def text_goals(plan: Plan, stage: str, goal_reviews: Mapping[str, Mapping]) -> list[dict]:
    """Goals the plan states only in its body text, each with the status its reviewer's verdict
    for this stage and data year gives (已实现/滞后, 已完成/未完成), else 待人工评定."""
    out = []
    for g in plan.text_goals:
        review = goal_reviews.get(g.code)
        status = NEEDS_REVIEW if review is None else verdict_status(bool(review["verdict"]), stage)
        out.append(
            {
                "goal": g.code,
                "name": g.name_zh,
                "unit": g.unit,
                "text": g.sentence,
                "target": g.target.text,
                "related_indicator": g.related_indicator,
                "status": status,
                "review": None if review is None else review_view(review),
            }
        )
    return out


def text_goals_lead(goals: Sequence[Mapping]) -> str:
    """The sentence above the text goals' table: how many there are and how many await review."""
    total = len(goals)
    waiting = sum(1 for g in goals if g["review"] is None)
    head = f"规划正文另提出以下{total}项目标，未列入主要指标表"
    if waiting == total:
        return f"{head}，逐项待人工评定。"
    if waiting == 0:
        return f"{head}，均已经人工评定。"
    return f"{head}；其中{total - waiting}项已经人工评定，{waiting}项待人工评定。"


# ------------------------------------------------------------------------------ 一、overview


def _overview(plan, root_rows, stage, data_year, tau, th, by_area, tree) -> dict:
    order = list(STATUS_ORDER[stage])
    statuses = {
        n: (root_rows.get(n) or {}).get("status") or NO_DATA
        for n in (i.number for i in plan.indicators)
    }
    for s in statuses.values():
        if s not in order:
            order.append(s)
    counts = Counter(statuses.values())
    total = len(plan.indicators)

    by_status = [{**status_view(s), "count": counts.get(s, 0)} for s in order]
    attrs = [a for a in (*ATTRIBUTES, NO_ATTRIBUTE)]
    by_attribute = []
    if not any(i.attribute for i in plan.indicators):
        attrs = []  # a plan without attributes: the totals row says it all
    for attr in attrs:
        members = [i for i in plan.indicators if attribute_of(i) == attr]
        if not members:
            continue
        c = Counter(statuses[i.number] for i in members)
        by_attribute.append(
            {
                "attribute": attr,
                "total": len(members),
                "cells": [{**status_view(s), "count": c.get(s, 0)} for s in order],
                "problem_numbers": [
                    i.number for i in members if statuses[i.number] in BAD | CONCERN
                ],
            }
        )

    narrative = []
    behind_words = "未达到时间进度要求" if stage == "mid" else "未完成目标"
    years_in = data_year - plan.baseline_year
    if stage == "mid":
        narrative.append(
            f"{data_year}年是规划实施的第{years_in}年（基期{plan.baseline_year}年，目标年"
            f"{plan.target_year}年），时间进度τ={fmt(tau, 2)}（{fmt_pct(tau, 0)}）。"
            f"{plan.short_title_zh}确定的{total}项主要指标中，{_count_phrase(counts, order)}。"
        )
    else:
        narrative.append(
            f"{data_year}年为规划目标年（时间进度τ={fmt(tau, 2)}）。"
            f"{plan.short_title_zh}确定的{total}项主要指标中，{_count_phrase(counts, order)}。"
        )
    assessable = [n for n, s in statuses.items() if s not in UNKNOWN]
    good = [n for n, s in statuses.items() if s in GOOD]
    if assessable:
        good_words = "已实现、快于预期或符合预期" if stage == "mid" else "已完成"
        narrative.append(
            f"可评估的{len(assessable)}项指标中，{good_words}的{len(good)}项，"
            f"占{fmt_pct(len(good) / len(assessable), 0)}。"
        )
    behind = [
        f"{s}{counts[s]}项（指标{numbers_text(n for n, x in statuses.items() if x == s)}）"
        for s in order
        if s in CONCERN | BAD and counts.get(s)
    ]
    if behind:
        narrative[-1] += f"{behind_words}的：" + "，".join(behind) + "。"
    unknown = [
        f"{s}{counts[s]}项（指标{numbers_text(n for n, x in statuses.items() if x == s)}）"
        for s in order
        if s in UNKNOWN and counts.get(s)
    ]
    if unknown:
        narrative[-1] += "另有" + "、".join(unknown) + "，暂不能按数值评定。"

    attr_sentences = []
    for a in by_attribute:
        c = {cell["status"]: cell["count"] for cell in a["cells"]}
        s = f"{a['attribute']}指标{a['total']}项中，{_count_phrase(c, order)}"
        problems = [
            f"{st}{c[st]}项（指标{numbers_text(n for n in a['problem_numbers'] if statuses[n] == st)}）"
            for st in order
            if st in BAD | CONCERN and c.get(st)
        ]
        if problems and a["attribute"] == "约束性":
            s += f"；其中{behind_words}的有" + "、".join(problems)
        attr_sentences.append(s)
    if attr_sentences:
        narrative.append("；".join(attr_sentences) + "。")

    # where the problems concentrate
    cat_stats: dict[str, list[int]] = {}
    for ind in plan.indicators:
        cat_stats.setdefault(ind.category_zh, []).append(ind.number)
    hot = []
    for cat, numbers in cat_stats.items():
        k = sum(1 for n in numbers if statuses[n] in BAD | CONCERN)
        if k:
            hot.append((k / len(numbers), k, cat, len(numbers)))
    hot.sort(key=lambda t: (-t[1], -t[0]))  # most indicators behind first, then the share
    if hot:
        parts = [f"「{strip_ordinal(cat)}」（{n}项中{k}项）" for _, k, cat, n in hot[:3]]
        narrative.append(f"从领域看，{behind_words}的指标主要集中在" + "、".join(parts) + "。")
    elif assessable:
        narrative.append(
            f"各领域可评估指标均{'达到时间进度要求' if stage == 'mid' else '已完成目标'}。"
        )

    unit_fail = []
    for ind in plan.indicators:
        r = root_rows.get(ind.number)
        if r and r.get("failing_units"):
            unit_fail.append(
                f"指标{ind.number}有{len(r['failing_units'])}个单位未达标（{'、'.join(r['failing_units'])}）"
                + (
                    f"，按最弱单位{r['weakest_unit']}评定为{r['status']}"
                    if r.get("weakest_unit")
                    else ""
                )
            )
    if unit_fail:
        narrative.append("分单位考核的指标中，" + "；".join(unit_fail) + "。")

    return {
        "total": total,
        "by_status": by_status,
        "status_order": [status_view(s) for s in order],
        "by_attribute": by_attribute,
        "narrative": narrative,
        "counts": dict(counts),
        "tau": fmt(tau, 2),
    }


# ------------------------------------------------------------------------------ charts


def _charts(plan: Plan, root_rows, values, data_year) -> dict:
    categories: list[dict] = []
    skipped: dict[str, list[int]] = {}
    root = plan.jurisdiction
    for ind in plan.indicators:
        row = root_rows.get(ind.number) or {}
        lines: list[charts.Line] = []
        if ind.target.strata:
            for key, st in ind.target.strata.items():
                lines.append(
                    charts.Line(st.label_zh, _series(values, ind.number, root, key), st.value)
                )
        else:
            lines.append(charts.Line(ind.name_zh, _series(values, ind.number, root)))
        has_data = any(y <= data_year for line in lines for y in line.values)  # as drawn
        target = _num(row.get("target"))
        if ind.target.comparator == "qualitative" or not has_data:
            reason = "定性目标" if ind.target.comparator == "qualitative" else "无数据"
            skipped.setdefault(reason, []).append(ind.number)
            continue
        base = _num(row.get("baseline"))
        spec = charts.ChartSpec(
            key=f"{plan.id}-{ind.number}",
            lines=lines,
            baseline_year=plan.baseline_year,
            target_year=plan.target_year,
            data_year=data_year,
            baseline=base,
            target=target,
            target_label=f"目标{ind.target.text}" if target is not None else None,
            baseline_label=f"基期（{row['baseline_source']}）"
            if base is not None and row.get("baseline_source")
            else None,
            direction=ind.sign,
            decimals=ind.decimals,
        )
        if not categories or categories[-1]["name"] != ind.category_zh:
            categories.append({"name": ind.category_zh, "entries": []})
        categories[-1]["entries"].append(
            {
                "number": ind.number,
                "title": f"{ind.number}. {ind.name_zh}",
                "unit": ind.unit,
                **status_view(row.get("status") or NO_DATA),
                "svg": charts.line_chart(spec),
            }
        )
    return {
        "categories": categories,
        "skipped": [f"{reason}：指标{numbers_text(ns)}" for reason, ns in skipped.items()],
        "skipped_label": "未绘图——",
        "legend": [
            {"cls": "lg-series", "text": LABELS["chart_legend_series"]},
            {"cls": "lg-target", "text": LABELS["chart_legend_target"]},
            {"cls": "lg-path", "text": LABELS["chart_legend_path"]},
            {"cls": "lg-year", "text": LABELS["chart_legend_year"]},
        ],
    }


# ------------------------------------------------------------------------------ 三、problems


def _facts(ind: Indicator, row: Mapping, stage: str, th: Thresholds) -> str:
    d, u = ind.decimals, ind.unit
    parts = []
    if _num(row.get("baseline")) is not None:
        parts.append(f"基期{row.get('baseline_year')}年{with_unit(fmt(row['baseline'], d), u)}")
    if _num(row.get("value")) is not None:
        parts.append(f"{row.get('data_year')}年{with_unit(fmt(row['value'], d), u)}")
    else:
        parts.append(f"{row.get('data_year')}年无数据")
    parts.append(f"目标{ind.target.text}")
    s = "，".join(parts)
    if _num(row.get("p")) is not None:
        s += f"；完成进度p={fmt(row['p'], 3)}，时间进度τ={fmt(row.get('tau'), 2)}"
        if stage == "mid" and _num(row.get("rho")) is not None:
            s += f"，ρ={fmt(row['rho'], 3)}"
    if stage == "mid" and _num(row.get("projection")) is not None:
        meets = _projection_meets(row, ind, th)
        s += f"；按现有速度，目标年预计为{with_unit(fmt(row['projection'], d), u)}"
        if meets is not None:
            s += "，可以达到目标" if meets else "，难以达到目标"
    return s + "。"


def _unit_details(ind: Indicator, row: Mapping, by_area, tree: AreaTree) -> str:
    names = {a.name_zh: code for code, a in tree.areas.items()}
    parts = []
    for name in row.get("failing_units") or []:
        urow = by_area.get((ind.number, names.get(name, "")), {})
        v = _num(urow.get("value"))
        parts.append(
            f"{name}{with_unit(fmt(v, ind.decimals), ind.unit) if v is not None else '无数据'}"
        )
    return "、".join(parts)


def _problem_item(ind: Indicator, row: Mapping, stage, th, by_area, tree) -> dict:
    item = {
        "number": ind.number,
        "name": ind.name_zh,
        "head": f"指标{ind.number}「{ind.name_zh}」（{ind.attribute or NO_ATTRIBUTE}）",
        "attribute": ind.attribute or NO_ATTRIBUTE,
        "category": ind.category_zh,
        **status_view(row["status"]),
        "text": _facts(ind, row, stage, th),
    }
    if row.get("failing_units"):
        item["text"] += f"未达标单位：{'、'.join(row['failing_units'])}。"
    return item


def _problems(plan: Plan, root_rows, stage, data_year, th, by_area, tree) -> dict:
    binding, other, concern, units, unknown = [], [], [], [], []
    for ind in plan.indicators:
        row = root_rows.get(ind.number)
        if row is None:
            row = {"status": NO_DATA, "data_year": data_year}
        status = row["status"]
        if _is_binding_problem(row, ind, stage, th):
            binding.append(_problem_item(ind, row, stage, th, by_area, tree))
        elif status in BAD:
            other.append(_problem_item(ind, row, stage, th, by_area, tree))
        elif status in CONCERN:
            concern.append(_problem_item(ind, row, stage, th, by_area, tree))
        elif status in UNKNOWN:
            unknown.append(
                {
                    "number": ind.number,
                    "name": ind.name_zh,
                    "binding": ind.attribute == "约束性",
                    "head": f"指标{ind.number}「{ind.name_zh}」（{attribute_of(ind)}）",
                    **status_view(status),
                    "text": (
                        f"目标为「{ind.target.text}」，需人工评定。"
                        if status == NEEDS_REVIEW
                        else f"缺少{data_year}年数据。"
                    ),
                }
            )
        if row.get("failing_units"):
            level = JUDGED_ZH.get(row.get("judged_at"), "单位")
            units.append(
                {
                    "number": ind.number,
                    "name": ind.name_zh,
                    "head": f"指标{ind.number}「{ind.name_zh}」",
                    **status_view(status),
                    "text": f"以{level}为单位考核（目标{ind.target.text}），"
                    f"{len(row['failing_units'])}个单位未达标：{_unit_details(ind, row, by_area, tree)}。"
                    + (
                        f"指标状态取最弱单位{row['weakest_unit']}的状态（{status}），"
                        f"全域自身为{row['jurisdiction_status']}。"
                        if row.get("weakest_unit") and row.get("jurisdiction_status")
                        else ""
                    ),
                }
            )
    if stage == "end":
        concern_title = "基本完成的指标"
        other_title = "其他未完成或倒退的指标"
        binding_title = "约束性指标未完成"
    else:
        concern_title = LABELS["problems_concern"]
        other_title = LABELS["problems_other"]
        binding_title = LABELS["problems_binding"]
    parts = [
        ("binding", binding_title, binding),
        ("other", other_title, other),
        ("concern", concern_title, concern),
        ("units", LABELS["problems_units"], units),
        ("unknown", LABELS["problems_unknown"], unknown),
    ]
    sections = []
    for key, title, items in parts:
        if items:
            sections.append(
                {
                    "key": key,
                    "title": f"（{cn_ordinal(len(sections) + 1)}）{title}",
                    "entries": items,
                }
            )
    unknown.sort(key=lambda i: not i["binding"])  # binding first here too
    intro = _binding_intro(plan, binding, unknown, stage, data_year)
    return {
        "intro": intro,
        "sections": sections,
        "binding": binding,
        "other": other,
        "concern": concern,
        "units": units,
        "unknown": unknown,
        "empty": not sections,
    }


def _binding_intro(plan: Plan, binding, unknown, stage: str, data_year: int) -> str:
    """The opening of 存在问题: how many binding indicators were judged and how many of those
    fall short; those awaiting a reviewer or data are named apart, never counted as short."""
    n_binding = sum(1 for i in plan.indicators if i.attribute == "约束性")
    if not n_binding:
        return "本规划未设约束性指标。"
    review = [i["number"] for i in unknown if i["binding"] and i["status"] == NEEDS_REVIEW]
    no_data = [i["number"] for i in unknown if i["binding"] and i["status"] != NEEDS_REVIEW]
    judged = n_binding - len(review) - len(no_data)
    goal = "时间进度" if stage == "mid" else "规划目标"
    whole = (
        f"{n_binding}项约束性指标中，"
        if judged == n_binding
        else f"已评估的{judged}项约束性指标中，"
    )
    if not judged:
        intro = ""
    elif binding:
        intro = (
            f"{whole}{len(binding)}项未达到{goal}要求"
            f"（指标{numbers_text(i['number'] for i in binding)}），首先列出。"
        )
    elif judged == 1:
        intro = f"已评估的1项约束性指标达到{goal}要求。"
    else:
        intro = f"{whole.removesuffix('中，')}均达到{goal}要求。"
    if review:
        intro += f"约束性指标{numbers_text(review)}待人工评定"
        intro += "；" if no_data else "，暂不计入（见下文）。"
    if no_data:
        intro += f"约束性指标{numbers_text(no_data)}缺少{data_year}年数据，暂无法评估（见下文）。"
    return intro


# ------------------------------------------------------------------------------ 四、suggestions


def _suggestion(
    ind: Indicator, row: Mapping, stage: str, data_year: int, plan: Plan, by_area, tree
) -> str | None:
    d, u, sign = ind.decimals, ind.unit, ind.sign
    up = "提高" if sign > 0 else "降低"
    down = "降低" if sign > 0 else "提高"
    xc, x0, xt = _num(row.get("value")), _num(row.get("baseline")), _num(row.get("target"))
    t0 = row.get("baseline_year") or plan.baseline_year
    head = f"指标{ind.number}「{ind.name_zh}」："
    if ind.target.strata and row.get("strata"):
        parts = []
        for key, s in row["strata"].items():
            st = ind.target.strata.get(key)
            v = _num(s.get("value"))
            if st is None or s.get("met") or v is None:
                continue
            parts.append(
                f"{st.label_zh}现值{with_unit(fmt(v, d), u)}，距目标{fmt(st.value, d)}尚差"
                f"{with_delta_unit(fmt(abs(st.value - v), d), u)}"
            )
        return head + "；".join(parts) + "。" if parts else None
    if xc is None or xt is None:
        return None
    gap = xt - xc
    if sign * gap <= 0 and row.get("failing_units"):
        return head + (
            f"{tree.areas[plan.jurisdiction].name_zh}已达到目标{ind.target.text}，"
            f"但{_unit_details(ind, row, by_area, tree)}"
            f"尚未达标，需补齐短板。"
        )
    if sign * gap <= 0:
        return None
    text = (
        head
        + f"{data_year}年{with_unit(fmt(xc, d), u)}，距目标{ind.target.text}尚差{with_delta_unit(fmt(abs(gap), d), u)}"
    )
    achieved = None
    if x0 is not None and data_year > t0:
        achieved = (xc - x0) / (data_year - t0)
    years_left = plan.target_year - data_year
    if stage == "mid" and years_left > 0:
        needed = abs(gap) / years_left
        text += (
            f"；{data_year + 1}—{plan.target_year}年需年均{up}{with_delta_unit(fmt(needed, d), u)}"
        )
        if achieved is None:
            text += "。"
        elif sign * achieved > 0 and abs(achieved) >= 10 ** -(d + 1):
            ratio = needed / abs(achieved)
            if ratio > 1.005:
                text += f"，较此前年均{up}{with_delta_unit(fmt(abs(achieved), d), u)}需加快（约为此前的{fmt(ratio, 1)}倍）。"
            else:
                text += (
                    f"，此前年均{up}{with_delta_unit(fmt(abs(achieved), d), u)}，保持现有速度即可。"
                )
        elif abs(achieved) < 10 ** -(d + 1):
            text += "，而此前基本没有变化。"
        else:
            text += f"，而此前年均{down}{with_delta_unit(fmt(abs(achieved), d), u)}，需扭转方向。"
    else:
        text += "，规划期内未完成"
        if achieved is not None and sign * achieved > 0 and abs(achieved) >= 10 ** -(d + 1):
            text += (
                f"；规划期年均{up}{with_delta_unit(fmt(abs(achieved), d), u)}，"
                f"按此速度尚需约{fmt(abs(gap) / abs(achieved), 1)}年"
            )
        elif achieved is not None and abs(achieved) < 10 ** -(d + 1):
            text += "；规划期内基本没有变化"
        elif achieved is not None:
            text += f"；规划期内年均{down}{with_delta_unit(fmt(abs(achieved), d), u)}，需扭转方向"
        text += "。"
    if row.get("failing_units"):
        text += f"未达标单位：{_unit_details(ind, row, by_area, tree)}。"
    return text


def _suggestions(plan: Plan, root_rows, stage, data_year, th, by_area, tree) -> dict:
    groups: list[dict] = []
    no_data, review = [], []
    for ind in plan.indicators:
        row = root_rows.get(ind.number) or {"status": NO_DATA}
        status = row["status"]
        if status == NO_DATA:
            no_data.append(ind.number)
            continue
        if status == NEEDS_REVIEW:
            review.append(ind.number)
            continue
        wants = (
            status in BAD | CONCERN
            or _is_binding_problem(row, ind, stage, th)
            or bool(row.get("failing_units"))
        )
        if not wants:
            continue
        text = _suggestion(ind, row, stage, data_year, plan, by_area, tree)
        if not text:
            continue
        if not groups or groups[-1]["name"] != ind.category_zh:
            groups.append(
                {
                    "name": ind.category_zh,
                    "title": f"（{cn_ordinal(len(groups) + 1)}）{strip_ordinal(ind.category_zh)}",
                    "entries": [],
                }
            )
        head, _, rest = text.partition("：")
        groups[-1]["entries"].append(
            {"number": ind.number, **status_view(status), "head": head, "text": rest}
        )
    n = sum(len(g["entries"]) for g in groups)
    years_left = plan.target_year - data_year
    if not n:
        intro = ""
    elif stage == "mid" and years_left > 0:
        intro = (
            f"以下{n}项指标需加快推进或扭转趋势。对每项指标列出距目标的差距、"
            f"{data_year + 1}—{plan.target_year}年所需的年均变化，以及与{plan.baseline_year}—"
            f"{data_year}年实际年均变化的比较。"
        )
    else:
        intro = (
            f"以下{n}项指标在规划期内未完成或未全面完成，列出距目标的差距和规划期实际年均变化；"
            "建议在下一规划期统筹推进。"
        )
    data_items = []
    if no_data:
        data_items.append(
            f"指标{numbers_text(no_data)}缺少{data_year}年数据，无法评估进度，需明确数据来源并补报。"
        )
    if review:
        data_items.append(f"指标{numbers_text(review)}为定性目标，需组织人工评定并记录评定依据。")
    return {
        "intro": intro,
        "groups": groups,
        "data_title": f"（{cn_ordinal(len(groups) + 1)}）数据与评定",
        "data_items": data_items,
        "empty": not (groups or data_items),
    }


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
    progress_label = "ρ" if stage == "mid" else "p"
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
        "下级地区没有规划基期值，其基期值取数据仓库中基期年的数值。"
    )
    return {
        "present": True,
        "intro": intro,
        "progress_label": progress_label,
        "unit_columns": [
            LABELS["area"],
            f"{plan.baseline_year}年值",
            "现值 x_{c}",
            "目标",
            progress_label,
            "是否达标",
            LABELS["status"],
        ],
        "area_columns": [
            LABELS["number"],
            LABELS["indicator"],
            f"{plan.baseline_year}年值",
            "现值 x_{c}",
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
            diffs.append(f"数据仓库{fmt(wh, d)}与表{stated:g}相差{fmt(abs(wh - stated), d)}")
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
        f"{len(rec)}项指标的规划表基期值与规划正文或数据仓库{t0}年值不一致（超出四舍五入范围），"
        f"列于下表；评估采用规划所列基期值（规划表或规划正文），规划未列基期值的采用数据仓库{t0}年值。"
        f"{same}项与数据仓库一致。"
    )
    if missing_wh:
        summary += f"数据仓库缺少{t0}年值的指标：{numbers_text(missing_wh)}。"

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
                "detail": str(i.get("detail") or ""),
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
                f"规划未列的，采用数据仓库{plan.baseline_year}年值（各处注明来源）",
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
        "undefined": "目标值等于基期值，或规划与数据仓库均无基期值时，p、ρ无定义，"
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
                    "定性目标（如“达国家要求”），尚无人工评定结论；评定人、时间与理由存于数据仓库",
                ),
            ]
        ),
        "step4": (
            f"未达标且ρ < {on}（终期评估为未“已完成”）的约束性指标在“存在问题”中首先列出；"
            "规划表基期值与数据仓库基期年数值超出四舍五入范围的差异在数据质量说明中列出。"
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
            f"其中{len(partial)}个文件共有{sum(partial)}行未通过校验而被隔离，未计入合计；"
            f"受影响的指标见“{LABELS['quality']}”。"
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
        "sources_zone": tz,
        "as_of": fmt_moment(as_of, tz),
        "as_of_note": "报告按数据仓库在该时点所存的数据生成；以同一时点重新生成，数字完全一致。",
        "code_version": code_version or DASH,
        "definition_checksum": (definition_checksum or "")[:12] or DASH,
        "generated_at": fmt_moment(generated_at, tz) if generated_at else DASH,
        "data_year": f"{data_year}年",
        "reviews": review_rows,
    }


def _incomplete_notice(counts: Mapping[str, int], data_year: int) -> str:
    return (
        f"数据不完整：{data_year}年仅有{counts['with_data']}项数值指标有数据"
        f"（共{counts['numeric']}项），评估结论仅供参考"
    )


def _acknowledged(issues: Sequence[Mapping], tz: str) -> list[dict]:
    """Quality issues a person acknowledged (for the numbers they still hold): who, when, why."""
    out = []
    for i in issues:
        if not i.get("acknowledged"):
            continue
        at = i.get("acknowledged_at")
        out.append(
            {
                "id": i.get("id"),
                "severity": SEVERITY_ZH.get(i.get("severity"), i.get("severity") or ""),
                "kind": KIND_ZH.get(i.get("kind"), i.get("kind") or ""),
                "number": str(i.get("number") or ""),
                "year": str(i.get("year") or ""),
                "detail": str(i.get("detail") or ""),
                "by": str(i.get("acknowledged_by") or ""),
                "at": fmt_moment(at, tz) if isinstance(at, datetime) else str(at or ""),
                "reason": str(i.get("acknowledge_reason") or ""),
            }
        )
    return out


def _review_history(plan: Plan, history: Sequence[Mapping], tz: str) -> list[dict]:
    """Every reviewer's verdict, withdrawn ones included, with its state, for the appendix."""
    names = {i.number: i.name_zh for i in plan.indicators}
    goals = {g.code: g.name_zh for g in plan.text_goals}
    out = []
    for r in history:
        at, gone = r.get("reviewed_at"), r.get("withdrawn_at")
        goal = r.get("goal")
        out.append(
            {
                "id": r.get("id"),
                "number": str(goal or r.get("number")),
                "name": goals.get(goal, "") if goal else names.get(r.get("number"), ""),
                "stage": STAGES.get(r.get("stage"), "未注明"),
                "data_year": f"{r['data_year']}年" if r.get("data_year") else DASH,
                "kind": "人工调整" if r.get("override") else "人工评定",
                "verdict": "达到" if r.get("verdict") else "未达到",
                "by": str(r.get("reviewer") or ""),
                "at": fmt_moment(at, tz) if isinstance(at, datetime) else str(at or ""),
                "reason": str(r.get("reason") or ""),
                "state": str(r.get("state") or ""),
                "applies": bool(r.get("applies")),
                "note": str(r.get("note") or ""),
                "withdrawn_by": str(r.get("withdrawn_by") or ""),
                "withdrawn_at": fmt_moment(gone, tz) if isinstance(gone, datetime) else "",
                "withdraw_reason": str(r.get("withdraw_reason") or ""),
            }
        )
    return out


# ------------------------------------------------------------------------------ TOC


def _toc(ctx: dict) -> list[dict]:
    L = ctx["labels"]
    toc = [
        {"id": "sec-overview", "title": L["overview"], "level": 1},
        {"id": "sec-table", "title": L["table"], "level": 1},
        {"id": "sec-table-main", "title": L["table_main"], "level": 2},
    ]
    if ctx["charts"]["categories"]:
        toc.append({"id": "sec-charts", "title": L["charts"], "level": 2})
    if ctx.get("text_goals"):
        toc.append({"id": "sec-text-goals", "title": L["text_goals"], "level": 2})
    toc += [
        {"id": "sec-problems", "title": L["problems"], "level": 1},
        {"id": "sec-suggestions", "title": L["suggestions"], "level": 1},
    ]
    if ctx["areas"].get("present"):
        toc.append({"id": "sec-areas", "title": L["areas"], "level": 1})
    toc += [
        {"id": "sec-quality", "title": L["quality"], "level": 1},
        {"id": "sec-appendix", "title": L["appendix"], "level": 1},
        {"id": "sec-method", "title": L["appendix_method"], "level": 2},
        {"id": "sec-sources", "title": L["appendix_sources"], "level": 2},
        {"id": "sec-version", "title": L["appendix_version"], "level": 2},
    ]
    return toc
