"""Facility sheets row by row: the reference path, every cell checked and reported, rows summed
per area, year and stratum."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from healthplan.definitions import DataElement
from healthplan.layouts import (
    Column,
)
from transforms.parsing.cells import CellError, _is_blank, _text, compact_rows
from transforms.parsing.results import Reject
from transforms.parsing.rows import _data_rows, _element_columns, _gap
from transforms.parsing.rules import (
    GROUP_NOT_LOADED,
    RowContext,
    _area,
    _flag_cell,
    _mapped,
    _value,
    _year,
)

if TYPE_CHECKING:
    from transforms.parsing.facility_totals import Claimed


@dataclass
class _FacilitySpec:
    """A facility layout's columns as the row checks use them."""

    area: str
    fid: str
    own: str
    typ: str
    count_element: str | None
    columns: list[tuple[str, Column, DataElement]]


def _facility_spec(ctx: RowContext) -> _FacilitySpec:
    lay = ctx.cand.layout
    count_element = lay.facility_count_element
    if count_element not in ctx.info.elements:
        ctx.reject(None, None, count_element, f"未知数据元 / unknown data element {count_element}")
        count_element = None
    return _FacilitySpec(
        area=lay.field_column("area_code")[0],  # type: ignore[index]
        fid=lay.field_column("facility_id")[0],  # type: ignore[index]
        own=lay.field_column("ownership")[0],  # type: ignore[index]
        typ=lay.field_column("type")[0],  # type: ignore[index]
        count_element=count_element,
        columns=_element_columns(ctx),
    )


# a facility row kept: its group (area, year, stratum), its (element, value) pairs in column
# order, and the elements whose cell was rejected (their group total is held back)
_FacilityRow = tuple[tuple[str, int, str], list[tuple[str, float]], set[str]]


def _facility_row(
    ctx: RowContext, spec: _FacilitySpec, rownum: int, cells: dict[str, Any], seen: dict | Claimed
) -> _FacilityRow | None:
    """One facility row checked cell by cell (every reject named); None when it is not kept."""
    key = _facility_key(ctx, spec, rownum, cells, seen)
    if key is None:
        return None
    values: list[tuple[str, float]] = []
    broken: set[str] = set()
    for header, col, element in spec.columns:
        if _gap(ctx, rownum, header, GROUP_NOT_LOADED):
            broken.add(element.code)
            continue
        value = _facility_cell(ctx, header, col, element, cells[header], rownum)
        if value is _BROKEN:
            broken.add(element.code)
        elif value is not None:
            values.append((element.code, value))
    return key, values, broken


def _facility_key(
    ctx: RowContext, spec: _FacilitySpec, rownum: int, cells: dict[str, Any], seen: dict | Claimed
) -> tuple[str, int, str] | None:
    """A facility row's group (area, year, 'ownership:type'), its (facility, year) claimed; None
    when a field is rejected or the facility came before."""
    fid_raw = cells[spec.fid]
    if _is_blank(fid_raw):
        ctx.reject(rownum, spec.fid, fid_raw, "缺少机构代码 / facility id missing")
        return None
    fid = _text(fid_raw)
    code = _area(ctx, cells[spec.area], rownum, spec.area)
    if code is None:
        return None
    year = _year(ctx, cells, rownum)
    if year is None:
        return None
    own = _mapped(ctx, "ownership", cells[spec.own], rownum, spec.own)
    typ = _mapped(ctx, "type", cells[spec.typ], rownum, spec.typ)
    if own is None or typ is None:
        return None
    first = seen.get((fid, year))
    if first is not None:
        ctx.reject(
            rownum,
            spec.fid,
            fid_raw,
            f"重复机构：与第 {first} 行机构代码相同，保留第 {first} 行 / duplicate facility "
            f"of row {first}; the first is kept",
        )
        return None
    seen[(fid, year)] = rownum
    return code, year, f"{own}:{typ}"


_BROKEN: Any = object()  # a rejected element cell: its group's total is held back


def _facility_cell(
    ctx: RowContext, header: str, col: Column, element: DataElement, raw: Any, rownum: int
) -> float | None:
    """One element cell of a facility row: its value, None when blank, _BROKEN when rejected."""
    if col.flag:
        try:
            return _flag_cell(ctx, raw)
        except CellError as e:
            ctx.reject(rownum, header, raw, str(e))
            return _BROKEN
    before = len(ctx.rejects)
    checked = _value(ctx, raw, ctx.rule(header, col, element), rownum, header)
    if checked is not None:
        return checked[0]
    if len(ctx.rejects) > before:
        last = ctx.rejects[-1]
        ctx.rejects[-1] = Reject(
            last.file, last.row, last.field, last.value, last.reason + GROUP_NOT_LOADED
        )
        return _BROKEN
    return None


def _parse_facility_rows(ctx: RowContext) -> tuple[list[dict], set[int]]:
    """The per-row reference: every row through ``_facility_row``, summed per group in row
    order. ``_parse_facility`` gives the same result faster; tests compare the two."""
    spec = _facility_spec(ctx)
    seen: dict[tuple[str, int], int] = {}
    groups: dict[tuple[str, int, str], dict] = {}
    for rownum, cells in _data_rows(ctx):
        kept = _facility_row(ctx, spec, rownum, cells, seen)
        if kept is None:
            continue
        key, values, broken = kept
        group = groups.setdefault(key, {"rows": [], "sums": {}, "broken": set()})
        group["rows"].append(rownum)
        group["broken"] |= broken
        sums = group["sums"]
        for element, value in values:
            sums[element] = sums.get(element, 0.0) + value
    records = []
    loaded_rows: set[int] = set()
    for (code, year, stratum), group in groups.items():
        rows_text = compact_rows(group["rows"])
        values = dict(group["sums"])
        if spec.count_element:
            values[spec.count_element] = float(len(group["rows"]))
        for element, value in values.items():
            if element in group["broken"]:
                continue
            records.append(
                {
                    "area_code": code,
                    "year": year,
                    "element": element,
                    "stratum": stratum,
                    "value": round(value, 9),
                    "source_rows": rows_text,
                }
            )
            loaded_rows.update(group["rows"])
    return records, loaded_rows
