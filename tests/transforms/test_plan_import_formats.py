"""`plan import` reads the same indicator table from .docx, .html, .xlsx as from the text seed."""

from __future__ import annotations

import pytest

from tests.fixtures.plan_docx import docx_bytes, html_bytes, xlsx_bytes
from tests.transforms.test_plan_import_seeds import SEEDS, differences
from transforms.plan_import import Options, PlanImportError, draft_plan, read_document

MERGED = (0, 4, 5)  # 指标类别, “十三五”目标 (rows 5–10) and 指标要求 are merged down


def seed_table(plan_id: str):
    source = SEEDS[plan_id]
    doc = read_document(source.name, source.read_bytes())
    grid = doc.tables[0]
    header = [c.text for c in grid[0]]
    rows = [[c.text for c in row] for row in grid[1:]]
    return header, rows, doc.body.splitlines()[:2]


def build(kind: str, plan_id: str = "longhu") -> bytes:
    header, rows, title_lines = seed_table(plan_id)
    title = "".join(line.strip() for line in title_lines if line.strip())
    if kind == "docx":
        return docx_bytes(title, ["一、发展现状"], header, rows, MERGED)
    if kind == "html":
        return html_bytes(title, ["一、发展现状"], header, rows, MERGED)
    return xlsx_bytes(title + "主要指标", header, rows, MERGED)


@pytest.mark.parametrize("kind", ["docx", "html", "xlsx"])
def test_each_format_reproduces_the_committed_table_fields(kind):
    plan, _ = draft_plan(read_document(f"plan.{kind}", build(kind)), Options("longhu"))
    assert plan["title_zh"] == "龙湖区卫生和计划生育事业发展“十三五”规划"
    assert (plan["baseline_year"], plan["target_year"]) == (2015, 2020)
    found = differences("longhu", plan, True)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("kind", ["docx", "html", "xlsx"])
def test_really_merged_cells_are_read_as_merged_not_guessed(kind):
    """A merged attribute cell is certain: flagged, but not listed for review (text blanks are)."""
    plan, _ = draft_plan(read_document(f"plan.{kind}", build(kind)), Options("longhu"))
    drafts = {i["number"]: i for i in plan["indicators"]}
    for n in (3, 5, 6, 14, 22, 29):
        assert drafts[n]["attribute_from_merged_cell"] is True, n
        assert not [r for r in drafts[n]["review_needed"] if r["field"] in ("attribute", "target")]
    assert drafts[10]["target"]["note_zh"] == "合并单元格“达国家要求”，适用于第5—10项"
    text_plan, _ = draft_plan(read_document("x.txt", SEEDS["longhu"].read_bytes()), Options("x"))
    text3 = next(i for i in text_plan["indicators"] if i["number"] == 3)
    assert [r["field"] for r in text3["review_needed"]] == ["attribute"]


def test_docx_vertical_merge_is_in_the_file():
    """The test document really holds w:vMerge cells (not blanks) in the attribute column."""
    import io

    import docx

    table = docx.Document(io.BytesIO(build("docx"))).tables[0]
    merges = [tc.vMerge for tr in table._tbl.tr_lst for tc in tr.tc_lst[5:6]]
    assert merges.count("restart") >= 4 and merges.count("continue") >= 10


