"""Big sheets are read in row blocks: the same cells, types, merges and parse results as the
whole read, with equal cells shared. ``ROW_BLOCK_BYTES`` is made tiny here so that every sheet
of a few KB is cut into many blocks."""

from __future__ import annotations

import io
import math
import random
import re
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from healthplan.definitions import load_catalog
from healthplan.layouts import load_layouts
from healthplan.settings import REPO_ROOT
from transforms.parsing import (
    DEFAULT_LIMITS,
    CatalogInfo,
    UnreadableFile,
    parse_file,
    table,
    xlsx_table,
)

PLANS = REPO_ROOT / "plans"
SAMPLE_FACILITY = REPO_ROOT / "samples" / "inbox" / "longhu" / "2019" / "resources_2019.xlsx"
XLSX_FILES = sorted(
    [
        *(REPO_ROOT / "samples" / "inbox").rglob("*.xlsx"),
        *(REPO_ROOT / "tests" / "corpus").rglob("*.xlsx"),
    ]
)
# a workbook the reader cannot survive (its parse process dies: tests/reliability) is never
# read in this process
XLSX_FILES = [p for p in XLSX_FILES if "far_cell_hidden_by_dimension" not in p.name]


@pytest.fixture
def tiny_blocks(monkeypatch):
    monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 512)


def sheet_reads(data: bytes) -> list[tuple[str, object, object]]:
    """(sheet, whole read, block read or None) for every sheet of a workbook."""
    wb = xlsx_table.XlsxBook("x.xlsx", data, DEFAULT_LIMITS)
    out = []
    for name in wb.sheet_names:
        try:
            whole = wb._rows_whole(name)
        except UnreadableFile as e:
            whole = e.reason
        out.append((name, whole, wb._rows_in_blocks(name, wb.parts.get(name))))
    return out


def typed(rows: list[list[object]]) -> list[list[tuple[type, object]]]:
    return [[(type(c), c) for c in row] for row in rows]


def assert_same_reads(data: bytes) -> int:
    """Block reads equal whole reads, cell types included; the number read in blocks."""
    blocked = 0
    for name, whole, blocks in sheet_reads(data):
        if blocks is None:
            continue
        blocked += 1
        assert not isinstance(whole, str), name
        assert typed(blocks[0]) == typed(whole[0]), name
        assert blocks[1] == whole[1], name
    return blocked


def xlsx(fill) -> bytes:
    wb = openpyxl.Workbook()
    fill(wb.active)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ------------------------------------------------------------------------ same cells as whole


def test_sample_and_corpus_workbooks_read_the_same_in_blocks(tiny_blocks):
    """Unreadable ones (zip bombs, corrupt files) fail before any sheet is read, as before."""
    blocked = 0
    for path in XLSX_FILES:
        try:
            blocked += assert_same_reads(path.read_bytes())
        except UnreadableFile:
            continue
    assert blocked >= 0.7 * len(XLSX_FILES)


def test_offsets_gaps_and_merges_survive_the_cut(tiny_blocks):
    def fill(ws):
        ws.append(["代码", "名称", "床位"])
        for i in range(60):
            ws.append([f"F{i:03d}", f"机构{i}", float(i % 7)])
        for i in range(90, 140):  # empty rows 62–89, then data from column C only
            ws.cell(i, 3).value = float(i)
        ws.cell(150, 6).value = "右下"  # wider than every row above
        ws.merge_cells("A10:A14")
        ws.merge_cells("C100:D100")

    data = xlsx(fill)
    assert assert_same_reads(data) == 1
    rows, merged = sheet_reads(data)[0][2]  # type: ignore[misc]
    assert len(rows) == 150 and {len(r) for r in rows} == {6}
    assert rows[99][:3] == ["", "", 100.0] and rows[70] == [""] * 6
    assert merged == [(10, 0, 14, 0), (100, 2, 100, 3)]


