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


STATUS_FILLS = {  # background per status colour class, as in the PDF's matrix
    "st-met": "E2EFDA",
    "st-ahead": "E2EFDA",
    "st-ok": "DDEBF7",
    "st-warn": "FFF2CC",
    "st-bad": "F8CBAD",
    "st-away": "F4B084",
    "st-none": "EDEDED",
    "st-review": "E4DFEC",
}


def colour_statuses(ws, column: str, last_row: int) -> None:
    """Conditional formatting on a status column: each status its fill (stays right when a
    user edits a status by hand)."""
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import PatternFill

    from transforms.report_format import STATUS_STYLE

    if last_row < 2:
        return
    for status, (_, css) in STATUS_STYLE.items():
        fill = PatternFill("solid", fgColor=STATUS_FILLS.get(css, "FFFFFF"))
        ws.conditional_formatting.add(
            f"{column}2:{column}{last_row}",
            CellIsRule(operator="equal", formula=[f'"{status}"'], fill=fill),
        )


def print_setup(ws, title: str) -> None:
    """Landscape, one page wide, the header row on every page, the title in the page header."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.oddHeader.center.text = title
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"


def render_xlsx(
    context: Mapping[str, Any],
    rows: Sequence[Mapping],
    plan: Plan,
    values: Any = None,
) -> bytes:
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
            ("基期值来源", 12),
            ("人工调整", 30),
        ],
    )
    from transforms.report_context import override_note

    override_text = {
        x["number"]: override_note(
            x["override"], context.get("timezone", "Asia/Shanghai"), x.get("status")
        )
        for x in rows
        if x.get("area") == plan.jurisdiction and x.get("override")
    }
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
            put(ws, r, 19, row.get("baseline_source") or None)
            put(ws, r, 20, override_text.get(row["number"]))
            r += 1
    colour_statuses(ws, "P", r - 1)

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
            ("完成进度p", 9),
            ("进度比ρ", 9),
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
    colour_statuses(ws2, "K", len(rows) + 1)

    area_names = {str(x["area"]): x.get("area_name") or "" for x in rows}
    units = {i.number: i.unit for i in plan.indicators}
    ws4 = wb.create_sheet("年度数据")
    header(
        ws4,
        [("序号", 6), ("指标名称", 36), ("单位", 10), ("地区代码", 12), ("地区", 12),
         ("分组", 10), ("年份", 7), ("数值", 12)],
    )  # fmt: skip
    r = 2
    if values is not None and len(values):
        # up to the data year the report judges, as its charts: a later year is not its content
        shown = values[values["year"] <= int(str(context["cover"]["data_year"]).rstrip("年"))]
        series = shown.sort_values(["number", "area_code", "stratum", "year"])
        for x in series.itertuples(index=False):
            number = int(x.number)
            put(ws4, r, 1, number)
            put(ws4, r, 2, names.get(number, ""))
            put(ws4, r, 3, units.get(number, ""))
            put(ws4, r, 4, str(x.area_code))
            put(ws4, r, 5, area_names.get(str(x.area_code), ""))
            put(ws4, r, 6, str(x.stratum or "") or None)
            put(ws4, r, 7, int(x.year))
            v = x.value
            put(ws4, r, 8, None if v is None or v != v else float(v),
                _decimals_format(decimals.get(number, 2)))  # fmt: skip
            r += 1
    ws4.freeze_panes = "C2"

    ws5 = wb.create_sheet("数据质量")
    header(
        ws5,
        [("级别", 8), ("类别", 16), ("序号", 6), ("地区", 12), ("年份", 7), ("文件", 30),
         ("行", 6), ("说明", 70)],
    )  # fmt: skip
    quality = context["quality"]
    r = 2
    for b in quality["baselines"]:
        put(ws5, r, 1, "提示")
        put(ws5, r, 2, "基期值核对")
        put(ws5, r, 3, int(b["number"]))
        put(
            ws5,
            r,
            8,
            f"规划表{b['table']}；规划正文{b['text']}；报送数据{b['warehouse']}；{b['difference']}",
        )
        r += 1
    for i in quality["issues"]:
        for col, key in enumerate(
            ("severity", "kind", "number", "area", "year", "file", "row", "detail"), 1
        ):
            value = i[key]
            put(
                ws5,
                r,
                col,
                int(value)
                if key in ("number", "year", "row") and str(value).isdigit()
                else (value or None),
            )
        r += 1
    ws6 = wb.create_sheet("数据来源")
    header(
        ws6,
        [("文件名", 36), ("来源", 14), ("报表格式", 16), ("文件指纹", 16), ("接收时间", 18),
         ("载入行数", 10), ("隔离行数", 10)],
    )  # fmt: skip
    for r, src in enumerate(context["appendix"]["sources"], start=2):
        for col, key in enumerate(("name", "source", "layout", "checksum", "received_at"), 1):
            put(ws6, r, col, src[key] or None)
        for col, key in ((6, "rows_loaded"), (7, "rows_rejected")):
            put(ws6, r, col, int(src[key]) if src[key].isdigit() else None)

    _text_goals_sheet(wb, context, header, put)
    _reviews_sheet(wb, context, header, put)

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

    cover = context["cover"]
    title = f"{cover['title']} {cover['subtitle']}（{cover['data_year']}数据）"
    for sheet in wb.worksheets:
        print_setup(sheet, title)
    wb.properties.title = title
    wb.properties.creator = cover["issuing_body"]
    wb.properties.language = "zh-CN"
    buf = BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _text_goals_sheet(wb, context: dict, header, put) -> None:
    """规划正文目标: the goals stated only in the plan's text, each with its status."""
    if not context.get("text_goals"):
        return
    ws = wb.create_sheet("规划正文目标")
    header(ws, [("序号", 6), ("目标", 24), ("单位", 8), ("目标表述", 50), ("目标值", 12),
                ("状态", 10), ("评定", 20)])  # fmt: skip
    for r, g in enumerate(context["text_goals"], start=2):
        values = (g.get("goal"), g.get("name"), g.get("unit"), g.get("text"), g.get("target"),
                  g.get("status"), g.get("review"))  # fmt: skip
        for col, value in enumerate(values, 1):
            put(ws, r, col, value or None)


def _reviews_sheet(wb, context: dict, header, put) -> None:
    """人工评定记录: every verdict (withdrawn ones too) and every acknowledged data problem."""
    history = context["appendix"].get("review_history") or []
    acknowledged = context["appendix"].get("acknowledged") or []
    if not history and not acknowledged:
        return
    ws = wb.create_sheet("人工评定与确认")
    header(ws, [("类别", 12), ("序号", 6), ("阶段", 10), ("数据年份", 9), ("结论", 14),
                ("评定人", 10), ("时间", 18), ("理由", 40), ("当前", 12)])  # fmt: skip
    r = 2
    for h in history:
        values = (h["kind"], h["number"], h.get("stage"), h.get("data_year"), h["verdict"],
                  h["by"], h["at"], h["reason"], h.get("state"))  # fmt: skip
        for col, value in enumerate(values, 1):
            put(ws, r, col, int(value) if col == 2 and str(value).isdigit() else value or None)
        r += 1
    for i in acknowledged:
        values = ("已确认数据问题", i["number"], None, i.get("year"), i["kind"], i["by"], i["at"],
                  i["reason"] or i["detail"], None)  # fmt: skip
        for col, value in enumerate(values, 1):
            put(ws, r, col, int(value) if col == 2 and str(value).isdigit() else value or None)
        r += 1
