"""The blank files a bureau hands to its counties and offices, as cells (``healthplan template``).

- the plan's indicator monitoring sheet: every indicator (names, units, baseline and target
  prefilled; a split target one row per stratum), one column per year from the baseline year to
  the target year, one worksheet for the jurisdiction and one per town or county an indicator
  is judged at (holding those indicators only), and a 填表说明 sheet;
- per source the plan's formulas read: its layout's exact headers (the required columns and the
  optional ones the plan needs), one row per area (the areas at the bottom of the tree: their
  figures are summed upwards), and a 填表说明 sheet naming what each column holds.

Every header is the one the reader expects (``transforms.monitoring_sheet``, the layouts), so a
filled-in template ingests as it is. Pure: plan and layouts in, sheets of cells out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from healthplan.definitions import Area, DataElement, Indicator, Plan
from healthplan.layouts import Column, Layout, SourceLayouts
from transforms.indicators import AreaTree
from transforms.monitoring_sheet import SheetCells

MONITORING_HEADER = ["序号", "领域", "指标名称", "单位", "分组", "属性", "基期值", "目标值"]
NOTE_HEADER = "备注"
COMPUTED_NOTE = "可由统计报表计算；填报后与计算值核对"
REPORTED_NOTE = "按监测表填报值评估"
QUALITATIVE_NOTE = "定性目标，由评估人员评定"


def monitoring_years(plan: Plan) -> list[int]:
    return list(range(plan.baseline_year, plan.target_year + 1))


def _indicator_rows(ind: Indicator, width: int) -> list[list[Any]]:
    """One row per indicator, or per stratum of a split target, year cells blank."""
    note = (
        QUALITATIVE_NOTE
        if ind.target.comparator == "qualitative"
        else REPORTED_NOTE
        if ind.formula is not None and ind.formula.kind == "reported"
        else COMPUTED_NOTE
        if ind.formula is not None
        else ""
    )
    fixed = [ind.category_zh, ind.name_zh, ind.unit]
    tail = [ind.attribute or "", _baseline_text(ind), ind.target.text]
    strata = [("", "")] if not ind.target.strata else [
        (s.label_zh, f"（{s.label_zh}）") for s in ind.target.strata.values()
    ]  # fmt: skip
    rows = []
    for label, suffix in strata:
        name = fixed[1] + suffix
        rows.append([ind.number, fixed[0], name, fixed[2], label, *tail, *[""] * width, note])
    return rows


def _baseline_text(ind: Indicator) -> str:
    b = ind.baseline
    if b is None:
        return ""
    if b.text:
        return b.text
    return "" if b.value is None else f"{b.value:g}"


def monitoring_template(plan: Plan, areas: Sequence[Area]) -> list[SheetCells]:
    """The plan's monitoring sheet: the jurisdiction's sheet, one per judging unit, 填表说明."""
    years = monitoring_years(plan)
    header = [*MONITORING_HEADER, *(f"{y}年" for y in years), NOTE_HEADER]
    tree = AreaTree(areas)
    title = f"{plan.short_title_zh}主要指标监测表（{years[0]}—{years[-1]}年）"

    def sheet(area: Area, indicators: list[Indicator]) -> SheetCells:
        rows: list[list[Any]] = [[f"{title}·{area.name_zh}"], header]
        for ind in indicators:
            rows += _indicator_rows(ind, len(years))
        return SheetCells(area.name_zh, rows)

    root = tree.areas[plan.jurisdiction]
    sheets = [sheet(root, list(plan.indicators))]
    per_unit = [i for i in plan.indicators if i.level != "area"]
    if per_unit:
        from transforms.assessment import judging_units

        units = sorted({u for i in per_unit for u in judging_units(plan, i, tree)[0]})
        for code in units:
            mine = [i for i in per_unit if code in judging_units(plan, i, tree)[0]]
            sheets.append(sheet(tree.areas[code], mine))
    return [*sheets, SheetCells("填表说明", monitoring_instructions(plan, sheets))]


def monitoring_instructions(plan: Plan, sheets: list[SheetCells]) -> list[list[Any]]:
    names = "、".join(s.name or "" for s in sheets)
    lines = [
        f"{plan.title_zh}主要指标监测表 填表说明",
        f"1. 本表共有工作表：{names}。每个工作表填写以表名为名的地区的数值，请勿改动工作表名。",
        f"2. 按年份列填写各指标当年的实际值（{plan.baseline_year}年为基期年）；没有数据的格子留空，"
        "不要填“—”以外的文字。",
        "3. 只填数值，不带单位；百分比填百分数（如 95.5 表示 95.5%），单位以“单位”列为准。",
        "4. 请勿改动“序号”“指标名称”“分组”三列：导入时据此对应规划指标。可以删去整行不报的指标。",
        "5. 领域、属性、基期值、目标值、备注各列仅供参考，导入时不读取。",
        f"6. 填好后导入：healthplan ingest 本文件 --plan {plan.id}",
        "   任何一行、一列或一个格子对不上，整张表都不入库，并逐条列出问题（退出码 3）；改正后重新导入即可。",
        f"7. “{COMPUTED_NOTE}”的指标，系统也按统计报表计算；两者不一致时在数据质量问题中列出。",
    ]
    return [[line] for line in lines]


# ------------------------------------------------------------------------------- source layouts


def plan_sources(plan: Plan, elements: Mapping[str, DataElement]) -> dict[str, set[str]]:
    """The sources the plan's formulas read, each with the elements read from it."""
    out: dict[str, set[str]] = {}
    for ind in plan.indicators:
        for code in ind.formula.elements() if ind.formula else set():
            el = elements.get(code)
            if el is not None:
                out.setdefault(el.source, set()).add(code)
    return out


