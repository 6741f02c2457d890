"""CSV bytes → Table: the encoding (a strict-decode cascade) and the delimiter."""

from __future__ import annotations

import codecs
import csv
import io
from typing import Any

from transforms.parsing.cells import number_style
from transforms.parsing.results import EncodingError, Limits, UnreadableFile
from transforms.parsing.table import Table

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
    bom = _bom_encoding(data)
    if bom:
        return bom
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        if _ends_mid_character(data, e):
            raise EncodingError(TRUNCATED_TEXT) from None
        first_bad = data[: e.start].count(b"\n") + 1
    _refuse_mixed(data, first_bad)
    return _legacy_encoding(data, first_bad)


def _bom_encoding(data: bytes) -> str | None:
    """The encoding a byte-order mark names ('utf-8-sig', 'utf-16'), checked; None without one."""
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
    return None


def _refuse_mixed(data: bytes, first_bad: int) -> None:
    """EncodingError when a non-ASCII line is UTF-8 though the file as a whole is not."""
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


def _legacy_encoding(data: bytes, first_bad: int) -> str:
    """GBK or GB18030, whichever decodes the whole file first; EncodingError when neither does."""
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
    raise EncodingError(
        f"无法识别的编码：不是 UTF-8、GBK 或 GB18030{_encoding_guess(data)} / undecodable: not "
        f"UTF-8, GBK or GB18030 (first bad byte on line {first_bad})"
    )


def _encoding_guess(data: bytes) -> str:
    """charset-normalizer's guess, for the message only."""
    try:
        import charset_normalizer

        best = charset_normalizer.from_bytes(data[:200_000]).best()
        if best is not None:
            return f"（疑似 / looks like {best.encoding}）"
    except Exception:  # noqa: BLE001 - only for the message
        pass
    return ""


def read_csv_table(name: str, data: bytes, limits: Limits) -> tuple[Table, str]:
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
    return Table(rows, fixed_width=True, number_style=number_style(text, delimiter)), encoding
