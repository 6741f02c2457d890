"""``parse_file``: bytes → Table(s) → layout → shape → ParsedFile; a big facility sheet checked
block by block without being held whole."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

import numpy as np

from healthplan.layouts import (
    LayoutSet,
    SourceLayouts,
)
from transforms.parsing import csv_table
from transforms.parsing.cells import _is_blank
from transforms.parsing.facility_columns import _columnar_facility, _facility_block, _parse_facility
from transforms.parsing.facility_rows import _facility_spec, _parse_facility_rows
from transforms.parsing.facility_totals import Claimed, _FacilityTotals
from transforms.parsing.layout_match import (
    LayoutMatch,
    _candidates,
    _judge_years,
    _select,
    _typed_counts,
    _year_index,
    _years_of,
    choose_layout,
)
from transforms.parsing.long_shape import _parse_long
from transforms.parsing.results import (
    DEFAULT_LIMITS,
    CatalogInfo,
    Limits,
    ParsedFile,
    UnreadableFile,
    _good_frame,
)
from transforms.parsing.rules import RowContext
from transforms.parsing.table import (
    Block,
    RowsOfColumns,
    Table,
    _has_data,
    add_block,
    column_cells,
)
from transforms.parsing.xlsx_table import XlsxBook, _merged_in_tail, _NotInBlocks
from transforms.parsing.xlsx_zip import _cell_notes


def file_format(name: str, data: bytes) -> str:
    """'csv' or 'xlsx' by the bytes and the name; anything else is refused (UnreadableFile)."""
    lower = name.lower()
    # An OLE container first: a legacy .xls, or an encrypted workbook even when named .xlsx.
    if data[:8] == bytes.fromhex("D0CF11E0A1B11AE1"):
        raise UnreadableFile(
            name,
            "旧版 .xls 或加密的工作簿，不受支持，请另存为 .xlsx / legacy .xls or encrypted "
            "workbook: save it as .xlsx",
        )
    if data[:4] == b"PK\x03\x04" or lower.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return "csv"
    raise UnreadableFile(
        name, "不支持的文件类型（仅 CSV、XLSX）/ unsupported file type (CSV or XLSX)"
    )


# A facility sheet big enough to be read in row blocks is also checked block by block and never
# held whole: the layout is chosen on the first block, each block's rows go through
# ``_facility_block`` (the keys claimed so far carried from block to block) and into running
# totals. What cannot be known before the last block is checked after it: merged cells (applied
# only by the whole read) and the year counts that choose between layouts. Where either would
# change anything, and on any error, the file is read whole instead, which then decides.
def parsed_in_blocks(
    book: XlsxBook,
    layouts: LayoutSet | Iterable[SourceLayouts],
    catalog_info: CatalogInfo,
    current_year: int,
) -> ParsedFile | None:
    """The file parsed block by block when its one big sheet is a facility sheet (see above);
    None when that does not apply, or anything is unusual: the whole read then does it all."""
    big = [s for s in book.sheet_names if book.in_blocks(book.parts.get(s))]
    if len(big) != 1:
        return None
    sheet, part = big[0], book.parts[big[0]]
    tail: list[bytes] = []
    try:
        blocks = book.blocks(sheet, part, tail, share=False)  # a block at a time: not worth it
        first = next(blocks)
        columns: list[list[Any]] = []
        add_block(columns, 0, first.top, first.left, first.rows)
        head = Table(RowsOfColumns([], columns), sheet)
        notes = _SheetNotes(book, part, head)
        notes.update(0)
        book._tables[sheet] = head  # the other sheets are read whole, as always
        if not any(_has_data(t) for t in map(book.table, book.sheet_names) if t is not None):
            return None
        cands = _candidates(book.name, "xlsx", book, layouts)
        cand = _select(book.name, "xlsx", cands)
        if cand.table is not head or cand.layout.shape != "facility":
            return None
        if not _columnar_facility(cand) or cand.layout.header_row > first.top + len(first.rows):
            return None
        recount = [c for c in cands if c.table is head and not c.missing and _year_index(c)]
        typed = {
            id(c): _typed_counts(column_cells(head.rows, _year_index(c), c.layout.header_row))  # type: ignore[arg-type]
            for c in recount
        }

        def parse(ctx: RowContext) -> tuple[dict[str, Any] | list[dict], int]:
            totals = _facility_in_blocks(ctx, first, columns, blocks, recount, typed, notes)
            book.check_rest()  # done by the blocks' read, unless it stopped short
            notes.update(math.inf)  # every row checked: a note now sends the file to the whole read
            if _merged_in_tail(tail[0]):
                raise _NotInBlocks  # merged cells: the whole read applies them
            for c in recount:  # the layout chosen on every row's year, not the first block's
                c.problem, c.covered = None, 0
                _judge_years(c, _years_of(typed[id(c)]))
            if _select(book.name, "xlsx", cands) is not cand:
                raise _NotInBlocks
            return totals.result()

        return _parsed(cand, "xlsx", None, catalog_info, current_year, book.limits, parse)
    except Exception:  # noqa: BLE001 - _NotInBlocks, UnreadableFile …: the whole read decides
        return None
    finally:
        book._tables.pop(sheet, None)


class _SheetNotes:
    """A big sheet's formula and error cells (``_cell_notes``), read when the zip check of its
    XML, done by the read of its blocks (``MemberCheck``), first meets a mark of one, and put
    on its table: rows checked before hold none, as their XML came before that mark; where one
    does all the same (a cell placed out of its row), the sheet goes to the whole read."""

    def __init__(self, book: XlsxBook, part: str, table: Table):
        self.book = book
        self.part = part
        self.table = table
        self.read = False

    def update(self, checked: float) -> None:
        """Read the notes if a mark has been met; ``checked``: the rows checked so far."""
        if self.read or self.part not in self.book.marked:
            return
        self.read = True
        gaps, errors = _cell_notes(self.book.zip, self.part)
        if any(row <= checked for row, _ in (*gaps, *errors)):
            raise _NotInBlocks
        self.table.formula_gaps, self.table.error_cells = gaps, errors


def _facility_in_blocks(
    ctx: RowContext,
    first: Block,
    first_columns: list[list[Any]],
    blocks: Iterator[Block],
    recount: list[LayoutMatch],
    typed: dict[int, Counter[tuple[type, Any]]],
    notes: _SheetNotes,
) -> _FacilityTotals:
    """Every block's rows checked and added up (``first``: the block the layout was chosen on,
    its year cells counted already, and its columns from row index 0 as read for that); the year
    cells of the other blocks counted into ``typed`` for each candidate of ``recount``; the
    sheet's formula and error cells read as soon as its XML shows one (``notes``)."""
    cand = ctx.cand
    table = cand.table
    assert table is not None
    header_row = cand.layout.header_row
    head = [table.rows[i] for i in range(header_row)]
    spec = _facility_spec(ctx)
    totals = _FacilityTotals(spec)
    seen = Claimed()
    colmap = cand.colmap
    block: Block | None = first
    while block is not None:
        skip = max(header_row - block.top, 0)
        if block is first:
            columns = [column[block.top + skip :] for column in first_columns]
        else:
            notes.update(block.top)
            columns = block.columns()
            if skip:
                columns = [column[skip:] for column in columns]
        start = block.top + skip
        n = len(columns[0]) if columns else 0
        if block is not first:
            for c in recount:
                idx = _year_index(c)
                typed[id(c)].update(_typed_counts(columns[idx] if idx < len(columns) else [""] * n))  # type: ignore[operator]
        del block
        if n:
            table.rows = RowsOfColumns(head, columns, start)
            cells = {h: columns[i] if i < len(columns) else [""] * n for h, i in colmap.items()}
            lengths = np.full(n, len(columns), np.int64)
            totals.add(_facility_block(ctx, spec, totals, cells, lengths, 0, start, seen))
            del cells
        del columns
        block = next(blocks, None)
    table.rows = head
    return totals


