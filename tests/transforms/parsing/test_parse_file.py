"""parse_file end to end: rows, totals, unreadable files, the real layouts."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from tests.transforms.parsing.helpers import (
    DEMO,
    ELEMENTS,
    HEADER,
    INFO,
    NOW,
    ROWS,
    V2,
    XINJIN,
    ZHUCHI,
    csv_bytes,
    demo,
    facility,
    reasons,
    value,
    xlsx_bytes,
)
from transforms.parsing import (
    CatalogInfo,
    Limits,
    UnreadableFile,
    compact_rows,
    parse_file,
)


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


def test_unknown_element_in_the_catalog_rejects_the_column_not_the_file():
    info = CatalogInfo({k: v for k, v in ELEMENTS.items() if k != "pop"}, INFO.areas)
    parsed = parse_file("demo.csv", csv_bytes([HEADER, *ROWS]), [DEMO], info, current_year=NOW)
    [rej] = parsed.rejects
    assert (rej.row, rej.field) == (1, "人口（万人）") and "unknown data element" in rej.reason
    assert value(parsed, "100", "cnt") == 30
