"""A big sheet read in row blocks is decompressed once: its part of the zip check (size bound,
CRC, formula and error marks) goes with the read of its blocks. Damage is still named as the
check on opening names it, and formula or error cells met only in later blocks are still read.
``ROW_BLOCK_BYTES`` is made tiny so that the sample's sheet of a few KB is cut into blocks."""

from __future__ import annotations

import io
import struct
import zipfile
from collections import Counter
from types import SimpleNamespace

import openpyxl
import pandas as pd
import pytest
from openpyxl.formatting.rule import FormulaRule

from healthplan.settings import REPO_ROOT
from tests.transforms.parsing.test_facility_blocks_agree import workbook
from transforms.parsing import (
    DEFAULT_LIMITS,
    UnreadableFile,
    parse_file,
    results,
    xlsx_table,
    xlsx_zip,
)

PLANS = REPO_ROOT / "plans"
SAMPLE = REPO_ROOT / "samples" / "inbox" / "longhu" / "2019" / "resources_2019.xlsx"
SHEET = "xl/worksheets/sheet1.xml"


@pytest.fixture
def streams(block_outcomes, monkeypatch):
    """The block-by-block attempts' outcomes (see test_facility_blocks_agree), with tiny blocks."""
    monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 1024)
    return block_outcomes


def outcome(data: bytes, real, name: str = "resources_2019.xlsx"):
    """The parse result, or the exception's type and text."""
    try:
        return parse_file(name, data, *real, current_year=2024)
    except Exception as e:  # noqa: BLE001 - zlib's own error included, as the check lets it out
        return type(e).__name__, str(e)


def check_outcome(data: bytes, name: str = "resources_2019.xlsx") -> tuple[str, str] | None:
    """What the zip check on opening, on its own, raises for the file (None: it passes)."""
    try:
        xlsx_zip.check_zip(name, data, DEFAULT_LIMITS)
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, str(e)
    return None


def rebuilt(edit=lambda name, body: body, stored: tuple[str, ...] = ()) -> bytes:
    """The sample again, each part through ``edit``; parts in ``stored`` not compressed."""
    src = zipfile.ZipFile(SAMPLE)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            kind = zipfile.ZIP_STORED if info.filename in stored else zipfile.ZIP_DEFLATED
            out.writestr(info.filename, edit(info.filename, src.read(info)), compress_type=kind)
    return buf.getvalue()


