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

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from healthplan.definitions import Area, Indicator, Plan
from transforms import charts
from transforms.assessment import STAGES, data_completeness, is_incomplete
from transforms.commentary import Commentary, stale_sections
from transforms.evaluation import ACHIEVED, AHEAD, MET_EARLY, NO_DATA, Thresholds
from transforms.indicators import AreaTree
from transforms.report_analysis import _problems, _suggestions
from transforms.report_annex import (
    _appendix,
    _areas,
    _incomplete,
    _quality,
    _text_goals,
    acknowledged_rows,
    plan_text_goals,
    review_history_rows,
    text_goals_lead,
)
from transforms.report_format import (  # noqa: F401 - DASH, STATUS_STYLE, fmt… are re-exported
    ATTRIBUTES,
    BAD,
    BASELINE_SOURCE_ZH,
    BASELINE_SOURCES,
    CONCERN,
    DASH,
    DEFAULT_THRESHOLDS,
    FIELD_ZH,
    GOOD,
    JUDGED_ZH,
    LABELS,
    NO_ATTRIBUTE,
    STATUS_ORDER,
    STATUS_STYLE,
    TABLE_COLUMNS,
    UNKNOWN,
    _count_phrase,
    _num,
    _series,
    attribute_of,
    cn_ordinal,
    fmt,
    fmt_date,
    fmt_moment,
    fmt_pct,
    numbers_text,
    plain_words,
    status_view,
    strip_ordinal,
    strip_ordinal_paren,
    verdict_zh,
    with_delta_unit,
    with_unit,
)

# Where x0 comes from, as its label on a chart reads.
CHART_SOURCE_ZH = {"规划表": "规划表", "规划正文": "规划正文", "数据仓库": "报送数据"}

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
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    issuing_body: str | None = None,
    issued_on: date | None = None,
    generated_at: datetime | None = None,
    code_version: str = "",
    definition_checksum: str = "",
    timezone: str = "Asia/Shanghai",
    with_charts: bool = True,
    commentary: Commentary | None = None,
    text_goals: Sequence[Mapping] | None = None,
    review_history: Sequence[Mapping] | None = None,
    acknowledged_issues: Sequence[Mapping] | None = None,
    incomplete: bool = False,
    incomplete_counts: Mapping[str, int] | None = None,
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
    if acknowledged_issues is None:  # acknowledged issues leave 附件 数据质量 for their own list
        acknowledged_issues = [i for i in quality_issues if i.get("acknowledged")]
        quality_issues = [i for i in quality_issues if not i.get("acknowledged")]
    if incomplete_counts is None:
        incomplete_counts = data_completeness(plan, rows)
        incomplete = incomplete or is_incomplete(incomplete_counts)
    if text_goals is None:
        text_goals = plan_text_goals(plan, stage, goal_reviews or {})
    tau = (data_year - plan.baseline_year) / (plan.target_year - plan.baseline_year)

    ctx = {
        "lang": "zh-CN",
        "timezone": timezone,
        "labels": dict(LABELS),
        "stage": stage,
        "stage_zh": stage_zh,
        "cover": _cover(
            plan, stage_zh, data_year, as_of, issuing_body, issued_on, timezone, incomplete
        ),
        "legend": [{**status_view(s), "en": s} for s in STATUS_ORDER[stage]],
        "incomplete": _incomplete(incomplete, incomplete_counts, data_year),
        "incomplete_counts": dict(incomplete_counts),
    }
    commentary = commentary or Commentary()
    table = _table(plan, root_rows, stage, reviews, timezone)
    ctx["table"] = table
    ctx["overview"] = _overview(plan, root_rows, stage, data_year, tau, thresholds, by_area, tree)
    ctx["overview"]["commentary"] = (
        list(commentary.overall.blocks) if commentary.overall is not None else []
    )
    ctx["achievements"] = achievements(plan, root_rows, stage, data_year)
    ctx["text_goals"] = _text_goals(text_goals or [])
    ctx["text_goals_lead"] = text_goals_lead(text_goals or [])
    ctx["charts"] = (
        _charts(plan, root_rows, values, data_year)
        if with_charts
        else {"categories": [], "skipped": []}
    )
    ctx["problems"] = _problems(plan, root_rows, stage, data_year, thresholds, by_area, tree)
    ctx["indicator_notes"] = place_commentary(plan, commentary, ctx["problems"], root_rows)
    ctx["suggestions"] = _suggestions(plan, root_rows, stage, data_year, thresholds, by_area, tree)
    ctx["areas"] = _areas(plan, rows, stage, tree)
    ctx["quality"] = _quality(plan, values, quality_issues, data_year, tree)
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
    ctx["appendix"]["review_history"] = review_history_rows(review_history or [], timezone)
    ctx["appendix"]["acknowledged"] = acknowledged_rows(acknowledged_issues or [], timezone)
    ctx["review_history"] = ctx["appendix"]["review_history"]
    ctx["acknowledged_issues"] = ctx["appendix"]["acknowledged"]
    ctx["appendix"]["commentary_check"] = commentary_check(plan, commentary, root_rows)
    ctx["headings"] = _headings(ctx)
    ctx["toc"] = _toc(ctx)
    return ctx


