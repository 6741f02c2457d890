"""Long sheets (one row per area and year) → values; parent areas checked against their parts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from healthplan.definitions import DataElement
from healthplan.layouts import (
    Column,
)
from transforms.parsing.cells import compact_rows
from transforms.parsing.rows import _data_rows, _element_columns, _gap, _is_total_row
from transforms.parsing.rules import RowContext, _area, _value, _year

ADDITIVE_KINDS = ("count", "amount")  # elements whose sub-areas sum to the total


def _parse_long(ctx: RowContext) -> tuple[dict[str, Any], set[int]]:
    """One value per area row and element column; parent areas checked against their parts."""
    table = ctx.cand.table
    assert table is not None
    area_header = ctx.area_header
    assert area_header is not None
    columns = _element_columns(ctx)
    rules = [ctx.rule(header, col, element) for header, col, element in columns]
    seen: dict[tuple[str, int], int] = {}
    values = _LongValues(columns)
    add_row, add_column = values.row_at.append, values.column_at.append
    add_value, add_precision, add_raw = (
        values.value.append,
        values.precision.append,
        values.raw.append,
    )
    for rownum, cells in _data_rows(ctx):
        if _is_total_row(ctx, cells):
            ctx.flag(
                rownum,
                area_header,
                None,
                "无地区代码的合计行已跳过 / total row without a code skipped",
            )
            continue
        code = _area(ctx, cells[area_header], rownum, area_header)
        if code is None:
            continue
        year = _year(ctx, cells, rownum)
        if year is None:
            continue
        first = seen.get((code, year))
        if first is not None:
            ctx.reject(
                rownum,
                area_header,
                cells[area_header],
                f"重复：与第 {first} 行地区、年份相同，保留第 {first} 行 / duplicate of row {first} "
                "(same area and year); the first is kept",
            )
            continue
        seen[(code, year)] = rownum
        noted = table.formula_gaps or table.error_cells or table.merged_values
        row_at = len(values.rows)
        values.rows.append((code, year, rownum))
        for at, (header, _, _) in enumerate(columns):
            if noted and _gap(ctx, rownum, header):
                continue
            raw = cells[header]
            checked = _value(ctx, raw, rules[at], rownum, header)
            if checked is not None:
                add_row(row_at)
                add_column(at)
                add_value(checked[0])
                add_precision(checked[1])
                add_raw(raw)
    kept = _check_totals(ctx, values)
    return values.good(kept), {values.rows[values.row_at[i]][2] for i in kept}


class _LongValues:
    """A long file's values as they are read, as lists of plain values (not a dict or tuple per
    value): each one's row (``rows``: area, year, row number), element column, value, precision
    and raw cell."""

    def __init__(self, columns: list[tuple[str, Column, DataElement]]) -> None:
        self.columns = columns
        self.kinds = [(element.code, col.stratum or "") for _, col, element in columns]
        self.rows: list[tuple[str, int, int]] = []
        self.row_at: list[int] = []
        self.column_at: list[int] = []
        self.value: list[float] = []
        self.precision: list[float] = []
        self.raw: list[Any] = []

    def key(self, i: int) -> tuple[str, int, str, str]:
        """Value i's (area, year, element, stratum)."""
        row, kind = self.rows[self.row_at[i]], self.kinds[self.column_at[i]]
        return row[0], row[1], kind[0], kind[1]

    def good(self, kept: list[int]) -> dict[str, Any]:
        """The kept values as GOOD_COLUMNS (source_rows: the value's row number)."""
        rows = list(map(self.rows.__getitem__, map(self.row_at.__getitem__, kept)))
        kinds = list(map(self.kinds.__getitem__, map(self.column_at.__getitem__, kept)))
        return {
            "area_code": [r[0] for r in rows],
            "year": np.array([r[1] for r in rows], np.int64),
            "element": [k[0] for k in kinds],
            "stratum": [k[1] for k in kinds],
            "value": np.array(list(map(self.value.__getitem__, kept)), np.float64),
            "source_rows": [str(r[2]) for r in rows],
        }


def _runs(items: list[int]) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of equal items."""
    lo = 0
    for hi in range(1, len(items) + 1):
        if hi == len(items) or items[hi] != items[lo]:
            yield lo, hi
            lo = hi


def _check_totals(ctx: RowContext, values: _LongValues) -> list[int]:
    """A parent area's count must equal its sub-areas' sum; a mismatch rejects the parent value.
    The values kept, as positions."""
    parents, elements = ctx.info.areas, ctx.info.elements
    additive = [
        (known := elements.get(element.code)) is not None and known.kind in ADDITIVE_KINDS
        for _, _, element in values.columns
    ]
    n = len(values.value)
    # only a parent's value can be a total: the others need no key
    has_parts = set(parents.values())
    rows, row_at, column_at = values.rows, values.row_at, values.column_at
    present = {values.key(i): i for i in range(n) if rows[row_at[i]][0] in has_parts}
    kids: dict[tuple, list[int]] = {}
    if present:
        kinds = values.kinds
        for lo, hi in _runs(row_at):  # a row's values, one after another
            code, year, _ = rows[row_at[lo]]
            parent = parents.get(code)
            if parent is None:
                continue
            for i in range(lo, hi):
                at = column_at[i]
                if additive[at]:
                    key = (parent, year, *kinds[at])
                    if key in present:
                        kids.setdefault(key, []).append(i)
    if not kids:
        return list(range(n))
    children_total = ctx.info.children_count()
    value, precision = values.value, values.precision
    dropped = set()
    for key, parts in kids.items():
        at = present[key]
        total = value[at]
        s = sum(value[p] for p in parts)
        tol = 0.5 * (precision[at] + sum(precision[p] for p in parts))
        tol += 1e-9 * max(abs(total), 1.0)
        diff = s - total
        complete = len(parts) >= children_total.get(key[0], 0)
        if (complete and abs(diff) > tol) or (not complete and diff > tol):
            shown = compact_rows(rows[row_at[p]][2] for p in parts)
            how = "" if complete else "（部分下级 / some sub-areas）"
            ctx.reject(
                rows[row_at[at]][2],
                values.columns[column_at[at]][0],
                values.raw[at],
                f"与下级地区合计不符{how}：下级合计 {s:g}（第 {shown} 行），本级 {total:g}，"
                f"本级数未入库 / sum of sub-areas {s:g} (rows {shown}) differs from the total "
                f"{total:g}; total not loaded",
            )
            dropped.add(at)
    return [i for i in range(n) if i not in dropped]
