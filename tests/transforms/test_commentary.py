"""The bureau's commentary file: sections, status lines, prompts, Markdown as plain blocks."""

from __future__ import annotations

from transforms.commentary import (
    OVERALL,
    markdown_blocks,
    parse_commentary,
    skeleton,
    stale_sections,
)

TEXT = """# 龙湖区评述（不并入报告）
<!-- 说明：不并入 -->
## 总体
总体平稳，**卫生资源**仍是短板。

## 指标14 注册护士
<!-- 状态：需加快 -->
<!-- 请在此填写原因分析和对策（留空则报告中不出现本节）。 -->
原因分析：招聘受编制限制<script>alert(1)</script>。

对策：
- 定向培养；
- 落实**待遇**。

## 指标3
<!-- 状态：已实现 -->

## 指标99 不存在
文字
## 其他说明
文字
## 指标14
重复
"""


def test_sections_are_keyed_by_overall_and_indicator_number():
    c = parse_commentary(TEXT, {3, 14})
    assert c.overall is not None and c.overall.key == OVERALL
    assert c.overall.blocks[0]["runs"] == [
        {"text": "总体平稳，", "bold": False},
        {"text": "卫生资源", "bold": True},
        {"text": "仍是短板。", "bold": False},
    ]
    assert set(c.indicators) == {14}  # 指标3 has only its status line and the prompt: nothing
    s = c.indicators[14]
    assert s.written_status == "需加快" and s.line == 6
    kinds = [b["kind"] for b in s.blocks]
    assert kinds == ["p", "p", "ul", "ul"]
    assert s.blocks[3]["runs"][-2] == {"text": "待遇", "bold": True}


def test_html_in_the_file_stays_text_and_prompts_are_dropped():
    s = parse_commentary(TEXT, {3, 14}).indicators[14]
    text = "".join(r["text"] for b in s.blocks for r in b["runs"])
    assert "<script>alert(1)</script>" in text  # kept as text: the templates escape it
    assert "请在此填写" not in text and "状态" not in text


def test_sections_that_cannot_be_placed_are_reported_with_their_line():
    problems = parse_commentary(TEXT, {3, 14}).problems
    assert any("第18行" in p and "指标99" in p for p in problems)
    assert any("第20行" in p and "其他说明" in p for p in problems)
    assert any("第22行" in p and "重复" in p for p in problems)


def test_a_changed_status_is_found():
    c = parse_commentary(TEXT, {3, 14})
    assert stale_sections(c, {14: "需加快"}) == []
    assert stale_sections(c, {14: "滞后"}) == [
        {"number": 14, "written": "需加快", "now": "滞后", "line": 6}
    ]


def test_the_skeleton_parses_to_nothing_until_filled_and_keeps_the_status():
    text = skeleton("标题", [(4, "疫苗接种率", "滞后"), (14, "注册护士", "需加快")])
    assert "## 总体" in text and "## 指标4 疫苗接种率" in text and "<!-- 状态：滞后 -->" in text
    empty = parse_commentary(text, {4, 14})
    assert empty.overall is None and not empty.indicators and not empty.problems
    filled = parse_commentary(text.replace("## 指标14 注册护士\n", "## 指标14 注册护士\n写了。\n"))
    assert filled.indicators[14].written_status is None  # text before the status line
    filled = parse_commentary(text + "\n补充一句。\n", {4, 14})
    assert filled.indicators[14].written_status == "需加快"


def test_links_headings_and_numbered_lists():
    blocks = markdown_blocks("### 小标题\n\n[链接](http://x)\n\n3. 甲\n4. 乙")
    texts = ["".join(r["text"] for r in b["runs"]) for b in blocks]
    assert texts == ["### 小标题", "[链接](http://x)", "甲", "乙"]
    assert [(b["kind"], b.get("n")) for b in blocks[2:]] == [("ol", 3), ("ol", 4)]
