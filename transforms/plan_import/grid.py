"""The shape every document reader produces: tables as grids of cells, plus the body text.

A grid is a list of rows, each a list of cells of equal length. A cell that continues a merged
cell from the row above (Word's vertical merge, HTML rowspan, an Excel merged range) carries the
merged cell's text and ``merged=True``; a cell that is merely blank has ``text == ''``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    text: str
    merged: bool = False


Grid = list[list[Cell]]


@dataclass
class Document:
    """What a reader found in one plan document."""

    kind: str
    tables: list[Grid]
    body: str = ""


class PlanImportError(ValueError):
    """A document that holds no indicator table we can read; the message says why, Chinese first."""


# Words a header cell of an indicator table holds.
HEADER_WORDS = (
    "序号",
    "编号",
    "类别",
    "领域",
    "指标",
    "名称",
    "单位",
    "目标",
    "规划值",
    "预期值",
    "实现值",
    "基期",
    "现状",
    "基数",
    "属性",
    "要求",
    "性质",
    "备注",
)


def is_header_text(text: str) -> bool:
    t = re.sub(r"\s+", "", text)
    if re.fullmatch(r"(?:19|20)\d\d年(?:底|末)?", t):  # a bare year column (2020年 | 2025年)
        return True
    return bool(t) and not re.match(r"^\d+[.．、]", t) and any(w in t for w in HEADER_WORDS)


def square(rows: list[list[Cell]]) -> Grid:
    """Rows padded with blank cells to the width of the widest row."""
    width = max((len(r) for r in rows), default=0)
    return [r + [Cell("")] * (width - len(r)) for r in rows]
