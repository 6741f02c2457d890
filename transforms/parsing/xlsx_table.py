"""XLSX bytes → Tables: calamine reads each sheet, a big sheet in row blocks cut from its XML so
that its cells are never held twice."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from transforms.parsing.results import Limits, UnreadableFile
from transforms.parsing.table import Block, RowsOfColumns, Table, _col_index, add_block
from transforms.parsing.xlsx_extent import dimension_trusted, far_rows, sane_sheet_xml
from transforms.parsing.xlsx_zip import (
    _CHECK_FAILED,
    MemberCheck,
    _cell_notes,
    _expand_members,
    _sheet_paths,
    _zip_directory,
    check_zip,
)

MAX_MERGED_RANGES = 10_000


def _merged_ranges(sheet: Any, limits: Limits) -> list[tuple[int, int, int, int]]:
    """The sheet's merged ranges of more than one cell, rows 1-based and columns 0-based."""
    try:
        ranges = sheet.merged_cell_ranges or []
    except Exception:  # noqa: BLE001 - merged ranges only improve messages and field cells
        return []
    out = []
    for (r1, c1), (r2, c2) in list(ranges)[:MAX_MERGED_RANGES]:
        if (r1, c1) != (r2, c2):
            out.append((int(r1) + 1, int(c1), int(r2) + 1, int(c2)))
    return out


# A big sheet is read in row blocks: its XML is cut after a row end and each block is read by
# calamine as a worksheet of its own, so calamine's copy of the cells never holds more than one
# block (a whole sheet's copy is about as large as the Python rows themselves).
ROW_BLOCK_BYTES = 2 << 20  # sheet XML per block; sheets under two blocks are read whole


MAX_BLOCK_SHARED_STRINGS = 2 << 20  # each block re-reads the shared strings: above this, whole


_SHEET_DATA_OPEN = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)sheetData\b[^>]*>")


_DIMENSION = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?dimension\b[^>]*>")


_ROW_WITH_NUMBER = re.compile(rb"\s*<(?:[A-Za-z_][\w.-]*:)?row\s[^>]*?\br=\"\d+\"")


_MERGE_REF = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref=\"([A-Z]+)(\d+):([A-Z]+)(\d+)\""
)


_NEGATIVE_ZERO = re.compile(rb">-(?:0+\.?0*|\.0+)(?:[eE][+-]?\d+)?<")


_EMPTY_SHEET = (
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b"<sheetData/></worksheet>"
)


class _NotInBlocks(Exception):
    """The sheet cannot be cut into row blocks (rows without numbers, no sheetData …)."""


class _SheetXml:
    """A worksheet part as row blocks, each a worksheet document of its own; ``tail`` is what
    follows the rows (merged cells …), known once every block has been read."""

    def __init__(self, stream: Any, block_bytes: int, limits: Limits):
        self.stream = stream
        self.block_bytes = max(block_bytes, 1)
        self.tail = b""
        self.limits = limits
        self.scan = True  # for rows far out: where the sheet declares no dimension

    def _read(self) -> bytes:
        return self.stream.read(min(self.block_bytes, 1 << 20))

    def blocks(self) -> Iterable[tuple[bytes, bytes | memoryview, bytes]]:
        """Each block as the pieces of its document: the part's head, rows, and close; the rows
        may be a view of the buffer, valid until the next block is asked for."""
        buf = bytearray()
        while not (m := _SHEET_DATA_OPEN.search(buf)):
            chunk = self._read()
            if not chunk or len(buf) > self.block_bytes + (1 << 20):
                raise _NotInBlocks
            buf += chunk
        if m.group(0).endswith(b"/>"):
            raise _NotInBlocks  # no rows at all
        prefix = m.group(1)
        trusted = dimension_trusted(bytes(buf[: m.end()]), self.limits)
        if trusted is False:
            raise _NotInBlocks  # a dimension past the limit: the whole read checks every cell
        self.scan = trusted is None  # no dimension: each block's rows are looked at
        head = _DIMENSION.sub(b"", bytes(buf[: m.end()]))
        row_end, data_end = b"</" + prefix + b"row>", b"</" + prefix + b"sheetData>"
        close = data_end + b"</" + prefix + b"worksheet>"
        del buf[: m.end()]
        first = True
        searched = 0
        while True:
            end = buf.find(data_end, max(searched - len(data_end), 0))
            if end >= 0:
                body = bytes(memoryview(buf)[:end])
                self.tail = bytes(memoryview(buf)[end:]) + self.stream.read()
                if body.strip():
                    yield self._document(head, body, close, first)
                return
            searched = len(buf)
            if len(buf) >= self.block_bytes:
                cut = buf.rfind(row_end)
                if cut >= 0:
                    cut += len(row_end)
                    body = memoryview(buf)[:cut]  # the rows in place, not copied …
                    yield self._document(head, body, close, first)
                    body.release()  # … and let go before they leave the buffer
                    first = False
                    del buf[:cut]
                    searched = 0
                    continue
            chunk = self._read()
            if not chunk:
                raise _NotInBlocks  # no end of the rows: let the whole read say what is wrong
            buf += chunk

    def _document(
        self, head: bytes, body: bytes | memoryview, close: bytes, first: bool
    ) -> tuple[bytes, bytes | memoryview, bytes]:
        if not first and not _ROW_WITH_NUMBER.match(body):
            raise _NotInBlocks  # a block's rows must say where they are
        if self.scan and far_rows(body):
            raise _NotInBlocks  # a row far out: the whole read checks the sheet's extent
        return head, body, close


