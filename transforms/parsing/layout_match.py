"""Table(s) + layouts → the one layout the file fits by its header and years, or the reason none
does."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from healthplan.layouts import (
    Layout,
    LayoutSet,
    SourceLayouts,
    normalize_header,
)
from transforms.parsing.cells import CellError, _is_blank, _parse_year, shorten
from transforms.parsing.results import UnreadableFile
from transforms.parsing.table import Table, _range_ref, column_cells


@dataclass
class LayoutMatch:
    source: SourceLayouts
    layout: Layout
    table: Table | None
    colmap: dict[str, int] = field(default_factory=dict)  # layout header → column index
    missing: list[str] = field(default_factory=list)
    problem: str | None = None
    file_year: int | None = None  # the year the layout reads from the file name, for blank cells
    name_year: int | None = None  # the one year the file name states, which the rows must agree
    years: Counter[int] = field(default_factory=Counter)  # data year → rows (a year column's)
    covered: int = 0
    name: str = ""  # the file's

    @property
    def complete(self) -> bool:
        return self.table is not None and not self.missing and self.problem is None


def _iter_layouts(layouts: LayoutSet | Iterable[SourceLayouts]):
    if isinstance(layouts, LayoutSet):
        yield from layouts
        return
    for src in layouts:
        for lay in src.layouts:
            yield src, lay


def _header_map(table: Table, header_row: int) -> dict[str, int]:
    if len(table.rows) < header_row:
        return {}
    found: dict[str, int] = {}
    for i, cell in enumerate(table.rows[header_row - 1]):
        key = normalize_header(cell)
        if key and key not in found:
            found[key] = i
    return found


def _file_year(name: str, layout: Layout) -> int | None:
    """The year the layout's regex finds in the file name, else in its folders' names."""
    if not layout.year_from_filename:
        return None
    path = name.replace("\\", "/")
    base = path.rsplit("/", 1)[-1]
    m = re.search(layout.year_from_filename, base) or re.search(layout.year_from_filename, path)
    if not m:
        return None
    text = m.groupdict().get("year") or m.group(1)
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


_NAME_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


def _name_year(name: str, file_year: int | None) -> int | None:
    """The year a file's name states: the layout's (``file_year``), else the one year-like number
    in its base name (None where there are none or several)."""
    if file_year is not None:
        return file_year
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    found = set(_NAME_YEAR.findall(base))
    return int(found.pop()) if len(found) == 1 else None


def _match(cand: LayoutMatch, name: str) -> None:
    """Which of the layout's columns the file has, and which data years it covers."""
    cand.name = name
    lay = cand.layout
    if cand.table is None:
        cand.problem = f"缺少工作表「{lay.sheet}」/ no sheet {lay.sheet!r}"
        cand.missing = lay.required_headers()
        return
    headers = _header_map(cand.table, lay.header_row)
    for header in lay.columns:
        idx = next((headers[k] for k in lay.header_keys(header) if k in headers), None)
        if idx is not None:
            cand.colmap[header] = idx
    cand.missing = [h for h in lay.required_headers() if h not in cand.colmap]
    if cand.missing:
        return
    cand.file_year = _file_year(name, lay)
    cand.name_year = _name_year(name, cand.file_year)
    idx = _year_index(cand)
    if idx is not None:
        years = _years_of(_typed_counts(column_cells(cand.table.rows, idx, lay.header_row)))
        cand.years = years
    elif cand.file_year is not None:
        years = Counter([cand.file_year])
    else:
        cand.problem = (
            "无法确定年份：没有年份列，文件名中也没有年份 / cannot tell the year: no year column "
            "and none in the file name"
        )
        return
    _judge_years(cand, years)


def _year_index(cand: LayoutMatch) -> int | None:
    """The column of the data years, when the layout has one and the file too."""
    year_col = cand.layout.field_column("year")
    return cand.colmap.get(year_col[0]) if year_col else None


