"""Facility sheets column by column: the fast path, held equal to ``facility_rows`` by tests."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress
from typing import Any

import numpy as np
import pandas as pd

from transforms.parsing.cells import _is_blank
from transforms.parsing.facility_rows import (
    _facility_row,
    _facility_spec,
    _FacilityRow,
    _FacilitySpec,
    _parse_facility_rows,
)
from transforms.parsing.facility_totals import Claimed, _FacilityTotals, _group_ids, _KeptRows
from transforms.parsing.layout_match import LayoutMatch
from transforms.parsing.rows import _apply_merges, _data_row, _header_width
from transforms.parsing.rules import (
    ElementRule,
    RowContext,
    _area,
    _flag_cell,
    _mapped,
    _value,
    _year,
)
from transforms.parsing.table import Cells, RowsOfColumns, Table, columns_of

# A facility sheet has tens of thousands of rows and nearly all of them are clean. The columnar
# path checks whole columns at once, sums the clean rows with ``np.bincount`` (which adds in row
# order, exactly as the per-row sums do) and sends only the other rows — anything that would be
# rejected or flagged, or that a rejected row could affect — through ``_facility_row``, in row
# order, so that every message, row number and field stays as the per-row path gives them.
_NOT_CLEAN = object()  # a cell the per-row path would reject or flag


def _clean_result(scratch: RowContext, fn: Any, *args: Any) -> Any:
    """fn(*args) when it neither rejects nor flags anything (on a scratch context), else
    _NOT_CLEAN: that row goes through the per-row path, which reports it."""
    rejects, flags = len(scratch.rejects), len(scratch.flags)
    try:
        out = fn(*args)
    except Exception:  # noqa: BLE001 - the per-row path meets it again and decides
        out = _NOT_CLEAN
    if len(scratch.rejects) != rejects or len(scratch.flags) != flags:
        del scratch.rejects[rejects:], scratch.flags[flags:]
        return _NOT_CLEAN
    return out


def _bad_results(results: list[Any]) -> np.ndarray:
    """Which results of a field's distinct cells keep their rows out of the columnar sums."""
    return np.array([r is _NOT_CLEAN or r is None for r in results], bool)


