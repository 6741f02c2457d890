"""Read one source file's bytes into observations and rejects, by the source layouts.

Pure: bytes and plain values in, DataFrames and lists out; no file I/O, no database, no Prefect.

``parse_file(name, data, layouts, catalog_info)`` finds the file's layout from its header and
year, reads every data row, and returns the good values as ``(area_code, year, element, stratum,
value, source_rows)`` plus a list of rejects, each naming the row and column a user sees in a
spreadsheet (header included, 1-based) and a reason, Chinese first. A file that cannot be read at
all raises ``UnreadableFile`` with the file name and the reason.
"""

from __future__ import annotations

import codecs
import copy
import csv
import io
import itertools
import math
import operator
import re
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from itertools import compress, islice, repeat
from typing import Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd

from healthplan.definitions import Area, DataElement
from healthplan.layouts import (
    DEFAULT_FLAG_MAP,
    Column,
    Layout,
    LayoutSet,
    SourceLayouts,
    normalize_header,
)

GOOD_COLUMNS = ["area_code", "year", "element", "stratum", "value", "source_rows"]
MAX_SHOWN_CHARS = 200  # longer cell texts are cut in messages and quarantine rows
ADDITIVE_KINDS = ("count", "amount")  # elements whose sub-areas sum to the total
NOTE_PREFIXES = ("注", "说明", "备注", "资料来源", "数据来源", "填表", "制表", "审核", "单位负责人")
TOTAL_WORDS = ("合计", "总计", "小计", "全区", "全市", "全县", "总数")
MISSING_TOKENS = frozenset(
    {"", "-", "--", "—", "——", "–", "…", "……", "...", "/", "\\", "na", "n/a", "null", "none", "nan"}
)
GROUP_NOT_LOADED = "；本组合计未入库 / the group's total was not loaded"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_CODE = re.compile(r"[0-9A-Za-z]+")
_YEAR_SUFFIX = re.compile(r"年度?$")
_FOUR_DIGITS = re.compile(r"\d{4}")
_FORMULA_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s>/]")
_ERROR_TYPE = re.compile(rb't="e"')
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")


# ------------------------------------------------------------------------------------- results


class UnreadableFile(Exception):
    """A file that cannot be read at all; nothing from it may be stored."""

    def __init__(self, file: str, reason: str):
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


class EncodingError(ValueError):
    """Bytes that are not UTF-8, UTF-8 with BOM, GBK or GB18030, or that mix encodings."""


@dataclass(frozen=True)
class Reject:
    """One rejected cell or row: where it is in the file, its raw value and why."""

    file: str
    row: int | None
    field: str | None
    value: str | None
    reason: str

    def as_quarantine(self) -> dict[str, Any]:
        return {
            "file_name": self.file,
            "row": self.row,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Limits:
    """Guards for XLSX files (zip bombs) and cells."""

    max_uncompressed_bytes: int = 200 * 2**20
    max_ratio: float = 100.0
    ratio_min_bytes: int = 2**20  # the ratio is judged for members larger than this
    max_members: int = 5_000
    max_cell_chars: int = 32_767  # Excel's own limit


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class CatalogInfo:
    """What the parser needs to know of the catalog: the data elements and the known areas."""

    elements: Mapping[str, DataElement]
    areas: Mapping[str, str | None]  # area code → parent code (None at the top)

    @classmethod
    def from_catalog(cls, catalog: Any) -> CatalogInfo:
        return cls.from_areas(catalog.elements, catalog.all_areas().values())

    @classmethod
    def from_areas(cls, elements: Mapping[str, DataElement], areas: Iterable[Area]) -> CatalogInfo:
        return cls(dict(elements), {a.code: a.parent for a in areas})

    def children_count(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for parent in self.areas.values():
            if parent is not None:
                counts[parent] = counts.get(parent, 0) + 1
        return counts


@dataclass
class ParsedFile:
    """One file read by its layout: the good values, the rejects and notes worth a look."""

    name: str
    source: str
    layout: str
    format: str
    encoding: str | None
    sheet: str | None
    years: list[int]
    rows_read: int
    rows_loaded: int
    good: pd.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    flags: list[Reject] = field(default_factory=list)  # kept values worth a look (e.g. ‰ → %)

    @property
    def rows_rejected(self) -> int:
        """Distinct data rows with at least one rejected cell (column-level notes excluded)."""
        return len({r.row for r in self.rejects if r.row is not None})

    @property
    def status(self) -> str:
        return "partial" if self.rejects else "loaded"


# ------------------------------------------------------------------------------------- helpers


def shorten(value: Any, limit: int = MAX_SHOWN_CHARS) -> str | None:
    """A raw value as text for messages: never interpreted, cut when extremely long."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…（共 {len(text)} 字符 / {len(text)} chars）"


def compact_rows(rows: Iterable[int]) -> str:
    """Row numbers as ranges: [2, 3, 4, 7] → '2-4,7'."""
    ordered = sorted(set(rows))
    if not ordered:
        return ""
    parts = []
    start = prev = ordered[0]
    for r in ordered[1:]:
        if r == prev + 1:
            prev = r
            continue
        parts.append(f"{start}-{prev}" if prev > start else str(start))
        start = prev = r
    parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ",".join(parts)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    """A cell as clean text: NFKC, trimmed; whole floats without '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    s = str(value)
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s)
    return s.strip()


@lru_cache(maxsize=4096)
def _key_text(text: str) -> str:
    return normalize_header(text)


def _key(value: Any) -> str:
    """A code cell as a lookup key (cached: codes such as 公立 or 是 repeat on every row)."""
    return _key_text(value) if isinstance(value, str) else normalize_header(value)


class CellError(ValueError):
    """A cell whose value cannot be used; the message is the reason."""


def parse_number(raw: Any) -> tuple[float, str, int] | None:
    """A cell as (value, sign, decimals), or None when it holds no value.

    Accepts numbers written as text: '1,234', full-width '１２３', ' 12 ', '95%'. The sign is
    '%' or '‰' when the text carries one. Missing: blank, '—', '-', '－', 'N/A'.
    """
    if raw is None:
        return None
    kind = type(raw)
    if kind is str and raw.isascii():  # '12' or '3.50', most text cells: what follows gives
        whole, _, fraction = raw.partition(".")
        if whole.isdigit() and (not fraction or fraction.isdigit()):
            return float(raw), "", len(fraction)
    if kind is float or kind is int:
        if not math.isfinite(raw):
            raise CellError("数值无效（无穷或非数）/ not a finite number")
        return float(raw), "", _float_decimals(raw)
    if isinstance(raw, bool):
        raise CellError("逻辑值不是数值 / TRUE/FALSE is not a number")
    if isinstance(raw, datetime | date | time | timedelta):
        raise CellError("日期或时间不是数值 / a date or time, not a number")
    if not isinstance(raw, str):
        if isinstance(raw, int | float):  # numpy scalars
            return parse_number(float(raw))
        raise CellError("数值无法解析 / not a number")
    s = raw if raw.isascii() else unicodedata.normalize("NFKC", raw)
    s = "".join(s.split())
    if s.lower() in MISSING_TOKENS:
        return None
    sign = ""
    if s.endswith(("%", "‰")):
        sign, s = s[-1], s[:-1]
    if _NUMBER.fullmatch(s):
        number = s
    elif _THOUSANDS.fullmatch(s):
        number = s.replace(",", "")
    elif s.startswith("#"):
        raise CellError("Excel 错误值 / Excel error value")
    else:
        raise CellError("数值无法解析 / not a number")
    mantissa = re.split(r"[eE]", number)[0] if "e" in number or "E" in number else number
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return float(number), sign, decimals


def _float_decimals(value: float) -> int:
    if value == int(value):
        return 0
    r = repr(float(value))
    if "e" in r or "." not in r:
        return 0
    frac = r.split(".", 1)[1].rstrip("0")
    return min(len(frac), 6)


def _parse_year(raw: Any) -> int:
    if isinstance(raw, bool | datetime | date | time | timedelta):
        raise CellError("年份无法解析 / not a year")
    if isinstance(raw, float | int):
        if not float(raw).is_integer():
            raise CellError("年份无法解析 / not a year")
        year = int(raw)
    else:
        s = _text(raw).replace(" ", "")
        s = _YEAR_SUFFIX.sub("", s)
        if not _FOUR_DIGITS.fullmatch(s):
            raise CellError("年份无法解析 / not a year")
        year = int(s)
    if not 1900 <= year <= 2999:
        raise CellError("年份无法解析 / not a year")
    return year


# ------------------------------------------------------------------------------------- encodings


TRUNCATED_TEXT = (
    "文件不完整：在一个字符的中间结束（复制或保存被中断？）/ truncated file: it ends in the "
    "middle of a character (an interrupted copy or save?)"
)


def _ends_mid_character(data: bytes, e: UnicodeDecodeError) -> bool:
    """The only undecodable bytes are an incomplete character at the very end."""
    if e.end < len(data) or not ("end of data" in e.reason or "incomplete" in e.reason):
        return False
    try:
        data[: e.start].decode(e.encoding)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(data: bytes) -> str:
    """The text encoding of CSV bytes: 'utf-8-sig', 'utf-8', 'gbk' or 'gb18030'.

    A strict-decode cascade decides (charset-normalizer misreads short GBK files as Korean); a
    file mixing UTF-8 lines with lines in another encoding, or decodable by none, is an error.
    """
    if not data:
        raise EncodingError("空文件 / empty file")
    if data.startswith(codecs.BOM_UTF8):
        try:
            data[3:].decode("utf-8")
        except UnicodeDecodeError as e:
            if _ends_mid_character(data[3:], e):
                raise EncodingError(TRUNCATED_TEXT) from None
            line = data[: e.start].count(b"\n") + 1
            raise EncodingError(
                f"编码混杂：文件以 UTF-8 BOM 开头，但第 {line} 行不是 UTF-8 / mixed encodings: "
                f"a UTF-8 BOM, yet line {line} is not UTF-8"
            ) from None
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            data.decode("utf-16")
        except UnicodeDecodeError:
            raise EncodingError("UTF-16 文件已损坏 / broken UTF-16 text") from None
        return "utf-16"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        if _ends_mid_character(data, e):
            raise EncodingError(TRUNCATED_TEXT) from None
        first_bad = data[: e.start].count(b"\n") + 1
    for number, line in enumerate(data.splitlines(), 1):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            continue
        raise EncodingError(
            f"编码混杂：第 {number} 行是 UTF-8，第 {first_bad} 行不是 / mixed encodings: line "
            f"{number} is UTF-8, line {first_bad} is not; save the whole file in one encoding"
        )
    furthest = 0
    for encoding in ("gbk", "gb18030"):
        try:
            data.decode(encoding)
            return encoding
        except UnicodeDecodeError as e:
            if _ends_mid_character(data, e):
                raise EncodingError(TRUNCATED_TEXT) from None
            furthest = max(furthest, e.start)
            continue
    # the line of the first byte that not even the most lenient reading (GB18030) accepts
    first_bad = max(first_bad, data[:furthest].count(b"\n") + 1)
    guess = ""
    try:
        import charset_normalizer

        best = charset_normalizer.from_bytes(data[:200_000]).best()
        if best is not None:
            guess = f"（疑似 / looks like {best.encoding}）"
    except Exception:  # noqa: BLE001 - only for the message
        pass
    raise EncodingError(
        f"无法识别的编码：不是 UTF-8、GBK 或 GB18030{guess} / undecodable: not UTF-8, GBK or "
        f"GB18030 (first bad byte on line {first_bad})"
    )


# ------------------------------------------------------------------------------------- tables


@dataclass
class Table:
    """A sheet as rows of cells; rows[i] is spreadsheet row i + 1."""

    rows: list[list[Any]]
    sheet: str | None = None
    formula_gaps: set[tuple[int, int]] = field(default_factory=set)  # (row, 0-based column)
    error_cells: dict[tuple[int, int], str] = field(default_factory=dict)  # → '#DIV/0!' …
    # merged cell ranges as (first row, first column, last row, last column): rows 1-based,
    # columns 0-based; only ranges of more than one cell
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    # CSV: every row should have as many cells as the header (a short row was cut off, a long
    # one has an unquoted comma and its values sit in the wrong columns)
    fixed_width: bool = False
    # cells of element columns inside a merged range: (row, column) → the range, e.g. 'D3:D5'
    merged_values: dict[tuple[int, int], str] = field(default_factory=dict)


def _read_csv(name: str, data: bytes, limits: Limits) -> tuple[Table, str]:
    try:
        encoding = detect_encoding(data)
    except EncodingError as e:
        raise UnreadableFile(name, str(e)) from None
    text = data.decode(encoding)
    if encoding == "utf-16" and text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise UnreadableFile(name, "含二进制数据，不是文本 CSV / binary data, not a CSV text file")
    if not text.strip():
        raise UnreadableFile(name, "空文件 / empty file")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max([",", "\t", ";"], key=first.count) if first else ","
    if first.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[Any]] = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as e:
        raise UnreadableFile(
            name,
            f"CSV 格式错误（第 {reader.line_num} 行）/ malformed CSV at line {reader.line_num}: {e}",
        ) from None
    return Table(rows, fixed_width=True), encoding


