"""Files built to change values without a word, or to crash the reader (issue 23, the parser's
classes): each value has one reading or is refused, named by file, row and field."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import openpyxl
import pytest

from healthplan.layouts import SourceLayouts
from healthplan.settings import REPO_ROOT
from tests.transforms.parsing.helpers import (
    DEMO,
    ELEMENTS,
    HEADER,
    INFO,
    NOW,
    csv_bytes,
    reasons,
    value,
)
from transforms.parsing import ElementRule, UnreadableFile, parse_file, parse_number
from transforms.parsing.cells import COMMA_THOUSANDS, DECIMAL_COMMA, NO_COMMA, number_style

DEMO_XLSX = SourceLayouts.model_validate(
    {
        **DEMO.model_dump(),
        "source": "demo_xlsx",
        "layouts": [{**DEMO.layouts[0].model_dump(), "id": "demo_xlsx_v1", "format": "xlsx"}],
    }
)
GOOD = [["100", "市", 2020, 30, 1.5], ["101", "甲区", 2020, 10, 0.5], ["102", "乙区", 2020, 20, 1]]


def workbook(*sheets: tuple[str, list[list[object]], str]) -> bytes:
    """An XLSX of (title, rows, state) sheets, in order; state 'visible', 'hidden' or
    'veryHidden'."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows, state in sheets:
        ws = wb.create_sheet(title)
        ws.sheet_state = state
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx(data: bytes, name: str = "demo.xlsx", **kw):
    return parse_file(name, data, [DEMO_XLSX], INFO, current_year=NOW, **kw)


# ------------------------------------------------------------------ hidden and ambiguous sheets


@pytest.mark.parametrize("state", ["hidden", "veryHidden"])
def test_a_hidden_stale_sheet_before_the_visible_one_is_not_data(state):
    stale = [[r[0], r[1], r[2], r[3] * 2, r[4] * 2] for r in GOOD]
    data = workbook(("旧数据", [HEADER, *stale], state), ("人口", [HEADER, *GOOD], "visible"))
    parsed = xlsx(data)
    assert parsed.sheet == "人口"
    assert value(parsed, "100", "cnt") == 30 and value(parsed, "102", "pop") == 10000


def test_a_hidden_sheet_the_layout_names_is_read():
    named = SourceLayouts.model_validate(
        {
            **DEMO_XLSX.model_dump(),
            "layouts": [{**DEMO_XLSX.layouts[0].model_dump(), "sheet": "上报"}],
        }
    )
    data = workbook(("封面", [["说明"]], "visible"), ("上报", [HEADER, *GOOD], "hidden"))
    parsed = parse_file("demo.xlsx", data, [named], INFO, current_year=NOW)
    assert parsed.sheet == "上报" and value(parsed, "101", "cnt") == 10


def test_several_visible_sheets_that_fit_are_refused_with_the_sheets_listed():
    other = [[r[0], r[1], r[2], r[3] + 1, r[4]] for r in GOOD]
    data = workbook(
        ("一季度", [HEADER, *GOOD], "visible"),
        ("二季度", [HEADER, *other], "visible"),
        ("草稿", [HEADER, *GOOD], "hidden"),
    )
    with pytest.raises(UnreadableFile) as err:
        xlsx(data)
    reason = err.value.reason
    assert reason.startswith("工作簿有多个可见工作表")
    assert "「一季度」" in reason and "「二季度」" in reason and "「草稿」（隐藏 hidden）" in reason


def test_a_visible_notes_sheet_beside_the_data_is_no_ambiguity():
    data = workbook(
        ("说明", [["填表说明：单位为人"]], "visible"), ("数据", [HEADER, *GOOD], "visible")
    )
    assert xlsx(data).sheet == "数据"


# ------------------------------------------------------------------ decimal commas


def semicolons(rows: list[list[object]]) -> bytes:
    return "\n".join(";".join(str(c) for c in row) for row in [HEADER, *rows]).encode()


def test_decimal_commas_in_a_semicolon_file_are_refused_not_read_as_thousands():
    rows = [["100", "市", 2020, "30", "1,172"], ["101", "甲区", 2020, "10", "0,5"]]
    parsed = parse_file("demo.csv", semicolons(rows), [DEMO], INFO, current_year=NOW)
    assert value(parsed, "100", "pop") is None and value(parsed, "101", "pop") is None
    assert value(parsed, "100", "cnt") == 30
    got = {(row, field): reason for row, field, reason in reasons(parsed)}
    assert "ambiguous comma" in got[(2, "人口（万人）")]
    assert "ambiguous comma" in got[(3, "人口（万人）")]
    assert got[(2, "人口（万人）")].startswith("数值无法解析")


def test_thousands_commas_of_a_semicolon_file_without_decimals_are_refused():
    rows = [["100", "市", 2020, "1,234", "1.5"]]
    parsed = parse_file("demo.csv", semicolons(rows), [DEMO], INFO, current_year=NOW)
    assert value(parsed, "100", "cnt") is None
    assert value(parsed, "100", "pop") == 15000  # a decimal point has one reading here
    assert [(r, f) for r, f, _ in reasons(parsed)] == [(2, "人数")]