def _cells_may_be_shared(document: bytes) -> bool:
    """No cell of the block equals another without being the same: no booleans (True == 1.0)
    and no negative zeros (-0.0 == 0.0). A text such as "-0" only costs the sharing."""
    if b't="b"' in document:
        return False
    if b">-0" not in document and b">-." not in document:  # the common case, at memchr speed
        return True
    return not _NEGATIVE_ZERO.search(document)


def _share_equal_cells(block: list[list[Any]]) -> None:
    """Equal cells of a block as one object: calamine makes a new one per cell, and a facility
    sheet repeats the same codes, flags and small counts on every row (the rows shrink about 3×).
    Only where ``_cells_may_be_shared``: True == 1.0 and -0.0 == 0.0 would turn one into the
    other."""
    share = {}.setdefault
    for row in block:
        row[:] = map(share, row, row)


def _merged_in_tail(tail: bytes) -> list[tuple[int, int, int, int]]:
    """Merged ranges of more than one cell as ``_merged_ranges`` gives them, from the XML."""
    out = []
    for m in islice(_MERGE_REF.finditer(tail), MAX_MERGED_RANGES):
        r1, c1 = int(m.group(2)), _col_index(m.group(1))
        r2, c2 = int(m.group(4)), _col_index(m.group(3))
        if (r1, c1) != (r2, c2):
            out.append((r1, c1, r2, c2))
    return out


