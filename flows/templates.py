"""`healthplan template --plan NAME --out DIR`: the blank files a bureau sends out each year.

Writes the plan's indicator monitoring sheet (XLSX) and one file per source its formulas read,
in the format that source's layout reads (XLSX with a 填表说明 sheet; a CSV layout as CSV in
UTF-8 with BOM and its instructions beside it as text). The cells come from
``transforms.templates``; this module only writes them.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from healthplan.settings import console as make_console
from transforms.monitoring_sheet import SheetCells
from transforms.templates import layout_template, monitoring_template, plan_sources


def write_xlsx(path: Path, sheets: list[SheetCells]) -> Path:
    """The sheets as one workbook; every cell a plain value (text stays text)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for sheet in sheets:
        ws = book.create_sheet(title=(sheet.name or "Sheet1")[:31])
        for row in sheet.rows:
            ws.append(row)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.column_dimensions["C"].width = 40
    book.save(path)
    return path


def write_csv(path: Path, sheet: SheetCells) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(sheet.rows)
    return path


def default_year(plan_start: int, plan_end: int, today: date | None = None) -> int:
    """The data year a bureau collects now: last year, kept inside the plan's period."""
    year = (today or date.today()).year - 1
    return min(max(year, plan_start), plan_end)


def write_templates(
    plan_id: str, out: Path, year: int | None = None, notes: list[str] | None = None
) -> list[Path]:
    """Every template file of the plan for one data year, written into ``out``; ``notes``
    gets a line for each source no layout reads in that year."""
    from flows.common import catalog
    from flows.ingest import parse_context

    cat = catalog()
    plan = cat.plan(plan_id)
    areas = cat.areas(plan_id)
    year = year or default_year(plan.period_start, plan.period_end)
    out.mkdir(parents=True, exist_ok=True)
    written = [
        write_xlsx(out / f"{plan.short_title_zh}_指标监测表.xlsx", monitoring_template(plan, areas))
    ]
    layouts = parse_context().layouts
    for source, needed in sorted(plan_sources(plan, cat.elements).items()):
        src = layouts.sources.get(source)
        if src is None:
            continue  # elements no layout reads: the monitoring sheet covers them
        try:
            layout = layouts.layout_for(source, year)
        except KeyError:
            if notes is not None:
                notes.append(
                    f"{src.name_zh}：没有适用于{year}年的报表版式，未生成模板 / no layout for {year}"
                )
            continue
        sheets = layout_template(src, layout, needed, areas, cat.elements, year)
        stem = f"{src.name_zh}_{year}"
        if layout.format == "xlsx":
            written.append(write_xlsx(out / f"{stem}.xlsx", sheets))
        else:
            written.append(write_csv(out / f"{stem}.csv", sheets[0]))
            text = "\n".join("\t".join(str(c) for c in r) for r in sheets[1].rows)
            (out / f"{stem}_填表说明.txt").write_text(text + "\n", encoding="utf-8")
    return written


def template_command(
    plan_id: str, out: Path, year: int | None = None, console: Console | None = None
) -> int:
    console = console or make_console()
    notes: list[str] = []
    paths = write_templates(plan_id, Path(out), year, notes)
    console.print(f"已写入 {len(paths)} 个模板文件 / templates written: {escape(str(out))}")
    for p in paths:
        console.print(f"  {escape(p.name)}")
    for note in notes:
        console.print(f"[yellow]提示 note:[/] {escape(note)}")
    return 0