def flipped(data: bytes, member: str, at: float) -> bytes:
    """One byte of a member's stored (compressed) data changed, at a fraction of its length."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(member)
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    out = bytearray(data)
    out[start + int(info.compress_size * at)] ^= 0x55
    return bytes(out)


def assert_same(blocks, whole) -> None:
    pd.testing.assert_frame_equal(blocks.good, whole.good, check_exact=True)
    assert (blocks.rejects, blocks.flags) == (whole.rejects, whole.flags)
    assert (blocks.rows_read, blocks.rows_loaded) == (whole.rows_read, whole.rows_loaded)


def test_a_big_sheet_is_decompressed_once(real, streams, monkeypatch):
    read: Counter[str] = Counter()
    original = zipfile.ZipExtFile.read

    def counted(self, n=-1):
        chunk = original(self, n)
        read[self.name] += len(chunk)
        return chunk

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counted)
    data = SAMPLE.read_bytes()
    parsed = parse_file(SAMPLE.name, data, *real, current_year=2024)
    assert streams == [True] and parsed.rows_loaded > 300
    size = zipfile.ZipFile(io.BytesIO(data)).getinfo(SHEET).file_size
    assert read[SHEET] == size  # the zip check and the blocks: one read


@pytest.mark.parametrize(
    "damaged",
    [
        pytest.param(lambda: flipped(rebuilt(), SHEET, 0.02), id="deflate-start"),
        pytest.param(lambda: flipped(rebuilt(), SHEET, 0.6), id="deflate-middle"),
        pytest.param(lambda: flipped(rebuilt(), SHEET, 0.999), id="deflate-end"),
        pytest.param(lambda: flipped(rebuilt(stored=(SHEET,)), SHEET, 0.5), id="crc-middle"),
        pytest.param(lambda: flipped(rebuilt(stored=(SHEET,)), SHEET, 0.999), id="crc-end"),
        pytest.param(
            lambda: flipped(flipped(rebuilt(), SHEET, 0.5), "xl/styles.xml", 0.5),
            id="sheet-and-a-later-part",
        ),
        pytest.param(lambda: flipped(rebuilt(), "xl/styles.xml", 0.5), id="another-part"),
    ],
)
@pytest.mark.parametrize("block", [1024, 64 << 20])
def test_damage_is_named_as_the_check_on_opening_names_it(real, monkeypatch, damaged, block):
    """Whether the sheet is read in blocks (its check then going along) or whole."""
    monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", block)
    data = damaged()
    expected = check_outcome(data)
    assert expected is not None
    assert outcome(data, real) == expected


def test_error_and_formula_cells_in_later_blocks_are_read_in_blocks(real, streams, monkeypatch):
    """The marks are met only after the first block: the cells' notes are read then, and the
    rows before (which cannot hold them) keep their results."""

    def late_notes(ws):
        ws.cell(250, 10).value = "#DIV/0!"  # an error cell
        ws.cell(300, 11).value = "=1+1"  # a formula without a cached value

    data = workbook(late_notes)
    blocks = parse_file("resources_2019.xlsx", data, *real, current_year=2024)
    monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 64 << 20)
    whole = parse_file("resources_2019.xlsx", data, *real, current_year=2024)
    assert streams == [True, False]
    assert_same(blocks, whole)
    noted = {(r.row, r.reason.split(" ")[0]) for r in blocks.rejects}
    assert (250, "Excel") in noted and (300, "公式没有缓存值（请在") in noted


def test_marks_after_the_rows_keep_the_block_read(real, streams, monkeypatch):
    """A conditional format after the rows holds '<formula>': a mark, but no cell note."""

    def formatted(ws):
        ws.conditional_formatting.add("J2:J10", FormulaRule(formula=["J2>100"]))

    data = workbook(formatted)
    assert b"<formula>" in zipfile.ZipFile(io.BytesIO(data)).read(SHEET)
    blocks = parse_file("resources_2019.xlsx", data, *real, current_year=2024)
    monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 64 << 20)
    whole = parse_file("resources_2019.xlsx", data, *real, current_year=2024)
    assert streams == [True, False]
    assert_same(blocks, whole)


def test_a_sheet_whose_blocks_stop_short_is_still_checked(real, monkeypatch):
    """Two sheets big enough to cut: neither is read in blocks by the facility path, and both
    are checked before anything is given out."""
    monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 1024)
    wb = openpyxl.load_workbook(SAMPLE)
    copy = wb.copy_worksheet(wb.active)
    copy.sheet_state = "hidden"  # two visible copies would be an ambiguous workbook (refused)
    buf = io.BytesIO()
    wb.save(buf)
    second = "xl/worksheets/sheet2.xml"
    assert isinstance(outcome(buf.getvalue(), real), results.ParsedFile)
    damaged = flipped(buf.getvalue(), second, 0.5)
    expected = check_outcome(damaged)
    assert expected is not None and outcome(damaged, real) == expected


def test_a_workbook_opened_for_its_sheet_names_names_damage_first(monkeypatch):
    """calamine refuses a broken part when the workbook is opened; a damaged big sheet, whose
    check was left to its read, is what the file's opening names first, as before."""
    monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", 1024)

    def broken(name, body):
        return body[: len(body) // 2] if name == "xl/styles.xml" else body

    data = flipped(rebuilt(broken), SHEET, 0.5)
    expected = check_outcome(data)
    assert expected is not None
    with pytest.raises(UnreadableFile) as e:
        xlsx_table.XlsxBook("x.xlsx", data, DEFAULT_LIMITS)
    assert ("UnreadableFile", str(e.value)) == check_outcome(data, "x.xlsx")


@pytest.mark.parametrize("mark", [b"<f>1+1</f>", b'<c r="A1" t="e"><v>#N/A</v></c>', b"<x:f>", b""])
@pytest.mark.parametrize("offset", [0, 1, 2, 4, 6])
@pytest.mark.parametrize("chunk", [3, 7, 4096, 1 << 20])
def test_the_read_of_blocks_marks_a_sheet_as_the_check_does(mark, offset, chunk):
    """Whatever the sizes of the reads, a mark split between two of them still counts, and the
    member's bytes count once, when the read reaches its end."""
    sheet = b" " * (max(chunk, 4096) - offset) + mark + b" " * 100
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("xl/workbook.xml", b"<workbook/>")
        z.writestr(SHEET, sheet)
    zf, marked = xlsx_zip.check_zip("x.xlsx", buf.getvalue(), DEFAULT_LIMITS)
    book = SimpleNamespace(
        name="x.xlsx",
        limits=DEFAULT_LIMITS,
        unchecked={SHEET: zf.getinfo(SHEET)},
        expanded=11,
        marked=set(),
        failed=False,
    )
    with zf.open(SHEET) as stream:
        check = xlsx_zip.MemberCheck(book, SHEET, stream)  # type: ignore[arg-type]
        while check.read(chunk):
            pass
    assert book.marked == marked and book.unchecked == {}
    assert book.expanded == 11 + len(sheet) and not book.failed
