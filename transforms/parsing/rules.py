"""A cell in its row's context → a checked value or a reject: area, year, element value, yes/no
flag, mapped field."""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from healthplan.definitions import DataElement
from healthplan.layouts import (
    DEFAULT_FLAG_MAP,
    Column,
    normalize_header,
)
from transforms.parsing.cells import (
    _CODE,
    COMMA_THOUSANDS,
    CellError,
    _is_blank,
    _key,
    _parse_year,
    _text,
    parse_number,
    shorten,
)
from transforms.parsing.layout_match import LayoutMatch
from transforms.parsing.results import CatalogInfo, Limits, Reject

GROUP_NOT_LOADED = "；本组合计未入库 / the group's total was not loaded"


@dataclass
class RowContext:
    name: str
    cand: LayoutMatch
    info: CatalogInfo
    current_year: int
    limits: Limits
    rejects: list[Reject] = field(default_factory=list)
    flags: list[Reject] = field(default_factory=list)
    rows_read: int = 0
    maps: dict[str, dict[str, str]] = field(default_factory=dict)
    # the file's field columns, looked up once (they are read on every row)
    year_header: str | None = field(init=False, default=None)  # None: the year is the file's
    area_header: str | None = field(init=False, default=None)
    name_header: str | None = field(init=False, default=None)
    headers: list[str] = field(init=False, default_factory=list)  # the mapped ones, in order
    # a facility field's result per distinct text, for the blocks after (see _facility_block)
    field_results: dict[str, dict[str, Any]] = field(init=False, default_factory=dict)
    last_index: int = field(init=False, default=-1)  # of the mapped columns
    cells_of: Any = field(init=False, default=None)
    rules: dict[str, ElementRule] = field(init=False, default_factory=dict)  # by header
    number_style: str = field(init=False, default=COMMA_THOUSANDS)  # the table's

    def __post_init__(self) -> None:
        lay = self.cand.layout
        for what, mapping in lay.value_maps.items():
            self.maps[what] = {normalize_header(k): v for k, v in mapping.items()}
        flags = {normalize_header(k): v for k, v in DEFAULT_FLAG_MAP.items()}
        flags.update(self.maps.get("flag", {}))
        self.maps["flag"] = flags
        year_col = lay.field_column("year")
        if year_col and year_col[0] in self.cand.colmap:
            self.year_header = year_col[0]
        area_col, name_col = lay.field_column("area_code"), lay.field_column("area_name")
        self.area_header = area_col[0] if area_col else None
        self.name_header = name_col[0] if name_col else None
        if self.cand.table is not None:
            self.number_style = self.cand.table.number_style
        colmap = self.cand.colmap
        self.headers = list(colmap)
        self.last_index = max(colmap.values(), default=-1)
        # a row's mapped cells at once, where the row reaches every mapped column
        self.cells_of = operator.itemgetter(*colmap.values()) if len(colmap) > 1 else None

    def rule(self, header: str, col: Column, element: DataElement) -> ElementRule:
        """The element column's rule, worked out on its first use."""
        rule = self.rules.get(header)
        if rule is None:
            rule = self.rules[header] = ElementRule.of(col, element)
        return rule

    def scratch(self) -> RowContext:
        """A context of the same file whose rejects and flags go nowhere that counts."""
        scratch = copy.copy(self)  # the maps and columns as they are: only read
        scratch.rejects, scratch.flags, scratch.rows_read = [], [], 0
        return scratch

    def reject(self, row: int | None, field: str | None, value: Any, reason: str) -> None:
        self.rejects.append(Reject(self.name, row, field, shorten(value), reason))

    def flag(self, row: int | None, field: str | None, value: Any, reason: str) -> None:
        self.flags.append(Reject(self.name, row, field, shorten(value), reason))


