"""Read a bureau's indicator monitoring sheet: one row per indicator, one column per year.

Most planning offices keep their figures this way (序号 | 指标名称 | 单位 | 2015 | 2016 | …). The
sheet covers the plan's jurisdiction, or several areas: by an area column (地区 / 地区代码) or by
one worksheet per area named after it. Rows match the plan's indicators by number and by name
(full-width punctuation, white space and bracketed units do not matter); a split target's strata
come from a 分组 column or a bracketed label (“（农村）”). Every value becomes an observation of
the indicator's reported element (``Plan.reported_element``) whose provenance is its cell.

A sheet with any row, column or cell that cannot be matched comes back with a reject for each and
is not to be loaded at all: a half-loaded sheet would mix this year's figures with last year's.
Pure: cells in, a ``ParsedFile`` out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import pandas as pd

from healthplan.definitions import Area, Indicator, Plan
from healthplan.layouts import normalize_header
from transforms.parsing import (
    GOOD_COLUMNS,
    NOTE_PREFIXES,
    CellError,
    ParsedFile,
    Reject,
    parse_number,
    shorten,
)

SOURCE = "monitoring"
LAYOUT = "monitoring_sheet"
HEADER_SEARCH_ROWS = 15  # the header is looked for in this many rows from the top
INSTRUCTION_SHEETS = ("填表说明", "说明", "instructions")
ROLE_HEADERS = {
    "number": ("序号", "编号", "指标序号", "指标编号", "no"),
    "name": ("指标名称", "指标", "名称", "主要指标", "指标名称及单位"),
    "unit": ("单位", "计量单位", "指标单位"),
    "stratum": ("分组", "分类", "口径"),
    "area_code": ("地区代码", "行政区划代码", "区划代码", "代码"),
    "area_name": ("地区", "地区名称", "区域", "行政区划"),
}
# Columns a monitoring sheet carries for people, not for the warehouse: read past, never loaded.
IGNORED_WORDS = (
    "领域", "类别", "属性", "基期", "基线", "目标", "备注", "说明", "方向", "来源", "责任",
    "牵头", "完成情况", "评估", "进度",
)  # fmt: skip
WHOLE_WORDS = ("合计", "全部", "总体", "总计", "全区", "全市", "全县")
_YEAR_HEADER = re.compile(r"((?:19|20)\d{2})(?:年度?)?(?:实际值|完成值|数值|值)?")
_BRACKETS = re.compile(r"[（(\[【〔][^）)\]】〕]*[）)\]】〕]")
_BRACKET_TEXTS = re.compile(r"[（(\[【〔]([^）)\]】〕]*)[）)\]】〕]")
_PUNCTUATION = re.compile(r"[\s、，,。．.：:；;“”\"'‘’《》<>\-—_/·・~～!！?？]")
_NUMBER_CELL = re.compile(r"[（(]?(\d{1,3})[)）.、．]?")
# A note under the table (注：…, 说明…, 数据来源…), not an indicator such as 注册护士.
_NOTE = re.compile("(?:注[:：0-9１-９]|" + "|".join(p for p in NOTE_PREFIXES if p != "注") + ")")


@dataclass(frozen=True)
class SheetCells:
    """One worksheet (or a CSV file) as rows of cells; ``rows[i]`` is spreadsheet row i + 1."""

    name: str | None
    rows: list[list[Any]]


def read_sheets(name: str, data: bytes) -> tuple[list[SheetCells], str, str | None]:
    """A file's sheets as cells, its format and its text encoding, by the project's hardened
    readers (encodings, zip bombs, corrupt workbooks: ``UnreadableFile``). The one place the
    monitoring sheet touches the readers."""
    from transforms.parsing import DEFAULT_LIMITS, XlsxBook, file_format, read_csv_table

    fmt = file_format(name, data)
    if fmt == "csv":
        table, encoding = read_csv_table(name, data, DEFAULT_LIMITS)
        return [SheetCells(None, [list(r) for r in table.rows])], fmt, encoding
    book = XlsxBook(name, data, DEFAULT_LIMITS)
    sheets = []
    for sheet in book.sheet_names:
        if sheet in book.hidden:  # a hidden or very hidden sheet is never data
            continue
        table = book.table(sheet)
        if table is not None:
            sheets.append(SheetCells(sheet, [list(r) for r in table.rows]))
    book.check_rest()
    return sheets, fmt, None


# ------------------------------------------------------------------------------- matching keys


def name_key(text: Any) -> str:
    """An indicator name as compared: NFKC, no bracketed parts (units, qualifiers), no white
    space or punctuation, ASCII lower case."""
    s = unicodedata.normalize("NFKC", "" if text is None else str(text))
    s = _BRACKETS.sub("", s)
    return _PUNCTUATION.sub("", s).lower()


def bracket_texts(text: Any) -> list[str]:
    """The bracketed parts of a name, as keys: “慢病知晓率（农村）（%）” → ['农村', '%']."""
    s = unicodedata.normalize("NFKC", "" if text is None else str(text))
    return [name_key(t) for t in _BRACKET_TEXTS.findall(s)]


def unit_key(text: Any) -> str:
    """A unit as compared: '1/10万' and '/10万', '％' and '%' are the same."""
    s = "".join(unicodedata.normalize("NFKC", "" if text is None else str(text)).split())
    s = s.lower().removeprefix("1/").removeprefix("/")
    return _BRACKETS.sub("", s) or s


def cell_ref(sheet: str | None, row: int, col: int) -> str:
    """A cell as a spreadsheet names it, e.g. '龙湖区!D7' (CSV: 'D7'); ``col`` 0-based."""
    letters, n = "", col + 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return f"{sheet}!{letters}{row}" if sheet else f"{letters}{row}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


# ------------------------------------------------------------------------------- the header


@dataclass
class Header:
    """Where the header is and what each column holds."""

    row: int  # 1-based
    roles: dict[str, int] = field(default_factory=dict)  # role → column
    years: dict[int, int] = field(default_factory=dict)  # column → year
    unknown: list[tuple[int, str]] = field(default_factory=list)  # (column, header text)


def _role(text: str) -> str | None:
    key = name_key(text)
    for role, names in ROLE_HEADERS.items():
        if key in {name_key(n) for n in names}:
            return role
    return None


def _year_of(cell: Any) -> int | None:
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return int(cell) if float(cell).is_integer() and 1900 <= cell <= 2999 else None
    m = _YEAR_HEADER.fullmatch(normalize_header(cell))
    return int(m.group(1)) if m else None


def read_header(row_number: int, cells: Sequence[Any]) -> Header:
    """The roles of one header row's cells."""
    header = Header(row_number)
    for col, cell in enumerate(cells):
        text = _text(cell)
        if not text:
            continue
        year = _year_of(cell)
        role = _role(text)
        if year is not None:
            header.years[col] = year
        elif role is not None and role not in header.roles:
            header.roles[role] = col
        elif not any(w in text for w in IGNORED_WORDS):
            header.unknown.append((col, text))
    return header