def test_booleans_keep_their_type(tiny_blocks):
    def fill(ws):
        ws.append(["a", "b"])
        for i in range(80):
            ws.append([True if i % 2 else 1.0, False if i % 3 else 0.0])

    data = xlsx(fill)
    assert assert_same_reads(data) == 1
    rows = sheet_reads(data)[0][2][0]  # type: ignore[index]
    assert {type(c) for r in rows[1:] for c in r} == {bool, float}


def test_negative_zeros_keep_their_sign(tiny_blocks):
    def fill(ws):
        ws.append(["a", "b"])
        for i in range(80):
            ws.append([0.0 if i % 2 else -0.0, float(i)])

    data = xlsx(fill)
    assert assert_same_reads(data) == 1
    whole, blocks = sheet_reads(data)[0][1:]
    signs = [[math.copysign(1, c) for c in r] for r in blocks[0][1:]]  # type: ignore[index]
    assert signs == [[math.copysign(1, c) for c in r] for r in whole[0][1:]]  # type: ignore[index]
    assert {s[0] for s in signs} == {-1.0, 1.0}


def test_equal_cells_of_a_block_are_one_object(tiny_blocks, monkeypatch):
    monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 1 << 16)  # one block after the first cut
    data = xlsx(lambda ws: [ws.append(["是", 3.0, f"id{i}"]) for i in range(3000)])
    rows = sheet_reads(data)[0][2][0]  # type: ignore[index]
    assert len(rows) == 3000
    assert all(rows[i][0] is rows[0][0] and rows[i][1] is rows[0][1] for i in range(1, 40))


# ------------------------------------------------------------------ sheets read whole instead


def _rewrite_sheet(data: bytes, change) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = change(body)
            out.writestr(info.filename, body)
    return buf.getvalue()


def _rows_of_numbers(ws):
    for i in range(100):
        ws.append([f"r{i}", float(i)])


def test_rows_and_cells_without_positions_are_read_whole(tiny_blocks):
    plain = _rewrite_sheet(xlsx(_rows_of_numbers), lambda xml: re.sub(rb' r="[A-Z]*\d+"', b"", xml))
    [(_, whole, blocks)] = sheet_reads(plain)
    assert blocks is None and len(whole[0]) == 100  # type: ignore[index]
    # rows without numbers but cells with references: placed by the cells, the same either way
    cells = _rewrite_sheet(
        xlsx(_rows_of_numbers), lambda xml: re.sub(rb'<row r="\d+"', b"<row", xml)
    )
    assert_same_reads(cells)


def test_rows_out_of_order_are_read_whole(tiny_blocks):
    def swap(xml: bytes) -> bytes:
        """The last row moved up to follow the first."""
        rows = re.findall(rb"<row .*?</row>", xml)
        return xml.replace(b"".join(rows), b"".join([rows[0], rows[-1], *rows[1:-1]]))

    data = _rewrite_sheet(xlsx(_rows_of_numbers), swap)
    reads = sheet_reads(data)
    assert all(blocks is None for _, _, blocks in reads)