def test_quoted_thousands_in_a_comma_file_keep_their_one_reading():
    rows = [HEADER, ["100", "市", 2020, "1,234", "1.5"]]
    parsed = parse_file("demo.csv", csv_bytes(rows), [DEMO], INFO, current_year=NOW)
    assert value(parsed, "100", "cnt") == 1234 and not parsed.rejects


def test_dots_in_a_file_of_decimal_commas_are_refused():
    rows = [["100", "市", 2020, "1.234", "0,5"]]
    parsed = parse_file("demo.csv", semicolons(rows), [DEMO], INFO, current_year=NOW)
    got = dict(((r, f), why) for r, f, why in reasons(parsed))
    assert "ambiguous dot" in got[(2, "人数")] and "ambiguous comma" in got[(2, "人口（万人）")]


@pytest.mark.parametrize(
    "text, delimiter, style",
    [
        ('a,b\n1,"1,234"\n', ",", COMMA_THOUSANDS),
        ('a,b\n1,"1,5"\n', ",", DECIMAL_COMMA),
        ("a;b\n1;1,234\n", ";", NO_COMMA),
        ("a;b\n1;12,5\n", ";", DECIMAL_COMMA),
        ("a\tb\n1\t0,25\n", "\t", DECIMAL_COMMA),
        ("a\tb\n1\t1,234\n", "\t", COMMA_THOUSANDS),
    ],
)
def test_a_files_number_style_follows_its_cells(text, delimiter, style):
    assert number_style(text, delimiter) == style


def test_a_number_has_one_reading_per_style():
    assert parse_number("1,234") == (1234.0, "", 0)
    assert parse_number("1.234", NO_COMMA) == (1.234, "", 3)
    for raw, style in [("1,234", NO_COMMA), ("1,5", DECIMAL_COMMA), ("1.234", DECIMAL_COMMA)]:
        with pytest.raises(ValueError, match="not a number"):
            parse_number(raw, style)


# ------------------------------------------------------------------ absurd counts


@pytest.mark.parametrize("absurd", ["1.172", "1e308", "20000000000"])
def test_an_absurd_count_is_the_cell_rejected_and_the_right_total_stays(absurd):
    rows = [["100", "市", 2020, "30", "3"], ["101", "甲区", 2020, "10", "1"]]
    rows.append(["102", "乙区", 2020, absurd, "2"])
    parsed = parse_file("demo.csv", csv_bytes([HEADER, *rows]), [DEMO], INFO, current_year=NOW)
    assert value(parsed, "100", "cnt") == 30  # the parent's total is not blamed
    assert value(parsed, "102", "cnt") is None
    [(row, field, reason)] = reasons(parsed)
    assert (row, field) == (4, "人数")
    assert "whole number" in reason or "above the maximum" in reason


def test_a_scaled_count_is_whole_after_its_scale():
    rows = [["100", "市", 2020, "30", "1.2345"], ["101", "甲区", 2020, "10", "1.23456"]]
    parsed = parse_file("demo.csv", csv_bytes([HEADER, *rows]), [DEMO], INFO, current_year=NOW)
    assert value(parsed, "100", "pop") == 12345
    assert [(r, f) for r, f, _ in reasons(parsed)] == [(3, "人口（万人）")]


def test_a_count_with_float_noise_from_a_formula_is_whole():
    rows = [["100", "市", 2020, repr(900 * 0.55), "3"]]
    parsed = parse_file("demo.csv", csv_bytes([HEADER, *rows]), [DEMO], INFO, current_year=NOW)
    assert not parsed.rejects and value(parsed, "100", "cnt") == 900 * 0.55


def test_the_element_rule_reads_a_cell_and_a_column_alike():
    from healthplan.layouts import Column

    rule = ElementRule.of(Column(element="cnt"), ELEMENTS["cnt"])
    raw = np.array([5.0, 1.172, 1e308, -1.0, 3e10, 0.0])
    values, ok = rule.check_array(raw)
    each = [rule.check(v) for v in raw.tolist()]
    assert ok.tolist() == [reason is None for _, reason in each] == [1, 0, 0, 0, 0, 1]
    assert values.tolist() == [v for v, _ in each]


# ------------------------------------------------------------------ the year in the file name


def test_a_file_named_for_one_year_whose_rows_say_another_is_refused():
    rows = [HEADER, ["100", "市", 2018, "30", "1.5"], ["101", "甲区", 2018, "10", "0.5"]]
    with pytest.raises(UnreadableFile) as err:
        parse_file("demo_2019.csv", csv_bytes(rows), [DEMO], INFO, current_year=NOW)
    assert err.value.file == "demo_2019.csv"
    reason = err.value.reason
    assert reason.startswith("文件名中的年份 2019 与数据行的年份（2018")
    assert "年份列「年份」" in reason and "rows from 2" in reason