def find_header(rows: Sequence[Sequence[Any]]) -> Header | None:
    """The first row naming an indicator column (序号 or 指标名称) and at least one year; or
    two rows, the years under a merged cell (“年度”) beside 序号 and 指标名称 above them."""
    for i, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        h = read_header(i + 1, cells)
        if not ("number" in h.roles or "name" in h.roles):
            continue
        if h.years:
            return h
        below = rows[i + 1] if i + 1 < len(rows) else []
        if any(_year_of(c) is not None for c in below):
            width = max(len(cells), len(below))
            joined = [
                below[j] if j < len(below) and _year_of(below[j]) is not None
                else cells[j] if j < len(cells) and _text(cells[j])
                else below[j] if j < len(below)
                else None
                for j in range(width)
            ]  # fmt: skip
            return read_header(i + 2, joined)
    return None


# ------------------------------------------------------------------------------- the reading


@dataclass
class _Reading:
    """What one file gives while its sheets are read."""

    file: str
    plan: Plan
    areas: dict[str, Area]
    rejects: list[Reject] = field(default_factory=list)
    flags: list[Reject] = field(default_factory=list)
    values: dict[tuple[str, int, str, str], tuple[float, str]] = field(default_factory=dict)
    rows_read: int = 0
    rows_loaded: int = 0

    def reject(self, row: int | None, where: str | None, value: Any, reason: str) -> None:
        self.rejects.append(Reject(self.file, row, where, shorten(value), reason))

    def area_named(self, text: str) -> str | None:
        key = name_key(text)
        for a in self.areas.values():
            if key in (name_key(a.name_zh), a.code.lower()):
                return a.code
        return None


