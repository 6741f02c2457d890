"""One raw cell as a number, a year or clean text; the words that mark missing cells, notes and
totals."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from healthplan.layouts import (
    normalize_header,
)

MAX_SHOWN_CHARS = 200  # longer cell texts are cut in messages and quarantine rows


NOTE_PREFIXES = ("注", "说明", "备注", "资料来源", "数据来源", "填表", "制表", "审核", "单位负责人")


TOTAL_WORDS = ("合计", "总计", "小计", "全区", "全市", "全县", "总数")


MISSING_TOKENS = frozenset(
    {"", "-", "--", "—", "——", "–", "…", "……", "...", "/", "\\", "na", "n/a", "null", "none", "nan"}
)


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
# how a file writes numbers (see number_style)
COMMA_THOUSANDS, NO_COMMA, DECIMAL_COMMA = "comma_thousands", "no_comma", "decimal_comma"
_ANY_COMMA_NUMBER = re.compile(r"[+-]?[\d.,]*\d")
_DOT_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+")
_QUOTED_DECIMAL_COMMA = re.compile(r'"\s*[+-]?\d+,(?:\d{1,2}|\d{4,})%?\s*"')
_DECIMAL_COMMA_CELL = re.compile(
    r'(?:^|[\t;])\s*"?[+-]?\d+,(?:\d{1,2}|\d{4,})%?"?\s*(?=[\t;]|$)', re.M
)


_CODE = re.compile(r"[0-9A-Za-z]+")


_YEAR_SUFFIX = re.compile(r"年度?$")


_FOUR_DIGITS = re.compile(r"\d{4}")


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


def parse_number(raw: Any, style: str = COMMA_THOUSANDS) -> tuple[float, str, int] | None:
    """A cell as (value, sign, decimals), or None when it holds no value.

    Accepts numbers written as text: '1,234', full-width '１２３', ' 12 ', '95%'. The sign is
    '%' or '‰' when the text carries one. Missing: blank, '—', '-', '－', 'N/A'. ``style``:
    the file's way of writing numbers (``number_style``): where a comma or a dot has two
    readings in it, a number holding one is refused.
    """
    if raw is None:
        return None
    kind = type(raw)
    if kind is str and raw.isascii():  # '12' or '3.50', most text cells: what follows gives
        whole, _, fraction = raw.partition(".")
        if whole.isdigit() and (not fraction or fraction.isdigit()):
            if style == DECIMAL_COMMA and _DOT_THOUSANDS.fullmatch(raw):
                raise CellError(AMBIGUOUS_DOT)
            value = float(raw)
            if not math.isfinite(value):
                raise CellError(OVERFLOW)
            return value, "", len(fraction)
    if kind is float or kind is int:
        if not _finite(raw):
            raise CellError("数值无效（无穷或非数）/ not a finite number")
        return float(raw), "", _float_decimals(raw)
    if isinstance(raw, str):
        return _number_of_text(raw, style)
    return _number_of_value(raw)


def _finite(number: float | int) -> bool:
    """Whether a number is finite as a float (an int too large for a float is not)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _number_of_value(raw: Any) -> tuple[float, str, int]:
    """A cell that is not text (a bool, a date, a numpy scalar …) as a number, or CellError."""
    if isinstance(raw, bool):
        raise CellError("逻辑值不是数值 / TRUE/FALSE is not a number")
    if isinstance(raw, datetime | date | time | timedelta):
        raise CellError("日期或时间不是数值 / a date or time, not a number")
    if isinstance(raw, int | float):  # numpy scalars
        return parse_number(float(raw))  # type: ignore[return-value]
    raise CellError("数值无法解析 / not a number")


AMBIGUOUS_COMMA = (
    "数值无法解析：逗号含义不明（本文件以分号分隔或用逗号作小数点，「1,234」既可读作 1234 也可读作 "
    "1.234），请用小数点、不用千分位 / not a number: ambiguous comma (in this file, semicolon-"
    "separated or with decimal commas, a comma may be a decimal comma or a thousands separator); "
    "write numbers with a decimal point and no thousands separators"
)
AMBIGUOUS_DOT = (
    "数值无法解析：点号含义不明（本文件用逗号作小数点，「1.234」既可读作 1.234 也可读作 1234）/ not "
    "a number: ambiguous dot (this file writes decimal commas, so a dot may be a thousands "
    "separator)"
)
OVERFLOW = "数值超出可表示范围（溢出为无穷大）/ not a finite number: it overflows to infinity"


def number_style(texts: str, delimiter: str) -> str:
    """How a CSV file writes numbers, from its text and delimiter: COMMA_THOUSANDS where a comma
    can only be a thousands separator, NO_COMMA in a semicolon-separated file (the convention of
    decimal commas), DECIMAL_COMMA where cells show decimal commas ('1,5')."""
    if delimiter == ",":
        found = _QUOTED_DECIMAL_COMMA.search(texts)
    else:
        found = _DECIMAL_COMMA_CELL.search(texts)
    if found:
        return DECIMAL_COMMA
    return NO_COMMA if delimiter == ";" else COMMA_THOUSANDS


def _number_of_text(raw: str, style: str) -> tuple[float, str, int] | None:
    """A text cell as (value, sign, decimals), None when it marks a missing value."""
    s = raw if raw.isascii() else unicodedata.normalize("NFKC", raw)
    s = "".join(s.split())
    if s.lower() in MISSING_TOKENS:
        return None
    sign = ""
    if s.endswith(("%", "‰")):
        sign, s = s[-1], s[:-1]
    if _NUMBER.fullmatch(s):
        if style == DECIMAL_COMMA and _DOT_THOUSANDS.fullmatch(s):
            raise CellError(AMBIGUOUS_DOT)
        number = s
    elif "," in s and style != COMMA_THOUSANDS and _ANY_COMMA_NUMBER.fullmatch(s):
        raise CellError(AMBIGUOUS_COMMA)
    elif _THOUSANDS.fullmatch(s):
        number = s.replace(",", "")
    elif s.startswith("#"):
        raise CellError("Excel 错误值 / Excel error value")
    else:
        raise CellError("数值无法解析 / not a number")
    mantissa = re.split(r"[eE]", number)[0] if "e" in number or "E" in number else number
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    value = float(number)
    if not math.isfinite(value):
        raise CellError(OVERFLOW)
    return value, sign, decimals


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
