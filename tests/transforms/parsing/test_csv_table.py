"""Reading CSV bytes: encodings detected, mixed and undecodable files refused."""

from __future__ import annotations

import pytest

from tests.transforms.parsing.helpers import DEMO, HEADER, INFO, NOW, ROWS, csv_bytes, value
from transforms.parsing import (
    EncodingError,
    UnreadableFile,
    detect_encoding,
    parse_file,
)


@pytest.mark.parametrize(
    "encoding, expected",
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gbk"), ("gb18030", "gbk")],
)
def test_encodings_are_detected_and_read_alike(encoding, expected):
    data = csv_bytes([HEADER, *ROWS], encoding)
    assert detect_encoding(data) == expected
    parsed = parse_file("demo.csv", data, [DEMO], INFO, current_year=NOW)
    assert parsed.encoding == expected
    assert parsed.rejects == []
    assert value(parsed, "101", "pop") == 5000
    assert value(parsed, "100", "cnt") == 30


def test_gb18030_only_characters_are_read():
    data = csv_bytes([HEADER, ["101", "㐀区€", 2020, "1", "1"]], "gb18030")
    assert detect_encoding(data) == "gb18030"


def test_mixed_encodings_make_the_file_unreadable():
    data = csv_bytes([HEADER, ROWS[0]], "utf-8") + csv_bytes([ROWS[1]], "gbk")
    with pytest.raises(EncodingError, match="mixed encodings"):
        detect_encoding(data)
    with pytest.raises(UnreadableFile, match="编码混杂"):
        parse_file("demo.csv", data, [DEMO], INFO, current_year=NOW)


def test_bom_then_gbk_is_mixed():
    data = b"\xef\xbb\xbf" + csv_bytes([HEADER, *ROWS], "gbk")
    with pytest.raises(UnreadableFile, match="BOM"):
        parse_file("demo.csv", data, [DEMO], INFO, current_year=NOW)


def test_undecodable_bytes_are_unreadable():
    with pytest.raises(EncodingError, match="undecodable"):
        detect_encoding(b"a,b\n\xff\xfe\xff\x80\x80\n" * 3)