def test_html_with_a_two_row_header_and_category_heading_rows():
    """A header split over two rows (指标值 over 2020年 | 2025年) and categories as heading rows."""
    page = """<html><head><meta charset="gb2312"></head><body><table><tr><td>
    <h1>某某市卫生健康“十四五”规划</h1><p>2020年，全市婴儿死亡率为3.5‰。</p>
    <table><tr><th rowspan=2>序号</th><th rowspan=2>指标名称</th><th rowspan=2>单位</th>
    <th colspan=2>指标值</th><th rowspan=2>属性</th></tr><tr><th>2020年</th><th>2025年</th></tr>
    <tr><td colspan=6>一、健康水平</td></tr>
    <tr><td>1</td><td>人均预期寿命</td><td>岁</td><td>79.1</td><td>80左右</td><td rowspan=2>预期性</td></tr>
    <tr><td>2</td><td>婴儿死亡率</td><td>‰</td><td>3.2</td><td>&lt;4</td></tr>
    <tr><td colspan=6>二、卫生资源</td></tr>
    <tr><td>3</td><td>每千人口床位数</td><td>张</td><td>5.9</td><td>6.5</td><td>约束性</td></tr>
    </table></td></tr></table></body></html>""".encode("gb18030")  # inside a layout table
    plan, areas = draft_plan(read_document("plan.html", page), Options("mou", area_code="999901"))
    inds = plan["indicators"]
    assert [(i["number"], i["category_zh"]) for i in inds] == [
        (1, "一、健康水平"),
        (2, "一、健康水平"),
        (3, "二、卫生资源"),
    ]
    assert inds[0]["target"] | {} == {
        "text": "80左右",
        "comparator": "about",
        "value": 80.0,
        "year": 2025,
    }
    assert inds[1]["attribute"] == "预期性" and inds[1]["attribute_from_merged_cell"] is True
    assert inds[2]["unit"] == "张/千人口" and inds[2]["baseline"]["value"] == 5.9
    assert [(f["value"], f["year"]) for f in inds[1]["text_figures"]] == [(3.5, 2020)]
    assert (plan["baseline_year"], plan["target_year"], plan["mid_term_year"]) == (2020, 2025, 2023)
    assert areas["areas"][0] == {
        "code": "999901",
        "name_zh": "某某市",
        "name_en": "某某市",
        "level": "city",
    }


def test_a_document_without_an_indicator_table_is_refused_with_a_reason():
    with pytest.raises(PlanImportError, match="未找到指标表"):
        draft_plan(read_document("notes.txt", "第一章 总则\n本规划……\n".encode()), Options("x"))
    with pytest.raises(PlanImportError, match="另存为 .docx"):
        read_document("plan.doc", b"\xd0\xcf\x11\xe0")
    with pytest.raises(PlanImportError, match="无法读取"):
        read_document("plan.docx", b"not a zip file")


def pdf_of(page: bytes, font_size: str) -> bytes:
    import weasyprint

    css = weasyprint.CSS(
        string=f"body {{ font-family: 'Noto Sans CJK SC'; font-size: {font_size} }}"
        "table { border-collapse: separate; border-spacing: 0 }"
        "td, th { border: 0.5pt solid black; padding: 2pt } tr { break-inside: avoid }"
    )
    return weasyprint.HTML(string=page.decode()).write_pdf(stylesheets=[css])


@pytest.mark.integration
def test_pdf_with_a_text_layer_reproduces_the_committed_table_fields():
    """A real PDF (WeasyPrint renders the HTML table, rowspans kept) read back by pdfplumber."""
    doc = read_document("plan.pdf", pdf_of(build("html"), "9pt"))
    assert "龙湖区" in doc.body and "人均期望寿命" not in doc.body  # the table is not body text
    plan, _ = draft_plan(doc, Options("longhu"))
    found = differences("longhu", plan, True)
    assert not found, "\n".join(found)


@pytest.mark.integration
def test_a_pdf_table_continued_over_pages_is_read_as_one():
    import io

    import pdfplumber

    header, rows, title_lines = seed_table("longhu")
    pdf = pdf_of(html_bytes("".join(title_lines), [], header, rows, ()), "16pt")
    with pdfplumber.open(io.BytesIO(pdf)) as rendered:
        assert len(rendered.pages) >= 2
    plan, _ = draft_plan(read_document("plan.pdf", pdf), Options("longhu"))
    assert [i["number"] for i in plan["indicators"]] == list(range(1, 31))
    assert plan["indicators"][29]["target"]["text"] == "≥30"


def test_a_pdf_without_a_text_layer_is_refused():
    import weasyprint

    blank = weasyprint.HTML(string="<p></p>").write_pdf()
    with pytest.raises(PlanImportError, match="没有文字层"):
        read_document("scan.pdf", blank)