def leaf_areas(areas: Sequence[Area]) -> list[Area]:
    """The areas no other area has as parent: their figures are summed upwards."""
    parents = {a.parent for a in areas if a.parent}
    return [a for a in areas if a.code not in parents]


def template_columns(layout: Layout, needed: set[str]) -> dict[str, Column]:
    """The layout's required columns and the optional ones holding an element the plan needs."""
    return {
        h: c
        for h, c in layout.columns.items()
        if c.required or (c.element in needed) or c.field in ("area_name", "facility_name", "year")
    }


def _field_value(col: Column, area: Area, year: int) -> Any:
    return {"area_code": area.code, "area_name": area.name_zh, "year": year}.get(col.field or "")


def layout_template(
    src: SourceLayouts,
    layout: Layout,
    needed: set[str],
    areas: Sequence[Area],
    elements: Mapping[str, DataElement],
    year: int,
) -> list[SheetCells]:
    """One source's file for one year, blank but for the area (and year) columns, and its
    填表说明 sheet."""
    columns = template_columns(layout, needed)
    rows: list[list[Any]] = [[f"{src.name_zh}（{year}年）"] for _ in range(layout.header_row - 1)]
    rows.append(list(columns))
    for area in leaf_areas(areas):
        rows.append([_field_value(c, area, year) for c in columns.values()])
    data = SheetCells(layout.sheet or src.name_zh, rows)
    return [data, SheetCells("填表说明", layout_instructions(src, layout, columns, elements))]


def _column_text(col: Column, elements: Mapping[str, DataElement]) -> str:
    if col.field:
        return {
            "area_code": "行政区划代码（已填）",
            "area_name": "地区名称（已填，可不改）",
            "year": "数据年份（已填）",
            "facility_id": "机构代码，每个机构一行",
            "facility_name": "机构名称",
            "ownership": "经济类型",
            "type": "机构类别",
        }[col.field]
    el = elements.get(col.element or "")
    what = el.name_zh if el else col.element
    unit = (el.unit if el else "") + ("（按百分数填写）" if col.percent else "")
    if col.flag:
        return f"{what}：填“是”或“否”"
    return f"{what}，单位：{unit}" + (f"（表头单位换算 ×{col.scale:g}）" if col.scale != 1 else "")


def layout_instructions(
    src: SourceLayouts,
    layout: Layout,
    columns: Mapping[str, Column],
    elements: Mapping[str, DataElement],
) -> list[list[Any]]:
    lines: list[list[Any]] = [
        [f"{src.name_zh} 填表说明（报送单位：{src.publisher_zh}；版式 {layout.id}）"],
        ["1. 请勿改动表头（列名）和工作表名；每个地区一行，行政区划代码已填好。"],
        ["2. 只填数值，不带单位；没有数据的格子留空。"],
        ["3. 填好后导入：healthplan ingest 本文件（文件名中的年份请保留）。"],
        ["列名", "填写内容", "是否必填"],
    ]
    for header, col in columns.items():
        lines.append([header, _column_text(col, elements), "必填" if col.required else "选填"])
    for what, mapping in layout.value_maps.items():
        label = {"ownership": "经济类型", "type": "机构类别", "flag": "是/否"}[what]
        lines.append([f"{label}可填", "、".join(mapping), ""])
    return lines