def _area(ctx: RowContext, raw: Any, rownum: int, header: str) -> str | None:
    if _is_blank(raw):
        ctx.reject(rownum, header, raw, "缺少地区代码 / area code missing")
        return None
    code = "".join(_text(raw).split())
    if not _CODE.fullmatch(code) or len(code) > 64:
        ctx.reject(rownum, header, raw, "地区代码格式不对 / malformed area code")
        return None
    if code not in ctx.info.areas:
        ctx.reject(rownum, header, raw, f"未知地区代码 / unknown area code {shorten(code, 40)}")
        return None
    return code


def _year(ctx: RowContext, cells: dict[str, Any], rownum: int) -> int | None:
    header = ctx.year_header
    if header is None:
        return ctx.cand.file_year
    raw = cells[header]
    if _is_blank(raw):
        if ctx.cand.file_year is not None:
            return ctx.cand.file_year
        ctx.reject(rownum, header, raw, "缺少年份 / year missing")
        return None
    try:
        year = _parse_year(raw)
    except CellError as e:
        ctx.reject(rownum, header, raw, str(e))
        return None
    problem = _year_problem(ctx, year)
    if problem:
        ctx.reject(rownum, header, raw, problem)
        return None
    return year


def _year_problem(ctx: RowContext, year: int) -> str | None:
    """Why a row's year cannot be used: in the future, outside the layout's years, or not the
    year the file's name states."""
    lay, name_year = ctx.cand.layout, ctx.cand.name_year
    if year > ctx.current_year:
        return f"未来年份 / year in the future (now {ctx.current_year})"
    if not lay.covers(year):
        return (
            f"年份超出版式 {lay.id} 的适用范围 {lay.years_text} / year outside the layout's years"
        )
    if name_year is not None and year != name_year:
        return (
            f"年份与文件名不符：文件名为 {name_year} 年，本行为 {year} 年 / the row's year {year} "
            f"disagrees with the year {name_year} in the file name"
        )
    return None


