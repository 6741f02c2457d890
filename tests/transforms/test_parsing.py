"""Parsing source files: tiny inline files (bytes) through the layouts, good rows and rejects."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml

from healthplan.definitions import Area, AreaSet, DataElement, DefinitionError, ElementCatalog
from healthplan.layouts import Layout, SourceLayouts, load_layouts
from healthplan.settings import REPO_ROOT
from transforms.parsing import (
    CatalogInfo,
    EncodingError,
    Limits,
    UnreadableFile,
    compact_rows,
    detect_encoding,
    parse_file,
    parse_number,
)

PLANS = REPO_ROOT / "plans"
CORE_SOURCES = ("population", "resources", "mch", "public_health", "expenditure")
NOW = 2024

# ------------------------------------------------------------------------------------ fixtures

AREAS = [
    Area(code="100", name_zh="市", name_en="City", level="city"),
    Area(code="101", name_zh="甲区", name_en="A", level="district", parent="100"),
    Area(code="102", name_zh="乙区", name_en="B", level="district", parent="100"),
]
ELEMENTS = {
    e.code: e
    for e in [
        DataElement(code="cnt", name_zh="人数", name_en="n", unit="人", source="demo"),
        DataElement(code="pop", name_zh="人口", name_en="p", unit="人", source="demo"),
        DataElement(
            code="share", name_zh="比例", name_en="s", unit="%", source="demo", kind="rate"
        ),
        DataElement(
            code="mort", name_zh="死亡率", name_en="m", unit="‰", source="demo", kind="rate"
        ),
        DataElement(
            code="temp",
            name_zh="温度",
            name_en="t",
            unit="℃",
            source="demo",
            kind="measure",
            min=None,
        ),
    ]
}
INFO = CatalogInfo.from_areas(ELEMENTS, AREAS)
DEMO = SourceLayouts.model_validate(
    {
        "source": "demo",
        "name_zh": "示例",
        "publisher_zh": "测试局",
        "layouts": [
            {
                "id": "demo_v1",
                "years": [2015, None],
                "format": "csv",
                "shape": "long",
                "columns": {
                    "地区代码": "area_code",
                    "地区": {"field": "area_name", "required": False},
                    "年份": "year",
                    "人数": "cnt",
                    "人口（万人）": {"element": "pop", "scale": 10000},
                    "比例(%)": {"element": "share", "required": False},
                    "死亡率(‰)": {"element": "mort", "required": False},
                    "温度": {"element": "temp", "required": False},
                },
            }
        ],
    }
)
HEADER = ["地区代码", "地区", "年份", "人数", "人口（万人）"]


def csv_bytes(rows: list[list[object]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([["" if c is None else c for c in row] for row in rows])
    return buf.getvalue().encode(encoding)


def xlsx_bytes(
    rows: list[list[object]], sheet: str | None = None, title: str | None = None
) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    if sheet:
        ws.title = sheet
    if title:
        ws.append([title])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def demo(rows: list[list[object]], header: list[str] = HEADER, **kw):
    return parse_file("demo.csv", csv_bytes([header, *rows]), [DEMO], INFO, current_year=NOW, **kw)


def value(parsed, area: str, element: str, stratum: str = "", year: int = 2020) -> float | None:
    g = parsed.good
    sel = g[
        (g.area_code == area) & (g.element == element) & (g.stratum == stratum) & (g.year == year)
    ]
    return None if sel.empty else float(sel["value"].iloc[0])


def reasons(parsed) -> list[tuple[int | None, str | None, str]]:
    return [(r.row, r.field, r.reason) for r in parsed.rejects]


@pytest.fixture(scope="module")
def elements() -> dict[str, DataElement]:
    out: dict[str, DataElement] = {}
    for path in sorted(PLANS.glob("**/elements.yaml")):
        out.update(
            {
                e.code: e
                for e in ElementCatalog.model_validate(yaml.safe_load(path.read_text())).elements
            }
        )
    return out


@pytest.fixture(scope="module")
def layouts(elements):
    return load_layouts(PLANS / "sources", elements)


@pytest.fixture(scope="module")
def longhu(elements) -> CatalogInfo:
    areas = AreaSet.model_validate(yaml.safe_load((PLANS / "longhu" / "areas.yaml").read_text()))
    return CatalogInfo.from_areas(elements, areas.areas)


# ------------------------------------------------------------------------------------ layouts


def test_layout_files_load_and_cover_every_core_element(layouts, elements):
    assert set(CORE_SOURCES) <= set(layouts.sources)
    for source in CORE_SOURCES:
        needed = {c for c, e in elements.items() if e.source == source}
        assert needed <= layouts.covered_elements(source), source
    resources = layouts.sources["resources"].layouts
    assert [(lay.id, lay.years) for lay in resources] == [
        ("resources_v1", (2010, 2017)),
        ("resources_v2", (2018, None)),
    ]


def test_unknown_element_in_a_layout_file_names_the_file_and_field(tmp_path, elements):
    text = (PLANS / "sources" / "mch.yaml").read_text(encoding="utf-8")
    (tmp_path / "mch.yaml").write_text(text.replace("活产数: live_births", "活产数: live_birthz"))
    with pytest.raises(DefinitionError) as e:
        load_layouts(tmp_path, elements)
    assert "mch.yaml" in str(e.value)
    assert "layouts.0.columns.活产数.element" in str(e.value)
    assert "live_birthz" in str(e.value)


def test_layout_file_with_an_element_of_another_source_is_refused(tmp_path, elements):
    text = (PLANS / "sources" / "mch.yaml").read_text(encoding="utf-8")
    (tmp_path / "mch.yaml").write_text(text.replace("活产数: live_births", "活产数: pop_resident"))
    with pytest.raises(DefinitionError, match="belongs to source 'population'"):
        load_layouts(tmp_path, elements)


def test_malformed_layout_file_is_refused_with_the_field(tmp_path, elements):
    (tmp_path / "demo.yaml").write_text(
        "source: demo\nname_zh: x\npublisher_zh: y\nlayouts:\n- id: d\n  years: [2020, 2010]\n"
        "  format: csv\n  shape: long\n  columns: {代码: area_code, 年份: year}\n"
    )
    with pytest.raises(DefinitionError, match=r"demo\.yaml: field layouts\.0.*2020 is after 2010"):
        load_layouts(tmp_path, elements)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"shape": "facility"}, "facility layout needs columns"),
        (
            {"columns": {"代码": "area_code", "年份": "year", "a": "cnt", "b": "cnt"}},
            "mapped twice",
        ),
        ({"columns": {"年份": "year", "a": "cnt"}}, "area_code"),
        ({"columns": {"代码": "area_code", "a": "cnt"}}, "year_from_filename"),
        (
            {"columns": {"代码": "area_code", "年份": "year", "（A）": "cnt", "(a)": "pop"}},
            "same header",
        ),
        ({"format": "csv", "sheet": "x"}, "only an xlsx layout has sheets"),
    ],
)
def test_layout_model_checks(change, message):
    base = {
        "id": "x",
        "years": [2015, None],
        "format": "csv",
        "shape": "long",
        "columns": {"代码": "area_code", "年份": "year", "a": "cnt"},
    }
    with pytest.raises(ValueError, match=message):
        Layout.model_validate({**base, **change})


# ------------------------------------------------------------------------------------ encodings

ROWS = [["100", "市", 2020, "30", "1.5"], ["101", "甲区", 2020, "10", "0.5"]]


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


# ------------------------------------------------------------------------------------ cell values


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


# ------------------------------------------------------------------------------------ rows


def test_unknown_area_future_year_out_of_range_and_missing_fields():
    parsed = demo(
        [
            ["999", "无此地", 2020, "1", "1"],
            ["101", "甲区", 2031, "1", "1"],
            ["101", "甲区", 2010, "1", "1"],
            ["", "乙区", 2020, "1", "1"],
            ["102", "乙区", "", "1", "1"],
            ["102", "乙区", "二〇二〇", "1", "1"],
            ["102", "乙区", "2020年", "7", "1"],
        ]
    )
    got = reasons(parsed)
    assert got[0] == (2, "地区代码", "未知地区代码 / unknown area code 999")
    assert got[1][:2] == (3, "年份") and "future" in got[1][2]
    assert got[2][:2] == (4, "年份") and "outside" in got[2][2]
    assert got[3] == (5, "地区代码", "缺少地区代码 / area code missing")
    assert got[4] == (6, "年份", "缺少年份 / year missing")
    assert got[5] == (7, "年份", "年份无法解析 / not a year")
    assert len(got) == 6
    assert value(parsed, "102", "cnt") == 7
    assert list(parsed.good["source_rows"].unique()) == ["8"]


def test_duplicate_keys_keep_the_first_and_name_both_rows():
    parsed = demo(
        [
            ["101", "甲区", 2020, "1", "1"],
            ["102", "乙区", 2020, "2", "1"],
            ["101", "甲区", 2020, "3", "1"],
        ]
    )
    assert value(parsed, "101", "cnt") == 1
    [dup] = parsed.rejects
    assert dup.row == 4 and "第 2 行" in dup.reason and "row 2" in dup.reason


def test_html_in_names_is_just_data_and_long_values_are_cut():
    long_code = "9" * 5000
    parsed = demo(
        [
            ["101", "<script>alert('x')</script>", 2020, "1", "1"],
            ["<b>102</b>", "乙区", 2020, "1", "1"],
            [long_code, "乙区", 2020, "1", "1"],
        ]
    )
    assert value(parsed, "101", "cnt") == 1
    html, long = parsed.rejects
    assert html.value == "<b>102</b>" and "地区代码格式不对" in html.reason
    assert len(long.value) < 300 and "5000" in long.value
    assert len(long.reason) < 300


def test_notes_and_blank_rows_are_skipped():
    parsed = demo(
        [
            ["101", "甲区", 2020, "1", "1"],
            [None, None, None, None, None],
            ["注：人口为常住人口。", None, None, None, None],
            ["102", "乙区", 2020, "2", "1"],
        ]
    )
    assert parsed.rejects == []
    assert parsed.rows_read == 2
    assert compact_rows(int(r) for r in parsed.good["source_rows"]) == "2,5"


def test_total_row_without_code_is_skipped_with_a_note():
    parsed = demo(
        [
            ["101", "甲区", 2020, "1", "1"],
            ["", "合计", 2020, "1", "1"],
            ["总计", "", 2020, "1", "1"],
        ]
    )
    assert parsed.rejects == []
    assert [f.row for f in parsed.flags if "合计" in f.reason] == [3, 4]


def test_compact_rows():
    assert compact_rows([5, 2, 3, 4, 9, 11, 10, 2]) == "2-5,9-11"
    assert compact_rows([7]) == "7"
    assert compact_rows([]) == ""


# ------------------------------------------------------------------------------------ totals


def test_parent_matching_its_children_is_kept():
    parsed = demo(
        [
            ["100", "市", 2020, "30", "1.5"],
            ["101", "甲区", 2020, "10", "0.5"],
            ["102", "乙区", 2020, "20", "1.0"],
        ]
    )
    assert parsed.rejects == []
    assert value(parsed, "100", "cnt") == 30
    assert value(parsed, "100", "pop") == 15000


def test_parent_differing_from_its_children_is_rejected_so_nothing_double_counts():
    parsed = demo(
        [
            ["100", "市", 2020, "31", "1.5"],
            ["101", "甲区", 2020, "10", "0.5"],
            ["102", "乙区", 2020, "20", "1.0"],
        ]
    )
    [rej] = parsed.rejects
    assert (rej.row, rej.field) == (2, "人数")
    assert "30" in rej.reason and "31" in rej.reason and "3-4" in rej.reason
    assert value(parsed, "100", "cnt") is None
    assert value(parsed, "100", "pop") == 15000  # the other element matches


def test_rounding_in_scaled_columns_is_tolerated():
    # 0.33 + 0.33 万 vs 0.67 万: each rounded to 0.01 万 = 100 people
    parsed = demo(
        [
            ["100", "市", 2020, "", "0.67"],
            ["101", "甲区", 2020, "", "0.33"],
            ["102", "乙区", 2020, "", "0.33"],
        ]
    )
    assert parsed.rejects == []


def test_some_children_exceeding_the_parent_is_rejected():
    parsed = demo([["100", "市", 2020, "5", ""], ["101", "甲区", 2020, "10", ""]])
    [rej] = parsed.rejects
    assert rej.row == 2
    ok = demo([["100", "市", 2020, "50", ""], ["101", "甲区", 2020, "10", ""]])
    assert ok.rejects == []


# ------------------------------------------------------------------------------------ unreadable


def test_empty_and_header_only_files_are_unreadable():
    with pytest.raises(UnreadableFile, match="empty"):
        parse_file("demo.csv", b"", [DEMO], INFO, current_year=NOW)
    with pytest.raises(UnreadableFile, match="empty"):
        parse_file("demo.csv", b" \r\n\r\n", [DEMO], INFO, current_year=NOW)
    with pytest.raises(UnreadableFile, match="header only"):
        parse_file("demo.csv", csv_bytes([HEADER]), [DEMO], INFO, current_year=NOW)


def test_missing_columns_name_the_closest_layout():
    data = csv_bytes([["地区代码", "年份", "人口（万人）"], ["101", 2020, "1"]])
    with pytest.raises(UnreadableFile) as e:
        parse_file("demo.csv", data, [DEMO], INFO, current_year=NOW)
    assert "demo_v1" in e.value.reason and "人数" in e.value.reason
    assert e.value.file == "demo.csv"


def test_truncated_and_corrupt_xlsx_are_unreadable(layouts, longhu):
    data = xlsx_bytes([["a"], [1]])
    for broken in (data[: len(data) // 2], b"PK\x03\x04" + b"\x00" * 50):
        with pytest.raises(UnreadableFile, match="XLSX"):
            parse_file("x_2019.xlsx", broken, layouts, longhu, current_year=NOW)
    with pytest.raises(UnreadableFile, match="xls"):
        parse_file("old.xls", bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 100, layouts, longhu)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in members.items():
            z.writestr(name, content)
    return buf.getvalue()


def test_zip_bombs_are_refused_before_parsing(layouts, longhu):
    bomb = _zip({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"\0" * 3_000_000})
    with pytest.raises(UnreadableFile, match="zip bomb"):
        parse_file("bomb.xlsx", bomb, layouts, longhu, current_year=NOW)
    big = _zip(
        {"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": bytes(range(256)) * 8000}
    )
    limits = Limits(max_uncompressed_bytes=1_000_000)
    with pytest.raises(UnreadableFile, match="1 MB"):
        parse_file("big.xlsx", big, layouts, longhu, current_year=NOW, limits=limits)


# ------------------------------------------------------------------------------------ real layouts

V1 = ["机构代码", "机构名称", "行政区划代码", "经济类型", "机构类别", "是否提供中医药服务",
      "建设是否达标", "实有床位", "中医类床位", "执业(助理)医师", "中医类别执业(助理)医师", "注册护士",
      "全科医生", "专业公共卫生人员", "卫生技术人员", "本科及以上卫生技术人员", "总诊疗人次", "入院人数"]  # fmt: skip
V2 = ["统一社会信用代码", "机构名称", "所在地区代码", "登记注册类型", "机构分类", "提供中医药服务（是/否）",
      "建设达标（是/否）", "实有床位数", "中医类床位数", "执业（助理）医师数",
      "其中：中医类别执业（助理）医师数", "注册护士数", "全科医生数", "专业公共卫生人员数",
      "卫生技术人员数", "卫生技术人员：本科及以上", "总诊疗人次数", "入院人次数"]  # fmt: skip
ZHUCHI, XINJIN = "440507001", "440507002"


def facility(fid, area, own, typ, tcm="是", std="否", beds=10, **kw):
    row = [fid, f"机构{fid}", area, own, typ, tcm, std, beds, 2, 5, 1, 6, 2, 0, 15, 5, 1000, 50]
    for i, v in kw.items():
        row[int(i[1:])] = v
    return row


def test_facility_rows_aggregate_to_strata_with_facility_counts(layouts, longhu):
    rows = [
        facility("F1", ZHUCHI, "公立", "社区卫生服务中心", tcm="是", std="是", beds=10),
        facility("F2", ZHUCHI, "公立", "社区卫生服务中心", tcm="否", std="是", beds=20),
        facility("F3", ZHUCHI, "民营", "诊所", tcm="是", std="否", beds=0),
        facility("F4", ZHUCHI, "民营", "门诊部", tcm="1", std="0", beds="—"),
        facility("F5", XINJIN, "公立", "医院", beds="1,200"),
    ]
    parsed = parse_file(
        "卫生资源年报_2019.xlsx", xlsx_bytes([V2, *rows]), layouts, longhu, current_year=NOW
    )
    assert (parsed.source, parsed.layout, parsed.years) == ("resources", "resources_v2", [2019])
    assert parsed.rejects == []
    assert value(parsed, ZHUCHI, "facilities", "public:chc", 2019) == 2
    assert value(parsed, ZHUCHI, "facilities_tcm_service", "public:chc", 2019) == 1
    assert value(parsed, ZHUCHI, "facilities_up_to_standard", "public:chc", 2019) == 2
    assert value(parsed, ZHUCHI, "beds", "public:chc", 2019) == 30
    assert value(parsed, ZHUCHI, "facilities", "private:clinic", 2019) == 2  # 诊所 + 门诊部
    assert value(parsed, ZHUCHI, "facilities_tcm_service", "private:clinic", 2019) == 2
    assert value(parsed, ZHUCHI, "beds", "private:clinic", 2019) == 0
    assert value(parsed, XINJIN, "beds", "public:hospital", 2019) == 1200
    g = parsed.good
    assert set(g.loc[g.stratum == "public:chc", "source_rows"]) == {"2-3"}
    assert set(g.loc[g.stratum == "private:clinic", "source_rows"]) == {"4-5"}
    assert parsed.rows_read == parsed.rows_loaded == 5


def test_facility_rejects_unknown_codes_and_duplicates_and_holds_back_broken_groups(
    layouts, longhu
):
    rows = [
        facility("F1", ZHUCHI, "公立", "社区卫生服务中心"),
        facility("F1", ZHUCHI, "公立", "社区卫生服务中心"),
        facility("F2", ZHUCHI, "外资", "医院"),
        facility("F3", ZHUCHI, "公立", "养老院"),
        facility("F4", ZHUCHI, "公立", "社区卫生服务中心", beds=-1),
        facility("", ZHUCHI, "公立", "医院"),
    ]
    parsed = parse_file(
        "卫生资源年报_2019.xlsx", xlsx_bytes([V2, *rows]), layouts, longhu, current_year=NOW
    )
    got = {(r.row, r.field): r.reason for r in parsed.rejects}
    assert "第 2 行" in got[(3, "统一社会信用代码")]
    assert "unknown ownership" in got[(4, "登记注册类型")]
    assert "unknown type" in got[(5, "机构分类")]
    assert "negative" in got[(6, "实有床位数")] and "not loaded" in got[(6, "实有床位数")]
    assert "facility id missing" in got[(7, "统一社会信用代码")]
    assert value(parsed, ZHUCHI, "facilities", "public:chc", 2019) == 2
    assert value(parsed, ZHUCHI, "beds", "public:chc", 2019) is None  # incomplete: held back
    assert value(parsed, ZHUCHI, "nurses", "public:chc", 2019) == 12


def test_renamed_columns_follow_the_year_ranges(layouts, longhu):
    old = xlsx_bytes([V1, facility("F1", ZHUCHI, "公立", "乡镇卫生院")])
    new = xlsx_bytes([V2, facility("F1", ZHUCHI, "公立", "乡镇卫生院")])
    assert (
        parse_file("卫生资源年报_2016.xlsx", old, layouts, longhu, current_year=NOW).layout
        == "resources_v1"
    )
    assert (
        parse_file("2019/卫生资源年报.xlsx", new, layouts, longhu, current_year=NOW).layout
        == "resources_v2"
    )
    with pytest.raises(UnreadableFile) as e:  # the 2018 form renamed the columns
        parse_file("卫生资源年报_2019.xlsx", old, layouts, longhu, current_year=NOW)
    assert "resources_v2" in e.value.reason and "统一社会信用代码" in e.value.reason
    with pytest.raises(UnreadableFile, match="resources_v2.*2010–2017|2016"):
        parse_file("卫生资源年报_2016.xlsx", new, layouts, longhu, current_year=NOW)
    with pytest.raises(UnreadableFile, match="year"):
        parse_file("卫生资源年报.xlsx", new, layouts, longhu, current_year=NOW)
    with pytest.raises(UnreadableFile, match="future"):
        parse_file("卫生资源年报_2030.xlsx", new, layouts, longhu, current_year=NOW)


def test_formula_cells_use_cached_values_and_reject_formulas_without_one(layouts, longhu):
    rows = [
        facility(
            "F1", ZHUCHI, "公立", "乡镇卫生院", beds="=1+1"
        ),  # openpyxl stores no cached value
        facility("F2", XINJIN, "公立", "乡镇卫生院", beds="=2+2"),
    ]
    data = xlsx_bytes([V2, *rows])
    # give the second formula a cached value, as Excel would have saved it
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = re.sub(rb"<f>2\+2</f><v\s*/>", b"<f>2+2</f><v>4</v>", content)
            out.writestr(item, content)
    parsed = parse_file("卫生资源年报_2019.xlsx", buf.getvalue(), layouts, longhu, current_year=NOW)
    [rej] = parsed.rejects
    assert (rej.row, rej.field) == (2, "实有床位数") and "formula" in rej.reason
    assert value(parsed, XINJIN, "beds", "public:thc", 2019) == 4
    assert value(parsed, ZHUCHI, "beds", "public:thc", 2019) is None
    assert value(parsed, ZHUCHI, "nurses", "public:thc", 2019) == 6


def test_xlsx_with_a_title_row_and_named_sheet(layouts, longhu):
    header = ["地区代码", "地区", "年份", "卫生总费用（万元）", "政府卫生支出（万元）", "社会卫生支出（万元）",
              "个人卫生支出（万元）"]  # fmt: skip
    rows = [
        [440507, "龙湖区", 2019.0, 1000.5, 300, 400, 300.5],
        [ZHUCHI, "珠池", "2019", "1,000", 1, 1, 1],
    ]
    data = xlsx_bytes([header, *rows], sheet="卫生费用", title="2019年卫生费用核算表")
    parsed = parse_file("expenditure.xlsx", data, layouts, longhu, current_year=NOW)
    assert (parsed.layout, parsed.sheet) == ("expenditure_v1", "卫生费用")
    assert parsed.rejects == []
    assert value(parsed, "440507", "the_total", year=2019) == 1000.5
    assert set(parsed.good.loc[parsed.good.area_code == ZHUCHI, "source_rows"]) == {"4"}
    other = xlsx_bytes([header, *rows], sheet="Sheet1", title="x")
    fallback = parse_file("expenditure.xlsx", other, layouts, longhu, current_year=NOW)
    assert fallback.sheet == "Sheet1" and fallback.rejects == []
    assert any("卫生费用" in f.reason for f in fallback.flags)


@pytest.mark.parametrize(
    "source, encoding, header",
    [
        ("mch", "gbk", ["地区代码", "地区名称", "年份", "活产数", "婴儿死亡数", "5岁以下儿童死亡数",
                        "孕产妇死亡数", "住院分娩活产数", "孕产妇系统管理人数", "0-6岁儿童数",
                        "0-6岁儿童健康管理人数", "3岁以下儿童数", "3岁以下儿童系统管理人数",
                        "5岁以下儿童体检人数", "5岁以下儿童生长迟缓人数", "5岁以下儿童贫血人数", "围产儿数",
                        "出生缺陷数"]),
        ("public_health", "utf-8-sig", ["地区代码", "地区", "年度", "免疫规划适龄儿童数",
                                        "免疫规划疫苗全程接种人数", "在管高血压患者数", "高血压患者规范管理人数",
                                        "在管糖尿病患者数", "糖尿病患者规范管理人数", "登记结核病患者数",
                                        "结核病患者管理人数", "新涂阳肺结核患者数", "新涂阳肺结核患者治愈数",
                                        "65岁以上老年人健康管理人数"]),
        ("population", "utf-8", ["行政区划代码", "地区名称", "年份", "常住人口（万人）", "65岁及以上常住人口（万人）",
                                 "出生人口（男）", "出生人口（女）", "死亡人口（人）", "地区生产总值（亿元）"]),
    ],
)  # fmt: skip
def test_csv_sources_are_recognised(layouts, longhu, source, encoding, header):
    row = [ZHUCHI, "珠池街道", 2019] + ["10"] * (len(header) - 3)
    parsed = parse_file(
        f"{source}.csv", csv_bytes([header, row], encoding), layouts, longhu, current_year=NOW
    )
    assert parsed.source == source
    assert parsed.encoding == encoding.replace("gbk", "gbk")
    assert parsed.rejects == []
    assert len(parsed.good) == len(header) - 3


def test_ambiguous_layouts_are_an_error():
    twin = DEMO.model_copy(update={"source": "twin"})
    twin = SourceLayouts.model_validate(
        {**twin.model_dump(), "layouts": [{**DEMO.layouts[0].model_dump(), "id": "twin_v1"}]}
    )
    with pytest.raises(UnreadableFile, match="ambiguous"):
        parse_file("demo.csv", csv_bytes([HEADER, *ROWS]), [DEMO, twin], INFO, current_year=NOW)


def test_unknown_element_in_the_catalog_rejects_the_column_not_the_file():
    info = CatalogInfo({k: v for k, v in ELEMENTS.items() if k != "pop"}, INFO.areas)
    parsed = parse_file("demo.csv", csv_bytes([HEADER, *ROWS]), [DEMO], info, current_year=NOW)
    [rej] = parsed.rejects
    assert (rej.row, rej.field) == (1, "人口（万人）") and "unknown data element" in rej.reason
    assert value(parsed, "100", "cnt") == 30


def test_layouts_doc_example_is_valid():
    doc = Path(REPO_ROOT / "healthplan" / "layouts.py").read_text(encoding="utf-8")
    example = doc.split("File format (one source per file)::", 1)[1].split('"""', 1)[0]
    lines = []
    for line in example.splitlines()[1:]:
        if line.strip() and not line.startswith("    "):
            break
        lines.append(line[4:])
    data = yaml.safe_load("\n".join(lines))
    assert SourceLayouts.model_validate(data).layouts[0].id == "population_v1"
