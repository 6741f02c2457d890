"""The 公文 heading order, checked on any list of (level, text): 一、→（一）→1.→（1）, numbered
without gaps or restarts inside their parent, the body's five parts in order, then 附件1…"""

from __future__ import annotations

import re

CN = "一二三四五六七八九十"
BODY = [
    "一、基本情况",
    "二、主要成效",
    "三、主要指标完成情况",
    "四、存在问题及原因分析",
    "五、下一步工作建议",
]


def cn(n: int) -> str:
    return CN[n - 1] if n <= 10 else "十" + CN[n - 11]


def check_heading_order(headings: list[tuple[int, str]]) -> None:
    tops = [t for level, t in headings if level == 1]
    assert tops[:5] == BODY, tops
    annexes = tops[5:]
    assert annexes, tops
    for k, t in enumerate(annexes, start=1):
        assert re.match(rf"^附件{k}　\S", t), (k, t)
    n2 = n3 = 0
    for level, text in headings:
        if level == 1:
            n2 = n3 = 0
        elif level == 2:
            n2 += 1
            n3 = 0
            assert text.startswith(f"（{cn(n2)}）"), (n2, text)
        elif level == 3:
            n3 += 1
            assert re.match(rf"^{n3}[.．]", text), (n3, text)
        elif level == 4:
            assert re.match(r"^（\d+）", text), text


def html_headings(html: str) -> list[tuple[int, str]]:
    """h2 → 1, h3 → 2, h4 → 3 (h1 is not used); the contents' own heading is left out."""
    out = []
    for m in re.finditer(r"<h([234])[^>]*>(.*?)</h\1>", html, flags=re.S):
        text = re.sub(r"<[^>]+>", "", m.group(2)).strip()
        if text.replace("　", "") == "目录":
            continue
        out.append((int(m.group(1)) - 1, text))
    return out


def docx_headings(path_or_doc) -> list[tuple[int, str]]:
    from docx import Document

    doc = Document(path_or_doc) if not hasattr(path_or_doc, "paragraphs") else path_or_doc
    out = []
    for p in doc.paragraphs:
        name = p.style.name if p.style is not None else ""
        if name.startswith("Heading "):
            out.append((int(name.split()[1]), p.text.strip()))
    return out