def _may_hold_notes(xml: bytes) -> bool:
    """Whether sheet XML may hold a formula or an error cell: false means ``_cell_notes`` would
    find none (a formula tag needs '<f' or ':f'; most chunks of a sheet hold no 'f' at all)."""
    # the regex finds 't="e"' faster than `in` does: '"', '=' and 't' are everywhere in XML
    return _ERROR_TYPE.search(xml) is not None or (b"f" in xml and (b"<f" in xml or b":f" in xml))


def _check_zip(name: str, data: bytes, limits: Limits) -> tuple[zipfile.ZipFile, set[str]]:
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


_CHECK_FAILED = "XLSX 文件检查未通过 / the XLSX check failed"  # replaced by what _check_zip says


class _MemberCheck:
    """A member's part of the zip check (``_expand_members``) done by the read that needs its
    bytes anyway: a big sheet read in row blocks is decompressed once, not twice. A stream of
    the member whose reads count the bytes against the bound and look for formula and error
    marks; zipfile checks the CRC on the read that reaches the end. What it finds is the
    workbook's (``_Workbook.check_rest`` names any failure)."""

    def __init__(self, book: _Workbook, member: str, stream: Any):
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
            if not elem.tag.endswith("}c") and elem.tag != "c":
                continue
            f = v = None
            for child in elem:
                tag = child.tag.rsplit("}", 1)[-1]
                if tag == "f":
                    f = child
                elif tag == "v":
                    v = child
            error = elem.get("t") == "e"
            gap = f is not None and (v is None or (v.text is None and elem.get("t") != "str"))
            if error or gap:
                m = _CELL_REF.fullmatch(elem.get("r", ""))
                if m:
                    col = 0
                    for ch in m.group(1):
                        col = col * 26 + ord(ch) - 64
                    key = (int(m.group(2)), col - 1)
                    if error:
                        errors[key] = (v.text if v is not None and v.text else "#ERROR")[:20]
                    else:
                        gaps.add(key)
            elem.clear()
    except ElementTree.ParseError:
        return gaps, errors
    return gaps, errors


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

    def __init__(self, stream: Any, block_bytes: int):
        self.stream = stream
        self.block_bytes = max(block_bytes, 1)
        self.tail = b""

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

    @staticmethod
    def _document(
        head: bytes, body: bytes | memoryview, close: bytes, first: bool
    ) -> tuple[bytes, bytes | memoryview, bytes]:
        if not first and not _ROW_WITH_NUMBER.match(body):
            raise _NotInBlocks  # a block's rows must say where they are
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


def _add_block(
    columns: list[list[Any]], n: int, top: int, left: int, block: list[list[Any]]
) -> int:
    """Append a block of rows (rectangular, from row index ``top`` and column ``left``) to the
    sheet's columns, blank rows and cells as "" as calamine reads them; the new row count."""
    width = left + (len(block[0]) if block else 0)
    for _ in range(len(columns), width):
        columns.append([""] * n)  # a column no row before reached
    gap = top - n
    for index, column in enumerate(columns):
        if gap:
            column.extend([""] * gap)
        if not left <= index < width:
            column.extend([""] * len(block))
    for column, cells in zip(columns[left:width], zip(*block, strict=True), strict=True):
        column.extend(cells)
    return top + len(block)


def _merged_in_tail(tail: bytes) -> list[tuple[int, int, int, int]]:
    """Merged ranges of more than one cell as ``_merged_ranges`` gives them, from the XML."""
    out = []
    for m in islice(_MERGE_REF.finditer(tail), MAX_MERGED_RANGES):
        r1, c1 = int(m.group(2)), _col_index(m.group(1))
        r2, c2 = int(m.group(4)), _col_index(m.group(3))
        if (r1, c1) != (r2, c2):
            out.append((r1, c1, r2, c2))
    return out


def _col_index(letters: bytes) -> int:
    col = 0
    for ch in letters:
        col = col * 26 + ch - 64
    return col - 1


