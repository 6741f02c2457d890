"""The report's writers on the demo context: HTML for screens, DOCX, XLSX, archive names."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import BytesIO

import pytest

from tests.transforms.test_report_context import demo_context, demo_plan, issue18_context
from tests.writers.headings import check_heading_order, docx_headings, html_headings
from transforms.commentary import parse_commentary

COMMENTARY = (
    "## 总体\n总体平稳推进。\n"
    "## 指标1 注册护士\n<!-- 状态：倒退 -->\n护士招聘受编制限制<b>未解决</b>。\n\n- 扩大**定向培养**\n"
    "## 指标3\n床位使用率保持高位。\n"
)


@pytest.fixture(scope="module")
def ctx():
    commentary = parse_commentary(COMMENTARY, {i.number for i in demo_plan().indicators})
    return demo_context("mid", commentary=commentary, with_charts=True)[0]


@pytest.fixture(scope="module")
def html(ctx):
    from writers.html import render_html

    return render_html(ctx)


def test_html_is_one_offline_file_with_a_screen_layout(html):
    assert '<style media="screen">' in html and "max-width: 60rem" in html
    assert "@media (max-width: 700px)" in html
    assert not re.search(r'\s(src|href)="(?!#)', html)  # no file, image or link fetched
    assert "<link" not in html and "<script" not in html
    assert html.count("<svg") == sum(
        len(c["entries"]) for c in demo_context("mid", with_charts=True)[0]["charts"]["categories"]
    )


def test_html_headings_follow_the_official_order(html):
    check_heading_order(html_headings(html))


def test_commentary_is_escaped_and_placed_beside_its_indicator(html):
    assert "&lt;b&gt;未解决&lt;/b&gt;" in html and "<b>未解决" not in html
    assert "<strong>定向培养</strong>" in html
    problems = html.index('id="sec-problems"')
    item = html.index("指标1“注册护士”", problems)
    assert item < html.index("护士招聘受编制限制", problems) < html.index('id="sec-suggestions"')
    notes = html.index('id="sec-indicator-notes"')
    assert notes < html.index("床位使用率保持高位") < problems
    assert html.index("总体平稳推进") < html.index('id="sec-achievements"')


def test_issue_18_keys_reach_the_html_and_the_docx():
    from writers.docx import render_docx
    from writers.html import render_html

    c = issue18_context()
    html = render_html(c)
    for text in ("基期值取自规划正文", "人工调整", "建成区域医疗中心", "张三", "王五",
                 "【数据不完整】", "全域数值95.50"):  # fmt: skip
        assert text in html, text
    from docx import Document

    doc = Document(BytesIO(render_docx(c)))
    text = "\n".join(p.text for p in doc.paragraphs) + "\n".join(
        cell.text for t in doc.tables for row in t.rows for cell in row.cells
    )
    for t in ("基期值取自规划正文", "人工调整", "建成区域医疗中心", "王五", "【数据不完整】"):
        assert t in text, t
    assert "数据不完整" in doc.sections[0].header.paragraphs[0].text


def test_docx_has_real_headings_one_row_per_indicator_and_the_charts(ctx):
    from docx import Document

    from writers.docx import render_docx

    doc = Document(BytesIO(render_docx(ctx)))
    check_heading_order(docx_headings(doc))
    header = [c.text for c in doc.tables[1].rows[0].cells]
    assert header[:2] == ["序号", "指标名称（单位）"]
    numbers = [r.cells[0].text for r in doc.tables[1].rows[1:]]
    assert numbers == [str(i.number) for i in demo_plan().indicators]
    pictures = doc.inline_shapes
    assert len(pictures) == sum(len(c["entries"]) for c in ctx["charts"]["categories"]) > 0
    body = [p.text for p in doc.paragraphs]
    k = next(i for i, t in enumerate(body) if "指标1“注册护士”" in t and "：" in t)
    assert "护士招聘受编制限制<b>未解决</b>。" in body[k + 1]
    assert doc.core_properties.title == "示例区卫生健康“十三五”规划 中期评估报告"
    assert doc.tables[1].rows[0]._tr.trPr is not None  # header row repeats on each page


def test_a_chart_png_is_a_real_picture(ctx):
    from writers.docx import chart_png

    svg = ctx["charts"]["categories"][0]["entries"][0]["svg"]
    png = chart_png(svg, 300)
    assert png.startswith(b"\x89PNG") and len(png) > 2000


def test_xlsx_carries_series_quality_sources_colours_and_print_setup(ctx):
    from openpyxl import load_workbook

    from tests.transforms.test_report_context import AREAS, demo_values
    from transforms.assessment import assess_plan
    from writers.xlsx import render_xlsx

    plan = demo_plan()
    values = demo_values(plan)
    rows = assess_plan(plan, AREAS, values, "mid", 2018)
    wb = load_workbook(BytesIO(render_xlsx(ctx, rows, plan, values)))
    assert {"年度数据", "数据质量", "数据来源"} <= set(wb.sheetnames)
    ws = wb["主要指标"]
    headers = [c.value for c in ws[1]]
    failing = {r[0].value: r[headers.index("未达标单位")].value for r in ws.iter_rows(min_row=2)}
    assert failing[7] == "南镇" and failing[1] is None  # the per-town indicator names it
    assert ws.conditional_formatting and ws.page_setup.orientation == "landscape"
    assert ws.print_title_rows == "$1:$1" and ws.page_setup.fitToWidth == 1
    assert wb.properties.title.startswith("示例区卫生健康“十三五”规划 中期评估报告")
    series = wb["年度数据"]
    assert series.max_row - 1 == len(values.dropna(subset=["value"])) or series.max_row - 1 == len(
        values
    )
    cell = next(r for r in series.iter_rows(min_row=2) if r[0].value == 8)[7]
    assert cell.number_format == "0"  # indicator 8 has 0 decimals
    assert wb["数据来源"]["A2"].value == "resources_2018.xlsx"


def test_archive_names_carry_the_as_of_moment(tmp_path):
    from writers.files import archive_contents

    f = tmp_path / "p_mid_2018.pdf"
    f.write_bytes(b"old")
    moment = datetime(2019, 3, 1, 2, 0, tzinfo=UTC)
    out = archive_contents([f, tmp_path / "missing.html"], tmp_path / "archive", moment)
    assert list(out) == [tmp_path / "archive" / "p_mid_2018_asof20190301T020000Z.pdf"]
    (tmp_path / "archive").mkdir()
    next(iter(out)).write_bytes(b"old")
    assert archive_contents([f], tmp_path / "archive", moment) == {}  # already kept
    f.write_bytes(b"changed")
    again = archive_contents([f], tmp_path / "archive", moment)
    assert [p.name for p in again] == ["p_mid_2018_asof20190301T020000Z-2.pdf"]