# ------------------------------------------------------------------------------ cover


def _cover(plan, stage_zh, data_year, as_of, issuing_body, issued_on, tz, incomplete) -> dict:
    body = issuing_body or plan.issuing_body_zh
    mark = f"　【{LABELS['incomplete']}】" if incomplete else ""
    return {
        "title": plan.title_zh,
        "short_title": plan.short_title_zh,
        "subtitle": f"{stage_zh}报告",
        "stage": stage_zh,
        "running_head": f"{plan.title_zh} · {stage_zh}{mark}",
        "data_year": f"{data_year}年",
        "period": f"{plan.period_start}—{plan.period_end}年",
        "as_of": fmt_moment(as_of, tz),
        "issuing_body": body,
        "issued_on": fmt_date(issued_on or (datetime.now(ZoneInfo(tz)).date())),
    }


# ------------------------------------------------------------------------------ 二、table


def _row_notes(
    ind: Indicator, row: Mapping, reviews: Mapping[int, Mapping], tz: str = "Asia/Shanghai"
) -> list[str]:
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
    elif _num(row.get("jurisdiction_value")) is not None or row.get("jurisdiction_status"):
        text = f"全域数值{fmt(row.get('jurisdiction_value'), ind.decimals)}"
        if row.get("jurisdiction_status"):
            text += f"（{row['jurisdiction_status']}）"
        if row.get("weakest_unit"):
            text += f"，最薄弱单位为{row['weakest_unit']}"
        notes.append(text)
    source = row.get("baseline_source")
    if source == BASELINE_SOURCES[2]:
        notes.append(f"规划未列基期值，基期值取自报送的{row.get('baseline_year')}年数据")
    elif source and source != BASELINE_SOURCES[0]:
        notes.append(f"基期值取自{BASELINE_SOURCE_ZH.get(source, source)}（规划表未列）")
    for inf in row.get("inferred") or []:
        field_zh = FIELD_ZH.get(str(inf.get("field")), "")
        why = str(inf.get("why") or "").strip()
        notes.append(f"{field_zh or '此项'}系按规划推定" + (f"：{why}" if why else ""))
    if row.get("projection_note"):
        notes.append(f"目标年预测：{row['projection_note']}")
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
        notes.append(plain_words(w))
    review = reviews.get(ind.number) or row.get("review")
    if review and ind.target.comparator == "qualitative" and not review.get("override"):
        when = review.get("reviewed_at") or review.get("at")
        when_s = _when(when, tz)
        verdict = verdict_zh(review.get("verdict"))
        reason = f"：{review['reason']}" if review.get("reason") else ""
        who = review.get("reviewer") or review.get("by") or ""
        notes.append(f"人工评定为{verdict}目标（{who}，{when_s}）{reason}")
    override = row.get("override")
    if override:
        notes.append(override_note(override, tz, row.get("status")))
    if ind.target.note_zh:
        notes.append(ind.target.note_zh)
    return notes


