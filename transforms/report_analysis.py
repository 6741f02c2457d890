"""Sections 四 (problems and their causes) and 五 (next steps) of the report, from the numbers
(pure): every sentence is built from the row it describes."""

from __future__ import annotations

from collections.abc import Mapping

from healthplan.definitions import Indicator, Plan
from transforms.evaluation import NEEDS_REVIEW, NO_DATA, Thresholds
from transforms.indicators import AreaTree
from transforms.report_format import (
    BAD,
    CONCERN,
    JUDGED_ZH,
    LABELS,
    NO_ATTRIBUTE,
    UNKNOWN,
    _is_binding_problem,
    _num,
    _projection_meets,
    attribute_of,
    cn_ordinal,
    fmt,
    fmt_pct,
    status_view,
    strip_ordinal,
    with_delta_unit,
    with_unit,
)

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
        s += f"；完成进度{fmt_pct(row['p'], 1)}，时间进度{fmt_pct(row.get('tau'), 0)}"
        if stage == "mid" and _num(row.get("rho")) is not None:
            s += f"，进度比{fmt(row['rho'], 2)}"
    if stage == "mid" and _num(row.get("projection")) is not None:
        meets = _projection_meets(row, ind, th)
        s += f"；按现有速度，目标年预计为{with_unit(fmt(row['projection'], d), u)}"
        if meets is not None:
            s += "，可以达到目标" if meets else "，难以达到目标"
    return s + "。"


def _names(plan: Plan, numbers) -> str:
    """'“注册护士”（指标14）、“医护比”（指标15）': names first, numbers for the table."""
    names = {i.number: i.name_zh for i in plan.indicators}
    return "、".join(f"“{names[n]}”（指标{n}）" for n in numbers)


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
        "head": f"指标{ind.number}“{ind.name_zh}”（{ind.attribute or NO_ATTRIBUTE}）",
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
                    "head": f"指标{ind.number}“{ind.name_zh}”（{attribute_of(ind)}）",
                    **status_view(status),
                    "text": (
                        f"目标为“{ind.target.text}”，需人工评定。"
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
                    "head": f"指标{ind.number}“{ind.name_zh}”",
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
    review = [i for i in unknown if i["binding"] and i["status"] == NEEDS_REVIEW]
    no_data = [i for i in unknown if i["binding"] and i["status"] != NEEDS_REVIEW]
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
            f"（{'、'.join('“' + i['name'] + '”' for i in binding)}），首先列出。"
        )
    elif judged == 1:
        intro = f"已评估的1项约束性指标达到{goal}要求。"
    else:
        intro = f"{whole.removesuffix('中，')}均达到{goal}要求。"
    if review:
        intro += f"约束性指标{'、'.join('“' + i['name'] + '”' for i in review)}待人工评定"
        intro += "；" if no_data else "，暂不计入（见下文）。"
    if no_data:
        names = "、".join("“" + i["name"] + "”" for i in no_data)
        intro += f"约束性指标{names}缺少{data_year}年数据，暂无法评估（见下文）。"
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
    head = f"指标{ind.number}“{ind.name_zh}”："
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
            f"{_names(plan, no_data)}缺少{data_year}年数据，无法评估进度，需明确数据来源并补报。"
        )
    if review:
        data_items.append(f"{_names(plan, review)}为定性目标，需组织人工评定并记录评定依据。")
    return {
        "intro": intro,
        "groups": groups,
        "data_title": f"（{cn_ordinal(len(groups) + 1)}）数据与评定",
        "data_items": data_items,
        "empty": not (groups or data_items),
    }
