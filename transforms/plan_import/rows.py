"""An indicator table (a grid, header rows first) read as indicator dicts for plan.yaml.

Columns are recognised by their header words (序号, 类别, 指标名称, 单位, 实现值/基期/现状,
目标/规划值, 属性/要求) or, for bare year columns (2020年 | 2025年), by order. A blank or merged
category or attribute cell continues the one above; a blank target cell under a filled one does
too (a target printed once for several rows).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from transforms.plan_import.grid import Cell, Grid, PlanImportError, is_header_text
from transforms.plan_import.targets import read_target
from transforms.plan_import.values import (
    baseline_figure,
    decimals_of,
    direction_for,
    judged_level,
    review,
    split_name_unit,
    unit_for,
)

ATTRIBUTES = {"约束": "约束性", "预期": "预期性", "指导": "指导性"}
ROLE_WORDS = (
    ("number", ("序号", "编号")),
    ("attribute", ("属性", "要求", "性质")),
    ("category", ("类别", "领域", "分类", "类型")),
    ("unit", ("计量单位",)),
    ("target", ("目标", "规划值", "预期值", "期末值")),
    ("baseline", ("实现值", "基期", "现状", "基数", "基线", "完成值", "实际值")),
    ("name", ("名称", "指标")),
)
ORDINAL = {"十一五": 2010, "十二五": 2015, "十三五": 2020, "十四五": 2025, "十五五": 2030}


@dataclass
class Columns:
    """Which column holds what, and the years the header names."""

    roles: dict[str, int]
    baseline_year: int | None = None
    target_year: int | None = None


@dataclass
class Running:
    """What continues down the table: the category, the attribute, the target."""

    category: str = ""
    attribute: str | None = None
    target: str = ""
    inherited_targets: set[int] = field(default_factory=set)


def header_year(text: str) -> int | None:
    t = re.sub(r"\s+", "", text)
    m = re.search(r"((?:19|20)\d\d)", t)
    if m:
        return int(m.group(1))
    ordinal = next((y for k, y in ORDINAL.items() if k in t), None)
    return ordinal


def role_of(text: str) -> str | None:
    """What a column holds, from its header; a year with no other word is a bare year column."""
    t = re.sub(r"[\s“”\"]", "", text)
    if t == "单位":
        return "unit"
    bare = re.sub(r"指标值|数值|年度|年份", "", t)
    for role, words in ROLE_WORDS[:-1]:
        if any(w in bare for w in words):
            return role
    if re.search(r"(?:19|20)\d\d", bare):
        return "year"
    return "name" if any(w in t for w in ROLE_WORDS[-1][1]) else None


def columns_of(header: list[str]) -> Columns:
    """Roles from the header words; bare year columns become baseline (earlier) and target."""
    roles: dict[str, int] = {}
    years: list[tuple[int, int]] = []
    for i, text in enumerate(header):
        role = role_of(text)
        if role == "year":
            years.append((header_year(text) or 0, i))
        elif role and role not in roles:
            roles[role] = i
    years.sort()
    if years and "target" not in roles:
        roles["target"] = years.pop()[1]
    if years and "baseline" not in roles:
        roles["baseline"] = years[0][1]
    cols = Columns(roles=roles)
    if "baseline" in roles:
        cols.baseline_year = header_year(header[roles["baseline"]])
    if "target" in roles:
        cols.target_year = header_year(header[roles["target"]])
    if "name" not in roles or "target" not in roles:
        raise PlanImportError(
            f"指标表缺少“指标名称”或“目标”列 / the table has no name or target column: {header}"
        )
    return cols


def number_in(text: str) -> int | None:
    m = re.match(r"^\s*(\d{1,3})(?:[.．、]|\s*$)", text)
    return int(m.group(1)) if m else None


def is_data_row(row: list[Cell]) -> bool:
    return any(
        re.fullmatch(r"\d{1,3}", c.text.strip()) or re.match(r"^\d{1,3}[.．、]\D", c.text.strip())
        for c in row
    )


def split_grid(grid: Grid) -> tuple[list[str], list[list[Cell]]]:
    """The header (one text per column, header rows joined) and the rows below it."""
    n = 0
    while (
        n < len(grid) and not is_data_row(grid[n]) and any(is_header_text(c.text) for c in grid[n])
    ):
        n += 1
    if n == 0:
        raise PlanImportError("表格没有表头 / the table has no header row")
    header = []
    for col in range(len(grid[0])):
        parts: list[str] = []
        for row in grid[:n]:
            t = row[col].text.strip()
            if t and t not in parts:
                parts.append(t)
        header.append("".join(parts))
    return header, grid[n:]


def heading_of(row: list[Cell]) -> str | None:
    """A row that only names a category (one text across the row, no number)."""
    texts = {c.text.strip() for c in row if c.text.strip()}
    if len(texts) == 1 and not is_data_row(row):
        return texts.pop()
    return None


@dataclass
class Context:
    baseline_year: int | None
    target_year: int
    jurisdiction_level: str


def indicators_of(grid: Grid, ctx: Context) -> tuple[list[dict], Columns]:
    header, rows = split_grid(grid)
    cols = columns_of(header)
    running = Running()
    out: list[dict] = []
    for row in rows:
        heading = heading_of(row)
        if heading is not None and len(row) > 2:
            running.category = re.sub(r"\s+", "", heading)
            continue
        if not any(c.text.strip() for c in row):
            continue
        out.append(indicator_of(row, cols, running, ctx, len(out) + 1))
    if not out:
        raise PlanImportError("指标表没有数据行 / the indicator table has no rows")
    renumber_repeats(out)
    mark_merged_targets(out, running)
    return out, cols


def cell(row: list[Cell], cols: Columns, role: str) -> Cell:
    i = cols.roles.get(role)
    return row[i] if i is not None and i < len(row) else Cell("")


def indicator_of(row, cols: Columns, running: Running, ctx: Context, seq: int) -> dict:
    items: list[dict] = []
    printed_name = cell(row, cols, "name").text.strip()
    number = number_in(cell(row, cols, "number").text) if "number" in cols.roles else None
    if number is None:
        number = number_in(printed_name)
    printed_name = re.sub(r"^\s*\d{1,3}[.．、]\s*", "", printed_name)
    if number is None:
        number = seq
        items.append(review("number", f"表中无序号，按顺序编为{seq}", "no number printed"))
    name, bracket_unit = split_name_unit(printed_name)
    unit_text = cell(row, cols, "unit").text.strip() or bracket_unit
    category = category_of(row, cols, running)
    target_text, target_items = target_cell(row, cols, running, ctx, number)
    items += target_items
    unit, more = unit_for(name, unit_text, target_text)
    items += more
    higher_guess, _ = direction_for(name, "reach", None, unit)
    target, facts, more = read_target(target_text, ctx.target_year, higher_guess == "higher")
    items += more
    direction, more = direction_for(name, target["comparator"], facts.get("delta"), unit)
    items += direction_items(target, more)
    baseline, more = baseline_of(row, cols, ctx, facts)
    items += more
    level, more = judged_level(printed_name, ctx.jurisdiction_level)
    items += more
    attribute, merged, more = attribute_of(row, cols, running, ctx)
    items += more
    ind = {
        "number": number,
        "category_zh": category,
        "category_en": category,
        "name_zh": name,
        "name_en": name,
        "unit": unit,
        "direction": direction,
        "baseline": baseline,
        "target": target,
    }
    if attribute:
        ind["attribute"] = attribute
    if merged:
        ind["attribute_from_merged_cell"] = True
    formula: dict = {"kind": "reported"}
    if target["comparator"] == "split":
        formula["split_by"] = list(target["strata"])
    ind |= {"level": level, "formula": formula}
    ind["decimals"] = decimals_of(baseline and baseline.get("text"), target_text)
    ind["review_needed"] = items
    return ind


def renumber_repeats(indicators: list[dict]) -> None:
    """Numbers that repeat (each category counted from 1) become one running sequence."""
    numbers = [ind["number"] for ind in indicators]
    if len(set(numbers)) == len(numbers):
        return
    for seq, ind in enumerate(indicators, 1):
        if ind["number"] != seq:
            why = f"表中序号为{ind['number']}（各类别分别编号），改为连续编号{seq}"
            ind["review_needed"].insert(
                0, review("number", why, "numbered per category; renumbered")
            )
            ind["number"] = seq


def direction_items(target: dict, items: list[dict]) -> list[dict]:
    """A guessed direction matters only where the comparator leaves it open."""
    if target["comparator"] in ("reach", "about", "split", "qualitative", "relative"):
        return items
    return []


def category_of(row, cols: Columns, running: Running) -> str:
    text = re.sub(r"\s+", "", cell(row, cols, "category").text)
    if text:
        running.category = text
    return running.category


def target_cell(row, cols: Columns, running: Running, ctx: Context, number: int):
    """The printed target; a blank one under a filled one continues it (a merged cell)."""
    c = cell(row, cols, "target")
    text = c.text.strip()
    if text and not c.merged:
        running.target = text
        return text, []
    if running.target and (c.merged or not text):
        running.inherited_targets.add(number)
        if c.merged:
            return running.target, []
        why = f"目标单元格空白，按上方合并单元格“{running.target}”推定"
        return running.target, [review("target", why, "blank target; taken from the cell above")]
    why = "目标单元格空白，请补充"
    return "", [review("target", why, "no target printed")]


def baseline_of(row, cols: Columns, ctx: Context, facts: dict):
    year = ctx.baseline_year or cols.baseline_year
    if "baseline" in cols.roles:
        return baseline_figure(cell(row, cols, "baseline").text, year)
    if "baseline" in facts:
        value = facts["baseline"]
        return {"value": value, "year": year, "text": f"{value:g}"}, []
    why = "规划表无基期值列，请从正文或统计数据补充"
    return None, [review("baseline", why, "the table has no baseline column")]


def attribute_of(row, cols: Columns, running: Running, ctx: Context):
    """(attribute, from a merged cell, review items): blank or merged continues the one above."""
    if "attribute" not in cols.roles:
        return None, False, []
    c = cell(row, cols, "attribute")
    found = next((v for k, v in ATTRIBUTES.items() if k in c.text), None)
    if found and not c.merged:
        running.attribute = found
        return found, False, []
    if running.attribute is None:
        return found, False, []
    if c.merged:
        return running.attribute, True, []
    why = f"属性单元格空白，按上方合并单元格“{running.attribute}”推定"
    return running.attribute, True, [review("attribute", why, "blank; taken from the cell above")]


def mark_merged_targets(indicators: list[dict], running: Running) -> None:
    """Note on every row of a target printed once for several rows which rows it covers."""
    runs: list[list[dict]] = []
    for ind in indicators:
        if runs and ind["number"] in running.inherited_targets:
            runs[-1].append(ind)
        else:
            runs.append([ind])
    for run in runs:
        if len(run) > 1:
            text = run[0]["target"]["text"]
            note = f"合并单元格“{text}”，适用于第{run[0]['number']}—{run[-1]['number']}项"
            for ind in run:
                ind["target"]["note_zh"] = note