def _when(when: object, tz: str) -> str:
    """A verdict's date as the bureau reads it: in its own zone, no time of day."""
    if isinstance(when, datetime):
        return fmt_date(when.astimezone(ZoneInfo(tz)).date() if when.tzinfo else when.date())
    if isinstance(when, date):
        return fmt_date(when)
    if isinstance(when, str) and when:
        try:
            return _when(datetime.fromisoformat(when), tz)
        except ValueError:
            return when
    return ""


def override_note(override: Mapping, tz: str, status: str | None = None) -> str:
    """人工调整: the status computed from the numbers, the one a person set over it, by whom,
    when and why."""
    computed = override.get("computed_status")
    now = status or verdict_zh(override.get("verdict"))
    text = "人工调整："
    text += f"按数据评定为“{computed}”，调整为“{now}”" if computed else f"调整为“{now}”"
    when_s = _when(override.get("at"), tz)
    text += f"（{override.get('by') or ''}" + (f"，{when_s}）" if when_s else "）")
    if override.get("reason"):
        text += f"：{override['reason']}"
    return text


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
        "decimals": d,
        "raw": {
            k: _num(row.get(k))
            for k in ("baseline", "target", "value", "tau", "p", "rho", "projection", "cagr")
        },
        "met": row.get("met"),
        "failing_units": list(row.get("failing_units") or []),
        "baseline_source": row.get("baseline_source"),
        "baseline_source_label": BASELINE_SOURCE_ZH.get(
            row.get("baseline_source") or "", row.get("baseline_source") or ""
        ),
        "projection_note": row.get("projection_note"),
        "weakest_unit": row.get("weakest_unit"),
        "jurisdiction_status": row.get("jurisdiction_status"),
        "jurisdiction_value": fmt(row.get("jurisdiction_value"), d),
        "overridden": bool(row.get("override")),
        "inferred": [dict(i) for i in row.get("inferred") or []],
        **status_view(status),
    }


def _table(plan: Plan, root_rows, stage, reviews, tz: str = "Asia/Shanghai") -> dict:
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
            f"{plan.target_year}年），时间进度为{fmt_pct(tau, 0)}。"
            f"{plan.short_title_zh}确定的{total}项主要指标中，{_count_phrase(counts, order)}。"
        )
    else:
        narrative.append(
            f"{data_year}年为规划目标年，时间进度为{fmt_pct(tau, 0)}。"
            f"{plan.short_title_zh}确定的{total}项主要指标中，{_count_phrase(counts, order)}。"
        )
    assessable = [n for n, s in statuses.items() if s not in UNKNOWN]
    good = [n for n, s in statuses.items() if s in GOOD]
    if assessable:
        good_words = "已实现、快于预期或符合预期" if stage == "mid" else "已完成"
        if good:
            narrative.append(
                f"可评估的{len(assessable)}项指标中，{good_words}的{len(good)}项，"
                f"占{fmt_pct(len(good) / len(assessable), 0)}。"
            )
        else:
            narrative.append(f"可评估的{len(assessable)}项指标均{behind_words}。")
    names = {i.number: i.name_zh for i in plan.indicators}

    def named(status: str) -> str:
        return "、".join(f"“{names[n]}”" for n, x in statuses.items() if x == status)

    behind = [
        f"{s}{counts[s]}项（{named(s)}）" for s in order if s in CONCERN | BAD and counts.get(s)
    ]
    if behind and good:
        narrative[-1] += f"{behind_words}的：" + "，".join(behind) + "。"
    elif behind:
        narrative[-1] += "其中" + "，".join(behind) + "。"
    unknown = [f"{s}{counts[s]}项（{named(s)}）" for s in order if s in UNKNOWN and counts.get(s)]
    if unknown:
        lead = "另有" if assessable else "各项指标中，"
        if not narrative or not assessable:
            narrative.append("")
        narrative[-1] += lead + "、".join(unknown) + "，暂不能按数值评定。"

    attr_sentences = []
    for a in by_attribute:
        c = {cell["status"]: cell["count"] for cell in a["cells"]}
        s = f"{a['attribute']}指标{a['total']}项中，{_count_phrase(c, order)}"
        problems = [
            f"{st}{c[st]}项（"
            + "、".join(f"“{names[n]}”" for n in a["problem_numbers"] if statuses[n] == st)
            + "）"
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
        parts = [f"“{strip_ordinal(cat)}”（{n}项中{k}项）" for _, k, cat, n in hot[:3]]
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
                f"“{ind.name_zh}”有{len(r['failing_units'])}个单位未达标"
                f"（{'、'.join(r['failing_units'])}）"
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
            baseline_label=f"基期（{CHART_SOURCE_ZH.get(row['baseline_source'], '')}）"
            if base is not None and row.get("baseline_source") in CHART_SOURCE_ZH
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
        "category_titles": {
            c["name"]: f"{k}．{strip_ordinal(c['name'])}" for k, c in enumerate(categories, start=1)
        },
        "skipped_label": "未绘图——",
        "legend": [
            {"cls": "lg-series", "text": LABELS["chart_legend_series"]},
            {"cls": "lg-target", "text": LABELS["chart_legend_target"]},
            {"cls": "lg-path", "text": LABELS["chart_legend_path"]},
            {"cls": "lg-year", "text": LABELS["chart_legend_year"]},
        ],
    }


