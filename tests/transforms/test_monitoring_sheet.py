"""The indicator monitoring sheet, read from cells: matching rows, columns, areas and strata."""

import pytest

from healthplan.definitions import load_catalog, reported_element
from healthplan.settings import REPO_ROOT
from transforms.monitoring_sheet import SheetCells, name_key, parse_monitoring_sheet


@pytest.fixture(scope="module")
def cat():
    return load_catalog(REPO_ROOT / "plans")


def parse(cat, plan_id, *sheets):
    return parse_monitoring_sheet(
        "监测表.xlsx", list(sheets), cat.plan(plan_id), cat.areas(plan_id)
    )


def good(parsed):
    return {
        (r.area_code, r.year, r.element, r.stratum): (r.value, r.source_rows)
        for r in parsed.good.itertuples()
    }


def test_rows_match_by_number_and_name_tolerating_full_width_and_bracketed_units(cat):
    rows = [
        ["龙湖区卫生计生“十三五”规划主要指标监测表"],
        ["序号", "领域", "指标名称（单位）", "单位", "基期值", "目标值", "2015年", "2016", 2017],
        ["", "一、人群健康水平", "", "", "", "", "", "", ""],
        ["１", "", "人均期望寿命（岁）", "岁", "76.3", "≥77", 76.3, "76.5", "—"],
        ["2", "", "婴儿死亡率", "‰", "", "", "0.9", "", 1.1],
        ["4.", "", "以镇(街道)为单位适龄儿童国家免疫规划疫苗接种率（%）", "％", "", "", 99, "", ""],
        ["注：2017年为快报数。"],
    ]
    parsed = parse(cat, "longhu", SheetCells("Sheet1", rows))
    assert parsed.rejects == []
    g = good(parsed)
    assert g[("440507", 2015, reported_element("longhu", 1), "")] == (76.3, "Sheet1!G4")
    assert g[("440507", 2016, reported_element("longhu", 1), "")][0] == 76.5
    assert g[("440507", 2017, reported_element("longhu", 2), "")] == (1.1, "Sheet1!I5")
    assert g[("440507", 2015, reported_element("longhu", 4), "")][0] == 99
    assert len(g) == 5 and parsed.years == [2015, 2016, 2017]
    assert parsed.source == "monitoring" and parsed.rows_loaded == 3


def test_every_unmatched_row_column_and_cell_is_named_and_nothing_is_kept(cat):
    rows = [
        ["序号", "指标名称", "2015", "2016", "负责人"],
        ["1", "人均期望寿命", 76.3, "七十六", ""],
        ["2", "人均期望寿命", 1, "", ""],
        ["", "每千人口口腔医师数", 0.3, "", ""],
        ["99", "", 5, "", ""],
    ]
    parsed = parse(cat, "longhu", SheetCells("Sheet1", rows))
    where = {(r.row, r.field) for r in parsed.rejects}
    assert where == {(1, "Sheet1!E1"), (2, "Sheet1!D2"), (3, "Sheet1!A3"), (4, "Sheet1!B4"),
                     (5, "Sheet1!A5")}  # fmt: skip
    assert parsed.good.empty and parsed.rows_loaded == 0
    reasons = " ".join(r.reason for r in parsed.rejects)
    assert "unknown column" in reasons and "does not match the name" in reasons