def _sheet_area(reading: _Reading, sheet: SheetCells, several: bool) -> str | None:
    """The area a sheet without an area column covers: the one it is named after, else (the
    only sheet) the jurisdiction; a sheet of several named after no area is refused."""
    named = reading.area_named(sheet.name) if sheet.name else None
    if named is not None or not several:
        return named or reading.plan.jurisdiction
    known = "、".join(a.name_zh for a in reading.areas.values())
    reading.reject(
        None,
        f"工作表 {sheet.name}",
        sheet.name,
        f"工作表名不是规划的地区（应为：{known}）/ the sheet is named after no area of the plan",
    )
    return None


def _is_instructions(sheet: SheetCells) -> bool:
    key = name_key(sheet.name or "")
    return any(key == name_key(n) for n in INSTRUCTION_SHEETS)


def _has_cells(sheet: SheetCells) -> bool:
    return any(_text(c) for r in sheet.rows for c in r)


def parse_monitoring_sheet(
    name: str,
    sheets: Sequence[SheetCells],
    plan: Plan,
    areas: Sequence[Area],
    fmt: str = "xlsx",
    encoding: str | None = None,
) -> ParsedFile:
    """The observations a monitoring sheet gives for a plan; with rejects (each naming its
    sheet, row and column) whenever anything in it matches nothing: then none is to be loaded.
    """
    reading = _Reading(name, plan, {a.code: a for a in areas})
    found = data_sheets(sheets)
    if not found:
        reading.reject(None, None, None, "没有数据工作表 / no worksheet with data")
    for sheet in found:
        _read_sheet(reading, sheet, several=len(found) > 1)
    good = pd.DataFrame(
        [
            (area, year, element, stratum, value, ref)
            for (area, year, element, stratum), (value, ref) in sorted(reading.values.items())
        ],
        columns=GOOD_COLUMNS,
    )
    return ParsedFile(
        name=name,
        source=SOURCE,
        layout=LAYOUT,
        format=fmt,
        encoding=encoding,
        sheet=found[0].name if found else None,
        years=sorted({int(y) for y in good["year"]}),
        rows_read=reading.rows_read,
        rows_loaded=reading.rows_loaded if not reading.rejects else 0,
        good=good if not reading.rejects else good.iloc[0:0],
        rejects=reading.rejects,
        flags=reading.flags,
    )


def _read_sheet(reading: _Reading, sheet: SheetCells, several: bool) -> None:
    where = f"工作表 {sheet.name}" if sheet.name else None
    header = find_header(sheet.rows)
    if header is None:
        reading.reject(
            None,
            where,
            None,
            "未找到表头：需要“序号”或“指标名称”列和年份列（如 2015、2015年）/ no header row "
            "with 序号 or 指标名称 and year columns",
        )
        return
    for col, text in header.unknown:
        reading.reject(
            header.row,
            cell_ref(sheet.name, header.row, col),
            text,
            "无法识别的列（既不是年份，也不是序号、指标名称、单位、分组、地区）/ unknown column",
        )
    has_area_column = "area_code" in header.roles or "area_name" in header.roles
    area = None if has_area_column else _sheet_area(reading, sheet, several)
    if area is None and not has_area_column:
        return
    rows = _SheetRows(reading, sheet, header, area)
    for index in range(header.row, len(sheet.rows)):
        rows.read(index + 1, sheet.rows[index])


