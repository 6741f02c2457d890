"""A sheet's cell extent checked before calamine reads it: calamine holds a sheet as one dense grid
from its first to its last cell, so a single stray cell far out (typed at XFD1048576) would make
it allocate billions of cells and abort the process. Blank stray cells are dropped; a sheet still
absurdly sparse is refused with the far cell named."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree

from transforms.parsing.results import Limits, UnreadableFile

# Cells far out, the test done on a sheet read whole without a trusted dimension (the exact one,
# ``sane_sheet_xml``, follows a hit): a column past ZZ (a reference of three letters, with every
# letter read as A), or rows spread far wider than there are rows (a row number far out).
_LETTERS = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"A" * 26)
_ROW_NUMBER = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?row\b[^>]*?\br="(\d+)"')
MIN_ROW_BYTES = 8  # no row element is shorter than '<row/>' and its neighbours' tags


def far_refs(xml: bytes) -> bool:
    """Whether the XML may hold a cell far out: a three-letter column, or a far row."""
    return b'="AAA' in xml.translate(_LETTERS) or far_rows(xml)


def far_rows(xml: bytes | memoryview) -> bool:
    """Whether the first and last rows of the XML lie further apart than its bytes could hold
    rows: a row number far out (looked at the ends only, so cheap enough for every row block)."""
    head = bytes(xml[:4096])
    tail_at = max(len(xml) - 4096, 0)
    tail = bytes(xml[tail_at:])
    first = _ROW_NUMBER.search(head)
    last = _ROW_NUMBER.search(tail, max(tail.rfind(b"<row"), tail.rfind(b":row"), 0))
    if not first or not last:
        return False
    spread = abs(int(last.group(1)) - int(first.group(1))) + 1
    return spread > len(xml) // MIN_ROW_BYTES + 1


_CELL = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?c\b(?:[^>]*?/>|[^>]*>.*?</(?:[A-Za-z_][\w.-]*:)?c>)", re.S
)
_REF = re.compile(rb'\br="([A-Z]{1,3})(\d{1,7})"')
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
_SHARED = re.compile(rb'\bt="s"')
_TEXTS = re.compile(rb">([^<]*)<")
_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*>")
_DIMENSION_REF = re.compile(
    rb'<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*?\bref="([A-Z]{1,3})(\d{1,7})(?::([A-Z]{1,3})(\d{1,7}))?"'
)
SPARSE_FACTOR = 20  # a grid this many times larger than the cells in it is a stray far cell


def _column(letters: bytes) -> int:
    col = 0
    for ch in letters:
        col = col * 26 + ch - 64
    return col


class _Extent:
    """The cells of a sheet: how many, and the grid from the first to the last."""

    def __init__(self) -> None:
        self.cells = 0
        self.top = self.left = 1 << 30
        self.bottom = self.right = 0
        self.far = b""  # the reference of the cell furthest out

    def add(self, ref: re.Match[bytes]) -> None:
        row, col = int(ref.group(2)), _column(ref.group(1))
        self.cells += 1
        self.top, self.left = min(self.top, row), min(self.left, col)
        if row * col > self.bottom * self.right:
            self.far = ref.group(1) + ref.group(2)
        self.bottom, self.right = max(self.bottom, row), max(self.right, col)

    @property
    def grid(self) -> int:
        if not self.cells:
            return 0
        return (self.bottom - self.top + 1) * (self.right - self.left + 1)

    def absurd(self, limits: Limits) -> bool:
        """A grid over the limit that is mostly empty: what a stray far cell makes."""
        return self.grid > limits.max_sheet_cells and self.grid > SPARSE_FACTOR * self.cells


def _cells(xml: bytes) -> Iterator[tuple[re.Match[bytes], re.Match[bytes] | None]]:
    for cell in _CELL.finditer(xml):
        yield cell, _REF.search(cell.group(0), 0, cell.group(0).find(b">") + 1)


def _is_blank(cell: bytes, blank_shared: set[int]) -> bool:
    """A cell that holds nothing a parse could read: no formula, no text but white space, or
    a shared string that is only white space."""
    if _FORMULA.search(cell):
        return False
    texts = _TEXTS.findall(cell)
    if _SHARED.search(cell.split(b">", 1)[0]):
        index = b"".join(texts).strip()
        return not index or (index.isdigit() and int(index) in blank_shared)
    return not b"".join(texts).strip()


def blank_shared_strings(zf: zipfile.ZipFile) -> set[int]:
    """The indexes of the shared strings that are empty or only white space."""
    try:
        xml = zf.read("xl/sharedStrings.xml")
    except KeyError:
        return set()
    blank: set[int] = set()
    index = 0
    try:
        for _, elem in ElementTree.iterparse(io.BytesIO(xml), events=("end",)):
            if elem.tag.rsplit("}", 1)[-1] == "si":
                if not "".join(elem.itertext()).strip():
                    blank.add(index)
                index += 1
                elem.clear()
    except ElementTree.ParseError:
        return blank
    return blank


def dimension_trusted(head: bytes, limits: Limits) -> bool | None:
    """Whether the sheet's head declares a dimension (the range Excel and other writers record as
    used) within the limit: then no cell lies far out and the sheet needs no scan; None when it
    declares none. A sheet that lies about its dimension is left to the guarded worker that runs
    the parse."""
    m = _DIMENSION_REF.search(head)
    if not m:
        return None
    r1, c1 = int(m.group(2)), _column(m.group(1))
    r2, c2 = (int(m.group(4)), _column(m.group(3))) if m.group(3) else (r1, c1)
    return (abs(r2 - r1) + 1) * (abs(c2 - c1) + 1) <= limits.max_sheet_cells


def sane_sheet_xml(
    name: str, sheet: str, xml: bytes, zf: zipfile.ZipFile, limits: Limits
) -> bytes | None:
    """None when calamine may read the sheet's XML as it is; else the XML without its blank cells
    (and without the dimension they widened). UnreadableFile when cells with content themselves
    lie absurdly far apart."""
    if not far_refs(xml):
        return None
    extent = _Extent()
    for _, ref in _cells(xml):
        if ref:
            extent.add(ref)
    if not extent.absurd(limits):
        return None
    blank_shared = blank_shared_strings(zf)
    kept = _Extent()
    pieces, at = [], 0
    for cell, ref in _cells(xml):
        if _is_blank(cell.group(0), blank_shared):
            pieces.append(xml[at : cell.start()])
            at = cell.end()
        elif ref:
            kept.add(ref)
    pieces.append(xml[at:])
    if kept.absurd(limits):
        far = kept.far.decode()
        raise UnreadableFile(
            name,
            f"工作表「{sheet}」的单元格分布异常：有内容的单元格远至 {far}，整张表约 {kept.grid:,} 个"
            f"单元格（上限 {limits.max_sheet_cells:,}），读取会耗尽内存；请删除远处多余的单元格后重新"
            f"保存 / sheet {sheet!r}: a cell with content as far out as {far} spans about "
            f"{kept.grid:,} cells (limit {limits.max_sheet_cells:,}); delete the stray far cells "
            "and save again",
        )
    return _DIMENSION.sub(b"", b"".join(pieces), count=1)