# The largest plausible value of an element of this kind where the element sets no ``max`` of
# its own (plans/elements.yaml): a count over ten billion, or an amount (万元) over a trillion,
# is a typing or export error, not data.
PLAUSIBLE_MAX = {"count": 1e10, "amount": 1e12}
# a count computed in a spreadsheet may carry float noise (900 × 0.55 = 495.00000000000006)
WHOLE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ElementRule:
    """How one element column's numbers are read, worked out once per column and applied by both
    the per-cell path (``check``) and the per-column path (``check_array``): the unit of a share,
    its cap, the column's scale and the element's bounds."""

    flag: bool  # a yes/no element: 是/否 texts are read through the flag map
    unit: str  # '%' or '‰' for shares, '' for counts and amounts
    cap: float  # the largest share (shares only)
    scale: float
    min: float | None
    max: float | None  # the bound of counts and amounts (a share's is its cap)
    whole: bool = False  # a count: whole numbers only

    @classmethod
    def of(cls, col: Column, element: DataElement) -> ElementRule:
        if col.percent or element.unit in ("%", "％"):
            unit = "%"
        else:
            unit = "‰" if element.unit == "‰" else ""
        cap = element.max if element.max is not None else (100.0 if unit == "%" else 1000.0)
        bound = element.max if element.max is not None else PLAUSIBLE_MAX.get(element.kind)
        return cls(
            flag=element.kind == "flag",
            unit=unit,
            cap=cap,
            scale=col.scale,
            min=element.min,
            max=None if unit else bound,
            whole=element.kind == "count" and not unit,
        )

    def scaled(self, value: float) -> float:
        return round(value * self.scale, 6) if self.scale != 1.0 else value * self.scale

    def precision(self, decimals: int) -> float:
        """Whole numbers in an unscaled column are exact; decimals or a scale mean rounding."""
        return 10.0 ** (-decimals) * self.scale if decimals or self.scale != 1.0 else 0.0

    def check(self, value: float) -> tuple[float, str | None]:
        """One value in the column's unit → (scaled value, the reason it is refused or None)."""
        if self.unit and value > self.cap:
            return value, f"比率超过 {self.cap:g}{self.unit} / share over {self.cap:g} {self.unit}"
        value = self.scaled(value)
        if self.min is not None and value < self.min:
            if self.min == 0:
                return value, "负数 / negative value"
            return value, f"低于下限 {self.min:g} / below the minimum"
        if self.max is not None and value > self.max:
            return value, f"超过上限 {self.max:g} / above the maximum"
        if self.whole and abs(value - round(value)) > WHOLE_TOLERANCE * max(1.0, abs(value)):
            return value, f"计数应为整数：{value:g} / a count must be a whole number: {value:g}"
        return value, None

    def check_array(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``check`` of a column of plain floats at once: (scaled values, which are kept)."""
        ok = np.isfinite(raw)
        if self.unit:
            ok &= ~(raw > self.cap)
        value = raw * self.scale
        if self.scale != 1.0:
            value = np.array([round(v, 6) for v in value.tolist()], dtype=np.float64)
        if self.min is not None:
            ok &= ~(value < self.min)
        if self.max is not None:
            ok &= ~(value > self.max)
        if self.whole:
            ok &= np.abs(value - np.round(value)) <= WHOLE_TOLERANCE * np.maximum(
                1.0, np.abs(value)
            )
        return value, ok


def _value(
    ctx: RowContext, raw: Any, rule: ElementRule, rownum: int, header: str
) -> tuple[float, float] | None:
    """A checked element value in the element's unit and its rounding precision, or None."""
    if rule.flag and isinstance(raw, str):
        flag = ctx.maps["flag"].get(_key(raw))
        if flag is not None:
            return float(flag), 1.0
    try:
        parsed = parse_number(raw, ctx.number_style)
    except CellError as e:
        ctx.reject(rownum, header, raw, str(e))
        return None
    if parsed is None:
        return None
    value, sign, decimals = parsed
    if sign:
        value = _in_unit(ctx, raw, rule.unit, value, sign, rownum, header)
        if value is None:
            return None
    value, refused = rule.check(value)
    if refused:
        ctx.reject(rownum, header, raw, refused)
        return None
    return value, rule.precision(decimals)


def _in_unit(
    ctx: RowContext, raw: Any, unit: str, value: float, sign: str, rownum: int, header: str
) -> float | None:
    """A value written with '%' or '‰' in the column's unit (converted and flagged), or None when
    the column is not a share."""
    if not unit:
        ctx.reject(
            rownum,
            header,
            raw,
            f"含「{sign}」号，但该列不是比率 / a {sign} sign in a column of counts",
        )
        return None
    if sign != unit:
        value *= 10.0 if unit == "‰" else 0.1
        ctx.flag(
            rownum,
            header,
            raw,
            f"按「{sign}」填报，已换算为「{unit}」/ given in {sign}, converted to {unit}",
        )
    return value


def _mapped(ctx: RowContext, what: str, raw: Any, rownum: int, header: str) -> str | None:
    lay = ctx.cand.layout
    if _is_blank(raw):
        label = "经济类型" if what == "ownership" else "机构类别"
        ctx.reject(rownum, header, raw, f"缺少{label} / {what} missing")
        return None
    mapping = ctx.maps.get(what, {})
    key = _key(raw)
    value = mapping.get(key) or (key if key in set(mapping.values()) else None)
    if value is None:
        label = "经济类型" if what == "ownership" else "机构类别"
        known = "、".join(lay.value_maps.get(what, {}))  # type: ignore[call-overload]
        ctx.reject(rownum, header, raw, f"未知{label}（可用：{known}）/ unknown {what}")
    return value


def _flag_cell(ctx: RowContext, raw: Any) -> float | None:
    """A 是/否 cell as 1.0 / 0.0, None when blank; CellError when it is neither."""
    if _is_blank(raw):
        return None
    flag = ctx.maps["flag"].get(_key(raw))
    if flag is None:
        raise CellError("是/否值无法识别 / not a yes/no value" + GROUP_NOT_LOADED)
    return float(flag)