def parse_file(
    name: str,
    data: bytes,
    layouts: LayoutSet | Iterable[SourceLayouts],
    catalog_info: CatalogInfo,
    *,
    current_year: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    columnar: bool = True,
) -> ParsedFile:
    """One file's good values and rejects, read by the layout its header and year select.

    Raises ``UnreadableFile`` when nothing can be read: empty, header only, undecodable or mixed
    encodings, corrupt or truncated XLSX, a zip bomb, or no layout that fits the columns and year.
    ``columnar=False`` reads facility sheets row by row: the reference that tests hold the
    columnar path to (same result, several times slower).
    """
    if current_year is None:
        current_year = date.today().year
    if not data or not data.strip():
        raise UnreadableFile(name, "空文件 / empty file")
    fmt = file_format(name, data)
    if fmt == "csv":
        table, encoding = csv_table.read_csv_table(name, data, limits)  # the CSV reader's seam
        if not _has_data(table):
            raise UnreadableFile(name, "空文件 / empty file")
        return _by_layout(
            name, fmt, table, encoding, layouts, catalog_info, current_year, limits, columnar
        )
    book = XlsxBook(name, data, limits)
    try:
        if columnar and (streamed := parsed_in_blocks(book, layouts, catalog_info, current_year)):
            parsed = streamed
        else:
            sheets = [book.table(s) for s in book.sheet_names]
            if not any(_has_data(t) for t in sheets if t is not None):
                raise UnreadableFile(name, "空工作簿 / empty workbook")
            parsed = _by_layout(
                name, fmt, book, None, layouts, catalog_info, current_year, limits, columnar
            )
    except Exception:
        book.check_rest()  # a damaged part is what opening the file would have said first
        raise
    book.check_rest()  # nothing read from the file is given out before its zip check is done
    return parsed


