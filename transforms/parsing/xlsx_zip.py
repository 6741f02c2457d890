"""The XLSX zip checked before anything in it is read: member count, sizes and ratios (zip bombs),
CRCs, and which parts hold formula or error cells (read from the sheet XML)."""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from transforms.parsing.results import Limits, UnreadableFile

if TYPE_CHECKING:
    from transforms.parsing.xlsx_table import XlsxBook


_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")


_ERROR_TYPE = re.compile(rb't="e"')


_CELL_REF = re.compile(r"([A-Z]+)(\d+)")


def _may_hold_notes(xml: bytes) -> bool:
    """Whether sheet XML may hold a formula or an error cell: false means ``_cell_notes`` would
    find none (a formula tag needs '<f' or ':f'; most chunks of a sheet hold no 'f' at all)."""
    # the regex finds 't="e"' faster than `in` does: '"', '=' and 't' are everywhere in XML
    return _ERROR_TYPE.search(xml) is not None or (b"f" in xml and (b"<f" in xml or b":f" in xml))


def check_zip(name: str, data: bytes, limits: Limits) -> tuple[zipfile.ZipFile, set[str]]:
    """Open the XLSX zip after checking its declared and actual sizes (zip bombs); also the
    members that may hold formulas or error cells (the same pass, so that ``_cell_notes``
    decompresses only those once more)."""
    zf, infos = _zip_directory(name, data, limits)
    return zf, _expand_members(name, zf, infos, limits)[1]


def _zip_directory(
    name: str, data: bytes, limits: Limits
) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The XLSX zip and its members, after the checks of what its directory declares: member
    count, sizes and compression ratios (zip bombs), and a workbook part."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as e:
        raise UnreadableFile(
            name, f"XLSX 文件损坏或不完整 / corrupt or truncated XLSX (not a valid zip: {e})"
        ) from None
    mb = limits.max_uncompressed_bytes / 2**20
    if len(infos) > limits.max_members:
        raise UnreadableFile(
            name,
            f"压缩包内文件过多（{len(infos)} 个）/ too many zip members ({len(infos)}): refused",
        )
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed_bytes:
        raise UnreadableFile(
            name,
            f"疑似压缩炸弹：解压后 {total / 2**20:.0f} MB，超过上限 {mb:.0f} MB / possible zip "
            f"bomb: expands to {total / 2**20:.0f} MB (limit {mb:.0f} MB)",
        )
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > limits.ratio_min_bytes and ratio > limits.max_ratio:
            raise UnreadableFile(
                name,
                f"疑似压缩炸弹：{i.filename} 压缩比 {ratio:.0f}:1 超过 {limits.max_ratio:.0f}:1 / "
                f"possible zip bomb: member {i.filename} compressed {ratio:.0f}:1",
            )
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise UnreadableFile(
            name,
            "不是 XLSX 工作簿（缺少 xl/workbook.xml）/ not an XLSX workbook (no xl/workbook.xml)",
        )
    return zf, infos


def _expand_members(
    name: str, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits, actual: int = 0
) -> tuple[int, set[str]]:
    """The members decompressed once, as declared sizes can lie: the bytes so far (``actual``:
    those of members before) against the bound, each CRC checked by zipfile; also the members
    that may hold formulas or error cells."""
    mb = limits.max_uncompressed_bytes / 2**20
    marked: set[str] = set()
    try:
        for i in infos:
            tail = b""
            with zf.open(i) as member:
                while chunk := member.read(1 << 20):
                    actual += len(chunk)
                    if actual > limits.max_uncompressed_bytes:
                        raise UnreadableFile(
                            name,
                            f"疑似压缩炸弹：解压超过 {mb:.0f} MB / possible zip bomb: expands past "
                            f"{mb:.0f} MB",
                        )
                    if i.filename not in marked and (
                        _may_hold_notes(chunk) or _may_hold_notes(tail + chunk[:8])
                    ):
                        marked.add(i.filename)
                    tail = chunk[-8:]
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as e:
        raise UnreadableFile(name, f"XLSX 文件损坏 / corrupt XLSX: {e}") from None
    return actual, marked