class _SheetRows:
    """The data rows of one sheet, read in order (an area cell merged down, a stratum row under
    its indicator, carry over from the row above)."""

    def __init__(self, reading: _Reading, sheet: SheetCells, header: Header, area: str | None):
        self.reading, self.sheet, self.header = reading, sheet, header
        self.area = area
        self.last: Indicator | None = None
        self.by_key = {name_key(i.name_zh): i for i in reading.plan.indicators}

    def cell(self, cells: Sequence[Any], role: str) -> str:
        col = self.header.roles.get(role)
        return _text(cells[col]) if col is not None and col < len(cells) else ""

    def read(self, row: int, cells: Sequence[Any]) -> None:
        number, name = self.cell(cells, "number"), self.cell(cells, "name")
        values = {
            year: cells[col]
            for col, year in self.header.years.items()
            if col < len(cells) and _text(cells[col])
        }
        if not (number or name or values) or (not number and _NOTE.match(name)):
            return
        if not values and not _NUMBER_CELL.fullmatch(number):
            return  # a heading such as 一、人群健康水平
        self.reading.rows_read += 1
        area = self.row_area(row, cells)
        found = self.indicator(row, number, name)
        if found is None or area is None:
            return
        ind, stratum = found
        self.last = ind
        self.check_unit(row, cells, ind)
        if self.store(row, area, ind, stratum, values):
            self.reading.rows_loaded += 1

    def row_area(self, row: int, cells: Sequence[Any]) -> str | None:
        if "area_code" not in self.header.roles and "area_name" not in self.header.roles:
            return self.area
        code, text = self.cell(cells, "area_code"), self.cell(cells, "area_name")
        if not code and not text:
            return self.area  # merged down from the row above
        found = code if code in self.reading.areas else self.reading.area_named(text or code)
        if found is None:
            role = "area_code" if code else "area_name"
            self.reading.reject(
                row,
                cell_ref(self.sheet.name, row, self.header.roles[role]),
                code or text,
                "规划中没有这个地区 / no such area in the plan",
            )
        self.area = found
        return found

    def indicator(self, row: int, number: str, name: str) -> tuple[Indicator, str] | None:
        """The row's indicator and stratum, or None (rejected)."""
        plan = self.reading.plan
        m = _NUMBER_CELL.fullmatch(number) if number else None
        if number and m is None:
            return self.refuse(row, "number", number, "序号无法识别 / not an indicator number")
        by_number = next((i for i in plan.indicators if m and i.number == int(m.group(1))), None)
        if not name:
            if by_number is None:
                return self.refuse(row, "number", number, "规划中没有这个序号 / no such number")
            return by_number, self.stratum(row, by_number, None)
        by_name = self.by_key.get(name_key(name))
        if by_name is None and not number and self.last is not None:
            stratum = _stratum_named(self.last, name_key(name))
            if stratum is not None:  # “其中：农村” under its indicator
                return self.last, stratum
        if by_name is None:
            return self.refuse(
                row, "name", name, "指标名称与规划中的指标都不相符 / matches no indicator"
            )
        if (by_number is not None and by_number is not by_name) or (number and by_number is None):
            return self.refuse(
                row,
                "number",
                number,
                f"序号与指标名称不符（“{by_name.name_zh}”是第{by_name.number}项）/ the number "
                "does not match the name",
            )
        return by_name, self.stratum(row, by_name, name)

    def stratum(self, row: int, ind: Indicator, name: str | None) -> str:
        text = self.cell(self.sheet.rows[row - 1], "stratum")
        if text:
            found = _stratum_named(ind, name_key(text))
            if found is None:
                self.refuse(row, "stratum", text, "分组与该指标的目标不符 / unknown stratum")
                return ""
            return found
        for part in bracket_texts(name or ""):
            found = _stratum_named(ind, part)
            if found:
                return found
        return ""

    def refuse(self, row: int, role: str, value: str, reason: str) -> None:
        col = self.header.roles.get(role, 0)
        self.reading.reject(row, cell_ref(self.sheet.name, row, col), value, reason)
        return None

    def check_unit(self, row: int, cells: Sequence[Any], ind: Indicator) -> None:
        unit = self.cell(cells, "unit")
        if unit and ind.unit and unit_key(unit) != unit_key(ind.unit):
            col = self.header.roles["unit"]
            self.reading.flags.append(
                Reject(
                    self.reading.file,
                    row,
                    cell_ref(self.sheet.name, row, col),
                    unit,
                    f"单位与规划（{ind.unit}）不同，请核对数值口径 / unit differs from the plan's",
                )
            )

    def store(self, row: int, area: str, ind: Indicator, stratum: str, values: dict) -> bool:
        reading = self.reading
        element = reading.plan.reported_element(ind)
        years = {y: c for c, y in self.header.years.items()}
        stored = False
        for year, raw in values.items():
            ref = cell_ref(self.sheet.name, row, years[year])
            try:
                parsed = parse_number(raw)
            except CellError as e:
                reading.reject(row, ref, raw, f"数值无法识别 / not a number: {e}")
                continue
            if parsed is None:
                continue
            key = (area, year, element, stratum)
            if key in reading.values:
                reading.reject(
                    row,
                    ref,
                    raw,
                    f"重复：{reading.values[key][1]} 已给出同一指标、地区、年份的值 / duplicate",
                )
                continue
            reading.values[key] = (parsed[0], ref)
            stored = True
        return stored


