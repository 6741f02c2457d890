"""Fill the blank templates `healthplan template` writes, as a county or an office would."""

from __future__ import annotations

import csv
from pathlib import Path

from healthplan.layouts import Column, Layout, LayoutSet


def element_value(col: Column, kind: str, unit: str, row: int) -> float | str:
    """A plausible figure for one cell: counts a little different per row."""
    if col.flag:
        return "是"
    if col.percent or unit in ("%", "‰"):
        return 60 + row
    if kind == "measure" or unit == "岁":
        return 78 + row / 10
    if col.scale != 1:
        return round(5 + row / 10, 2)  # e.g. 5.1 万人
    return 1000 + 10 * row


def filled_rows(layout: Layout, header: list[str], rows: list[list], elements: dict) -> list[list]:
    """The template's rows with every blank cell the layout reads filled."""
    by_key = {}
    for h, col in layout.columns.items():
        for key in layout.header_keys(h):
            by_key[key] = col
    from healthplan.layouts import normalize_header

    cols = [by_key[normalize_header(h)] for h in header]
    out = []
    for i, row in enumerate(rows):
        new = list(row) + [None] * (len(header) - len(row))
        for j, col in enumerate(cols):
            if new[j] not in (None, ""):
                continue
            if col.field == "facility_id":
                new[j] = f"F{i:04d}"
            elif col.field == "facility_name":
                new[j] = f"机构{i}"
            elif col.field in ("ownership", "type"):
                new[j] = next(iter(layout.value_maps[col.field]))
            elif col.element:
                el = elements[col.element]
                new[j] = element_value(col, el.kind, el.unit, i)
        out.append(new)
    return out


def fill_source_template(path: Path, layouts: LayoutSet, elements: dict) -> None:
    """Fill one source template in place (its layout found by its file name's source name)."""
    src = next(s for s in layouts.sources.values() if path.name.startswith(s.name_zh + "_"))
    year = int(path.stem.split("_")[-1])
    layout = layouts.layout_for(src.source, year)
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        rows = [rows[0], *filled_rows(layout, rows[0], rows[1:], elements)]
        with path.open("w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh).writerows(rows)
        return
    from openpyxl import load_workbook

    book = load_workbook(path)
    ws = book.worksheets[0]
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    header = values[layout.header_row - 1]
    data = filled_rows(layout, header, values[layout.header_row :], elements)
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ws.cell(row=layout.header_row + 1 + i, column=j + 1, value=v)
    book.save(path)
