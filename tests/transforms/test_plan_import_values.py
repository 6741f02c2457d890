"""Targets, baselines and units as `plan import` reads them; rows rebuilt from text cells."""

from __future__ import annotations

import pytest

from transforms.plan_import.targets import read_target
from transforms.plan_import.text_table import read_text
from transforms.plan_import.values import baseline_figure, direction_for, split_name_unit, unit_for


@pytest.mark.parametrize(
    "printed,higher,expected",
    [
        ("≥77", True, {"comparator": ">=", "value": 77.0}),
        ("＜3", False, {"comparator": "<", "value": 3.0}),
        ("7.5 以下", False, {"comparator": "<=", "value": 7.5, "note_zh": "“以下”含本数"}),
        ("90%以上", True, {"comparator": ">=", "value": 90.0, "note_zh": "“以上”含本数"}),
        ("1.95 左右", True, {"comparator": "about", "value": 1.95}),
        ("95±2", True, {"comparator": "about", "value": 95.0, "tolerance": round(2 / 95, 6)}),
        ("1：1.2", True, {"comparator": "reach", "value": 1.2}),
        ("3.15", True, {"comparator": "reach", "value": 3.15}),
        ("不低于85%", True, {"comparator": ">=", "value": 85.0}),
        ("达国家要求", True, {"comparator": "qualitative"}),
        ("在2020年基础上提高1岁", True, {"comparator": "relative", "delta": 1.0}),
        ("比2015年(24.31)降低10个百分点", False, {"comparator": "relative", "delta": -10.0}),
    ],
)
def test_targets_read_as_printed(printed, higher, expected):
    target, _, _ = read_target(printed, 2025, higher)
    assert target == {"text": printed, **expected, "year": 2025}


def test_a_relative_target_gives_its_printed_base_and_a_rule_with_a_figure_is_the_figure():
    target, facts, items = read_target("比2015年(24.31)降低10个百分点", 2020, False)
    assert facts == {"baseline": 24.31, "delta": -10.0} and items == []
    assert direction_for("某比例", target["comparator"], facts["delta"]) == ("lower", [])
    target, facts, items = read_target("在2015年基础上提高1岁（桂林78岁）", 2020, True)
    assert (target["comparator"], target["value"]) == ("reach", 78.0)
    assert "另一读法：基期值+1" in target["note_zh"] and facts["delta"] == 1.0
    assert [i["field"] for i in items] == ["target"]


def test_split_range_and_unreadable_targets():
    target, _, _ = read_target("城市≥60、农村≥40", 2025, True)
    assert target["comparator"] == "split"
    assert target["strata"] == {
        "urban": {"label_zh": "城市", "comparator": ">=", "value": 60.0},
        "rural": {"label_zh": "农村", "comparator": ">=", "value": 40.0},
    }
    target, _, items = read_target("2—3名", 2025, True)
    assert (target["comparator"], target["value"]) == (">=", 2.0) and items
    target, _, items = read_target("按省2023年文件执行", 2025, True)
    assert target["comparator"] == "qualitative" and items[0]["field"] == "target"


def test_baselines_units_and_direction():
    assert baseline_figure("-", 2015) == (None, [])
    assert baseline_figure("1:0.89", 2015)[0] == {"value": 0.89, "year": 2015, "text": "1:0.89"}
    figure, items = baseline_figure("＞95", 2015)
    assert figure["value"] == 95.0 and items[0]["field"] == "baseline"
    assert split_name_unit("卫技人员本科学历比例（％） ") == ("卫技人员本科学历比例", "％")
    assert split_name_unit("以县（区）为单位结核病患者（包括耐多药患者）管理率") == (
        "以县（区）为单位结核病患者（包括耐多药患者）管理率",
        None,
    )
    assert unit_for("每万人口中医民族医床位数", "床", "5.5") == ("张/万人口", [])
    assert unit_for("每千常住人口执业（助理）医师数", "人", "2.51") == ("人/千人口", [])
    assert unit_for("出生人口性别比", None, "完成目标")[0] == "女=100"
    assert unit_for("某某指数", None, "80")[1][0]["field"] == "unit"
    assert direction_for("三级医院平均住院日", "reach", None)[0] == "lower"
    assert direction_for("人均预期寿命", "reach", None)[0] == "higher"
    assert direction_for("某病报告发病数", "reach", None, "/10万")[0] == "lower"
    assert direction_for("某病报告发病数", ">=", None, "/10万") == ("higher", [])


def test_text_rows_follow_the_numbering_when_a_cell_is_missing():
    """Row 2 lost its attribute cell (no tab line at all): rows 3 and 4 still line up."""
    lines = ["表1 主要指标", "\t序号", "\t指标名称（单位）", "\t目标", "\t属性"]
    lines += ["\t1", "\t甲率（%）", "\t≥90", "\t约束性"]
    lines += ["\t2", "\t乙率（%）", "\t80"]
    lines += ["\t3", "\t丙率（%）", "\t70", "\t预期性"]
    lines += ["\t4", "\t丁床位数", "\t6", "", "正文继续。" * 10]
    doc = read_text("\n".join(lines).encode("utf-8"))
    [grid] = doc.tables
    assert [[c.text for c in row] for row in grid[1:]] == [
        ["1", "甲率（%）", "≥90", "约束性"],
        ["2", "乙率（%）", "80", ""],
        ["3", "丙率（%）", "70", "预期性"],
        ["4", "丁床位数", "6", ""],
    ]
    assert "正文继续" in doc.body and "表1 主要指标" in doc.body


def test_numbering_that_restarts_per_category_becomes_one_sequence():
    from transforms.plan_import import Options, draft_plan

    lines = [
        "某县卫生健康“十四五”规划",
        "\t类别",
        "\t序号",
        "\t指标名称（单位）",
        "\t2020年",
        "\t2025年",
    ]
    lines += ["\t一、健康水平", "\t1", "\t人均预期寿命（岁）", "\t78", "\t79"]
    lines += ["\t", "\t2", "\t婴儿死亡率（‰）", "\t4", "\t<5"]
    lines += ["\t二、卫生资源", "\t1", "\t每千人口床位数（张）", "\t5", "\t6"]
    lines += ["\t", "\t2", "\t每千人口注册护士数（人）", "\t3", "\t≥3.5"]
    plan, _ = draft_plan(read_text("\n".join(lines).encode("gb18030")), Options("x"))
    inds = plan["indicators"]
    assert [(i["number"], i["category_zh"]) for i in inds] == [
        (1, "一、健康水平"),
        (2, "一、健康水平"),
        (3, "二、卫生资源"),
        (4, "二、卫生资源"),
    ]
    assert inds[2]["review_needed"][0]["field"] == "number"
    assert inds[3]["unit"] == "人/千人口" and inds[3]["target"]["comparator"] == ">="