def _typed_counts(cells: Sequence[Any]) -> Counter[tuple[type, Any]]:
    """How often each distinct cell occurs (type and value: 1.0 and True differ)."""
    return Counter(zip(map(type, cells), cells, strict=True))


def _years_of(typed: Counter[tuple[type, Any]]) -> Counter[int]:
    """Data year → rows, from the year column's distinct cells (each parsed once)."""
    years: Counter[int] = Counter()
    for (_, raw), n in typed.items():
        if not _is_blank(raw):
            try:
                years[_parse_year(raw)] += n
            except CellError:
                continue
    return years


def _judge_years(cand: LayoutMatch, years: Counter[int]) -> None:
    """How many rows the layout's years cover; a problem when the file has years and none is
    the layout's."""
    lay = cand.layout
    cand.covered = sum(n for y, n in years.items() if lay.covers(y))
    if years and not cand.covered:
        shown = sorted(set(years))
        cand.problem = (
            f"表头符合版式 {lay.id}，但年份 {shown[0] if len(shown) == 1 else shown} 不在其适用范围 "
            f"{lay.years_text} / the header fits layout {lay.id}, but the year is outside its "
            f"years {lay.years_text}"
        )


def _describe_missing(cand: LayoutMatch) -> str:
    cols = "、".join(cand.missing[:12]) + ("…" if len(cand.missing) > 12 else "")
    return (
        f"最接近的版式 closest layout: {cand.layout.id}（{cand.source.name_zh}，"
        f"{cand.layout.years_text}），缺少列 missing columns: {cols}"
    )


def _mojibake(text: str) -> str | None:
    """UTF-8 Chinese once read as Windows-1252 ('åœ°åŒº' for '地区'), undone; else None."""
    raw = bytearray()
    for ch in text:
        try:
            raw += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:
                return None
            raw.append(ord(ch))  # bytes Windows-1252 leaves undefined pass through as Latin-1
    try:
        fixed = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return fixed if any("\u4e00" <= ch <= "\u9fff" for ch in fixed) else None


def _no_header_text(cands: list[LayoutMatch]) -> str:
    """The message for a file in which not one column of any layout was found."""
    shown: dict[tuple[int, str], None] = {}
    hint = ""
    for cand in cands:  # the header rows the layouts looked at, as they read
        table, row = cand.table, cand.layout.header_row
        if table is None or len(table.rows) < row:
            continue
        cells = [str(c).strip() for c in table.rows[row - 1] if not _is_blank(c)]
        if not cells:
            continue
        shown[(row, "、".join(cells[:6]) + ("…" if len(cells) > 6 else ""))] = None
        fixed = None if hint else _mojibake(" ".join(cells[:6]))
        if fixed:
            hint = (
                f"；表头像是乱码：UTF-8 文本被当作 Windows-1252 读过又保存（原文应为「{shorten(fixed, 60)}」），"
                f"请从原系统重新导出 / the header looks like mojibake: UTF-8 text read as "
                f"Windows-1252 and saved again (it should read {shorten(fixed, 60)!r}); export the "
                "file again from its source"
            )
    header = "；".join(f"第 {r} 行 row {r}: {shorten(t, 120)}" for r, t in list(shown)[:3])
    return (
        "没有匹配的版式：表头里没有任何版式的列（文件不对、表头行不对或编码错乱？）/ no matching "
        "layout: the header has no column of any layout (wrong file, wrong header row, or garbled "
        "text?). 表头 header: " + (header or "—") + hint
    )


def _merged_header_note(cand: LayoutMatch) -> str:
    table, row = cand.table, cand.layout.header_row
    if table is None:
        return ""
    refs = [_range_ref(*m) for m in table.merged if m[0] <= row <= m[2]]
    if not refs:
        return ""
    shown = "、".join(refs[:5]) + ("…" if len(refs) > 5 else "")
    return (
        f"；表头（第 {row} 行）有合并单元格 {shown}，请取消合并并给每列一个表头 / the header row "
        f"{row} has merged cells {shown}: unmerge them so that every column has its own header"
    )