# ------------------------------------------------------------------------------ 二、成效


def _achievement(ind: Indicator, row: Mapping) -> dict:
    """The facts one sentence of 主要成效 is built from (the sentence is in _sentences.j2)."""
    d, u = ind.decimals, ind.unit
    x0, xc = _num(row.get("baseline")), _num(row.get("value"))
    change = None if x0 is None or xc is None else xc - x0
    return {
        "number": ind.number,
        "name": ind.name_zh,
        "unit": u,
        "baseline": with_unit(fmt(x0, d), u) if x0 is not None else "",
        "baseline_year": str(row.get("baseline_year") or ""),
        "value": with_unit(fmt(xc, d), u),
        "data_year": str(row.get("data_year") or ""),
        "target": ind.target.text,
        "verb": "" if not change else ("上升" if change > 0 else "下降"),
        "change": with_delta_unit(fmt(abs(change), d), u) if change else "",
        "progress": fmt_pct(row.get("p"), 1) if _num(row.get("p")) is not None else "",
        "met": row.get("met") is True,
        **status_view(row.get("status") or NO_DATA),
    }


def achievements(plan: Plan, root_rows: Mapping[int, Mapping], stage: str, data_year: int) -> dict:
    """二、主要成效: the indicators achieved or ahead, then the largest measured improvements (by
    completion of the planned change) among the others."""
    good = {MET_EARLY, AHEAD} if stage == "mid" else {ACHIEVED}
    ahead, improved = [], []
    for ind in plan.indicators:
        row = root_rows.get(ind.number) or {}
        if row.get("status") in good and _num(row.get("value")) is not None:
            ahead.append(_achievement(ind, row))
        elif (
            row.get("status") not in UNKNOWN
            and _num(row.get("p")) is not None
            and row["p"] > 0
            and _num(row.get("value")) is not None
        ):
            improved.append((-row["p"], ind.number, _achievement(ind, row)))
    improved.sort(key=lambda t: t[:2])
    groups = []
    if ahead:
        title = "已实现目标或快于时间进度的指标" if stage == "mid" else "已完成目标的指标"
        groups.append({"title": title, "entries": ahead})
    if improved:
        groups.append({"title": "其他改善幅度较大的指标", "entries": [e for *_, e in improved[:5]]})
    for k, g in enumerate(groups, start=1):
        g["title"] = f"（{cn_ordinal(k)}）{g['title']}"
    assessable = sum(1 for r in root_rows.values() if (r.get("status") or NO_DATA) not in UNKNOWN)
    return {
        "groups": groups,
        "count": len(ahead),
        "assessable": assessable,
        "stage": stage,
        "data_year": data_year,
    }


# ------------------------------------------------------------------------------ commentary