def _stratum_named(ind: Indicator, key: str) -> str | None:
    """The stratum of a split target a label names (its Chinese label or its key); '' for the
    whole ('合计'); None if it names none."""
    if key in {name_key(w) for w in WHOLE_WORDS}:
        return ""
    for code, s in (ind.target.strata or {}).items():
        if key in (name_key(s.label_zh), code.lower()):
            return code
    return None


# ------------------------------------------------------------------------------- whose sheet


def data_sheets(sheets: Sequence[SheetCells]) -> list[SheetCells]:
    """The sheets that hold figures: not an instructions sheet, not blank."""
    return [s for s in sheets if not _is_instructions(s) and _has_cells(s)]


def is_monitoring_sheet(sheets: Sequence[SheetCells]) -> bool:
    """True when some data sheet has the monitoring header: 序号 or 指标名称, and year columns."""
    return any(find_header(s.rows) is not None for s in data_sheets(sheets))


def _title_text(sheets: Sequence[SheetCells]) -> str:
    """The text above each data sheet's header (the sheet's title rows), as a key."""
    parts = []
    for s in data_sheets(sheets):
        header = find_header(s.rows)
        above = s.rows[: header.row - 1] if header else []
        parts += [_text(c) for r in above for c in r]
    return name_key(" ".join(parts))


def plans_named(file_name: str, sheets: Sequence[SheetCells], plans: Sequence[Plan]) -> list[str]:
    """The plans a monitoring sheet names: its plan id as a word of the file name (龙湖_longhu_
    2019.xlsx), or the plan's short or full title in the file name or in the sheet's title rows
    (as ``healthplan template`` names its file and titles its sheet)."""
    stem = PurePath(file_name).stem
    lowered = unicodedata.normalize("NFKC", stem).lower()
    by_id = [
        p.id for p in plans if re.search(rf"(?<![a-z0-9]){re.escape(p.id)}(?![a-z0-9])", lowered)
    ]
    by_id = [i for i in by_id if not any(i != j and i in j for j in by_id)]  # longhu_15 ⊃ longhu
    texts = (name_key(stem), _title_text(sheets))
    by_title = [
        p.id
        for p in plans
        if any(name_key(t) and name_key(t) in text for t in (p.short_title_zh, p.title_zh)
               for text in texts)
    ]  # fmt: skip
    return sorted(set(by_id) | set(by_title))


def plans_matching(
    file_name: str, sheets: Sequence[SheetCells], plans: Sequence[tuple[Plan, Sequence[Area]]]
) -> list[str]:
    """The plans of which every row, column and cell of the sheet matches something (a sheet
    that names no plan: its plan is the one it fits)."""
    return [
        plan.id
        for plan, areas in plans
        if not parse_monitoring_sheet(file_name, sheets, plan, areas).rejects
    ]