def _col_letters(col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _range_ref(r1: int, c1: int, r2: int, c2: int) -> str:
    return f"{_col_letters(c1)}{r1}:{_col_letters(c2)}{r2}"


class _Workbook:
    def __init__(self, name: str, data: bytes, limits: Limits):
        from python_calamine import CalamineWorkbook

        self.name = name
        self.limits = limits
        self.data = data
        # the zip check (see _check_zip), but for the sheets read in row blocks: their part of
        # it goes with their first read (_MemberCheck), and check_rest sees that it is done
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
            _check_zip(name, data, limits)  # the whole check, in order, names what it meets first
            raise
        self.marked |= marked
        self.unchecked = {i.filename: i for i in infos if i.filename in later & big}
        try:
            # calamine opens the workbook and checks its parts but for the sheets, which it
            # reads when asked: a sheet read in blocks is left out, as calamine's copy of the
            # whole file is ≈ 2× the file (30 MB for a 4× preset facility workbook)
            book = CalamineWorkbook.from_filelike(self._without(big) if big else io.BytesIO(data))
            self.sheet_names = list(book.sheet_names)
        except Exception as e:  # noqa: BLE001 - calamine raises its own error family
            self.check_rest()
            raise UnreadableFile(
                name, f"XLSX 文件损坏 / corrupt XLSX: {type(e).__name__}: {e}"
            ) from None
        self._book: Any = None if big else book  # made from the whole file when needed
        self._tables: dict[str, Table] = {}

    def check_rest(self) -> None:
        """The zip check of the members it was left to (``_MemberCheck``) done, where their read
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
            _check_zip(self.name, self.data, self.limits)
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

    def table(self, sheet: str | None) -> Table | None:
        """The named sheet, else the first one (sheet names vary more than headers do)."""
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
            if self._book is None:  # let go while a sheet was read in blocks
                from python_calamine import CalamineWorkbook

                self._book = CalamineWorkbook.from_filelike(io.BytesIO(self.data))
            book_sheet = self._book.get_sheet_by_name(name)
            rows = book_sheet.to_python(skip_empty_area=False)
        except Exception as e:  # noqa: BLE001
            raise UnreadableFile(
                self.name, f"工作表 {name} 无法读取 / sheet {name} unreadable: {e}"
            ) from None
        return rows, _merged_ranges(book_sheet, self.limits)

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
    ) -> Iterator[_Block]:
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
            source = _MemberCheck(self, part, stream) if part in self.unchecked else stream
            xml = _SheetXml(source, ROW_BLOCK_BYTES)
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
                yield _Block(top, left, rows)
                del rows
        tail.append(xml.tail)

    def _rows_in_blocks(
        self, name: str, part: str | None
    ) -> tuple[_RowsOfColumns, list[tuple[int, int, int, int]]] | None:
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
                n = _add_block(columns, n, block.top, block.left, block.rows)
                del block
        except Exception:  # noqa: BLE001 - _NotInBlocks, or calamine's own error family
            return None
        return _RowsOfColumns([], columns), _merged_in_tail(tail[0])


@dataclass
class _Block:
    """Rows of a sheet read in blocks: rectangular, from row index ``top`` and column ``left``."""

    top: int
    left: int
    rows: list[list[Any]]

    def columns(self) -> list[list[Any]]:
        """The block's cells as columns from column A, blank ("") left of ``left``."""
        columns: list[list[Any]] = []
        _add_block(columns, 0, 0, self.left, self.rows)
        return columns


# ------------------------------------------------------------------------------------- layouts


@dataclass
class _Candidate:
    source: SourceLayouts
    layout: Layout
    table: Table | None
    colmap: dict[str, int] = field(default_factory=dict)  # layout header → column index
    missing: list[str] = field(default_factory=list)
    problem: str | None = None
    file_year: int | None = None
    covered: int = 0
    name: str = ""  # the file's

    @property
    def complete(self) -> bool:
        return self.table is not None and not self.missing and self.problem is None


def _iter_layouts(layouts: LayoutSet | Iterable[SourceLayouts]):
    if isinstance(layouts, LayoutSet):
        yield from layouts
        return
    for src in layouts:
        for lay in src.layouts:
            yield src, lay


def _header_map(table: Table, header_row: int) -> dict[str, int]:
    if len(table.rows) < header_row:
        return {}
    found: dict[str, int] = {}
    for i, cell in enumerate(table.rows[header_row - 1]):
        key = normalize_header(cell)
        if key and key not in found:
            found[key] = i
    return found


def _file_year(name: str, layout: Layout) -> int | None:
    """The year the layout's regex finds in the file name, else in its folders' names."""
    if not layout.year_from_filename:
        return None
    path = name.replace("\\", "/")
    base = path.rsplit("/", 1)[-1]
    m = re.search(layout.year_from_filename, base) or re.search(layout.year_from_filename, path)
    if not m:
        return None
    text = m.groupdict().get("year") or m.group(1)
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _match(cand: _Candidate, name: str) -> None:
    """Which of the layout's columns the file has, and which data years it covers."""
    cand.name = name
    lay = cand.layout
    if cand.table is None:
        cand.problem = f"缺少工作表「{lay.sheet}」/ no sheet {lay.sheet!r}"
        cand.missing = lay.required_headers()
        return
    headers = _header_map(cand.table, lay.header_row)
    for header in lay.columns:
        idx = next((headers[k] for k in lay.header_keys(header) if k in headers), None)
        if idx is not None:
            cand.colmap[header] = idx
    cand.missing = [h for h in lay.required_headers() if h not in cand.colmap]
    if cand.missing:
        return
    cand.file_year = _file_year(name, lay)
    idx = _year_index(cand)
    if idx is not None:
        years = _years_of(_typed_counts(_column_cells(cand.table.rows, idx, lay.header_row)))
    elif cand.file_year is not None:
        years = Counter([cand.file_year])
    else:
        cand.problem = (
            "无法确定年份：没有年份列，文件名中也没有年份 / cannot tell the year: no year column "
            "and none in the file name"
        )
        return
    _judge_years(cand, years)


def _year_index(cand: _Candidate) -> int | None:
    """The column of the data years, when the layout has one and the file too."""
    year_col = cand.layout.field_column("year")
    return cand.colmap.get(year_col[0]) if year_col else None


def _typed_counts(cells: Sequence[Any]) -> Counter[tuple[type, Any]]:
    """How often each distinct cell occurs (type and value: 1.0 and True differ)."""
    return Counter(zip(map(type, cells), cells, strict=True))


def _years_of(typed: Counter[tuple[type, Any]]) -> Counter[int]:
    """Data year → rows, from the year column's distinct cells (each parsed once)."""
    years: Counter[int] = Counter()
    for (_, raw), n in typed.items():
        if not _is_blank(raw):
            try:
                years[_parse_year(raw)] += n
            except CellError:
                continue
    return years


def _judge_years(cand: _Candidate, years: Counter[int]) -> None:
    """How many rows the layout's years cover; a problem when the file has years and none is
    the layout's."""
    lay = cand.layout
    cand.covered = sum(n for y, n in years.items() if lay.covers(y))
    if years and not cand.covered:
        shown = sorted(set(years))
        cand.problem = (
            f"表头符合版式 {lay.id}，但年份 {shown[0] if len(shown) == 1 else shown} 不在其适用范围 "
            f"{lay.years_text} / the header fits layout {lay.id}, but the year is outside its "
            f"years {lay.years_text}"
        )


def _column_cells(rows: Sequence[list[Any]], index: int, start: int) -> list[Any]:
    """One column's cells from row index ``start`` on, None where a row is shorter."""
    if isinstance(rows, _RowsOfColumns):
        return rows.column(index, start)
    return [row[index] if index < len(row) else None for row in rows[start:]]


def _describe_missing(cand: _Candidate) -> str:
    cols = "、".join(cand.missing[:12]) + ("…" if len(cand.missing) > 12 else "")
    return (
        f"最接近的版式 closest layout: {cand.layout.id}（{cand.source.name_zh}，"
        f"{cand.layout.years_text}），缺少列 missing columns: {cols}"
    )


def _mojibake(text: str) -> str | None:
    """UTF-8 Chinese once read as Windows-1252 ('åœ°åŒº' for '地区'), undone; else None."""
    raw = bytearray()
    for ch in text:
        try:
            raw += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:
                return None
            raw.append(ord(ch))  # bytes Windows-1252 leaves undefined pass through as Latin-1
    try:
        fixed = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return fixed if any("\u4e00" <= ch <= "\u9fff" for ch in fixed) else None


def _no_header_text(cands: list[_Candidate]) -> str:
    """The message for a file in which not one column of any layout was found."""
    shown: dict[tuple[int, str], None] = {}
    hint = ""
    for cand in cands:  # the header rows the layouts looked at, as they read
        table, row = cand.table, cand.layout.header_row
        if table is None or len(table.rows) < row:
            continue
        cells = [str(c).strip() for c in table.rows[row - 1] if not _is_blank(c)]
        if not cells:
            continue
        shown[(row, "、".join(cells[:6]) + ("…" if len(cells) > 6 else ""))] = None
        fixed = None if hint else _mojibake(" ".join(cells[:6]))
        if fixed:
            hint = (
                f"；表头像是乱码：UTF-8 文本被当作 Windows-1252 读过又保存（原文应为「{shorten(fixed, 60)}」），"
                f"请从原系统重新导出 / the header looks like mojibake: UTF-8 text read as "
                f"Windows-1252 and saved again (it should read {shorten(fixed, 60)!r}); export the "
                "file again from its source"
            )
    header = "；".join(f"第 {r} 行 row {r}: {shorten(t, 120)}" for r, t in list(shown)[:3])
    return (
        "没有匹配的版式：表头里没有任何版式的列（文件不对、表头行不对或编码错乱？）/ no matching "
        "layout: the header has no column of any layout (wrong file, wrong header row, or garbled "
        "text?). 表头 header: " + (header or "—") + hint
    )


def _merged_header_note(cand: _Candidate) -> str:
    table, row = cand.table, cand.layout.header_row
    if table is None:
        return ""
    refs = [_range_ref(*m) for m in table.merged if m[0] <= row <= m[2]]
    if not refs:
        return ""
    shown = "、".join(refs[:5]) + ("…" if len(refs) > 5 else "")
    return (
        f"；表头（第 {row} 行）有合并单元格 {shown}，请取消合并并给每列一个表头 / the header row "
        f"{row} has merged cells {shown}: unmerge them so that every column has its own header"
    )


def choose_layout(
    name: str, fmt: str, tables: Any, layouts: LayoutSet | Iterable[SourceLayouts]
) -> _Candidate:
    """The one layout whose required columns the file has and whose years cover its data."""
    return _select(name, fmt, _candidates(name, fmt, tables, layouts))


def _candidates(
    name: str, fmt: str, tables: Any, layouts: LayoutSet | Iterable[SourceLayouts]
) -> list[_Candidate]:
    """Every layout of the format, matched against the file."""
    cands = []
    for src, lay in _iter_layouts(layouts):
        if lay.format != fmt:
            continue
        table = tables if isinstance(tables, Table) else tables.table(lay.sheet)
        cand = _Candidate(src, lay, table)
        _match(cand, name)
        cands.append(cand)
    return cands


def _select(name: str, fmt: str, cands: list[_Candidate]) -> _Candidate:
    """The one candidate that fits (see ``choose_layout``); UnreadableFile says why none does."""
    if not cands:
        raise UnreadableFile(name, f"没有 {fmt} 格式的版式 / no layout reads {fmt} files")
    good = [c for c in cands if c.complete]
    if not good:
        header_fits = [c for c in cands if c.table is not None and not c.missing]
        if header_fits:
            reasons = "；".join(c.problem or "" for c in header_fits)
            # The layout for the file's year, if any, tells what the columns should be now.
            years = {c.file_year for c in header_fits if c.file_year}
            others = [
                c
                for c in cands
                if c.missing
                and c.source.source in {h.source.source for h in header_fits}
                and (not years or any(c.layout.covers(y) for y in years))
            ]
            if others:
                best = min(others, key=lambda c: len(c.missing))
                reasons += "；" + _describe_missing(best)
            raise UnreadableFile(name, f"没有匹配的版式 / no matching layout: {reasons}")
        best = max(
            cands,
            key=lambda c: (
                (len(c.layout.required_headers()) - len(c.missing))
                / max(len(c.layout.required_headers()), 1),
                c.layout.years[0],
            ),
        )
        if not best.colmap and best.table is not None:
            raise UnreadableFile(name, _no_header_text(cands))
        raise UnreadableFile(
            name,
            "没有匹配的版式（列缺失或已改名）/ no matching layout (columns missing or renamed): "
            + _describe_missing(best)
            + (f"；{best.problem}" if best.problem and best.table is None else "")
            + _merged_header_note(best),
        )
    top = max(len(c.colmap) for c in good)
    good = [c for c in good if len(c.colmap) == top]
    most = max(c.covered for c in good)
    good = [c for c in good if c.covered == most]
    if len(good) > 1:
        ids = ", ".join(c.layout.id for c in good)
        raise UnreadableFile(name, f"版式不唯一 / ambiguous layout: the file fits {ids} equally")
    return good[0]


# ------------------------------------------------------------------------------------- parsing


@dataclass
class _Ctx:
    name: str
    cand: _Candidate
    info: CatalogInfo
    current_year: int
    limits: Limits
    rejects: list[Reject] = field(default_factory=list)
    flags: list[Reject] = field(default_factory=list)
    rows_read: int = 0
    maps: dict[str, dict[str, str]] = field(default_factory=dict)
    # the file's field columns, looked up once (they are read on every row)
    year_header: str | None = field(init=False, default=None)  # None: the year is the file's
    area_header: str | None = field(init=False, default=None)
    name_header: str | None = field(init=False, default=None)
    headers: list[str] = field(init=False, default_factory=list)  # the mapped ones, in order
    # a facility field's result per distinct text, for the blocks after (see _facility_block)
    field_results: dict[str, dict[str, Any]] = field(init=False, default_factory=dict)
    last_index: int = field(init=False, default=-1)  # of the mapped columns
    cells_of: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        lay = self.cand.layout
        for what, mapping in lay.value_maps.items():
            self.maps[what] = {normalize_header(k): v for k, v in mapping.items()}
        flags = {normalize_header(k): v for k, v in DEFAULT_FLAG_MAP.items()}
        flags.update(self.maps.get("flag", {}))
        self.maps["flag"] = flags
        year_col = lay.field_column("year")
        if year_col and year_col[0] in self.cand.colmap:
            self.year_header = year_col[0]
        area_col, name_col = lay.field_column("area_code"), lay.field_column("area_name")
        self.area_header = area_col[0] if area_col else None
        self.name_header = name_col[0] if name_col else None
        colmap = self.cand.colmap
        self.headers = list(colmap)
        self.last_index = max(colmap.values(), default=-1)
        # a row's mapped cells at once, where the row reaches every mapped column
        self.cells_of = operator.itemgetter(*colmap.values()) if len(colmap) > 1 else None

    def scratch(self) -> _Ctx:
        """A context of the same file whose rejects and flags go nowhere that counts."""
        scratch = copy.copy(self)  # the maps and columns as they are: only read
        scratch.rejects, scratch.flags, scratch.rows_read = [], [], 0
        return scratch

    def reject(self, row: int | None, field: str | None, value: Any, reason: str) -> None:
        self.rejects.append(Reject(self.name, row, field, shorten(value), reason))

    def flag(self, row: int | None, field: str | None, value: Any, reason: str) -> None:
        self.flags.append(Reject(self.name, row, field, shorten(value), reason))


def _area(ctx: _Ctx, raw: Any, rownum: int, header: str) -> str | None:
    if _is_blank(raw):
        ctx.reject(rownum, header, raw, "缺少地区代码 / area code missing")
        return None
    code = "".join(_text(raw).split())
    if not _CODE.fullmatch(code) or len(code) > 64:
        ctx.reject(rownum, header, raw, "地区代码格式不对 / malformed area code")
        return None
    if code not in ctx.info.areas:
        ctx.reject(rownum, header, raw, f"未知地区代码 / unknown area code {shorten(code, 40)}")
        return None
    return code


def _year(ctx: _Ctx, cells: dict[str, Any], rownum: int) -> int | None:
    lay = ctx.cand.layout
    header = ctx.year_header
    if header is None:
        return ctx.cand.file_year
    raw = cells[header]
    if _is_blank(raw):
        if ctx.cand.file_year is not None:
            return ctx.cand.file_year
        ctx.reject(rownum, header, raw, "缺少年份 / year missing")
        return None
    try:
        year = _parse_year(raw)
    except CellError as e:
        ctx.reject(rownum, header, raw, str(e))
        return None
    if year > ctx.current_year:
        ctx.reject(rownum, header, raw, f"未来年份 / year in the future (now {ctx.current_year})")
        return None
    if not lay.covers(year):
        ctx.reject(
            rownum,
            header,
            raw,
            f"年份超出版式 {lay.id} 的适用范围 {lay.years_text} / year outside the layout's years",
        )
        return None
    return year


def _value(
    ctx: _Ctx, raw: Any, col: Column, element: DataElement, rownum: int, header: str
) -> tuple[float, float] | None:
    """A checked element value in the element's unit and its rounding precision, or None."""
    if element.kind == "flag" and isinstance(raw, str):
        flag = ctx.maps["flag"].get(_key(raw))
        if flag is not None:
            return float(flag), 1.0
    try:
        parsed = parse_number(raw)
    except CellError as e:
        ctx.reject(rownum, header, raw, str(e))
        return None
    if parsed is None:
        return None
    value, sign, decimals = parsed
    unit = "%" if col.percent or element.unit in ("%", "％") else "‰" if element.unit == "‰" else ""
    if sign and not unit:
        ctx.reject(
            rownum,
            header,
            raw,
            f"含「{sign}」号，但该列不是比率 / a {sign} sign in a column of counts",
        )
        return None
    if sign and sign != unit:
        factor = 10.0 if unit == "‰" else 0.1
        value *= factor
        ctx.flag(
            rownum,
            header,
            raw,
            f"按「{sign}」填报，已换算为「{unit}」/ given in {sign}, converted to {unit}",
        )
    if unit:
        cap = element.max if element.max is not None else (100.0 if unit == "%" else 1000.0)
        if value > cap:
            ctx.reject(rownum, header, raw, f"比率超过 {cap:g}{unit} / share over {cap:g} {unit}")
            return None
    value *= col.scale
    # whole numbers in an unscaled column are exact; decimals or a scale mean rounding
    precision = 10.0 ** (-decimals) * col.scale if decimals or col.scale != 1.0 else 0.0
    if col.scale != 1.0:
        value = round(value, 6)
    if element.min is not None and value < element.min:
        if element.min == 0:
            ctx.reject(rownum, header, raw, "负数 / negative value")
        else:
            ctx.reject(rownum, header, raw, f"低于下限 {element.min:g} / below the minimum")
        return None
    if element.max is not None and not unit and value > element.max:
        ctx.reject(rownum, header, raw, f"超过上限 {element.max:g} / above the maximum")
        return None
    return value, precision


def _data_rows(ctx: _Ctx):
    """(row number, {header: raw cell}) for every non-blank data row; notes skipped."""
    cand = ctx.cand
    table = cand.table
    assert table is not None
    _apply_merges(ctx)
    width = _header_width(table, cand.layout.header_row) if table.fixed_width else 0
    for index in range(cand.layout.header_row, len(table.rows)):
        item = _data_row(ctx, index, width)
        if item is not None:
            yield item


def _data_row(ctx: _Ctx, index: int, width: int) -> tuple[int, dict[str, Any]] | None:
    """One sheet row (0-based index) as (row number, {header: raw cell}), counted as read; None
    for a blank or note row, and for a CSV row of the wrong width (rejected here)."""
    row = ctx.cand.table.rows[index]  # type: ignore[union-attr]
    # not _is_blank, inline: this runs for every cell of every row
    filled = [c for c in row if c is not None and not (isinstance(c, str) and not c.strip())]
    if not filled:
        return None
    if (
        len(filled) == 1
        and isinstance(filled[0], str)
        and _text(filled[0]).startswith(NOTE_PREFIXES)
    ):
        return None
    if ctx.cells_of is not None and len(row) > ctx.last_index:
        cells = dict(zip(ctx.headers, ctx.cells_of(row), strict=True))
    else:
        cells = {h: (row[i] if i < len(row) else None) for h, i in ctx.cand.colmap.items()}
    if not any(
        v is not None and not (isinstance(v, str) and not v.strip()) for v in cells.values()
    ):
        return None
    rownum = index + 1
    if width and not (len(row) == width > ctx.last_index) and _bad_width(ctx, rownum, row, width):
        ctx.rows_read += 1
        return None
    limit = ctx.limits.max_cell_chars
    if not (width and _all_shorter(cells.values(), limit)):
        for h, v in cells.items():
            if isinstance(v, str) and len(v) > limit:
                cells[h] = v[:limit]
                ctx.flag(
                    rownum, h, v, f"单元格超过 {limit} 字符，已截断 / cell over {limit} chars cut"
                )
    ctx.rows_read += 1
    return rownum, cells


def _all_shorter(cells: Iterable[Any], limit: int) -> bool:
    """Whether no cell is longer than ``limit``: a CSV row's cells are all text, measured in one
    go; False when a cell has no length (it is then looked at one by one)."""
    try:
        return max(map(len, cells), default=0) <= limit
    except TypeError:
        return False


def _header_width(table: Table, header_row: int) -> int:
    """Cells up to the last non-blank header cell."""
    header = table.rows[header_row - 1] if len(table.rows) >= header_row else []
    filled = [i for i, c in enumerate(header) if not _is_blank(c)]
    return filled[-1] + 1 if filled else 0


def _bad_width(ctx: _Ctx, rownum: int, row: list[Any], width: int) -> bool:
    """A CSV row with fewer cells than the header's columns it needs, or with values past the
    header: rejected whole, since its values may sit under the wrong headers."""
    colmap = ctx.cand.colmap
    missing = sorted((i, h) for h, i in colmap.items() if i >= len(row))
    if missing:
        ctx.reject(
            rownum,
            missing[0][1],
            None,
            f"行不完整：只有 {len(row)} 列，表头有 {width} 列（文件被截断？），整行未读取 / short "
            f"row: {len(row)} cells, the header has {width} (truncated file?); row not read",
        )
        return True
    extra = [c for c in row[width:] if not _is_blank(c)]
    if extra:
        ctx.reject(
            rownum,
            None,
            shorten(",".join(str(c) for c in row), 120),
            f"列数不符：有 {len(row) - _trailing_blanks(row)} 列，表头只有 {width} 列"
            f"（数字中的逗号未加引号？），整行未读取 / the row has more cells than the header's "
            f"{width} (an unquoted comma, e.g. 1,234?); its values would sit under the wrong "
            "headers: row not read",
        )
        return True
    return False


def _trailing_blanks(row: list[Any]) -> int:
    n = 0
    for c in reversed(row):
        if not _is_blank(c):
            break
        n += 1
    return n


def _apply_merges(ctx: _Ctx) -> None:
    """Merged cells as a reader sees them: a field cell (area, year, type …) merged over several
    rows applies to each of them; an element cell merged with other cells has no value of its own
    and is rejected where it is read (``_gap``)."""
    table = ctx.cand.table
    assert table is not None
    if not table.merged or table.merged_values:
        return
    lay = ctx.cand.layout
    first, last = lay.header_row + 1, len(table.rows)
    field_cols = {i for h, i in ctx.cand.colmap.items() if lay.columns[h].is_field}
    mapped = set(ctx.cand.colmap.values())
    budget = 5_000_000  # cells touched, whatever the merges claim
    for r1, c1, r2, c2 in table.merged:
        lo, hi = max(r1, first), min(r2, last)
        cols = sorted(i for i in mapped if c1 <= i <= c2)
        if lo > hi or not cols or (hi - lo + 1) * len(cols) <= 1:
            continue
        budget -= (hi - lo + 1) * len(cols)
        if budget < 0:
            break
        ref = _range_ref(r1, c1, r2, c2)
        anchor_row = table.rows[r1 - 1] if r1 >= first else None
        anchor = anchor_row[c1] if anchor_row is not None and c1 < len(anchor_row) else None
        filled = False
        for col in cols:
            for rownum in range(lo, hi + 1):
                row = table.rows[rownum - 1]
                if col in field_cols:
                    if (rownum, col) == (r1, c1) or _is_blank(anchor) or col >= len(row):
                        continue
                    if _is_blank(row[col]):
                        _set_cell(table.rows, rownum - 1, col, anchor)
                        filled = True
                else:
                    table.merged_values[(rownum, col)] = ref
        if filled:
            ctx.flag(
                r1,
                None,
                anchor,
                f"合并单元格 {ref} 的值用于其中每一行 / merged cell {ref}: its value applies to "
                "each of its rows",
            )


def _set_cell(rows: Sequence[list[Any]], index: int, col: int, value: Any) -> None:
    """Write one cell: a column table's rows are rebuilt on each read, so write through it."""
    if isinstance(rows, _RowsOfColumns):
        rows.set_cell(index, col, value)
    else:
        rows[index][col] = value


def _is_total_row(ctx: _Ctx, cells: dict[str, Any]) -> bool:
    """A 合计 row without an area code: its parts are in the file, so it is skipped."""
    code = _text(cells.get(ctx.area_header)) if ctx.area_header is not None else ""
    if code:
        return code.startswith(TOTAL_WORDS)
    name = ctx.name_header
    return name is not None and _text(cells.get(name)).startswith(TOTAL_WORDS)


def _gap(ctx: _Ctx, rownum: int, header: str, suffix: str = "") -> bool:
    idx = ctx.cand.colmap[header]
    if (rownum, idx) in ctx.cand.table.formula_gaps:  # type: ignore[union-attr]
        ctx.reject(
            rownum,
            header,
            None,
            "公式没有缓存值（请在 Excel 中重新计算并保存）/ formula without a cached value "
            "(recalculate and save in Excel)" + suffix,
        )
        return True
    error = ctx.cand.table.error_cells.get((rownum, idx))  # type: ignore[union-attr]
    if error:
        ctx.reject(
            rownum,
            header,
            error,
            f"Excel 错误值 {error}（请在 Excel 中修正公式）/ Excel error value {error} (fix the "
            "formula in Excel)" + suffix,
        )
        return True
    ref = ctx.cand.table.merged_values.get((rownum, idx))  # type: ignore[union-attr]
    if ref:
        row = ctx.cand.table.rows[rownum - 1]  # type: ignore[union-attr]
        ctx.reject(
            rownum,
            header,
            row[idx] if idx < len(row) else None,
            f"合并单元格 {ref}：无法确定本行本列的值（请取消合并，逐格填写）/ merged cell {ref}: "
            "no value of its own for this row and column (unmerge and fill every cell)" + suffix,
        )
        return True
    return False


def _element_columns(ctx: _Ctx) -> list[tuple[str, Column, DataElement]]:
    out = []
    for header, col in ctx.cand.layout.columns.items():
        if not col.element or header not in ctx.cand.colmap:
            continue
        element = ctx.info.elements.get(col.element)
        if element is None:
            ctx.reject(
                ctx.cand.layout.header_row,
                header,
                col.element,
                f"未知数据元 {col.element}，该列未读取 / unknown data element {col.element}: "
                "column not read (the layout and the element catalog disagree)",
            )
            continue
        out.append((header, col, element))
    return out


def _parse_long(ctx: _Ctx) -> tuple[dict[str, Any], set[int]]:
    """One value per area row and element column; parent areas checked against their parts."""
    table = ctx.cand.table
    assert table is not None
    area_header = ctx.area_header
    assert area_header is not None
    columns = _element_columns(ctx)
    seen: dict[tuple[str, int], int] = {}
    values = _LongValues(columns)
    add_row, add_column = values.row_at.append, values.column_at.append
    add_value, add_precision, add_raw = (
        values.value.append,
        values.precision.append,
        values.raw.append,
    )
    for rownum, cells in _data_rows(ctx):
        if _is_total_row(ctx, cells):
            ctx.flag(
                rownum,
                area_header,
                None,
                "无地区代码的合计行已跳过 / total row without a code skipped",
            )
            continue
        code = _area(ctx, cells[area_header], rownum, area_header)
        if code is None:
            continue
        year = _year(ctx, cells, rownum)
        if year is None:
            continue
        first = seen.get((code, year))
        if first is not None:
            ctx.reject(
                rownum,
                area_header,
                cells[area_header],
                f"重复：与第 {first} 行地区、年份相同，保留第 {first} 行 / duplicate of row {first} "
                "(same area and year); the first is kept",
            )
            continue
        seen[(code, year)] = rownum
        noted = table.formula_gaps or table.error_cells or table.merged_values
        row_at = len(values.rows)
        values.rows.append((code, year, rownum))
        for at, (header, col, element) in enumerate(columns):
            if noted and _gap(ctx, rownum, header):
                continue
            raw = cells[header]
            checked = _value(ctx, raw, col, element, rownum, header)
            if checked is not None:
                add_row(row_at)
                add_column(at)
                add_value(checked[0])
                add_precision(checked[1])
                add_raw(raw)
    kept = _check_totals(ctx, values)
    return values.good(kept), {values.rows[values.row_at[i]][2] for i in kept}


class _LongValues:
    """A long file's values as they are read, as lists of plain values (not a dict or tuple per
    value): each one's row (``rows``: area, year, row number), element column, value, precision
    and raw cell."""

    def __init__(self, columns: list[tuple[str, Column, DataElement]]) -> None:
        self.columns = columns
        self.kinds = [(element.code, col.stratum or "") for _, col, element in columns]
        self.rows: list[tuple[str, int, int]] = []
        self.row_at: list[int] = []
        self.column_at: list[int] = []
        self.value: list[float] = []
        self.precision: list[float] = []
        self.raw: list[Any] = []

    def key(self, i: int) -> tuple[str, int, str, str]:
        """Value i's (area, year, element, stratum)."""
        row, kind = self.rows[self.row_at[i]], self.kinds[self.column_at[i]]
        return row[0], row[1], kind[0], kind[1]

    def good(self, kept: list[int]) -> dict[str, Any]:
        """The kept values as GOOD_COLUMNS (source_rows: the value's row number)."""
        rows = list(map(self.rows.__getitem__, map(self.row_at.__getitem__, kept)))
        kinds = list(map(self.kinds.__getitem__, map(self.column_at.__getitem__, kept)))
        return {
            "area_code": [r[0] for r in rows],
            "year": np.array([r[1] for r in rows], np.int64),
            "element": [k[0] for k in kinds],
            "stratum": [k[1] for k in kinds],
            "value": np.array(list(map(self.value.__getitem__, kept)), np.float64),
            "source_rows": [str(r[2]) for r in rows],
        }


def _runs(items: list[int]) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of equal items."""
    lo = 0
    for hi in range(1, len(items) + 1):
        if hi == len(items) or items[hi] != items[lo]:
            yield lo, hi
            lo = hi


def _check_totals(ctx: _Ctx, values: _LongValues) -> list[int]:
    """A parent area's count must equal its sub-areas' sum; a mismatch rejects the parent value.
    The values kept, as positions."""
    parents, elements = ctx.info.areas, ctx.info.elements
    additive = [
        (known := elements.get(element.code)) is not None and known.kind in ADDITIVE_KINDS
        for _, _, element in values.columns
    ]
    n = len(values.value)
    # only a parent's value can be a total: the others need no key
    has_parts = set(parents.values())
    rows, row_at, column_at = values.rows, values.row_at, values.column_at
    present = {values.key(i): i for i in range(n) if rows[row_at[i]][0] in has_parts}
    kids: dict[tuple, list[int]] = {}
    if present:
        kinds = values.kinds
        for lo, hi in _runs(row_at):  # a row's values, one after another
            code, year, _ = rows[row_at[lo]]
            parent = parents.get(code)
            if parent is None:
                continue
            for i in range(lo, hi):
                at = column_at[i]
                if additive[at]:
                    key = (parent, year, *kinds[at])
                    if key in present:
                        kids.setdefault(key, []).append(i)
    if not kids:
        return list(range(n))
    children_total = ctx.info.children_count()
    value, precision = values.value, values.precision
    dropped = set()
    for key, parts in kids.items():
        at = present[key]
        total = value[at]
        s = sum(value[p] for p in parts)
        tol = 0.5 * (precision[at] + sum(precision[p] for p in parts))
        tol += 1e-9 * max(abs(total), 1.0)
        diff = s - total
        complete = len(parts) >= children_total.get(key[0], 0)
        if (complete and abs(diff) > tol) or (not complete and diff > tol):
            shown = compact_rows(rows[row_at[p]][2] for p in parts)
            how = "" if complete else "（部分下级 / some sub-areas）"
            ctx.reject(
                rows[row_at[at]][2],
                values.columns[column_at[at]][0],
                values.raw[at],
                f"与下级地区合计不符{how}：下级合计 {s:g}（第 {shown} 行），本级 {total:g}，"
                f"本级数未入库 / sum of sub-areas {s:g} (rows {shown}) differs from the total "
                f"{total:g}; total not loaded",
            )
            dropped.add(at)
    return [i for i in range(n) if i not in dropped]


def _mapped(ctx: _Ctx, what: str, raw: Any, rownum: int, header: str) -> str | None:
    lay = ctx.cand.layout
    if _is_blank(raw):
        label = "经济类型" if what == "ownership" else "机构类别"
        ctx.reject(rownum, header, raw, f"缺少{label} / {what} missing")
        return None
    mapping = ctx.maps.get(what, {})
    key = _key(raw)
    value = mapping.get(key) or (key if key in set(mapping.values()) else None)
    if value is None:
        label = "经济类型" if what == "ownership" else "机构类别"
        known = "、".join(lay.value_maps.get(what, {}))  # type: ignore[call-overload]
        ctx.reject(rownum, header, raw, f"未知{label}（可用：{known}）/ unknown {what}")
    return value


@dataclass
class _FacilitySpec:
    """A facility layout's columns as the row checks use them."""

    area: str
    fid: str
    own: str
    typ: str
    count_element: str | None
    columns: list[tuple[str, Column, DataElement]]


def _facility_spec(ctx: _Ctx) -> _FacilitySpec:
    lay = ctx.cand.layout
    count_element = lay.facility_count_element
    if count_element not in ctx.info.elements:
        ctx.reject(None, None, count_element, f"未知数据元 / unknown data element {count_element}")
        count_element = None
    return _FacilitySpec(
        area=lay.field_column("area_code")[0],  # type: ignore[index]
        fid=lay.field_column("facility_id")[0],  # type: ignore[index]
        own=lay.field_column("ownership")[0],  # type: ignore[index]
        typ=lay.field_column("type")[0],  # type: ignore[index]
        count_element=count_element,
        columns=_element_columns(ctx),
    )


def _flag_cell(ctx: _Ctx, raw: Any) -> float | None:
    """A 是/否 cell as 1.0 / 0.0, None when blank; CellError when it is neither."""
    if _is_blank(raw):
        return None
    flag = ctx.maps["flag"].get(_key(raw))
    if flag is None:
        raise CellError("是/否值无法识别 / not a yes/no value" + GROUP_NOT_LOADED)
    return float(flag)


# a facility row kept: its group (area, year, stratum), its (element, value) pairs in column
# order, and the elements whose cell was rejected (their group total is held back)
_FacilityRow = tuple[tuple[str, int, str], list[tuple[str, float]], set[str]]


def _facility_row(
    ctx: _Ctx, spec: _FacilitySpec, rownum: int, cells: dict[str, Any], seen: dict | _Claimed
) -> _FacilityRow | None:
    """One facility row checked cell by cell (every reject named); None when it is not kept."""
    fid_raw = cells[spec.fid]
    if _is_blank(fid_raw):
        ctx.reject(rownum, spec.fid, fid_raw, "缺少机构代码 / facility id missing")
        return None
    fid = _text(fid_raw)
    code = _area(ctx, cells[spec.area], rownum, spec.area)
    if code is None:
        return None
    year = _year(ctx, cells, rownum)
    if year is None:
        return None
    own = _mapped(ctx, "ownership", cells[spec.own], rownum, spec.own)
    typ = _mapped(ctx, "type", cells[spec.typ], rownum, spec.typ)
    if own is None or typ is None:
        return None
    first = seen.get((fid, year))
    if first is not None:
        ctx.reject(
            rownum,
            spec.fid,
            fid_raw,
            f"重复机构：与第 {first} 行机构代码相同，保留第 {first} 行 / duplicate facility "
            f"of row {first}; the first is kept",
        )
        return None
    seen[(fid, year)] = rownum
    values: list[tuple[str, float]] = []
    broken: set[str] = set()
    for header, col, element in spec.columns:
        if _gap(ctx, rownum, header, GROUP_NOT_LOADED):
            broken.add(element.code)
            continue
        raw = cells[header]
        if col.flag:
            try:
                value = _flag_cell(ctx, raw)
            except CellError as e:
                ctx.reject(rownum, header, raw, str(e))
                broken.add(element.code)
                continue
            if value is None:
                continue
        else:
            before = len(ctx.rejects)
            checked = _value(ctx, raw, col, element, rownum, header)
            if checked is None:
                if len(ctx.rejects) > before:
                    last = ctx.rejects[-1]
                    ctx.rejects[-1] = Reject(
                        last.file, last.row, last.field, last.value, last.reason + GROUP_NOT_LOADED
                    )
                    broken.add(element.code)
                continue
            value = checked[0]
        values.append((element.code, value))
    return (code, year, f"{own}:{typ}"), values, broken


def _parse_facility_rows(ctx: _Ctx) -> tuple[list[dict], set[int]]:
    """The per-row reference: every row through ``_facility_row``, summed per group in row
    order. ``_parse_facility`` gives the same result faster; tests compare the two."""
    spec = _facility_spec(ctx)
    seen: dict[tuple[str, int], int] = {}
    groups: dict[tuple[str, int, str], dict] = {}
    for rownum, cells in _data_rows(ctx):
        kept = _facility_row(ctx, spec, rownum, cells, seen)
        if kept is None:
            continue
        key, values, broken = kept
        group = groups.setdefault(key, {"rows": [], "sums": {}, "broken": set()})
        group["rows"].append(rownum)
        group["broken"] |= broken
        sums = group["sums"]
        for element, value in values:
            sums[element] = sums.get(element, 0.0) + value
    records = []
    loaded_rows: set[int] = set()
    for (code, year, stratum), group in groups.items():
        rows_text = compact_rows(group["rows"])
        values = dict(group["sums"])
        if spec.count_element:
            values[spec.count_element] = float(len(group["rows"]))
        for element, value in values.items():
            if element in group["broken"]:
                continue
            records.append(
                {
                    "area_code": code,
                    "year": year,
                    "element": element,
                    "stratum": stratum,
                    "value": round(value, 9),
                    "source_rows": rows_text,
                }
            )
            loaded_rows.update(group["rows"])
    return records, loaded_rows


# ------------------------------------------------------------------------ facility, by columns
#
# A facility sheet has tens of thousands of rows and nearly all of them are clean. The columnar
# path checks whole columns at once, sums the clean rows with ``np.bincount`` (which adds in row
# order, exactly as the per-row sums do) and sends only the other rows — anything that would be
# rejected or flagged, or that a rejected row could affect — through ``_facility_row``, in row
# order, so that every message, row number and field stays as the per-row path gives them.

_NOT_CLEAN = object()  # a cell the per-row path would reject or flag


def _clean_result(scratch: _Ctx, fn: Any, *args: Any) -> Any:
    """fn(*args) when it neither rejects nor flags anything (on a scratch context), else
    _NOT_CLEAN: that row goes through the per-row path, which reports it."""
    rejects, flags = len(scratch.rejects), len(scratch.flags)
    try:
        out = fn(*args)
    except Exception:  # noqa: BLE001 - the per-row path meets it again and decides
        out = _NOT_CLEAN
    if len(scratch.rejects) != rejects or len(scratch.flags) != flags:
        del scratch.rejects[rejects:], scratch.flags[flags:]
        return _NOT_CLEAN
    return out


# cell types whose values equal no value of another type (unlike 1 == 1.0 == True)
_NEVER_EQUAL_ACROSS_TYPES = frozenset({str, type(None), datetime, date, time, timedelta})


def _first_positions(keys: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Which distinct key each key is (numbered in order of first appearance), and the first of
    each: one dict look-up per key, the numbers given out by the dict itself."""
    position: defaultdict[Any, int] = defaultdict(itertools.count().__next__)
    codes = np.fromiter(map(position.__getitem__, keys), np.intp, len(keys))
    return codes, list(position)


class _Cells:
    """One column's cells and the set of their types: most columns hold one type (text or
    numbers), and then no cell needs looking at one by one to know its type."""

    def __init__(self, cells: Sequence[Any], few: bool = False):
        """``few``: the column holds few distinct cells (codes, 是/否): they are found first,
        and where no two of them can be equal across types, their types are the column's."""
        self.cells = cells
        self._distinct: list[Any] | None = None  # one cell of each kind, in order of first …
        self._codes: np.ndarray | None = None  # … and which of them each cell is
        self._longest: int | None = None
        if not few:
            self.types = set(map(type, cells))
            return
        codes, distinct = _first_positions(cells)
        self.types = set(map(type, distinct))
        if not self.types <= _NEVER_EQUAL_ACROSS_TYPES:  # 1.0 may stand for True: look at all
            self.types = set(map(type, cells))
            if len(self.types) > 1:  # then (type, value) tells cells apart (see coded)
                return
        self._codes, self._distinct = codes, distinct

    def of_type(self, kind: type) -> np.ndarray:
        """Which cells are of exactly this type."""
        if self.types == {kind}:
            return np.ones(len(self.cells), bool)
        if kind not in self.types:
            return np.zeros(len(self.cells), bool)
        return np.fromiter(map(operator.is_, map(type, self.cells), repeat(kind)), bool)

    def _keys(self) -> Sequence[Any]:
        """What tells cells apart: the value where the column holds one type, else (type,
        value), as 1.0 == True."""
        if len(self.types) == 1:
            return self.cells
        return list(zip(map(type, self.cells), self.cells, strict=True))

    def coded(self) -> tuple[np.ndarray, list[Any]]:
        """(which distinct cell each cell is, one cell of each kind): the first of equal cells
        stands for them all, as a set keeps it."""
        if self._codes is None:
            self._codes, distinct = _first_positions(self._keys())
            self._distinct = distinct if len(self.types) == 1 else [k[1] for k in distinct]
        return self._codes, self._distinct  # type: ignore[return-value]

    def per_distinct(self, fn: Any) -> list[Any]:
        """fn of every cell, called once per distinct cell (1.0 and True are told apart)."""
        codes, distinct = self.coded()
        results = list(map(fn, distinct))
        return list(map(results.__getitem__, codes.tolist()))

    def long_text(self, limit: int) -> np.ndarray | None:
        """Which cells are text longer than the cell limit (cut and flagged per row); None when
        none is."""
        if str not in self.types:
            return None
        if self._codes is not None:  # a few distinct cells: their lengths tell
            codes, distinct = self.coded()
            long = [type(v) is str and len(v) > limit for v in distinct]
            return np.array(long, bool)[codes] if any(long) else None
        is_text = self.of_type(str)
        texts = self.cells if len(self.types) == 1 else list(compress(self.cells, is_text))
        if self._longest is None:
            self._longest = max(map(len, texts), default=0)
        if self._longest <= limit:
            return None
        out = np.zeros(len(self.cells), bool)
        out[is_text] = np.fromiter(map(len, texts), np.int64, len(texts)) > limit
        return out

    def texts(self, limit: int) -> list[str]:
        """Every cell as ``_text`` gives it, after the cut at the cell limit."""
        if self.types == {str}:
            if self._longest is None:
                self._longest = max(map(len, self.cells), default=0)
            if self._longest <= limit and all(map(str.isascii, self.cells)):
                return list(map(str.strip, self.cells))  # what _text does to short ASCII text
        return [_text(v[:limit] if type(v) is str else v) for v in self.cells]


def _columns_of(rows: list[list[Any]], first: int, step: int = 8192) -> list[list[Any]]:
    """The rows from ``first`` on, all of one length, as columns; each row list is let go once
    its cells are in the columns, so the sheet is never held twice."""
    columns: list[list[Any]] = [[] for _ in rows[first]]
    for start in range(first, len(rows), step):
        part = rows[start : start + step]
        for column, cells in zip(columns, zip(*part, strict=True), strict=True):
            column.extend(cells)
        rows[start : start + len(part)] = [None] * len(part)  # type: ignore[list-item]
        del part
    return columns


class _RowsOfColumns(Sequence):
    """A sheet's rows read through its columns once they are taken apart: the row lists are
    about a third of a big sheet's memory, and only the few rows checked one by one are
    needed as rows again (rebuilt on demand, as lists of the same cells).

    ``start``: the row index of the columns' first row, when rows between the head rows and
    the columns are gone (a sheet checked block by block holds its header and one block)."""

    def __init__(self, head: list[list[Any]], columns: list[list[Any]], start: int | None = None):
        self.head = head
        self.columns = columns
        self.n = len(columns[0]) if columns else 0
        self.width = len(columns)
        self.start = len(head) if start is None else start

    def __len__(self) -> int:
        return self.start + self.n

    def data_columns(self, first: int) -> list[list[Any]]:
        """The columns from row index ``first`` on; the rows above become head rows (the
        cells move, they are not copied)."""
        take = max(first - len(self.head), 0)
        if take:
            self.head.extend([column[i] for column in self.columns] for i in range(take))
            for column in self.columns:
                del column[:take]
            self.n -= take
            self.start = len(self.head)
        if len(self.head) != first or self.start != first:
            raise ValueError(f"data columns from row {first}: {len(self.head)} head rows")
        return self.columns

    def column(self, index: int, start: int) -> list[Any]:
        """Column ``index``'s cells from row index ``start`` on (None past a row's end)."""
        head = [r[index] if index < len(r) else None for r in self.head[start:]]
        skip = max(start - self.start, 0)
        if index >= self.width:
            return head + [None] * max(self.n - skip, 0)
        return head + self.columns[index][skip:]

    def set_cell(self, index: int, col: int, value: Any) -> None:
        if index < len(self.head):
            self.head[index][col] = value
        else:
            self.columns[col][index - self.start] = value

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if 0 <= index < len(self.head):
            return self.head[index]
        if not self.start <= index < len(self):
            raise IndexError(index)  # past the end, or a row no longer held
        i = index - self.start
        return [column[i] for column in self.columns]


def _bad_results(results: list[Any]) -> np.ndarray:
    """Which results of a field's distinct cells keep their rows out of the columnar sums."""
    return np.array([r is _NOT_CLEAN or r is None for r in results], bool)


def _number_column(
    scratch: _Ctx, column: _Cells, col: Column, element: DataElement
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A numeric element column as (values, has a value, clean), as ``_value`` reads it: plain
    floats checked as arrays, blanks hold nothing, any other cell by ``_value`` itself."""
    cells = column.cells
    n = len(cells)
    only_floats = column.types == {float}
    if not only_floats:
        values = np.zeros(n)
        has = np.zeros(n, bool)
        clean = np.ones(n, bool)
    is_float = column.of_type(float)
    if float in column.types:
        floats = cells if only_floats else compress(cells, is_float)
        raw = np.fromiter(floats, np.float64)
        ok = np.isfinite(raw)
        if col.percent or element.unit in ("%", "％"):
            unit = "%"
        else:
            unit = "‰" if element.unit == "‰" else ""
        if unit:
            cap = element.max if element.max is not None else (100.0 if unit == "%" else 1000.0)
            ok &= ~(raw > cap)
        value = raw * col.scale
        if col.scale != 1.0:
            value = np.array([round(v, 6) for v in value.tolist()], dtype=np.float64)
        if element.min is not None:
            ok &= ~(value < element.min)
        if element.max is not None and not unit:
            ok &= ~(value > element.max)
        if only_floats:  # every cell a float: nothing else to look at
            return value, ok, ok.copy()
        values[is_float] = value
        has[is_float] = ok
        clean[is_float] = ok
    other = np.flatnonzero(~is_float & ~column.of_type(type(None)))
    if len(other):
        results = _Cells([cells[i] for i in other]).per_distinct(
            lambda raw: _clean_result(scratch, _value, scratch, raw, col, element, 0, "")
        )
        for i, r in zip(other.tolist(), results, strict=True):
            if r is _NOT_CLEAN:
                clean[i] = False
            elif r is not None:
                values[i], has[i] = r[0], True
    return values, has, clean


def _flag_result(scratch: _Ctx, raw: Any) -> tuple[bool, bool, float]:
    """(clean, has a value, value) of a 是/否 cell."""
    value = _clean_result(scratch, _flag_cell, scratch, raw)
    if value is _NOT_CLEAN:
        return False, False, 0.0
    return True, value is not None, value or 0.0


def _flag_column(scratch: _Ctx, column: _Cells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 是/否 column as (values, has a value, clean): each distinct cell read once."""
    codes, distinct = column.coded()
    results = [_flag_result(scratch, raw) for raw in distinct]
    clean = np.array([r[0] for r in results], bool)[codes]
    has = np.array([r[1] for r in results], bool)[codes]
    values = np.array([r[2] for r in results], np.float64)[codes]
    return values, has, clean


def _noted_rows(table: Table, indexes: set[int], first: int, n: int) -> np.ndarray:
    """Rows with a formula gap, an Excel error or a merged cell in one of the columns."""
    out = np.zeros(n, bool)
    for rownum, col in (*table.formula_gaps, *table.error_cells, *table.merged_values):
        if col in indexes and first < rownum <= first + n:
            out[rownum - first - 1] = True
    return out


class _FacilityTotals:
    """Kept facility rows summed per group (area, year, stratum) as blocks of rows arrive.

    Sums are added row by row in row order (``np.add.at``), as the per-row path adds them, so
    any cut of the sheet into blocks gives the same bits; an element is held back in a group
    where one of its cells was rejected. What stays per row is its group and row number."""

    def __init__(self, spec: _FacilitySpec):
        self.spec = spec
        self.ids: dict[tuple[str, int, str], int] = {}  # group → id, in order of first row
        self.cap = 0
        self.sums: dict[str, np.ndarray] = {e.code: np.zeros(0) for _, _, e in spec.columns}
        self.present = {code: np.zeros(0, bool) for code in self.sums}
        self.held = {code: np.zeros(0, bool) for code in self.sums}
        self.sizes = np.zeros(0, np.int64)
        self.row_groups: list[np.ndarray] = []  # each block's kept rows: group ids …
        self.row_numbers: list[np.ndarray] = []  # … and sheet row numbers

    def _grow(self, count: int) -> None:
        if count <= self.cap:
            return
        cap = max(count, 2 * self.cap, 64)
        for arrays in (self.sums, self.present, self.held):
            for code, old in arrays.items():
                arrays[code] = np.concatenate([old, np.zeros(cap - len(old), old.dtype)])
        self.sizes = np.concatenate([self.sizes, np.zeros(cap - len(self.sizes), np.int64)])
        self.cap = cap

    def group(self, key: tuple[str, int, str]) -> int:
        """The id of a group (area, year, stratum), a new one for a group not seen before."""
        return self.ids.setdefault(key, len(self.ids))

    def add(self, block: _KeptRows) -> None:
        """A block's kept rows (``block.index``) with their groups and cells, in row order."""
        index = block.index
        if not len(index):
            return
        gid = block.groups
        self._grow(len(self.ids))
        self.sizes += np.bincount(gid, minlength=self.cap)
        for code in self.sums:
            mask = block.has[code][index]
            np.add.at(self.sums[code], gid[mask], block.values[code][index][mask])
            self.present[code][gid[mask]] = True
            self.held[code][gid[block.broken[code][index]]] = True
        self.row_groups.append(gid.astype(np.int32))
        self.row_numbers.append((index + block.start + 1).astype(np.int32))

    def result(self) -> tuple[dict[str, Any] | list[dict], int]:
        """The good values (GOOD_COLUMNS, as columns) and how many rows went into them."""
        count = len(self.ids)
        if not count:
            return [], 0
        gid = np.concatenate(self.row_groups).astype(np.int64)
        rows_text = _row_ranges_per_group(gid, np.concatenate(self.row_numbers), count)
        del gid
        keys = list(self.ids)
        areas = np.fromiter((k[0] for k in keys), object, count)
        years = np.fromiter((k[1] for k in keys), np.int64, count)
        strata = np.fromiter((k[2] for k in keys), object, count)
        sizes = self.sizes[:count]
        parts: list[tuple[np.ndarray, str, list[float]]] = []
        for code, sums in self.sums.items():
            which = np.flatnonzero(self.present[code][:count] & ~self.held[code][:count])
            parts.append((which, code, _rounded(sums[which])))
        if self.spec.count_element:
            parts.append((np.arange(count), self.spec.count_element, _rounded(sizes.astype(float))))
        loaded = np.zeros(count, bool)
        for which, _, _ in parts:
            loaded[which] = True
        columns = {
            "area_code": np.concatenate([areas[w] for w, _, _ in parts]),
            "year": np.concatenate([years[w] for w, _, _ in parts]),
            "element": np.concatenate([np.full(len(w), c, dtype=object) for w, c, _ in parts]),
            "stratum": np.concatenate([strata[w] for w, _, _ in parts]),
            "value": np.array([x for _, _, s in parts for x in s], np.float64),
            "source_rows": np.concatenate([rows_text[w] for w, _, _ in parts]),
        }
        return columns, int(sizes[loaded].sum())


def _rounded(values: np.ndarray) -> list[float]:
    """round(v, 9) of each value: a whole number below 2**52 (most sums) is its own rounding,
    so only the others are rounded one by one."""
    out = values.tolist()
    whole = (values == np.floor(values)) & (np.abs(values) < 2.0**52)
    for i in np.flatnonzero(~whole).tolist():
        out[i] = round(out[i], 9)
    return out


class _Claimed:
    """The (facility id, year) keys claimed so far, with the row that claimed each: what the
    duplicate check reads (``get``, as a dict) across a sheet's blocks. Kept per year as dicts
    by facility id: a big sheet's keys as tuples would keep the garbage collector busy."""

    def __init__(self) -> None:
        self.by_year: dict[Any, dict[str, int]] = {}

    def __bool__(self) -> bool:
        return any(self.by_year.values())

    def get(self, key: tuple[str, Any], default: int | None = None) -> int | None:
        claimed = self.by_year.get(key[1])
        return default if claimed is None else claimed.get(key[0], default)

    def __setitem__(self, key: tuple[str, Any], row: int) -> None:
        self.by_year.setdefault(key[1], {})[key[0]] = row

    def __contains__(self, key: tuple[str, Any]) -> bool:
        return self.get(key) is not None

    def which(self, fids: list[str], years: list[Any]) -> np.ndarray:
        """Whether each (fids[i], years[i]) is claimed."""
        if len(set(years)) == 1:
            claimed = self.by_year.get(years[0], {})
            return np.fromiter(map(claimed.__contains__, fids), bool, len(fids))
        return np.fromiter(map(self.__contains__, zip(fids, years, strict=True)), bool, len(fids))

    def claim_new(self, fids: list[str], year: Any, index: np.ndarray, first: int) -> np.ndarray:
        """Rows ``index`` claim their (facility, year) where no row has before them (row number
        = first + index); whether each row's key was claimed before (False off ``index``)."""
        claimed = self.by_year.setdefault(year, {})
        rows = index + first
        picked = fids if len(index) == len(fids) else list(map(fids.__getitem__, index.tolist()))
        holders = map(claimed.setdefault, picked, rows.tolist())
        before = np.zeros(len(fids), bool)
        before[index] = np.fromiter(holders, np.int64, len(index)) != rows
        return before

    def claim(self, fids: list[str], years: list[Any], index: np.ndarray, first: int) -> None:
        """Rows ``index`` claim their keys; row number = first + index."""
        rows = (index + first).tolist()
        picked = index.tolist()
        if len(set(years)) == 1:
            claimed = self.by_year.setdefault(years[0], {})
            claimed.update(zip(map(fids.__getitem__, picked), rows, strict=True))
            return
        for i, row in zip(picked, rows, strict=True):
            self[(fids[i], years[i])] = row


@dataclass
class _KeptRows:
    """A block of facility rows checked: the rows that count (``index``, 0-based within the
    block, whose first row is sheet row index ``start``) with their groups and cells."""

    start: int
    index: np.ndarray  # the kept rows
    groups: np.ndarray  # their groups' ids (``_FacilityTotals.group``)
    values: dict[str, np.ndarray]  # element → every row's value …
    has: dict[str, np.ndarray]  # … whether it holds one
    broken: dict[str, np.ndarray]  # … and whether its cell was rejected


def _columnar_facility(cand: _Candidate) -> bool:
    """Whether the columnar path reads this layout: not when several columns sum into one
    element (the per-row order of the sums decides there)."""
    elements = [c.element for c in cand.layout.columns.values() if c.element]
    return len(set(elements)) == len(elements) and (
        cand.layout.facility_count_element not in elements
    )


def _parse_facility(ctx: _Ctx) -> tuple[list[dict] | dict[str, Any], int | set[int]]:
    """Facility rows summed per area, year and ownership:type stratum (see above)."""
    cand = ctx.cand
    table = cand.table
    assert table is not None
    if not _columnar_facility(cand):
        return _parse_facility_rows(ctx)
    spec = _facility_spec(ctx)
    totals = _FacilityTotals(spec)
    kept = _facility_kept_rows(ctx, spec, totals, _Claimed(), last=True)
    _drop_data_rows(table, cand.layout.header_row)  # the sums need only the kept rows
    totals.add(kept)
    del kept
    return totals.result()


def _drop_data_rows(table: Table, first: int) -> None:
    """Let the sheet's rows after the header go (a big sheet's cells are most of the parse's
    memory); the header rows stay for messages."""
    table.rows = list(table.rows[:first])


def _facility_kept_rows(
    ctx: _Ctx, spec: _FacilitySpec, totals: _FacilityTotals, seen: _Claimed, *, last: bool = False
) -> _KeptRows:
    """Every row of a facility sheet held in memory checked (see ``_facility_block``)."""
    cand = ctx.cand
    table = cand.table
    assert table is not None
    _apply_merges(ctx)
    first = cand.layout.header_row
    width = _header_width(table, first) if table.fixed_width else 0
    colmap = cand.colmap
    if isinstance(table.rows, _RowsOfColumns) and table.rows.width > max(colmap.values()):
        transposed = table.rows.data_columns(first)  # read in blocks: columns already
        n = len(transposed[0])
        lengths = np.full(n, table.rows.width, np.int64)
        cells = {h: transposed[i] for h, i in colmap.items()}
        del transposed
        return _facility_block(ctx, spec, totals, cells, lengths, width, first, seen, last=last)
    rows = table.rows[first:]
    n = len(rows)
    lengths = np.fromiter(map(len, rows), np.int64, n)
    if n and lengths.min() == lengths.max() > max(colmap.values()):
        del rows
        transposed = _columns_of(table.rows, first)
        table.rows = _RowsOfColumns(table.rows[:first], transposed)
        cells = {h: transposed[i] for h, i in colmap.items()}
        del transposed
    else:
        cells = {h: [r[i] if i < len(r) else None for r in rows] for h, i in colmap.items()}
        del rows
    return _facility_block(ctx, spec, totals, cells, lengths, width, first, seen, last=last)


def _facility_block(
    ctx: _Ctx,
    spec: _FacilitySpec,
    totals: _FacilityTotals,
    cells: dict[str, list[Any]],
    lengths: np.ndarray,
    width: int,
    start: int,
    seen: _Claimed,
    *,
    last: bool = False,
) -> _KeptRows:
    """A block of facility rows (sheet row indexes ``start`` on; ``cells``: the mapped columns'
    cells) checked column by column where clean and row by row where not: the rows that count,
    with their groups (ids of ``totals``) and values. ``lengths`` are the rows' lengths and
    ``width`` the CSV header's (0: any width); ``seen``: the (facility, year) keys claimed by
    the rows before, with their row numbers (updated, unless this is the ``last`` block).
    Rejects and flags go to ``ctx``."""
    cand = ctx.cand
    table = cand.table
    assert table is not None
    n = len(lengths)
    colmap = cand.colmap
    few = {spec.area, spec.own, spec.typ, ctx.year_header}
    few.update(header for header, col, _ in spec.columns if col.flag)
    columns = {h: _Cells(c, h in few) for h, c in cells.items()}
    scratch = ctx.scratch()

    def checked(header: str, fn: Any, *args: Any) -> tuple[np.ndarray, list[Any]]:
        """fn(scratch, raw, *args) of each distinct cell of a field column (_NOT_CLEAN if it
        objects), and which of them each cell is. A text's result is kept for the blocks after
        (equal texts are the same text; 0.0 and -0.0 are not, so numbers are checked again)."""
        codes, distinct = columns[header].coded()
        known = ctx.field_results.setdefault(header, {})
        results = []
        for raw in distinct:
            if type(raw) is not str:
                results.append(_clean_result(scratch, fn, scratch, raw, *args))
            elif (result := known.get(raw, known)) is not known:
                results.append(result)
            else:
                known[raw] = result = _clean_result(scratch, fn, scratch, raw, *args)
                results.append(result)
        return codes, results

    # row-level: clean when every field maps and no cell is over-long or of a bad CSV width
    clean = lengths == width if width else np.ones(n, bool)
    area_codes, areas = checked(spec.area, _area, 0, spec.area)
    if ctx.year_header is not None:
        year_header = ctx.year_header
        year_codes, years = checked(year_header, lambda c, raw: _year(c, {year_header: raw}, 0))
    else:
        year_codes, years = np.zeros(n, np.intp), [cand.file_year]
    own_codes, owns = checked(spec.own, lambda c, raw: _mapped(c, "ownership", raw, 0, spec.own))
    typ_codes, typs = checked(spec.typ, lambda c, raw: _mapped(c, "type", raw, 0, spec.typ))
    for codes, results in (
        (area_codes, areas),
        (year_codes, years),
        (own_codes, owns),
        (typ_codes, typs),
    ):
        clean &= ~_bad_results(results)[codes]
    limit = ctx.limits.max_cell_chars
    for column in columns.values():
        long = column.long_text(limit)
        if long is not None:
            clean &= ~long
    fids = columns[spec.fid].texts(limit)
    if columns[spec.fid].types == {str}:  # _is_blank of text: nothing but white space
        clean &= np.fromiter(map(bool, map(str.strip, cells[spec.fid])), bool, n)
    else:
        clean &= ~np.array(columns[spec.fid].per_distinct(_is_blank), dtype=bool)

    # element cells: values, whether a cell holds one, and whether it is clean
    values: dict[str, np.ndarray] = {}
    has: dict[str, np.ndarray] = {}
    broken: dict[str, np.ndarray] = {}
    for header, col, element in spec.columns:
        if col.flag:
            v, h, ok = _flag_column(scratch, columns[header])
        else:
            v, h, ok = _number_column(scratch, columns[header], col, element)
        values[element.code], has[element.code] = v, h & ok
        broken[element.code] = np.zeros(n, bool)
        clean &= ok
    clean &= ~_noted_rows(table, {colmap[h] for h, _, _ in spec.columns}, start, n)

    # in row order: the clean rows claim their (facility, year), the others go row by row. A
    # clean row can only meet another's key when its facility id is repeated in the block or
    # its key was claimed before it; the rest claim theirs together, after the loop.
    one_year = len(years) == 1
    claimed_now = one_year and len(set(fids)) == n
    if claimed_now:  # no facility twice: the clean rows claim theirs now, which tells the
        # repeats, in one pass (the rows checked one by one have other facilities)
        repeated = seen.claim_new(fids, years[0], np.flatnonzero(clean), start + 1)
    else:
        repeated = pd.Series(fids, dtype=object).duplicated(keep=False).to_numpy()
        if seen:
            repeated = repeated | seen.which(fids, [years[c] for c in year_codes.tolist()])
    rowwise = np.flatnonzero(~clean | repeated)
    kept = clean.copy()
    groups = np.full(n, -1, np.int64)  # of the kept rows
    by_row = np.zeros(n, bool)  # kept rows whose group the per-row path gave
    for i in rowwise.tolist():
        if clean[i]:
            key = (fids[i], years[year_codes[i]])
            if key not in seen:
                seen[key] = start + i + 1
                ctx.rows_read += 1
                continue
            kept[i] = False
        item = _data_row(ctx, start + i, width)
        if item is None:
            continue
        row = _facility_row(ctx, spec, *item, seen)
        if row is None:
            continue
        kept[i] = by_row[i] = True
        groups[i] = totals.group(row[0])
        for code in values:
            has[code][i] = False
        for code, value in row[1]:
            values[code][i], has[code][i] = value, True
        for code in row[2]:
            broken[code][i] = True
    together = np.flatnonzero(clean & ~repeated)
    ctx.rows_read += len(together)
    if not last and not claimed_now:
        seen.claim(fids, [years[c] for c in year_codes.tolist()], together, start + 1)
    columnar = np.flatnonzero(kept & ~by_row)
    groups[columnar] = _group_ids(
        totals,
        columnar,
        (area_codes, areas),
        (year_codes, years),
        (own_codes, owns),
        (typ_codes, typs),
    )
    index = np.flatnonzero(kept)
    return _KeptRows(start, index, groups[index], values, has, broken)


MAX_GROUP_NUMBER = 2**62  # combinations of a block's distinct field cells numbered as int64


def _group_ids(
    totals: _FacilityTotals, rows: np.ndarray, *fields: tuple[np.ndarray, list[Any]]
) -> np.ndarray:
    """The group ids of clean rows, from the distinct cells of their area, year, ownership and
    type columns (each field: which distinct cell each row holds, and its checked value): a
    group's key (area, year, 'ownership:type') is made once per block, not once per row."""
    if not len(rows):
        return np.zeros(0, np.int64)
    (_, areas), (_, years), (_, owns), (_, typs) = fields
    sizes = [len(results) for _, results in fields]
    if math.prod(sizes) > MAX_GROUP_NUMBER:  # too many to number the combinations: per row
        cells = [map(results.__getitem__, codes[rows].tolist()) for codes, results in fields]
        keys = zip(*cells, strict=True)
        return np.array([totals.group((a, y, f"{o}:{t}")) for a, y, o, t in keys], np.int64)
    number = np.zeros(len(rows), np.int64)  # the row's combination as one number …
    for (codes, _), size in zip(fields, sizes, strict=True):
        number = number * size + codes[rows]
    distinct, which = np.unique(number, return_inverse=True)  # … and each distinct one's key
    a, y, o, t = np.unravel_index(distinct, sizes)
    pairs = (o * sizes[3] + t).tolist()
    strata = {p: f"{owns[p // sizes[3]]}:{typs[p % sizes[3]]}" for p in set(pairs)}
    group = totals.group
    ids = [
        group((areas[i], years[j], strata[p]))
        for i, j, p in zip(a.tolist(), y.tolist(), pairs, strict=True)
    ]
    return np.array(ids, np.int64)[which]


RANGES_STEP = 1 << 16  # rows turned into range texts at a time


def _row_ranges_per_group(gid: np.ndarray, rownums: np.ndarray, count: int) -> np.ndarray:
    """Each group's row numbers as ranges, e.g. '2-4,7' (source_rows), built a slice of groups
    at a time: on a big sheet the run texts are about one per row."""
    order = np.argsort(gid, kind="stable")
    g, r = gid[order], rownums[order]
    del order
    bounds = np.r_[np.flatnonzero(np.r_[True, g[1:] != g[:-1]]), len(g)]  # group k's rows start
    out = np.empty(count, dtype=object)
    lo = 0
    while lo < count:
        hi = int(np.searchsorted(bounds, bounds[lo] + RANGES_STEP, side="right")) - 1
        hi = min(max(hi, lo + 1), count)
        gg, rr = g[bounds[lo] : bounds[hi]], r[bounds[lo] : bounds[hi]]
        starts = np.flatnonzero(np.r_[True, (gg[1:] != gg[:-1]) | (rr[1:] != rr[:-1] + 1)])
        ends = np.r_[starts[1:], len(rr)] - 1
        firsts, lasts = rr[starts], rr[ends]
        runs = list(map(str, firsts.tolist()))  # most runs are one row …
        for k in np.flatnonzero(lasts > firsts).tolist():  # … the others 'first-last'
            runs[k] = f"{firsts[k]}-{lasts[k]}"
        run_bounds = np.r_[
            np.flatnonzero(np.r_[True, gg[starts][1:] != gg[starts][:-1]]), len(runs)
        ]
        out[lo:hi] = [
            ",".join(runs[a:b]) for a, b in zip(run_bounds[:-1], run_bounds[1:], strict=True)
        ]
        lo = hi
    return out


_GOOD_TYPES = {
    "area_code": "str",
    "year": "int64",
    "element": "str",
    "stratum": "str",
    "value": "float64",
    "source_rows": "str",
}
_GOOD_KEY = ["area_code", "year", "element", "stratum"]  # unique per file


def _good_frame(records: list[dict] | dict[str, Sequence[Any]]) -> pd.DataFrame:
    """The good values as GOOD_COLUMNS, sorted by their key (from records, or from columns:
    arrays, or lists taken as objects)."""
    if isinstance(records, dict):
        if not len(records["value"]):
            return _good_frame([])
        columns = {
            c: v if isinstance(v := records[c], np.ndarray) else _object_array(v)
            for c in GOOD_COLUMNS
        }
    elif not len(records):
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in _GOOD_TYPES.items()})
    else:
        n = len(records)
        columns = {c: np.fromiter((r[c] for r in records), object, n) for c in GOOD_COLUMNS[:-1]}
        columns["source_rows"] = np.fromiter(
            (r["source_rows"] if "source_rows" in r else str(int(r["row"])) for r in records),
            object,
            n,
        )
    # the key is unique, so any sort gives the one order: lexsort of the sorted codes
    order = np.lexsort([pd.factorize(columns[c], sort=True)[0] for c in reversed(_GOOD_KEY)])
    # each column made in its type at once (as .astype(_GOOD_TYPES) makes it, at half the cost)
    return pd.DataFrame(
        {
            c: pd.array(columns[c][order], dtype=t) if t == "str" else columns[c][order].astype(t)
            for c, t in _GOOD_TYPES.items()
        }
    )