def _with_shared_strings(data: bytes) -> bytes:
    """The workbook with its inline strings moved to a shared-strings part, as Excel writes."""
    texts: list[bytes] = []

    def shared(m: re.Match) -> bytes:
        texts.append(m.group(2))
        return b'<c r="' + m.group(1) + b'" t="s"><v>%d</v></c>' % (len(texts) - 1)

    src = zipfile.ZipFile(io.BytesIO(data))
    sheet = re.sub(
        rb'<c r="([A-Z]+\d+)" t="inlineStr"><is><t>(.*?)</t></is></c>',
        shared,
        src.read("xl/worksheets/sheet1.xml"),
    )
    sst = (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d">'
        % len(texts)
        + b"".join(b"<si><t>" + t + b"</t></si>" for t in texts)
        + b"</sst>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            body = sheet if info.filename == "xl/worksheets/sheet1.xml" else src.read(info)
            out.writestr(info.filename, body)
        out.writestr("xl/sharedStrings.xml", sst)
    return buf.getvalue()


def test_shared_strings_read_the_same_in_blocks(tiny_blocks):
    data = _with_shared_strings(xlsx(_rows_of_numbers))
    assert assert_same_reads(data) == 1
    assert sheet_reads(data)[0][2][0][5] == ["r5", 5.0]  # type: ignore[index]


def test_big_shared_strings_mean_a_whole_read(tiny_blocks, monkeypatch):
    """Each block re-reads the shared strings: past a size that costs more than it saves."""
    monkeypatch.setattr(xlsx_table, "MAX_BLOCK_SHARED_STRINGS", 100)
    [(_, whole, blocks)] = sheet_reads(_with_shared_strings(xlsx(_rows_of_numbers)))
    assert blocks is None and whole[0][5] == ["r5", 5.0]  # type: ignore[index]


def test_a_small_sheet_is_read_whole():
    [(_, _, blocks)] = sheet_reads(xlsx(_rows_of_numbers))
    assert blocks is None


# ------------------------------------------------------------------ parse results unchanged


@pytest.fixture(scope="module")
def real():
    catalog = load_catalog(PLANS)
    return load_layouts(PLANS / "sources", catalog.elements), CatalogInfo.from_catalog(catalog)


def parsed(path_name: str, data: bytes, real) -> object:
    try:
        return parse_file(path_name, data, *real, current_year=2024)
    except UnreadableFile as e:
        return e.reason


@pytest.mark.parametrize(
    "path",
    sorted((REPO_ROOT / "samples" / "inbox").rglob("resources_*.xlsx")),
    ids=lambda p: f"{p.parts[-3]}-{p.stem}",
)
def test_parse_results_are_unchanged(path: Path, real, monkeypatch):
    data = path.read_bytes()
    whole = parsed(path.name, data, real)
    monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 2048)
    blocks = parsed(path.name, data, real)
    assert not isinstance(whole, str)
    pd.testing.assert_frame_equal(blocks.good, whole.good, check_exact=True)  # type: ignore[union-attr]
    assert (blocks.rejects, blocks.flags, blocks.rows_read) == (  # type: ignore[union-attr]
        whole.rejects,  # type: ignore[union-attr]
        whole.flags,  # type: ignore[union-attr]
        whole.rows_read,  # type: ignore[union-attr]
    )


def test_damaged_sheet_parses_the_same(real, monkeypatch):
    """Random damage (text in numbers, blanks, dates, booleans, merges) read both ways."""
    src = REPO_ROOT / "samples" / "inbox" / "longhu" / "2019" / "resources_2019.xlsx"
    rng = random.Random(11)
    for _ in range(4):
        wb = openpyxl.load_workbook(src)
        ws = wb.active
        for _ in range(rng.randint(5, 30)):
            r, c = rng.randint(2, ws.max_row), rng.randint(1, ws.max_column)
            ws.cell(r, c).value = rng.choice(
                ["", "abc", -1, 1.5, True, False, datetime(2019, 5, 1), "=1+1", None, "1,234"]
            )
        first = rng.randint(2, ws.max_row - 3)
        ws.merge_cells(start_row=first, start_column=3, end_row=first + 2, end_column=3)
        buf = io.BytesIO()
        wb.save(buf)
        data = buf.getvalue()
        monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 8 << 20)
        whole = parsed("resources_2019.xlsx", data, real)
        monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 1024)
        blocks = parsed("resources_2019.xlsx", data, real)
        if isinstance(whole, str):
            assert blocks == whole
            continue
        pd.testing.assert_frame_equal(blocks.good, whole.good, check_exact=True)  # type: ignore[union-attr]
        assert blocks.rejects == whole.rejects and blocks.flags == whole.flags  # type: ignore[union-attr]


def test_a_sheet_read_whole_after_one_read_in_blocks(tiny_blocks):
    """Reading in blocks lets calamine's copy of the workbook go; a later sheet that cannot be
    cut is still read whole (the copy is made again)."""
    wb = openpyxl.Workbook()
    first = wb.active
    second = wb.create_sheet("二")
    for i in range(100):
        first.append([f"a{i}", float(i)])
        second.append([f"b{i}", float(-i)])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as out:  # the second sheet's rows and cells lose positions
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/worksheets/sheet2.xml":
                body = re.sub(rb' r="[A-Z]*\d+"', b"", body)
            out.writestr(info.filename, body)
    book = xlsx_table.XlsxBook("x.xlsx", plain.getvalue(), DEFAULT_LIMITS)
    one, two = (book.table(n) for n in book.sheet_names)
    assert one.rows[99] == ["a99", 99.0] and two.rows[99] == ["b99", -99.0]  # type: ignore[union-attr]