class XlsxBook:
    def __init__(self, name: str, data: bytes, limits: Limits):
        from python_calamine import CalamineWorkbook

        self.name = name
        self.limits = limits
        self.data = data
        # the zip check (see check_zip), but for the sheets read in row blocks: their part of
        # it goes with their first read (MemberCheck), and check_rest sees that it is done
        # before anything read from the file is given out
        self.unchecked: dict[str, zipfile.ZipInfo] = {}
        self.failed = False
        self.zip, infos = _zip_directory(name, data, limits)
        self._sizes = {i.filename: i.file_size for i in infos}
        later = {
            member
            for member in self._sizes
            if member not in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels")
            and self.in_blocks(member)
        }
        if len(self._sizes) < len(infos):  # a name twice: every member checked now
            later = set()
        try:
            first = [i for i in infos if i.filename not in later]
            self.expanded, self.marked = _expand_members(name, self.zip, first, limits)
            self.parts = _sheet_paths(self.zip)
            big = {p for p in self.parts.values() if self.in_blocks(p)}
            rest = [i for i in infos if i.filename in later - big]
            self.expanded, marked = _expand_members(name, self.zip, rest, limits, self.expanded)
        except Exception:
            check_zip(name, data, limits)  # the whole check, in order, names what it meets first
            raise
        self.marked |= marked
        self.unchecked = {i.filename: i for i in infos if i.filename in later & big}
        try:
            # calamine opens the workbook and checks its parts but for the sheets, which it
            # reads when asked: a sheet read in blocks is left out, as calamine's copy of the
            # whole file is ≈ 2× the file (30 MB for a 4× preset facility workbook)
            book = CalamineWorkbook.from_filelike(self._without(big) if big else io.BytesIO(data))
            self.sheet_names = list(book.sheet_names)
            self.hidden = _hidden_sheets(book)
        except Exception as e:  # noqa: BLE001 - calamine raises its own error family
            self.check_rest()
            raise UnreadableFile(
                name, f"XLSX 文件损坏 / corrupt XLSX: {type(e).__name__}: {e}"
            ) from None
        self._book: Any = None if big else book  # made from the whole file when needed
        self._tables: dict[str, Table] = {}

    def check_rest(self) -> None:
        """The zip check of the members it was left to (``MemberCheck``) done, where their read
        stopped short or has not happened; on any failure, the whole check in order raises what
        it would have raised when the file was opened."""
        if not self.unchecked and not self.failed:
            return
        try:
            if self.failed:
                raise UnreadableFile(self.name, _CHECK_FAILED)
            infos = list(self.unchecked.values())
            self.expanded, marked = _expand_members(
                self.name, self.zip, infos, self.limits, self.expanded
            )
        except Exception:
            check_zip(self.name, self.data, self.limits)
            raise
        self.marked |= marked
        self.unchecked.clear()

    def _without(self, sheets: set[str]) -> io.BytesIO:
        """The workbook with these sheet parts empty (a stored zip of its XML parts)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
            for member in self._sizes:
                if member.endswith((".xml", ".rels")):
                    out.writestr(
                        member, _EMPTY_SHEET if member in sheets else self.zip.read(member)
                    )
        buffer.seek(0)
        return buffer

    def candidate_tables(self, sheet: str | None) -> list[Table | None]:
        """The sheets a layout may read: the one it names (hidden or not) where the workbook has
        it, else every visible sheet (sheet names vary more than headers do); a hidden or very
        hidden sheet is never data unless the layout names it."""
        if sheet in self.sheet_names:
            return [self.table(sheet)]
        visible = [s for s in self.sheet_names if s not in self.hidden]
        return [self.table(s) for s in visible] or [None]

    def sheets_text(self) -> str:
        """The workbook's sheets for messages, hidden ones marked."""
        return "、".join(
            f"「{s}」（隐藏 hidden）" if s in self.hidden else f"「{s}」" for s in self.sheet_names
        )

    def table(self, sheet: str | None) -> Table | None:
        """The named sheet, else the first one."""
        if not self.sheet_names:
            return None
        name = sheet if sheet in self.sheet_names else self.sheet_names[0]
        if name not in self._tables:
            part = self.parts.get(name)
            rows, merged = self._rows_in_blocks(name, part) or self._rows_whole(name)
            self.check_rest()  # the marks are known once every member is checked
            gaps, errors = _cell_notes(self.zip, part if part in self.marked else None)
            self._tables[name] = Table(
                rows, name, formula_gaps=gaps, error_cells=errors, merged=merged
            )
        return self._tables[name]

    def _rows_whole(self, name: str) -> tuple[list[list[Any]], list[tuple[int, int, int, int]]]:
        """The sheet's rows from A1 and its merged ranges, calamine reading the whole sheet."""
        self.check_rest()  # calamine reads the sheet's part itself
        try:
            # get_sheet_by_name parses the whole sheet each call: once, for cells and merges
            book_sheet = self._sheet_whole(name)
            rows = book_sheet.to_python(skip_empty_area=False)
        except UnreadableFile:
            raise
        except Exception as e:  # noqa: BLE001
            raise UnreadableFile(
                self.name, f"工作表 {name} 无法读取 / sheet {name} unreadable: {e}"
            ) from None
        return rows, _merged_ranges(book_sheet, self.limits)

    def _sheet_whole(self, name: str) -> Any:
        """calamine's sheet, read whole; a sheet whose cells lie absurdly far apart is read
        without its blank cells, or refused (see ``sane_sheet_xml``)."""
        from python_calamine import CalamineWorkbook

        part = self.parts.get(name)
        if part is not None and part in self._sizes and not self._dimension_trusted(part):
            sane = sane_sheet_xml(self.name, name, self.zip.read(part), self.zip, self.limits)
            if sane is not None:
                return CalamineWorkbook.from_filelike(
                    self._with_part(part, sane)
                ).get_sheet_by_name(name)
        if self._book is None:  # let go while a sheet was read in blocks
            self._book = CalamineWorkbook.from_filelike(io.BytesIO(self.data))
        return self._book.get_sheet_by_name(name)

    def _dimension_trusted(self, part: str) -> bool:
        """Whether the sheet part's declared dimension is within the limit (see
        ``dimension_trusted``), read from the head of the part only."""
        with self.zip.open(part) as stream:
            return dimension_trusted(stream.read(1 << 14), self.limits) is True

    def _with_part(self, part: str, xml: bytes) -> io.BytesIO:
        """The workbook with one sheet part replaced (a stored zip of its XML parts)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
            for member in self._sizes:
                if member.endswith((".xml", ".rels")):
                    out.writestr(member, xml if member == part else self.zip.read(member))
        buffer.seek(0)
        return buffer

    def in_blocks(self, part: str | None) -> bool:
        """Whether the sheet part is read in row blocks: big enough to pay (two blocks or more)
        and its workbook's shared strings small enough to be read again with each block."""
        sizes = self._sizes
        return (
            part in sizes
            and sizes[part] >= 2 * ROW_BLOCK_BYTES
            and sizes.get("xl/sharedStrings.xml", 0) <= MAX_BLOCK_SHARED_STRINGS
        )

    def blocks(
        self, name: str, part: str, tail: list[bytes], share: bool = True
    ) -> Iterator[Block]:
        """The sheet's rows in blocks, in order, each read by calamine as a worksheet of its own
        (see ROW_BLOCK_BYTES); what follows the rows (merged cells …) is put in ``tail`` after
        the last. Raises _NotInBlocks where the rows cannot be cut or come out of order, and
        calamine's own errors. ``share``: equal cells of a block as one object, where they are
        kept (see ``_share_equal_cells``)."""
        from python_calamine import CalamineWorkbook

        sheets = set(self.parts.values())
        others = {
            member: _EMPTY_SHEET if member in sheets else self.zip.read(member)
            for member in self._sizes
            if member != part and member.endswith((".xml", ".rels"))
        }
        self._book = None  # calamine's copy of the workbook: ≈ 2× the file, not needed here
        n = 0  # rows so far
        with self.zip.open(part) as stream:
            source = MemberCheck(self, part, stream) if part in self.unchecked else stream
            xml = _SheetXml(source, ROW_BLOCK_BYTES, self.limits)
            for document in xml.blocks():
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
                    for member, content in others.items():
                        out.writestr(member, content)
                    with out.open(part, "w") as sheet_part:  # the pieces, not joined first
                        for piece in document:
                            sheet_part.write(piece)
                shared = share and _cells_may_be_shared(b"".join(document))
                del document
                buffer.seek(0)
                sheet = CalamineWorkbook.from_filelike(buffer).get_sheet_by_name(name)
                start = sheet.start
                if start is None:
                    continue
                top, left = start
                if top < n:
                    raise _NotInBlocks  # rows out of order: calamine's whole read decides
                rows = sheet.to_python(skip_empty_area=True)
                del sheet, buffer
                if shared:
                    _share_equal_cells(rows)
                n = top + len(rows)
                yield Block(top, left, rows)
                del rows
        tail.append(xml.tail)

    def _rows_in_blocks(
        self, name: str, part: str | None
    ) -> tuple[RowsOfColumns, list[tuple[int, int, int, int]]] | None:
        """What ``_rows_whole`` gives, read in row blocks (see ROW_BLOCK_BYTES) and kept as
        columns (a big sheet's row lists are a third of its memory); None when the sheet is small
        or cannot be cut, and on any error (the whole read then names it)."""
        if part is None or not self.in_blocks(part):
            return None
        columns: list[list[Any]] = []
        n = 0  # rows so far
        tail: list[bytes] = []
        try:
            for block in self.blocks(name, part, tail):
                n = add_block(columns, n, block.top, block.left, block.rows)
                del block
        except Exception:  # noqa: BLE001 - _NotInBlocks, or calamine's own error family
            return None
        return RowsOfColumns([], columns), _merged_in_tail(tail[0])


def _hidden_sheets(book: Any) -> set[str]:
    """The names of the workbook's hidden and very hidden sheets."""
    from python_calamine import SheetVisibleEnum

    return {m.name for m in book.sheets_metadata if m.visible != SheetVisibleEnum.Visible}