def place_commentary(
    plan: Plan, commentary: Commentary, problems: dict, root_rows: Mapping[int, Mapping]
) -> dict:
    """Each ``## 指标N`` section beside its indicator: on the first entry of 四 that names it,
    else in a subsection of 三 (returned here)."""
    placed: set[int] = set()
    for sec in problems["sections"]:
        for item in sec["entries"]:
            section = commentary.indicators.get(item["number"])
            item["commentary"] = []
            if section is not None and item["number"] not in placed:
                item["commentary"] = list(section.blocks)
                placed.add(item["number"])
    entries = []
    for ind in plan.indicators:
        section = commentary.indicators.get(ind.number)
        if section is None or ind.number in placed:
            continue
        entries.append(
            {
                "number": ind.number,
                "head": f"指标{ind.number}“{ind.name_zh}”",
                "blocks": list(section.blocks),
                **status_view((root_rows.get(ind.number) or {}).get("status") or NO_DATA),
            }
        )
    return {"entries": entries}


def commentary_check(plan: Plan, commentary: Commentary, root_rows) -> dict:
    """Sections whose indicator's status changed since they were written, and sections that could
    not be placed: for the appendix and the command line."""
    statuses = {n: r.get("status") or NO_DATA for n, r in root_rows.items()}
    names = {i.number: i.name_zh for i in plan.indicators}
    stale = [
        f"指标{s['number']}“{names.get(s['number'], '')}”的评述写于状态为“{s['written']}”时，"
        f"现状态为“{s['now']}”，请核对评述是否仍然适用。"
        for s in stale_sections(commentary, statuses)
    ]
    return {"stale": stale, "problems": list(commentary.problems)}


# ------------------------------------------------------------------------------ issue 18 data


# ------------------------------------------------------------------------------ TOC


def _headings(ctx: dict) -> dict:
    """Every section heading, numbered in order (一、→（一）→1.→（1）) and the annexes (附件1…)."""
    L = ctx["labels"]
    sub = [L["table_main"]]
    if ctx["charts"]["categories"]:
        sub.append(("charts", L["charts"]))
    if ctx["text_goals"]:
        sub.append(("text_goals", L["text_goals"]))
    if ctx["indicator_notes"]["entries"]:
        sub.append(("indicator_notes", L["indicator_notes"]))
    h = {"table_sub": {}}
    for k, item in enumerate(sub[1:], start=2):
        key, title = item
        h["table_sub"][key] = f"（{cn_ordinal(k)}）{strip_ordinal_paren(title)}"
    annexes = []
    if ctx["areas"].get("present"):
        annexes.append(("sec-areas", "areas", L["areas"]))
    annexes += [
        ("sec-quality", "quality", L["quality"]),
        ("sec-sources", "sources", L["appendix_sources"]),
        ("sec-method", "method", L["appendix_method"]),
        ("sec-version", "version", L["appendix_version"]),
    ]
    h["annexes"] = {
        key: {"id": id_, "title": f"{L['annexes']}{k}　{title}", "name": title, "n": k}
        for k, (id_, key, title) in enumerate(annexes, start=1)
    }
    h["annex_list"] = "；".join(f"{a['n']}．{a['name']}" for a in h["annexes"].values())
    return h


def _toc(ctx: dict) -> list[dict]:
    L, H = ctx["labels"], ctx["headings"]
    toc = [
        {"id": "sec-overview", "title": L["overview"], "level": 1},
        {"id": "sec-achievements", "title": L["achievements"], "level": 1},
        {"id": "sec-table", "title": L["table"], "level": 1},
        {"id": "sec-table-main", "title": L["table_main"], "level": 2},
    ]
    for key, title in H["table_sub"].items():
        toc.append({"id": f"sec-{key.replace('_', '-')}", "title": title, "level": 2})
    toc += [
        {"id": "sec-problems", "title": L["problems"], "level": 1},
        {"id": "sec-suggestions", "title": L["suggestions"], "level": 1},
    ]
    toc += [{"id": a["id"], "title": a["title"], "level": 1} for a in H["annexes"].values()]
    return toc