def _object_array(values: Sequence[Any]) -> np.ndarray:
    """A list as a 1-d object array (np.array would make a 2-d one of a list of tuples)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _has_data(table: Table) -> bool:
    return any(not _is_blank(c) for r in table.rows for c in r)


def _format(name: str, data: bytes) -> str:
    lower = name.lower()
    # An OLE container first: a legacy .xls, or an encrypted workbook even when named .xlsx.
    if data[:8] == bytes.fromhex("D0CF11E0A1B11AE1"):
        raise UnreadableFile(
            name,
            "旧版 .xls 或加密的工作簿，不受支持，请另存为 .xlsx / legacy .xls or encrypted "
            "workbook: save it as .xlsx",
        )
    if data[:4] == b"PK\x03\x04" or lower.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return "csv"
    raise UnreadableFile(
        name, "不支持的文件类型（仅 CSV、XLSX）/ unsupported file type (CSV or XLSX)"
    )


# ------------------------------------------------------------------- facility, block by block
#
# A facility sheet big enough to be read in row blocks is also checked block by block and never
# held whole: the layout is chosen on the first block, each block's rows go through
# ``_facility_block`` (the keys claimed so far carried from block to block) and into running
# totals. What cannot be known before the last block is checked after it: merged cells (applied
# only by the whole read) and the year counts that choose between layouts. Where either would
# change anything, and on any error, the file is read whole instead, which then decides.


def _parsed_in_blocks(
    book: _Workbook,
    layouts: LayoutSet | Iterable[SourceLayouts],
    catalog_info: CatalogInfo,
    current_year: int,
) -> ParsedFile | None:
    """The file parsed block by block when its one big sheet is a facility sheet (see above);
    None when that does not apply, or anything is unusual: the whole read then does it all."""
    big = [s for s in book.sheet_names if book.in_blocks(book.parts.get(s))]
    if len(big) != 1:
        return None
    sheet, part = big[0], book.parts[big[0]]
    tail: list[bytes] = []
    try:
        blocks = book.blocks(sheet, part, tail, share=False)  # a block at a time: not worth it
        first = next(blocks)
        columns: list[list[Any]] = []
        _add_block(columns, 0, first.top, first.left, first.rows)
        head = Table(_RowsOfColumns([], columns), sheet)
        notes = _SheetNotes(book, part, head)
        notes.update(0)
        book._tables[sheet] = head  # the other sheets are read whole, as always
        if not any(_has_data(t) for t in map(book.table, book.sheet_names) if t is not None):
            return None
        cands = _candidates(book.name, "xlsx", book, layouts)
        cand = _select(book.name, "xlsx", cands)
        if cand.table is not head or cand.layout.shape != "facility":
            return None
        if not _columnar_facility(cand) or cand.layout.header_row > first.top + len(first.rows):
            return None
        recount = [c for c in cands if c.table is head and not c.missing and _year_index(c)]
        typed = {
            id(c): _typed_counts(_column_cells(head.rows, _year_index(c), c.layout.header_row))  # type: ignore[arg-type]
            for c in recount
        }

        def parse(ctx: _Ctx) -> tuple[dict[str, Any] | list[dict], int]:
            totals = _facility_in_blocks(ctx, first, columns, blocks, recount, typed, notes)
            book.check_rest()  # done by the blocks' read, unless it stopped short
            notes.update(math.inf)  # every row checked: a note now sends the file to the whole read
            if _merged_in_tail(tail[0]):
                raise _NotInBlocks  # merged cells: the whole read applies them
            for c in recount:  # the layout chosen on every row's year, not the first block's
                c.problem, c.covered = None, 0
                _judge_years(c, _years_of(typed[id(c)]))
            if _select(book.name, "xlsx", cands) is not cand:
                raise _NotInBlocks
            return totals.result()

        return _parsed(cand, "xlsx", None, catalog_info, current_year, book.limits, parse)
    except Exception:  # noqa: BLE001 - _NotInBlocks, UnreadableFile …: the whole read decides
        return None
    finally:
        book._tables.pop(sheet, None)


class _SheetNotes:
    """A big sheet's formula and error cells (``_cell_notes``), read when the zip check of its
    XML, done by the read of its blocks (``_MemberCheck``), first meets a mark of one, and put
    on its table: rows checked before hold none, as their XML came before that mark; where one
    does all the same (a cell placed out of its row), the sheet goes to the whole read."""

    def __init__(self, book: _Workbook, part: str, table: Table):
        self.book = book
        self.part = part
        self.table = table
        self.read = False

    def update(self, checked: float) -> None:
        """Read the notes if a mark has been met; ``checked``: the rows checked so far."""
        if self.read or self.part not in self.book.marked:
            return
        self.read = True
        gaps, errors = _cell_notes(self.book.zip, self.part)
        if any(row <= checked for row, _ in (*gaps, *errors)):
            raise _NotInBlocks
        self.table.formula_gaps, self.table.error_cells = gaps, errors


def _facility_in_blocks(
    ctx: _Ctx,
    first: _Block,
    first_columns: list[list[Any]],
    blocks: Iterator[_Block],
    recount: list[_Candidate],
    typed: dict[int, Counter[tuple[type, Any]]],
    notes: _SheetNotes,
) -> _FacilityTotals:
    """Every block's rows checked and added up (``first``: the block the layout was chosen on,
    its year cells counted already, and its columns from row index 0 as read for that); the year
    cells of the other blocks counted into ``typed`` for each candidate of ``recount``; the
    sheet's formula and error cells read as soon as its XML shows one (``notes``)."""
    cand = ctx.cand
    table = cand.table
    assert table is not None
    header_row = cand.layout.header_row
    head = [table.rows[i] for i in range(header_row)]
    spec = _facility_spec(ctx)
    totals = _FacilityTotals(spec)
    seen = _Claimed()
    colmap = cand.colmap
    block: _Block | None = first
    while block is not None:
        skip = max(header_row - block.top, 0)
        if block is first:
            columns = [column[block.top + skip :] for column in first_columns]
        else:
            notes.update(block.top)
            columns = block.columns()
            if skip:
                columns = [column[skip:] for column in columns]
        start = block.top + skip
        n = len(columns[0]) if columns else 0
        if block is not first:
            for c in recount:
                idx = _year_index(c)
                typed[id(c)].update(_typed_counts(columns[idx] if idx < len(columns) else [""] * n))  # type: ignore[operator]
        del block
        if n:
            table.rows = _RowsOfColumns(head, columns, start)
            cells = {h: columns[i] if i < len(columns) else [""] * n for h, i in colmap.items()}
            lengths = np.full(n, len(columns), np.int64)
            totals.add(_facility_block(ctx, spec, totals, cells, lengths, 0, start, seen))
            del cells
        del columns
        block = next(blocks, None)
    table.rows = head
    return totals


