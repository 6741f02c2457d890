"""The report as a workbook: the indicator table, every area's rows, the yearly series, the
quality notes and the sources, with Chinese headers, number formats and print setup."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthplan.definitions import Plan

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _decimals_format(d: int) -> str:
    return "0" if d <= 0 else "0." + "0" * d


def put(ws, row: int, col: int, value: Any, number_format: str | None = None):
    """Write one cell; text is always text, never a formula (no '=', '+', '-', '@' injection)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles.cell_style import StyleArray

    cell = ws.cell(row=row, column=col)
    if value is None:
        return cell
    if isinstance(value, str):
        text = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.value = text
        cell.data_type = "s"  # even when openpyxl guessed 'f' from a leading '='
        if text.startswith(_FORMULA_START):
            style = StyleArray(cell._style) if cell._style is not None else StyleArray()
            style.quotePrefix = 1  # Excel keeps it text when someone edits the cell
            cell._style = style
        return cell
    cell.value = value
    if number_format:
        cell.number_format = number_format
    return cell


def render_xlsx(context: Mapping[str, Any], rows: Sequence[Mapping], plan: Plan) -> bytes:
    """The indicator table (and every area's rows) as a workbook with Chinese headers."""
    from io import BytesIO

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    header_font = Font(bold=True, color="1F3B57")
    header_fill = PatternFill("solid", fgColor="E9EEF3")
    wrap = Alignment(wrap_text=True, vertical="center")

    def header(ws, titles: list[tuple[str, float]]):
        for col, (title, width) in enumerate(titles, start=1):
            c = put(ws, 1, col, title)
            c.font, c.fill, c.alignment = header_font, header_fill, wrap
            ws.column_dimensions[get_column_letter(col)].width = width
        ws.freeze_panes = "C2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(titles))}1"

    wb = Workbook()
    ws = wb.active
    ws.title = "主要指标"
    header(
        ws,
        [
            ("序号", 6),
            ("指标名称", 36),
            ("单位", 10),
            ("类别", 18),
            ("属性", 8),
            ("基期年份", 9),
            ("基期值x0", 10),
            ("目标（规划表述）", 14),
            ("目标值x*", 10),
            ("现值xc", 10),
            ("τ", 7),
            ("p", 8),
            ("ρ", 8),
            ("预测x̂T", 10),
            ("年均增速", 9),
            ("状态", 10),
            ("未达标单位", 20),
            ("注", 50),
        ],
    )
    notes: dict[int, list[str]] = {}
    for f in context["table"]["footnotes"]:
        for number in f["numbers"]:
            notes.setdefault(number, []).append(f["text"])
    r = 2
    for cat in context["table"]["categories"]:
        for row in cat["rows"]:
            raw, d = row["raw"], row["decimals"]
            fmt_d = _decimals_format(d)
            put(ws, r, 1, row["number"])
            put(ws, r, 2, row["name"])
            put(ws, r, 3, row["unit"])
            put(ws, r, 4, row["category"])
            put(ws, r, 5, row["attribute_label"])
            put(ws, r, 6, int(row["baseline_year"]) if row["baseline_year"] else None)
            put(ws, r, 7, raw["baseline"], fmt_d)
            put(ws, r, 8, row["target"])
            put(ws, r, 9, raw["target"], fmt_d)
            put(ws, r, 10, raw["value"], fmt_d)
            put(ws, r, 11, raw["tau"], "0.00")
            put(ws, r, 12, raw["p"], "0.000")
            put(ws, r, 13, raw["rho"], "0.000")
            put(ws, r, 14, raw["projection"], fmt_d)
            put(ws, r, 15, raw["cagr"], "0.0%")
            put(ws, r, 16, row["status"])
            put(ws, r, 17, "、".join(row.get("failing_units") or []) or None)
            put(ws, r, 18, "；".join(notes.get(row["number"], [])) or None)
            r += 1

    ws2 = wb.create_sheet("分地区")
    header(
        ws2,
        [
            ("地区代码", 12),
            ("地区", 12),
            ("序号", 6),
            ("指标名称", 36),
            ("基期值", 10),
            ("现值", 10),
            ("目标值", 10),
            ("p", 8),
            ("ρ", 8),
            ("是否达标", 9),
            ("状态", 10),
        ],
    )
    decimals = {i.number: i.decimals for i in plan.indicators}
    names = {i.number: i.name_zh for i in plan.indicators}
    for r, row in enumerate(sorted(rows, key=lambda x: (x["area"], x["number"])), start=2):
        fmt_d = _decimals_format(decimals.get(row["number"], 2))
        put(ws2, r, 1, str(row["area"]))
        put(ws2, r, 2, row.get("area_name"))
        put(ws2, r, 3, row["number"])
        put(ws2, r, 4, names.get(row["number"], ""))
        put(ws2, r, 5, row.get("baseline"), fmt_d)
        put(ws2, r, 6, row.get("value"), fmt_d)
        put(ws2, r, 7, row.get("target"), fmt_d)
        put(ws2, r, 8, row.get("p"), "0.000")
        put(ws2, r, 9, row.get("rho"), "0.000")
        met = row.get("met")
        put(ws2, r, 10, None if met is None else ("是" if met else "否"))
        put(ws2, r, 11, row.get("status"))

    ws3 = wb.create_sheet("说明")
    cover, app = context["cover"], context["appendix"]
    info = [
        ("规划", cover["title"]),
        ("评估", cover["subtitle"]),
        ("数据年份", cover["data_year"]),
        ("数据截至", cover["as_of"]),
        ("编制单位", cover["issuing_body"]),
        ("程序版本", app["code_version"]),
        ("规划定义校验值", app["definition_checksum"]),
    ]
    for r, (k, v) in enumerate(info, start=1):
        put(ws3, r, 1, k).font = header_font
        put(ws3, r, 2, v)
    ws3.column_dimensions["A"].width = 16
    ws3.column_dimensions["B"].width = 70

    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()
