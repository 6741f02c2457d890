"""One cell as a number: texts, signs, missing markers, and the per-cell checks in a file."""

from __future__ import annotations

import pytest

from tests.transforms.parsing.helpers import HEADER, demo, reasons, value
from transforms.parsing import (
    compact_rows,
    parse_number,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1,234", 1234.0),
        ("１２３", 123.0),
        (" 12 ", 12.0),
        ("１，２３４．５", 1234.5),
        ("12\u3000", 12.0),
        ("1 234", 1234.0),
        ("+7", 7.0),
        ("1e3", 1000.0),
        (12, 12.0),
        (12.5, 12.5),
    ],
)
def test_numbers_written_as_text(raw, expected):
    parsed = parse_number(raw)
    assert parsed is not None and parsed[0] == expected and parsed[1] == ""


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("12", (12.0, "", 0)),
        ("3.50", (3.5, "", 2)),
        ("3.", (3.0, "", 0)),
        ("007", (7.0, "", 0)),
        ("0.30000000000000004", (0.30000000000000004, "", 17)),
        (".5", (0.5, "", 1)),
        ("1.5e3", (1500.0, "", 1)),
        ("２.５", (2.5, "", 1)),
    ],
)
def test_plain_number_texts_keep_their_decimals(raw, expected):
    """Digits with at most one point, most text cells, and the forms around them."""
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "  ", "—", "-", "－", "——", "…", "N/A", None])
def test_missing_markers_hold_no_value(raw):
    assert parse_number(raw) is None


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "12人", "1,23", "inf", "#DIV/0!", "1_000", True])
def test_not_numbers(raw):
    with pytest.raises(ValueError):
        parse_number(raw)


def test_percent_and_permille_signs_are_kept_apart():
    assert parse_number("95%") == (95.0, "%", 0)
    assert parse_number("９５．５％") == (95.5, "%", 1)
    assert parse_number("5.2‰") == (5.2, "‰", 1)


def test_cells_in_a_file_number_as_text_missing_and_bad():
    parsed = demo(
        [
            ["101", "甲区", 2020, "1,234", " 0.5 "],
            ["102", "乙区", 2020, "１２３", "—"],
            ["100", "市", 2021, "-", "－"],
            ["100", "市", 2020, "abc", ""],
        ]
    )
    assert value(parsed, "101", "cnt") == 1234
    assert value(parsed, "101", "pop") == 5000
    assert value(parsed, "102", "cnt") == 123
    assert value(parsed, "102", "pop") is None  # '—' is missing: not stored, not rejected
    assert value(parsed, "100", "cnt", year=2021) is None
    assert reasons(parsed) == [(5, "人数", "数值无法解析 / not a number")]
    assert parsed.rows_read == 4
    assert parsed.rows_rejected == 1
    assert set(parsed.good["source_rows"]) == {"2", "3"}


def test_negative_counts_are_rejected_but_not_measures():
    parsed = demo(
        [["101", "甲区", 2020, "-5", "1", "", "", "-3.5"]],
        header=[*HEADER, "比例(%)", "死亡率(‰)", "温度"],
    )
    assert reasons(parsed) == [(2, "人数", "负数 / negative value")]
    assert value(parsed, "101", "temp") == -3.5
    assert value(parsed, "101", "pop") == 10000


def test_shares_over_100_percent_are_rejected_and_permille_is_converted():
    header = [*HEADER, "比例(%)", "死亡率(‰)"]
    parsed = demo(
        [
            ["100", "市", 2020, "", "", "95%", "0.52%"],
            ["101", "甲区", 2020, "", "", "100.5", "5.2"],
            ["102", "乙区", 2020, "", "", "9.5‰", "1200"],
        ],
        header=header,
    )
    assert value(parsed, "100", "share") == 95
    assert value(parsed, "100", "mort") == pytest.approx(5.2)  # 0.52 % = 5.2 ‰, flagged
    assert value(parsed, "101", "mort") == 5.2
    assert value(parsed, "102", "share") == pytest.approx(0.95)
    assert sorted(reasons(parsed)) == [
        (3, "比例(%)", "比率超过 100% / share over 100 %"),
        (4, "死亡率(‰)", "比率超过 1000‰ / share over 1000 ‰"),
    ]
    flagged = {(f.row, f.field) for f in parsed.flags}
    assert {(2, "死亡率(‰)"), (4, "比例(%)")} <= flagged


def test_percent_sign_in_a_count_column_is_rejected():
    parsed = demo([["101", "甲区", 2020, "12%", "1"]])
    assert reasons(parsed)[0][:2] == (2, "人数")
    assert "%" in reasons(parsed)[0][2]


def test_compact_rows():
    assert compact_rows([5, 2, 3, 4, 9, 11, 10, 2]) == "2-5,9-11"
    assert compact_rows([7]) == "7"
    assert compact_rows([]) == ""