def test_rows_of_another_year_than_the_file_name_are_rejected_by_row():
    rows = [HEADER, ["100", "市", 2019, "30", "1.5"], ["101", "甲区", 2018, "10", "0.5"]]
    parsed = parse_file("demo_2019.csv", csv_bytes(rows), [DEMO], INFO, current_year=NOW)
    assert value(parsed, "100", "cnt", year=2019) == 30
    assert value(parsed, "101", "cnt", year=2018) is None
    [(row, field, reason)] = reasons(parsed)
    assert (row, field) == (3, "年份") and reason.startswith("年份与文件名不符：文件名为 2019 年")


def test_a_file_name_with_two_years_states_none():
    rows = [HEADER, ["100", "市", 2018, "30", "1.5"]]
    parsed = parse_file("demo_2015-2019.csv", csv_bytes(rows), [DEMO], INFO, current_year=NOW)
    assert value(parsed, "100", "cnt", year=2018) == 30


# ------------------------------------------------------------------ numbers that overflow


@pytest.mark.parametrize("huge", ["1e400", "9" * 400, "-1e400"])
def test_a_number_that_overflows_is_a_rejected_cell(huge):
    rows = [HEADER, ["100", "市", 2020, huge, "1.5"], ["101", "甲区", 2020, "10", "0.5"]]
    parsed = parse_file("demo.csv", csv_bytes(rows), [DEMO], INFO, current_year=NOW)
    assert all(math.isfinite(v) for v in parsed.good["value"])
    [(row, field, reason)] = reasons(parsed)
    assert (row, field) == (2, "人数") and "not a finite number" in reason
    assert value(parsed, "101", "cnt") == 10


def test_an_int_too_large_for_a_float_is_refused():
    with pytest.raises(ValueError, match="not a finite number"):
        parse_number(10**400)


# ------------------------------------------------------------------ a stray cell far out

FAR_CHILD = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    sys.path.insert(0, sys.argv[1])
    from tests.transforms.parsing.test_no_silent_change import DEMO_XLSX
    from tests.transforms.parsing.helpers import INFO, NOW
    from transforms.parsing import UnreadableFile, parse_file
    from transforms.parsing import xlsx_table
    if len(sys.argv) > 3:
        xlsx_table.ROW_BLOCK_BYTES = int(sys.argv[3])
    try:
        parsed = parse_file("demo.xlsx", sys.stdin.buffer.read(), [DEMO_XLSX], INFO, current_year=NOW)
        print("parsed", len(parsed.good), len(parsed.rejects))
    except UnreadableFile as e:
        print("unreadable", e.reason)
    """
)


def far_parse(data: bytes, block_bytes: int | None = None) -> str:
    """parse_file in a child process under a memory limit (a native abort must not take the
    test run down): what it printed."""
    args = [sys.executable, "-c", FAR_CHILD, str(REPO_ROOT), "x"]
    if block_bytes:
        args.append(str(block_bytes))
    run = subprocess.run(args, input=data, capture_output=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-600:]
    return run.stdout.decode().strip()


def with_far_cell(value: object, rows: list[list[object]] = GOOD, styled: bool = False) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in [HEADER, *rows]:
        ws.append(row)
    if styled:
        ws["XFD1048576"].number_format = "0.00"
    else:
        ws["XFD1048576"] = value
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("blank", [" ", "", None])
def test_a_blank_cell_far_out_does_not_size_the_sheet(blank):
    out = far_parse(with_far_cell(blank, styled=blank is None))
    assert out == "parsed 6 0"


def test_a_blank_shared_string_far_out_does_not_size_the_sheet():
    data = with_far_cell(" ")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    inline = b'<c r="XFD1048576" t="inlineStr"><is><t> </t></is></c>'
    assert inline in sheet
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(
        inline, b'<c r="XFD1048576" t="s"><v>0</v></c>'
    )
    parts["xl/sharedStrings.xml"] = (
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
        b'uniqueCount="1"><si><t xml:space="preserve"> </t></si></sst>'
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
    )
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>",
        b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for member, content in parts.items():
            out.writestr(member, content)
    assert far_parse(buf.getvalue()) == "parsed 6 0"


def test_a_value_far_out_is_refused_with_the_cell_named():
    out = far_parse(with_far_cell("x"))
    assert out.startswith(
        "unreadable 工作表「Sheet」的单元格分布异常：有内容的单元格远至 XFD1048576"
    )


def without_dimension(data: bytes) -> bytes:
    """The workbook with its sheet's dimension element removed (as some writers leave it out)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    start = sheet.index(b"<dimension")
    parts["xl/worksheets/sheet1.xml"] = sheet[:start] + sheet[sheet.index(b">", start) + 1 :]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for member, content in parts.items():
            out.writestr(member, content)
    return buf.getvalue()


@pytest.mark.parametrize("dimension", [True, False])
def test_a_far_cell_in_a_sheet_read_in_blocks_goes_to_the_checked_whole_read(dimension):
    rows = [["101", "甲区", 2020, i, 1] for i in range(3000)]
    data = with_far_cell(" ", rows=rows)
    out = far_parse(data if dimension else without_dimension(data), block_bytes=4096)
    assert out.startswith("parsed")
