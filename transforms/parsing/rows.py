"""A sheet's data rows as a parser sees them: blanks and notes skipped, merged cells applied, CSV
rows of the wrong width rejected, total rows and cell gaps told apart."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from healthplan.definitions import DataElement
from healthplan.layouts import (
    Column,
)
from transforms.parsing.cells import NOTE_PREFIXES, TOTAL_WORDS, _is_blank, _text, shorten
from transforms.parsing.rules import RowContext
from transforms.parsing.table import Table, _range_ref, set_cell


def _data_rows(ctx: RowContext):
    """(row number, {header: raw cell}) for every non-blank data row; notes skipped."""
    cand = ctx.cand
    table = cand.table
    assert table is not None
    _apply_merges(ctx)
    width = _header_width(table, cand.layout.header_row) if table.fixed_width else 0
    for index in range(cand.layout.header_row, len(table.rows)):
        item = _data_row(ctx, index, width)
        if item is not None:
            yield item


def _data_row(ctx: RowContext, index: int, width: int) -> tuple[int, dict[str, Any]] | None:
    """One sheet row (0-based index) as (row number, {header: raw cell}), counted as read; None
    for a blank or note row, and for a CSV row of the wrong width (rejected here)."""
    row = ctx.cand.table.rows[index]  # type: ignore[union-attr]
    # not _is_blank, inline: this runs for every cell of every row
    filled = [c for c in row if c is not None and not (isinstance(c, str) and not c.strip())]
    if not filled:
        return None
    if (
        len(filled) == 1
        and isinstance(filled[0], str)
        and _text(filled[0]).startswith(NOTE_PREFIXES)
    ):
        return None
    if ctx.cells_of is not None and len(row) > ctx.last_index:
        cells = dict(zip(ctx.headers, ctx.cells_of(row), strict=True))
    else:
        cells = {h: (row[i] if i < len(row) else None) for h, i in ctx.cand.colmap.items()}
    if not any(
        v is not None and not (isinstance(v, str) and not v.strip()) for v in cells.values()
    ):
        return None
    rownum = index + 1
    if width and not (len(row) == width > ctx.last_index) and _bad_width(ctx, rownum, row, width):
        ctx.rows_read += 1
        return None
    limit = ctx.limits.max_cell_chars
    if not (width and _all_shorter(cells.values(), limit)):
        for h, v in cells.items():
            if isinstance(v, str) and len(v) > limit:
                cells[h] = v[:limit]
                ctx.flag(
                    rownum, h, v, f"单元格超过 {limit} 字符，已截断 / cell over {limit} chars cut"
                )
    ctx.rows_read += 1
    return rownum, cells


def _all_shorter(cells: Iterable[Any], limit: int) -> bool:
    """Whether no cell is longer than ``limit``: a CSV row's cells are all text, measured in one
    go; False when a cell has no length (it is then looked at one by one)."""
    try:
        return max(map(len, cells), default=0) <= limit
    except TypeError:
        return False


def _header_width(table: Table, header_row: int) -> int:
    """Cells up to the last non-blank header cell."""
    header = table.rows[header_row - 1] if len(table.rows) >= header_row else []
    filled = [i for i, c in enumerate(header) if not _is_blank(c)]
    return filled[-1] + 1 if filled else 0


def _bad_width(ctx: RowContext, rownum: int, row: list[Any], width: int) -> bool:
    """A CSV row with fewer cells than the header's columns it needs, or with values past the
    header: rejected whole, since its values may sit under the wrong headers."""
    colmap = ctx.cand.colmap
    missing = sorted((i, h) for h, i in colmap.items() if i >= len(row))
    if missing:
        ctx.reject(
            rownum,
            missing[0][1],
            None,
            f"行不完整：只有 {len(row)} 列，表头有 {width} 列（文件被截断？），整行未读取 / short "
            f"row: {len(row)} cells, the header has {width} (truncated file?); row not read",
        )
        return True
    extra = [c for c in row[width:] if not _is_blank(c)]
    if extra:
        ctx.reject(
            rownum,
            None,
            shorten(",".join(str(c) for c in row), 120),
            f"列数不符：有 {len(row) - _trailing_blanks(row)} 列，表头只有 {width} 列"
            f"（数字中的逗号未加引号？），整行未读取 / the row has more cells than the header's "
            f"{width} (an unquoted comma, e.g. 1,234?); its values would sit under the wrong "
            "headers: row not read",
        )
        return True
    return False


def _trailing_blanks(row: list[Any]) -> int:
    n = 0
    for c in reversed(row):
        if not _is_blank(c):
            break
        n += 1
    return n


def _apply_merges(ctx: RowContext) -> None:
    """Merged cells as a reader sees them: a field cell (area, year, type …) merged over several
    rows applies to each of them; an element cell merged with other cells has no value of its own
    and is rejected where it is read (``_gap``)."""
    table = ctx.cand.table
    assert table is not None
    if not table.merged or table.merged_values:
        return
    lay = ctx.cand.layout
    first, last = lay.header_row + 1, len(table.rows)
    field_cols = {i for h, i in ctx.cand.colmap.items() if lay.columns[h].is_field}
    mapped = set(ctx.cand.colmap.values())
    budget = 5_000_000  # cells touched, whatever the merges claim
    for r1, c1, r2, c2 in table.merged:
        lo, hi = max(r1, first), min(r2, last)
        cols = sorted(i for i in mapped if c1 <= i <= c2)
        if lo > hi or not cols or (hi - lo + 1) * len(cols) <= 1:
            continue
        budget -= (hi - lo + 1) * len(cols)
        if budget < 0:
            break
        ref = _range_ref(r1, c1, r2, c2)
        anchor_row = table.rows[r1 - 1] if r1 >= first else None
        anchor = anchor_row[c1] if anchor_row is not None and c1 < len(anchor_row) else None
        filled = False
        for col in cols:
            for rownum in range(lo, hi + 1):
                row = table.rows[rownum - 1]
                if col in field_cols:
                    if (rownum, col) == (r1, c1) or _is_blank(anchor) or col >= len(row):
                        continue
                    if _is_blank(row[col]):
                        set_cell(table.rows, rownum - 1, col, anchor)
                        filled = True
                else:
                    table.merged_values[(rownum, col)] = ref
        if filled:
            ctx.flag(
                r1,
                None,
                anchor,
                f"合并单元格 {ref} 的值用于其中每一行 / merged cell {ref}: its value applies to "
                "each of its rows",
            )


def _is_total_row(ctx: RowContext, cells: dict[str, Any]) -> bool:
    """A 合计 row without an area code: its parts are in the file, so it is skipped."""
    code = _text(cells.get(ctx.area_header)) if ctx.area_header is not None else ""
    if code:
        return code.startswith(TOTAL_WORDS)
    name = ctx.name_header
    return name is not None and _text(cells.get(name)).startswith(TOTAL_WORDS)


def _gap(ctx: RowContext, rownum: int, header: str, suffix: str = "") -> bool:
    idx = ctx.cand.colmap[header]
    if (rownum, idx) in ctx.cand.table.formula_gaps:  # type: ignore[union-attr]
        ctx.reject(
            rownum,
            header,
            None,
            "公式没有缓存值（请在 Excel 中重新计算并保存）/ formula without a cached value "
            "(recalculate and save in Excel)" + suffix,
        )
        return True
    error = ctx.cand.table.error_cells.get((rownum, idx))  # type: ignore[union-attr]
    if error:
        ctx.reject(
            rownum,
            header,
            error,
            f"Excel 错误值 {error}（请在 Excel 中修正公式）/ Excel error value {error} (fix the "
            "formula in Excel)" + suffix,
        )
        return True
    ref = ctx.cand.table.merged_values.get((rownum, idx))  # type: ignore[union-attr]
    if ref:
        row = ctx.cand.table.rows[rownum - 1]  # type: ignore[union-attr]
        ctx.reject(
            rownum,
            header,
            row[idx] if idx < len(row) else None,
            f"合并单元格 {ref}：无法确定本行本列的值（请取消合并，逐格填写）/ merged cell {ref}: "
            "no value of its own for this row and column (unmerge and fill every cell)" + suffix,
        )
        return True
    return False


def _element_columns(ctx: RowContext) -> list[tuple[str, Column, DataElement]]:
    out = []
    for header, col in ctx.cand.layout.columns.items():
        if not col.element or header not in ctx.cand.colmap:
            continue
        element = ctx.info.elements.get(col.element)
        if element is None:
            ctx.reject(
                ctx.cand.layout.header_row,
                header,
                col.element,
                f"未知数据元 {col.element}，该列未读取 / unknown data element {col.element}: "
                "column not read (the layout and the element catalog disagree)",
            )
            continue
        out.append((header, col, element))
    return out