def test_rows_read_through_columns():
    rows = [["h1", "h2"], ["a", 1.0], ["b", 2.0], ["c", 3.0]]
    columns = table.columns_of(rows, 1, step=2)
    assert columns == [["a", "b", "c"], [1.0, 2.0, 3.0]] and rows[1:] == [None] * 3
    view = table.RowsOfColumns([["h1", "h2"]], columns)
    assert len(view) == 4 and view[0] == ["h1", "h2"] and view[2] == ["b", 2.0]
    assert view[-1] == ["c", 3.0] and view[1:3] == [["a", 1.0], ["b", 2.0]]
    with pytest.raises(IndexError):
        view[4]


def test_column_table_gives_columns_cells_and_writes():
    """A sheet read in blocks is kept as columns: header rows move out of them on demand, a
    column reads without rebuilding rows, and a cell written through the table stays written."""
    view = table.RowsOfColumns([], [["h1", "a", "b", "c"], ["h2", 1.0, 2.0, 3.0]])
    assert table.column_cells(view, 1, 1) == [1.0, 2.0, 3.0]
    assert table.column_cells(view, 5, 2) == [None, None]
    table.set_cell(view, 2, 0, "B")
    assert view[2] == ["B", 2.0]
    data = view.data_columns(1)
    assert data == [["a", "B", "c"], [1.0, 2.0, 3.0]] and view.head == [["h1", "h2"]]
    assert len(view) == 4 and view[0] == ["h1", "h2"] and view[3] == ["c", 3.0]
    table.set_cell(view, 0, 1, "H2")
    assert table.column_cells(view, 1, 0) == ["H2", 1.0, 2.0, 3.0]
    # the header and one block further down (block by block): the rows between are gone
    block = table.RowsOfColumns([["h1", "h2"]], [["x", "y"], [7.0, 8.0]], start=10)
    assert len(block) == 12 and block[0] == ["h1", "h2"] and block[11] == ["y", 8.0]
    with pytest.raises(IndexError):
        block[5]


def test_blocks_are_added_as_columns():
    columns: list[list[object]] = []
    n = table.add_block(columns, 0, 0, 1, [["a", 1.0], ["b", 2.0]])
    n = table.add_block(columns, n, 4, 0, [["x", "y", "z"]])
    assert n == 5
    assert columns == [
        ["", "", "", "", "x"],
        ["a", "b", "", "", "y"],
        [1.0, 2.0, "", "", "z"],
    ]


def test_a_workbook_with_a_big_sheet_is_opened_without_it(tiny_blocks, monkeypatch):
    """calamine opens the workbook without the sheets read in blocks (its copy of the whole file
    is ≈ 2× the file): the same sheet names, and a corrupt workbook part is still named."""
    from python_calamine import CalamineWorkbook

    data = SAMPLE_FACILITY.read_bytes()
    book = xlsx_table.XlsxBook("x.xlsx", data, DEFAULT_LIMITS)
    assert book._book is None
    assert book.sheet_names == CalamineWorkbook.from_filelike(io.BytesIO(data)).sheet_names
    assert book.table(None).rows[1][0] == openpyxl.load_workbook(SAMPLE_FACILITY).active["A2"].value

    src = zipfile.ZipFile(io.BytesIO(data))
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as out:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "xl/styles.xml":
                body = body[: len(body) // 2]
            out.writestr(info.filename, body)
    messages = []
    for block_bytes in (512, 64 << 20):
        monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", block_bytes)
        with pytest.raises(UnreadableFile) as e:
            xlsx_table.XlsxBook("x.xlsx", broken.getvalue(), DEFAULT_LIMITS)
        messages.append(e.value.reason)
    assert messages[0] == messages[1] and "corrupt XLSX" in messages[0]