_CHECK_FAILED = "XLSX 文件检查未通过 / the XLSX check failed"  # replaced by what check_zip says


class MemberCheck:
    """A member's part of the zip check (``_expand_members``) done by the read that needs its
    bytes anyway: a big sheet read in row blocks is decompressed once, not twice. A stream of
    the member whose reads count the bytes against the bound and look for formula and error
    marks; zipfile checks the CRC on the read that reaches the end. What it finds is the
    workbook's (``XlsxBook.check_rest`` names any failure)."""

    def __init__(self, book: XlsxBook, member: str, stream: Any):
        self.book = book
        self.member = member
        self.stream = stream
        self.size = 0
        self.tail = b""

    def read(self, n: int = -1) -> bytes:
        chunk = self.stream.read(n)
        book = self.book
        if self.member not in book.unchecked:  # done (or redone) by check_rest meanwhile
            return chunk
        self.size += len(chunk)
        if book.expanded + self.size > book.limits.max_uncompressed_bytes:
            book.failed = True
            raise UnreadableFile(book.name, _CHECK_FAILED)  # check_rest says what failed
        if self.member not in book.marked and (
            _may_hold_notes(chunk) or _may_hold_notes(self.tail + chunk[:8])
        ):
            book.marked.add(self.member)
        self.tail = (self.tail + chunk[-8:])[-8:]
        if not chunk or n is None or n < 0:  # the end, and zipfile has checked the CRC
            del book.unchecked[self.member]
            book.expanded += self.size
        return chunk


def _sheet_paths(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → its XML part, from the workbook and its relationships."""
    ns_main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    ns_rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
    try:
        wb = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return {}
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    paths = {}
    for sheet in wb.iter(f"{ns_main}sheet"):
        target = targets.get(sheet.get(f"{ns_rel}id"), "")
        if target:
            paths[sheet.get("name", "")] = (
                target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            )
    return paths


def _cell_notes(
    zf: zipfile.ZipFile, part: str | None
) -> tuple[set[tuple[int, int]], dict[tuple[int, int], str]]:
    """Cells the cell reader shows as blank though they are not: formulas without a cached
    value, and Excel error values (#DIV/0!, #N/A …); keyed by (row, 0-based column)."""
    gaps: set[tuple[int, int]] = set()
    errors: dict[tuple[int, int], str] = {}
    if not part:
        return gaps, errors
    try:
        xml = zf.read(part)
    except KeyError:
        return gaps, errors
    formula = (b"<f" in xml or b":f" in xml) and _FORMULA_TAG.search(xml)
    if not formula and b't="e"' not in xml:
        return gaps, errors
    try:
        for _, elem in ElementTree.iterparse(io.BytesIO(xml), events=("end",)):
            if elem.tag.endswith("}c") or elem.tag == "c":
                _note_cell(elem, gaps, errors)
                elem.clear()
    except ElementTree.ParseError:
        return gaps, errors
    return gaps, errors


def _note_cell(
    elem: ElementTree.Element, gaps: set[tuple[int, int]], errors: dict[tuple[int, int], str]
) -> None:
    """A cell element put in ``gaps`` (a formula without a cached value) or ``errors``."""
    f = v = None
    for child in elem:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "f":
            f = child
        elif tag == "v":
            v = child
    error = elem.get("t") == "e"
    gap = f is not None and (v is None or (v.text is None and elem.get("t") != "str"))
    if not (error or gap):
        return
    m = _CELL_REF.fullmatch(elem.get("r", ""))
    if not m:
        return
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    key = (int(m.group(2)), col - 1)
    if error:
        errors[key] = (v.text if v is not None and v.text else "#ERROR")[:20]
    else:
        gaps.add(key)
