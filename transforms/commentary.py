"""The bureau's own words for a report: a Markdown file, parsed into plain blocks (pure).

File format (``plans/<plan>/commentary/<stage>-<year>.md``, written by ``healthplan commentary
init`` and then by the statistician):

    # 标题（任意，不并入报告）
    ## 总体
    正文……
    ## 指标14 注册护士
    <!-- 状态：需加快 -->
    原因分析……对策……

- ``## 总体`` goes into the overview (一、基本情况); ``## 指标N`` beside indicator N (in 四 when
  the indicator is listed there, else in 三). Anything before the first ``##`` is ignored.
- A line ``<!-- 状态：X -->`` right under a heading records the indicator's status when the
  section was written; the report flags a section whose indicator's status has changed since.
  Every other line that is a whole ``<!-- … -->`` comment is a prompt and is dropped.
- The text is Markdown with raw HTML disabled: paragraphs, bullet and numbered lists and
  **bold** become blocks of runs; everything else (links, HTML tags, headings) stays text.
  The templates escape every run, so nothing in the file can become markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from markdown_it import MarkdownIt

OVERALL = "总体"
SECTION = re.compile(r"^##(?!#)\s*(?P<title>.*?)\s*$")
INDICATOR = re.compile(r"^指标\s*(?P<number>\d+)(?:\s|[　:：.．、]|$)")
STATUS_LINE = re.compile(r"^\s*<!--\s*状态[：:]\s*(?P<status>.*?)\s*-->\s*$")
COMMENT_LINE = re.compile(r"^\s*<!--.*-->\s*$")
PROMPT = "请在此填写原因分析和对策（留空则报告中不出现本节）。"


@dataclass(frozen=True)
class Section:
    """One ``##`` section: its heading line, its text as blocks, the status it was written at."""

    key: str | int  # OVERALL or an indicator number
    line: int  # the heading's line number (1-based), for messages
    blocks: tuple[dict, ...]
    written_status: str | None = None


@dataclass(frozen=True)
class Commentary:
    overall: Section | None = None
    indicators: Mapping[int, Section] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # sections that could not be placed, as messages


def _markdown() -> MarkdownIt:
    return MarkdownIt("zero", {"html": False}).enable(["emphasis", "list"])


def markdown_blocks(text: str) -> tuple[dict, ...]:
    """Paragraphs and list items as ``{"kind": "p"|"ul"|"ol", "runs": [{"text", "bold"}]}``;
    an item of a numbered list carries its number (``"n"``)."""
    blocks: list[dict] = []
    lists: list[list] = []  # [kind, next number]
    for tok in _markdown().parse(text):
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            start = int(tok.attrGet("start") or 1) if tok.type == "ordered_list_open" else 1
            lists.append(["ol" if tok.type == "ordered_list_open" else "ul", start])
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif tok.type == "inline":
            runs = _runs(tok.children or [])
            if not runs:
                continue
            if lists and blocks and blocks[-1].get("open_item"):
                blocks[-1]["runs"].extend([{"text": "\n", "bold": False}, *runs])
                continue
            block: dict = {"kind": "p", "runs": runs}
            if lists:
                kind, n = lists[-1]
                block = {"kind": kind, "runs": runs, "n": n, "depth": len(lists), "open_item": True}
                lists[-1][1] += 1
            blocks.append(block)
        elif tok.type == "list_item_close" and blocks:
            blocks[-1].pop("open_item", None)
    for b in blocks:
        b.pop("open_item", None)
    return tuple(blocks)


def _runs(children) -> list[dict]:
    runs: list[dict] = []
    bold = 0
    for c in children:
        if c.type == "strong_open":
            bold += 1
        elif c.type == "strong_close":
            bold -= 1
        elif c.type in ("softbreak", "hardbreak"):
            runs.append({"text": "\n" if c.type == "hardbreak" else "", "bold": False})
        elif c.type in ("text", "code_inline", "html_inline") or c.content:
            runs.append({"text": c.content, "bold": bold > 0})
    merged: list[dict] = []
    for r in runs:
        if not r["text"]:
            continue
        if merged and merged[-1]["bold"] == r["bold"]:
            merged[-1] = {"text": merged[-1]["text"] + r["text"], "bold": r["bold"]}
        else:
            merged.append(r)
    return merged


def parse_commentary(text: str, numbers: set[int] | frozenset[int] | None = None) -> Commentary:
    """The sections of a commentary file; ``numbers``: the plan's indicator numbers (a section
    for another number, or with another heading, is reported in ``problems``, not placed)."""
    sections: list[tuple[str, int, list[str]]] = []
    for i, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        m = SECTION.match(line)
        if m:
            sections.append((m.group("title"), i, []))
        elif sections:
            sections[-1][2].append(line)
    overall: Section | None = None
    indicators: dict[int, Section] = {}
    problems: list[str] = []
    for title, line, body in sections:
        written = None
        kept = []
        for k, b in enumerate(body):
            sm = STATUS_LINE.match(b)
            if sm and not any(x.strip() for x in body[:k]):
                written = sm.group("status") or None
            elif not COMMENT_LINE.match(b):
                kept.append(b)
        blocks = markdown_blocks("\n".join(kept))
        im = INDICATOR.match(title)
        if title == OVERALL or title.startswith(OVERALL + " "):
            key: str | int = OVERALL
        elif im:
            key = int(im.group("number"))
            if numbers is not None and key not in numbers:
                problems.append(f"第{line}行“## {title}”：本规划没有指标{key}，该节未并入报告。")
                continue
        else:
            problems.append(
                f"第{line}行“## {title}”：标题应为“## {OVERALL}”或“## 指标N”，该节未并入报告。"
            )
            continue
        if (key == OVERALL and overall is not None) or key in indicators:
            problems.append(f"第{line}行“## {title}”：与前面的一节重复，该节未并入报告。")
            continue
        if not blocks:
            continue  # an empty section (still the prompt) prints nothing
        section = Section(key, line, blocks, written)
        if key == OVERALL:
            overall = section
        else:
            indicators[int(key)] = section
    return Commentary(overall, indicators, tuple(problems))


def skeleton(title: str, entries: list[tuple[int, str, str]]) -> str:
    """The file ``commentary init`` writes: a heading, ``## 总体`` and, for each (number, name,
    status) not on track, a section with the status it is written at and a one-line prompt."""
    lines = [
        f"# {title}",
        "",
        "<!-- 每节写原因分析和对策；纯文本与 Markdown（段落、列表、**加粗**）。"
        "“状态”一行请保留：指标状态变化时，报告会提示核对本节。 -->",
        "",
        f"## {OVERALL}",
        "",
        f"<!-- {PROMPT} -->",
        "",
    ]
    for number, name, status in entries:
        lines += [f"## 指标{number} {name}", f"<!-- 状态：{status} -->", f"<!-- {PROMPT} -->", ""]
    return "\n".join(lines)


def stale_sections(commentary: Commentary, statuses: Mapping[int, str]) -> list[dict]:
    """Sections written when their indicator had another status than it has now."""
    out = []
    for number, s in sorted(commentary.indicators.items()):
        now = statuses.get(number)
        if s.written_status and now and s.written_status != now:
            out.append({"number": number, "written": s.written_status, "now": now, "line": s.line})
    return out