def parse_file(
    name: str,
    data: bytes,
    layouts: LayoutSet | Iterable[SourceLayouts],
    catalog_info: CatalogInfo,
    *,
    current_year: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    columnar: bool = True,
) -> ParsedFile:
    """One file's good values and rejects, read by the layout its header and year select.

    Raises ``UnreadableFile`` when nothing can be read: empty, header only, undecodable or mixed
    encodings, corrupt or truncated XLSX, a zip bomb, or no layout that fits the columns and year.
    ``columnar=False`` reads facility sheets row by row: the reference that tests hold the
    columnar path to (same result, several times slower).
    """
    if current_year is None:
        current_year = date.today().year
    if not data or not data.strip():
        raise UnreadableFile(name, "空文件 / empty file")
    fmt = _format(name, data)
    if fmt == "csv":
        table, encoding = _read_csv(name, data, limits)
        if not _has_data(table):
            raise UnreadableFile(name, "空文件 / empty file")
        return _by_layout(
            name, fmt, table, encoding, layouts, catalog_info, current_year, limits, columnar
        )
    book = _Workbook(name, data, limits)
    try:
        if columnar and (streamed := _parsed_in_blocks(book, layouts, catalog_info, current_year)):
            parsed = streamed
        else:
            sheets = [book.table(s) for s in book.sheet_names]
            if not any(_has_data(t) for t in sheets if t is not None):
                raise UnreadableFile(name, "空工作簿 / empty workbook")
            parsed = _by_layout(
                name, fmt, book, None, layouts, catalog_info, current_year, limits, columnar
            )
    except Exception:
        book.check_rest()  # a damaged part is what opening the file would have said first
        raise
    book.check_rest()  # nothing read from the file is given out before its zip check is done
    return parsed