def _by_layout(
    name: str,
    fmt: str,
    tables: Any,
    encoding: str | None,
    layouts: LayoutSet | Iterable[SourceLayouts],
    catalog_info: CatalogInfo,
    current_year: int,
    limits: Limits,
    columnar: bool,
) -> ParsedFile:
    """The file read whole (a table, or a workbook's tables) by the layout it fits."""
    cand = choose_layout(name, fmt, tables, layouts)
    if cand.layout.shape == "long":
        parse: Any = _parse_long
    else:
        parse = _parse_facility if columnar else _parse_facility_rows
    return _parsed(cand, fmt, encoding, catalog_info, current_year, limits, parse)


def _parsed(
    cand: LayoutMatch,
    fmt: str,
    encoding: str | None,
    catalog_info: CatalogInfo,
    current_year: int,
    limits: Limits,
    parse: Any,
) -> ParsedFile:
    """The file read by its chosen layout: ``parse(ctx)`` gives the good records and the rows
    loaded; the checks and flags before and after are the same for every way of reading."""
    name = cand.name
    if cand.file_year is not None and cand.file_year > current_year:
        raise UnreadableFile(
            name,
            f"文件名中的年份 {cand.file_year} 在未来 / the year {cand.file_year} in the file "
            "name is in the future",
        )
    _refuse_other_years(cand)
    ctx = RowContext(name, cand, catalog_info, current_year, limits)
    if cand.layout.sheet and cand.table is not None and cand.table.sheet != cand.layout.sheet:
        ctx.flag(
            None,
            None,
            cand.table.sheet,
            f"未找到工作表「{cand.layout.sheet}」，已读取工作表「{cand.table.sheet}」/ no sheet "
            f"{cand.layout.sheet!r}: read sheet {cand.table.sheet!r}",
        )
    unmapped = [
        str(c)
        for i, c in enumerate(cand.table.rows[cand.layout.header_row - 1])  # type: ignore[union-attr]
        if not _is_blank(c) and i not in set(cand.colmap.values())
    ]
    if unmapped:
        ctx.flag(
            cand.layout.header_row,
            None,
            "、".join(unmapped),
            "未映射的列已忽略 / columns not in the layout were ignored",
        )
    records, loaded = parse(ctx)
    if ctx.rows_read == 0:
        raise UnreadableFile(name, "只有表头，没有数据行 / header only: no data rows")
    good = _good_frame(records)
    return ParsedFile(
        name=name,
        source=cand.source.source,
        layout=cand.layout.id,
        format=fmt,
        encoding=encoding,
        sheet=cand.table.sheet if cand.table else None,
        years=np.unique(good["year"].to_numpy()).tolist() if len(good) else [],
        rows_read=ctx.rows_read,
        rows_loaded=loaded if isinstance(loaded, int) else len(loaded),
        good=good,
        rejects=sorted(ctx.rejects, key=lambda r: (r.row or 0, r.field or "")),
        flags=ctx.flags,
    )


def _refuse_other_years(cand: LayoutMatch) -> None:
    """UnreadableFile when no data row has the year the file's name states: the file holds
    another year's data under this year's name (its rows name the year they hold)."""
    name_year, years = cand.name_year, cand.years
    if name_year is None or not years or name_year in years:
        return
    year_col = cand.layout.field_column("year")
    header = year_col[0] if year_col else ""
    shown = "、".join(str(y) for y in sorted(years)[:5])
    raise UnreadableFile(
        cand.name,
        f"文件名中的年份 {name_year} 与数据行的年份（{shown}，年份列「{header}」，第 "
        f"{cand.layout.header_row + 1} 行起）不符，整个文件未读取；请核对文件名或数据 / the year "
        f"{name_year} in the file name disagrees with every row's year ({shown}, column "
        f"{header!r}, rows from {cand.layout.header_row + 1}): file not read; check its name or "
        "its data",
    )