def choose_layout(
    name: str, fmt: str, tables: Any, layouts: LayoutSet | Iterable[SourceLayouts]
) -> LayoutMatch:
    """The one layout whose required columns the file has and whose years cover its data."""
    return _select(name, fmt, _candidates(name, fmt, tables, layouts))


def _candidates(
    name: str, fmt: str, tables: Any, layouts: LayoutSet | Iterable[SourceLayouts]
) -> list[LayoutMatch]:
    """Every layout of the format, matched against the file."""
    cands = []
    for src, lay in _iter_layouts(layouts):
        if lay.format != fmt:
            continue
        if isinstance(tables, Table):
            cand = LayoutMatch(src, lay, tables)
            _match(cand, name)
        else:
            cand = _sheet_match(name, src, lay, tables)
        cands.append(cand)
    return cands


def _sheet_match(name: str, src: SourceLayouts, lay: Layout, book: Any) -> LayoutMatch:
    """The layout matched against the one sheet of the workbook it can read (see
    ``XlsxBook.candidate_tables``); UnreadableFile when several visible sheets fit its header."""
    cands = []
    for table in book.candidate_tables(lay.sheet):
        cand = LayoutMatch(src, lay, table)
        _match(cand, name)
        cands.append(cand)
    fits = [c for c in cands if c.table is not None and not c.missing]
    if len(fits) > 1:
        shown = "、".join(f"「{c.table.sheet}」" for c in fits)  # type: ignore[union-attr]
        raise UnreadableFile(
            name,
            f"工作簿有多个可见工作表符合版式 {lay.id}：{shown}，无法确定读取哪一个；请只保留一个"
            f"（工作表 sheets: {book.sheets_text()}）/ ambiguous workbook: several visible sheets "
            f"fit layout {lay.id}; keep only one",
        )
    return fits[0] if fits else cands[0]


def _select(name: str, fmt: str, cands: list[LayoutMatch]) -> LayoutMatch:
    """The one candidate that fits (see ``choose_layout``); UnreadableFile says why none does."""
    if not cands:
        raise UnreadableFile(name, f"没有 {fmt} 格式的版式 / no layout reads {fmt} files")
    good = [c for c in cands if c.complete]
    if not good:
        header_fits = [c for c in cands if c.table is not None and not c.missing]
        if header_fits:
            reasons = "；".join(c.problem or "" for c in header_fits)
            # The layout for the file's year, if any, tells what the columns should be now.
            years = {c.file_year for c in header_fits if c.file_year}
            others = [
                c
                for c in cands
                if c.missing
                and c.source.source in {h.source.source for h in header_fits}
                and (not years or any(c.layout.covers(y) for y in years))
            ]
            if others:
                best = min(others, key=lambda c: len(c.missing))
                reasons += "；" + _describe_missing(best)
            raise UnreadableFile(name, f"没有匹配的版式 / no matching layout: {reasons}")
        best = max(
            cands,
            key=lambda c: (
                (len(c.layout.required_headers()) - len(c.missing))
                / max(len(c.layout.required_headers()), 1),
                c.layout.years[0],
            ),
        )
        if not best.colmap and best.table is not None:
            raise UnreadableFile(name, _no_header_text(cands))
        raise UnreadableFile(
            name,
            "没有匹配的版式（列缺失或已改名）/ no matching layout (columns missing or renamed): "
            + _describe_missing(best)
            + (f"；{best.problem}" if best.problem and best.table is None else "")
            + _merged_header_note(best),
        )
    top = max(len(c.colmap) for c in good)
    good = [c for c in good if len(c.colmap) == top]
    most = max(c.covered for c in good)
    good = [c for c in good if c.covered == most]
    if len(good) > 1:
        ids = ", ".join(c.layout.id for c in good)
        raise UnreadableFile(name, f"版式不唯一 / ambiguous layout: the file fits {ids} equally")
    return good[0]