def test_an_area_column_or_one_sheet_per_area_covers_several_areas(cat):
    by_column = [
        ["地区", "序号", "指标名称", "2019"],
        ["龙湖区", "4", "以镇（街道）为单位适龄儿童国家免疫规划疫苗接种率", 98],
        ["珠池街道", "4", "以镇（街道）为单位适龄儿童国家免疫规划疫苗接种率", 97],
        ["", "1", "人均期望寿命", 78],  # the area cell merged down
    ]
    g = good(parse(cat, "longhu", SheetCells("Sheet1", by_column)))
    assert g[("440507001", 2019, reported_element("longhu", 4), "")][0] == 97
    assert g[("440507001", 2019, reported_element("longhu", 1), "")][0] == 78
    sheet = [
        ["序号", "指标名称", "2019年"],
        ["4", "以镇（街道）为单位适龄儿童国家免疫规划疫苗接种率", 96],
    ]
    parsed = parse(
        cat,
        "longhu",
        SheetCells("龙湖区", sheet),
        SheetCells("新津街道", sheet),
        SheetCells("填表说明", [["请按年份填写"]]),
        SheetCells("草稿", sheet),
    )
    assert [r.field for r in parsed.rejects] == ["工作表 草稿"]
    parsed = parse(cat, "longhu", SheetCells("龙湖区", sheet), SheetCells("新津街道", sheet))
    assert set(good(parsed)) == {
        (code, 2019, reported_element("longhu", 4), "") for code in ("440507", "440507002")
    }


def test_split_targets_take_their_strata_from_a_label_or_a_row_below(cat):
    rows = [
        ["序号", "指标名称", "分组", "2020"],
        ["13", "重点慢性病防治核心信息人群知晓率（农村）", "", 36],
        ["13", "重点慢性病防治核心信息人群知晓率", "城镇", 61],
        ["", "其中：合计", "", ""],
    ]
    g = good(parse(cat, "guilin", SheetCells(None, rows)))
    code = reported_element("guilin", 13)
    root = cat.plan("guilin").jurisdiction
    assert g[(root, 2020, code, "rural")][0] == 36 and g[(root, 2020, code, "urban")][0] == 61


def test_name_keys_ignore_brackets_punctuation_and_width():
    assert name_key("每千常住人口执业（助理）医师数（人）") == name_key(
        "每千常住人口执业(助理)医师数"
    )
    assert name_key("１５分钟内可到达 医疗机构住户占比") == name_key(
        "15分钟内可到达医疗机构住户占比"
    )
    assert name_key("婴儿死亡率") != name_key("孕产妇死亡率")


def test_a_gbk_csv_sheet_is_read_by_the_hardened_reader(cat):
    from transforms.monitoring_sheet import read_sheets

    text = (
        "序号,指标名称,单位,2015年,2016年\n1,人均期望寿命（岁）,岁,76.3,76.6\n2,婴儿死亡率,‰,,0.8\n"
    )
    sheets, fmt, encoding = read_sheets("监测表.csv", text.encode("gbk"))
    assert (fmt, encoding) == ("csv", "gbk")
    parsed = parse_monitoring_sheet("监测表.csv", sheets, cat.plan("longhu"), cat.areas("longhu"))
    g = good(parsed)
    assert g[("440507", 2016, reported_element("longhu", 1), "")] == (76.6, "E2")
    assert g[("440507", 2016, reported_element("longhu", 2), "")] == (0.8, "E3")
    assert len(g) == 3


def test_a_unit_other_than_the_plans_is_noted_not_refused(cat):
    rows = [
        ["序号", "指标名称", "单位", "2019"],
        ["3", "孕产妇死亡率", "1/10万", 8],
        ["2", "婴儿死亡率", "%", 0.3],
    ]
    parsed = parse(cat, "longhu", SheetCells("Sheet1", rows))
    assert parsed.rejects == [] and len(parsed.good) == 2
    assert [f.field for f in parsed.flags] == ["Sheet1!C3"]  # ‰ in the plan, % in the sheet


def test_years_under_a_merged_cell_and_an_indicator_named_like_a_note(cat):
    rows = [
        ["序号", "指标名称", "单位", "年度", None, "备注"],
        [None, None, None, "2018年", "2019年", None],
        ["14", "注册护士", "人/千人口", 2.1, 2.3, ""],
        ["注：2019年为快报数", None, None, None, None, None],
        [None, "注1：数据来源于卫生统计年报", None, None, None, None],
    ]
    parsed = parse(cat, "longhu", SheetCells("Sheet1", rows))
    assert parsed.rejects == []
    g = good(parsed)
    assert g[("440507", 2019, reported_element("longhu", 14), "")] == (2.3, "Sheet1!E3")
    assert len(g) == 2