def _number_column(
    scratch: RowContext, column: Cells, rule: ElementRule
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A numeric element column as (values, has a value, clean), as ``_value`` reads it: plain
    floats checked as arrays by the column's rule, blanks hold nothing, any other cell by
    ``_value`` itself."""
    cells = column.cells
    n = len(cells)
    is_float = column.of_type(float)
    if column.types == {float}:  # every cell a float: nothing else to look at
        value, ok = rule.check_array(np.fromiter(cells, np.float64, n))
        return value, ok, ok.copy()
    values = np.zeros(n)
    has = np.zeros(n, bool)
    clean = np.ones(n, bool)
    if float in column.types:
        value, ok = rule.check_array(np.fromiter(compress(cells, is_float), np.float64))
        values[is_float] = value
        has[is_float] = ok
        clean[is_float] = ok
    other = np.flatnonzero(~is_float & ~column.of_type(type(None)))
    if len(other):
        results = Cells([cells[i] for i in other]).per_distinct(
            lambda raw: _clean_result(scratch, _value, scratch, raw, rule, 0, "")
        )
        for i, r in zip(other.tolist(), results, strict=True):
            if r is _NOT_CLEAN:
                clean[i] = False
            elif r is not None:
                values[i], has[i] = r[0], True
    return values, has, clean


def _flag_result(scratch: RowContext, raw: Any) -> tuple[bool, bool, float]:
    """(clean, has a value, value) of a 是/否 cell."""
    value = _clean_result(scratch, _flag_cell, scratch, raw)
    if value is _NOT_CLEAN:
        return False, False, 0.0
    return True, value is not None, value or 0.0


def _flag_column(scratch: RowContext, column: Cells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 是/否 column as (values, has a value, clean): each distinct cell read once."""
    codes, distinct = column.coded()
    results = [_flag_result(scratch, raw) for raw in distinct]
    clean = np.array([r[0] for r in results], bool)[codes]
    has = np.array([r[1] for r in results], bool)[codes]
    values = np.array([r[2] for r in results], np.float64)[codes]
    return values, has, clean


def _noted_rows(table: Table, indexes: set[int], first: int, n: int) -> np.ndarray:
    """Rows with a formula gap, an Excel error or a merged cell in one of the columns."""
    out = np.zeros(n, bool)
    for rownum, col in (*table.formula_gaps, *table.error_cells, *table.merged_values):
        if col in indexes and first < rownum <= first + n:
            out[rownum - first - 1] = True
    return out


def _columnar_facility(cand: LayoutMatch) -> bool:
    """Whether the columnar path reads this layout: not when several columns sum into one
    element (the per-row order of the sums decides there)."""
    elements = [c.element for c in cand.layout.columns.values() if c.element]
    return len(set(elements)) == len(elements) and (
        cand.layout.facility_count_element not in elements
    )


def _parse_facility(ctx: RowContext) -> tuple[list[dict] | dict[str, Any], int | set[int]]:
    """Facility rows summed per area, year and ownership:type stratum (see above)."""
    cand = ctx.cand
    table = cand.table
    assert table is not None
    if not _columnar_facility(cand):
        return _parse_facility_rows(ctx)
    spec = _facility_spec(ctx)
    totals = _FacilityTotals(spec)
    kept = _facility_kept_rows(ctx, spec, totals, Claimed(), last=True)
    _drop_data_rows(table, cand.layout.header_row)  # the sums need only the kept rows
    totals.add(kept)
    del kept
    return totals.result()


def _drop_data_rows(table: Table, first: int) -> None:
    """Let the sheet's rows after the header go (a big sheet's cells are most of the parse's
    memory); the header rows stay for messages."""
    table.rows = list(table.rows[:first])


def _facility_kept_rows(
    ctx: RowContext,
    spec: _FacilitySpec,
    totals: _FacilityTotals,
    seen: Claimed,
    *,
    last: bool = False,
) -> _KeptRows:
    """Every row of a facility sheet held in memory checked (see ``_facility_block``)."""
    cand = ctx.cand
    table = cand.table
    assert table is not None
    _apply_merges(ctx)
    first = cand.layout.header_row
    width = _header_width(table, first) if table.fixed_width else 0
    colmap = cand.colmap
    if isinstance(table.rows, RowsOfColumns) and table.rows.width > max(colmap.values()):
        transposed = table.rows.data_columns(first)  # read in blocks: columns already
        n = len(transposed[0])
        lengths = np.full(n, table.rows.width, np.int64)
        cells = {h: transposed[i] for h, i in colmap.items()}
        del transposed
        return _facility_block(ctx, spec, totals, cells, lengths, width, first, seen, last=last)
    rows = table.rows[first:]
    n = len(rows)
    lengths = np.fromiter(map(len, rows), np.int64, n)
    if n and lengths.min() == lengths.max() > max(colmap.values()):
        del rows
        transposed = columns_of(table.rows, first)
        table.rows = RowsOfColumns(table.rows[:first], transposed)
        cells = {h: transposed[i] for h, i in colmap.items()}
        del transposed
    else:
        cells = {h: [r[i] if i < len(r) else None for r in rows] for h, i in colmap.items()}
        del rows
    return _facility_block(ctx, spec, totals, cells, lengths, width, first, seen, last=last)


def _facility_block(
    ctx: RowContext,
    spec: _FacilitySpec,
    totals: _FacilityTotals,
    cells: dict[str, list[Any]],
    lengths: np.ndarray,
    width: int,
    start: int,
    seen: Claimed,
    *,
    last: bool = False,
) -> _KeptRows:
    """A block of facility rows (sheet row indexes ``start`` on; ``cells``: the mapped columns'
    cells) checked column by column where clean and row by row where not: the rows that count,
    with their groups (ids of ``totals``) and values. ``lengths`` are the rows' lengths and
    ``width`` the CSV header's (0: any width); ``seen``: the (facility, year) keys claimed by
    the rows before, with their row numbers (updated, unless this is the ``last`` block).
    Rejects and flags go to ``ctx``."""
    n = len(lengths)
    few = {spec.area, spec.own, spec.typ, ctx.year_header}
    few.update(header for header, col, _ in spec.columns if col.flag)
    columns = {h: Cells(c, h in few) for h, c in cells.items()}
    scratch = ctx.scratch()
    # row-level: clean when every field maps and no cell is over-long or of a bad CSV width
    clean = lengths == width if width else np.ones(n, bool)
    fields = _field_results(ctx, spec, columns, scratch, n)
    for codes, results in fields:
        clean &= ~_bad_results(results)[codes]
    limit = ctx.limits.max_cell_chars
    for column in columns.values():
        long = column.long_text(limit)
        if long is not None:
            clean &= ~long
    fids = columns[spec.fid].texts(limit)
    clean &= ~_blank_ids(columns[spec.fid], n)
    cellwise = _element_results(ctx, spec, columns, scratch, n)
    clean &= cellwise.clean
    table = ctx.cand.table
    assert table is not None
    clean &= ~_noted_rows(table, {ctx.cand.colmap[h] for h, _, _ in spec.columns}, start, n)
    year_codes, years = fields[1]
    block = _BlockRows(start, width, fids, [years[c] for c in year_codes.tolist()], clean)
    kept, groups, by_row = _claimed_rows(ctx, spec, totals, seen, block, cellwise, last=last)
    columnar = np.flatnonzero(kept & ~by_row)
    groups[columnar] = _group_ids(totals, columnar, *fields)
    index = np.flatnonzero(kept)
    return _KeptRows(start, index, groups[index], cellwise.values, cellwise.has, cellwise.broken)


def _field_results(
    ctx: RowContext, spec: _FacilitySpec, columns: dict[str, Cells], scratch: RowContext, n: int
) -> list[tuple[np.ndarray, list[Any]]]:
    """The area, year, ownership and type columns: which distinct cell each row holds, and each
    distinct cell's checked value (_NOT_CLEAN where the per-row path would object)."""

    def checked(header: str, fn: Any, *args: Any) -> tuple[np.ndarray, list[Any]]:
        """fn(scratch, raw, *args) of each distinct cell of a field column (_NOT_CLEAN if it
        objects), and which of them each cell is. A text's result is kept for the blocks after
        (equal texts are the same text; 0.0 and -0.0 are not, so numbers are checked again)."""
        codes, distinct = columns[header].coded()
        known = ctx.field_results.setdefault(header, {})
        results = []
        for raw in distinct:
            if type(raw) is not str:
                results.append(_clean_result(scratch, fn, scratch, raw, *args))
            elif (result := known.get(raw, known)) is not known:
                results.append(result)
            else:
                known[raw] = result = _clean_result(scratch, fn, scratch, raw, *args)
                results.append(result)
        return codes, results

    areas = checked(spec.area, _area, 0, spec.area)
    if ctx.year_header is not None:
        year_header = ctx.year_header
        years = checked(year_header, lambda c, raw: _year(c, {year_header: raw}, 0))
    else:
        years = np.zeros(n, np.intp), [ctx.cand.file_year]
    owns = checked(spec.own, lambda c, raw: _mapped(c, "ownership", raw, 0, spec.own))
    typs = checked(spec.typ, lambda c, raw: _mapped(c, "type", raw, 0, spec.typ))
    return [areas, years, owns, typs]


def _blank_ids(column: Cells, n: int) -> np.ndarray:
    """Which facility id cells are blank (_is_blank of each)."""
    if column.types == {str}:  # _is_blank of text: nothing but white space
        return ~np.fromiter(map(bool, map(str.strip, column.cells)), bool, n)
    return np.array(column.per_distinct(_is_blank), dtype=bool)


@dataclass
class _CellValues:
    """A block's element cells: values, whether a cell holds one, whether its cell was rejected
    (by element code), and which rows are clean in every element column."""

    values: dict[str, np.ndarray]
    has: dict[str, np.ndarray]
    broken: dict[str, np.ndarray]
    clean: np.ndarray


def _element_results(
    ctx: RowContext, spec: _FacilitySpec, columns: dict[str, Cells], scratch: RowContext, n: int
) -> _CellValues:
    """Every element column of a block checked as a column (see ``_number_column``)."""
    out = _CellValues({}, {}, {}, np.ones(n, bool))
    for header, col, element in spec.columns:
        if col.flag:
            v, h, ok = _flag_column(scratch, columns[header])
        else:
            v, h, ok = _number_column(scratch, columns[header], ctx.rule(header, col, element))
        out.values[element.code], out.has[element.code] = v, h & ok
        out.broken[element.code] = np.zeros(n, bool)
        out.clean &= ok
    return out


@dataclass
class _BlockRows:
    """What the claim of a block's rows needs: its first row index, the CSV width (0: any), each
    row's facility id and year, and which rows are clean."""

    start: int
    width: int
    fids: list[str]
    years: list[Any]
    clean: np.ndarray


def _claimed_rows(
    ctx: RowContext,
    spec: _FacilitySpec,
    totals: _FacilityTotals,
    seen: Claimed,
    block: _BlockRows,
    cellwise: _CellValues,
    *,
    last: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In row order: the clean rows claim their (facility, year), the others go row by row. A
    clean row can only meet another's key when its facility id is repeated in the block or its
    key was claimed before it; the rest claim theirs together, after the loop. (kept rows, their
    group ids where the per-row path gave them, which rows it gave)."""
    fids, years, clean, start = block.fids, block.years, block.clean, block.start
    n = len(fids)
    claimed_now = len(set(years)) <= 1 and len(set(fids)) == n
    if claimed_now:  # no facility twice: the clean rows claim theirs now, which tells the
        # repeats, in one pass (the rows checked one by one have other facilities)
        year = years[0] if years else None
        repeated = seen.claim_new(fids, year, np.flatnonzero(clean), start + 1)
    else:
        repeated = pd.Series(fids, dtype=object).duplicated(keep=False).to_numpy()
        if seen:
            repeated = repeated | seen.which(fids, years)
    kept = clean.copy()
    groups = np.full(n, -1, np.int64)  # of the kept rows
    by_row = np.zeros(n, bool)  # kept rows whose group the per-row path gave
    for i in np.flatnonzero(~clean | repeated).tolist():
        if clean[i]:
            key = (fids[i], years[i])
            if key not in seen:
                seen[key] = start + i + 1
                ctx.rows_read += 1
                continue
            kept[i] = False
        item = _data_row(ctx, start + i, block.width)
        row = None if item is None else _facility_row(ctx, spec, *item, seen)
        if row is None:
            continue
        kept[i] = by_row[i] = True
        groups[i] = totals.group(row[0])
        _put_row(cellwise, i, row)
    together = np.flatnonzero(clean & ~repeated)
    ctx.rows_read += len(together)
    if not last and not claimed_now:
        seen.claim(fids, years, together, start + 1)
    return kept, groups, by_row


def _put_row(cellwise: _CellValues, i: int, row: _FacilityRow) -> None:
    """Row i's values as the per-row path gave them."""
    for code in cellwise.values:
        cellwise.has[code][i] = False
    for code, value in row[1]:
        cellwise.values[code][i], cellwise.has[code][i] = value, True
    for code in row[2]:
        cellwise.broken[code][i] = True