def _by_layout(
    name: str,
    fmt: str,
    tables: Any,
    encoding: str | None,
    layouts: LayoutSet | Iterable[SourceLayouts],
    catalog_info: CatalogInfo,
    current_year: int,
    limits: Limits,
    columnar: bool,
) -> ParsedFile:
    """The file read whole (a table, or a workbook's tables) by the layout it fits."""
    cand = choose_layout(name, fmt, tables, layouts)
    if cand.layout.shape == "long":
        parse: Any = _parse_long
    else:
        parse = _parse_facility if columnar else _parse_facility_rows
    return _parsed(cand, fmt, encoding, catalog_info, current_year, limits, parse)


def _parsed(
    cand: _Candidate,
    fmt: str,
    encoding: str | None,
    catalog_info: CatalogInfo,
    current_year: int,
    limits: Limits,
    parse: Any,
) -> ParsedFile:
    """The file read by its chosen layout: ``parse(ctx)`` gives the good records and the rows
    loaded; the checks and flags before and after are the same for every way of reading."""
    name = cand.name
    if cand.file_year is not None and cand.file_year > current_year:
        raise UnreadableFile(
            name,
            f"文件名中的年份 {cand.file_year} 在未来 / the year {cand.file_year} in the file "
            "name is in the future",
        )
    ctx = _Ctx(name, cand, catalog_info, current_year, limits)
    if cand.layout.sheet and cand.table is not None and cand.table.sheet != cand.layout.sheet:
        ctx.flag(
            None,
            None,
            cand.table.sheet,
            f"未找到工作表「{cand.layout.sheet}」，已读取第一个工作表 / no sheet "
            f"{cand.layout.sheet!r}: read the first sheet",
        )
    unmapped = [
        str(c)
        for i, c in enumerate(cand.table.rows[cand.layout.header_row - 1])  # type: ignore[union-attr]
        if not _is_blank(c) and i not in set(cand.colmap.values())
    ]
    if unmapped:
        ctx.flag(
            cand.layout.header_row,
            None,
            "、".join(unmapped),
            "未映射的列已忽略 / columns not in the layout were ignored",
        )
    records, loaded = parse(ctx)
    if ctx.rows_read == 0:
        raise UnreadableFile(name, "只有表头，没有数据行 / header only: no data rows")
    good = _good_frame(records)
    return ParsedFile(
        name=name,
        source=cand.source.source,
        layout=cand.layout.id,
        format=fmt,
        encoding=encoding,
        sheet=cand.table.sheet if cand.table else None,
        years=np.unique(good["year"].to_numpy()).tolist() if len(good) else [],
        rows_read=ctx.rows_read,
        rows_loaded=loaded if isinstance(loaded, int) else len(loaded),
        good=good,
        rejects=sorted(ctx.rejects, key=lambda r: (r.row or 0, r.field or "")),
        flags=ctx.flags,
    )
