"""The Longhu plan definition against its printed source (seed 000_0d83bb3f6357629c.txt)."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from healthplan.definitions import UNIT_LEVELS, AreaSet, Catalog, Plan
from healthplan.settings import REPO_ROOT

PLANS = REPO_ROOT / "plans"
PLAN_DIR = PLANS / "longhu"
SEED = REPO_ROOT / "plans" / "longhu" / "source.txt"  # the plan as received (seed 000_…)


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    """A catalog of the shared elements and this plan only (independent of other plans' files)."""
    root = tmp_path_factory.mktemp("plans")
    shutil.copy(PLANS / "elements.yaml", root / "elements.yaml")
    shutil.copytree(PLAN_DIR, root / "longhu")
    return Catalog(root)


@pytest.fixture(scope="module")
def plan(catalog) -> Plan:
    return catalog.plan("longhu")


def test_counts_and_header(plan):
    assert [i.number for i in plan.indicators] == list(range(1, 31))
    assert len(plan.text_goals) == 11
    assert plan.jurisdiction == "440507"
    assert (plan.baseline_year, plan.mid_term_year, plan.target_year) == (2015, 2018, 2020)
    assert (plan.period_start, plan.period_end) == (2016, 2020)
    assert plan.source_document == SEED.name
    assert plan.title_zh == "龙湖区卫生和计划生育事业发展“十三五”规划"


def test_categories_as_printed(plan):
    expected = {
        "一、人群健康水平": range(1, 4),
        "二、基本公共卫生服务": range(4, 11),
        "三、卫生资源": range(11, 20),
        "四、医疗服务": range(20, 24),
        "五、计生技术服务": range(24, 26),
        "六、爱国卫生": range(26, 28),
        "七、投入与医保水平": range(28, 31),
    }
    for category, numbers in expected.items():
        for n in numbers:
            assert plan.indicator(n).category_zh == category, n


# (number, baseline text, baseline value, target text, comparator, target value, attribute, merged)
TABLE = [
    (1, "76.3", 76.3, "≥77", ">=", 77, "预期性", False),
    (2, "0.9", 0.9, "＜3", "<", 3, "指导性", False),
    (3, "1.26", 1.26, "＜10", "<", 10, "指导性", True),
    (4, "＞95", 95, "＞95", ">", 95, "约束性", False),
    (5, "68.93", 68.93, "达国家要求", "qualitative", None, "约束性", True),
    (9, "90", 90, "达国家要求", "qualitative", None, "约束性", True),
    (10, "74.18", 74.18, "达国家要求", "qualitative", None, "约束性", True),
    (11, "2.07", 2.07, "3.15", "reach", 3.15, "指导性", False),
    (12, "0.30", 0.30, "1.05", "reach", 1.05, "预期性", False),
    (13, "1.58", 1.58, "≥2.1", ">=", 2.1, "约束性", False),
    (14, "1.41", 1.41, "≥2.52", ">=", 2.52, "约束性", True),
    (15, "1:0.89", 0.89, "1：1.2", "reach", 1.2, "指导性", False),
    (16, "0.09", 0.09, "＞0.2", ">", 0.2, "约束性", False),
    (18, "32.23", 32.23, "＞40", ">", 40, "约束性", False),
    (22, None, None, "100", "reach", 100, "指导性", True),
    (23, "58.41", 58.41, "≥70", ">=", 70, "指导性", True),
    (24, None, None, "≥95", ">=", 95, "指导性", True),
    (26, "0", 0, "20", "reach", 20, "指导性", True),
    (28, "40", 40, "≥80", ">=", 80, "约束性", False),
    (29, "27.94", 27.94, "＜25", "<", 25, "约束性", True),
    (30, "45.22", 45.22, "≥30", ">=", 30, "指导性", False),
]


@pytest.mark.parametrize("row", TABLE, ids=[str(r[0]) for r in TABLE])
def test_rows_match_printed_table(plan, row):
    number, b_text, b_value, t_text, comparator, t_value, attribute, merged = row
    ind = plan.indicator(number)
    if b_text is None:
        assert ind.baseline is None
    else:
        assert ind.baseline is not None
        assert ind.baseline.text == b_text
        assert ind.baseline.value == pytest.approx(b_value)
        assert ind.baseline.year == 2015
    assert ind.baseline_source == "table"
    assert ind.target.text == t_text
    assert ind.target.comparator == comparator
    assert ind.target.year == 2020
    if t_value is None:
        assert ind.target.value is None
    else:
        assert ind.target.value == pytest.approx(t_value)
    assert ind.attribute == attribute
    assert ind.attribute_from_merged_cell is merged


def test_merged_cells(plan):
    # 约束性 (row 4) continues over rows 5–10; 达国家要求 is one cell over rows 5–10
    for n in range(5, 11):
        ind = plan.indicator(n)
        assert (ind.attribute, ind.attribute_from_merged_cell) == ("约束性", True)
        assert ind.target.text == "达国家要求" and ind.target.comparator == "qualitative"
    # 指导性 (row 21) continues over rows 22–27; 约束性 (row 28) over row 29
    for n in range(22, 28):
        assert (plan.indicator(n).attribute, plan.indicator(n).attribute_from_merged_cell) == (
            "指导性",
            True,
        )
    filled = {1, 2, 4, 11, 12, 13, 15, 16, 17, 18, 19, 20, 21, 28, 30}
    for ind in plan.indicators:
        assert ind.attribute is not None
        assert ind.attribute_from_merged_cell is (ind.number not in filled), ind.number


def test_names_units_and_values_occur_in_the_table(plan, seed_text):
    start = seed_text.index("龙湖区卫生和计划生育事业发展“十三五”规划主要指标")
    table = seed_text[start : seed_text.index("五、主要任务", start)]
    flat = re.sub(r"\s+", "", table)
    for ind in plan.indicators:
        assert ind.name_zh.strip() in flat, ind.number
        if ind.baseline is not None:
            assert ind.baseline.text in flat, ind.number
        assert ind.target.text in flat, ind.number
    assert plan.indicator(25).name_zh == "孕产妇及新生儿人群出生缺陷疾病免费筛查覆盖率"
    assert sum(c.strip() == "-" for c in table.splitlines()) == 3  # rows 22, 24, 25


def test_directions_and_levels(plan):
    lower = {n for n in range(1, 31) if plan.indicator(n).direction == "lower"}
    assert lower == {2, 3, 29}
    town = {i.number for i in plan.indicators if i.level == "town"}
    assert town == {4}
    # 以县（区）为单位 inside a district means the district itself
    for n in (7, 8, 9):
        assert plan.indicator(n).name_zh.startswith("以县（区）为单位")
        assert plan.indicator(n).level == "area"


def test_formulas(plan, catalog):
    for ind in plan.indicators:
        assert ind.formula is not None, ind.number
        assert ind.formula.elements() <= set(catalog.elements), ind.number
    factors = {"%": 100, "‰": 1000, "/10万": 100000, "张/千人口": 1000, "人/千人口": 1000}
    for ind in plan.indicators:
        if ind.formula.kind == "ratio" and ind.unit in factors:
            assert ind.formula.factor == factors[ind.unit], ind.number
    assert plan.indicator(15).formula.numerator == ["nurses"]
    assert plan.indicator(15).formula.denominator == ["doctors"]
    assert plan.indicator(11).formula.numerator == ["beds[public:hospital,public:tcm_hospital]"]
    assert plan.indicator(28).formula.kind == "direct"


def test_elements_file_adds_only_new_codes():
    shared = {e["code"] for e in yaml.safe_load((PLANS / "elements.yaml").read_text())["elements"]}
    own = [e["code"] for e in yaml.safe_load((PLAN_DIR / "elements.yaml").read_text())["elements"]]
    assert len(own) == len(set(own))
    assert not set(own) & shared


def test_text_figures_are_verbatim_and_differ(plan, seed_text):
    expected = {
        2: 1.01,
        3: 0,
        4: 99,
        5: 92.03,
        6: 77.58,
        7: 95.74,
        8: 97.77,
        13: 1.47,
        14: 1.1,
        16: 1.43,
        17: 0.3,
        23: 36.41,
    }
    got = {i.number: i.text_figures for i in plan.indicators if i.text_figures}
    assert set(got) == set(expected)
    for n, figures in got.items():
        assert len(figures) == 1
        tf = figures[0]
        assert tf.value == pytest.approx(expected[n])
        assert tf.year == 2015
        assert tf.sentence in seed_text, n
        ind = plan.indicator(n)
        if ind.baseline is not None and tf.unit_note is None:
            assert tf.value != pytest.approx(ind.baseline.value), n
    assert "万" in plan.indicator(16).text_figures[0].unit_note


def test_text_goals_are_verbatim(plan, seed_text):
    for goal in plan.text_goals:
        assert goal.sentence in seed_text, goal.name_zh
        assert goal.target.year == 2020
        if goal.target.comparator not in ("qualitative",):
            assert goal.target.value is not None
        if goal.related_indicator is not None:
            plan.indicator(goal.related_indicator)
    by_name = {g.name_zh: g for g in plan.text_goals}
    tcm = by_name["中医执业医师（每千服务人口）"]
    assert (tcm.target.comparator, tcm.target.value) == (">=", 0.32)
    local = by_name["区域内就诊率"]
    assert (local.target.comparator, local.target.value, local.target.tolerance) == (
        "about",
        90,
        None,
    )
    assert by_name["服务质量和能力明显提升的社区卫生服务机构比例"].target.comparator == ">="


def test_areas_form_a_tree(catalog, plan):
    area_set = AreaSet.model_validate(yaml.safe_load((PLAN_DIR / "areas.yaml").read_text()))
    assert area_set.jurisdiction == plan.jurisdiction
    areas = {a.code: a for a in catalog.areas("longhu")}
    root = areas[plan.jurisdiction]
    assert (root.parent, root.level, root.name_zh) == (None, "district", "龙湖区")
    assert catalog.areas("longhu")[0].code == plan.jurisdiction
    others = [a for a in areas.values() if a.code != plan.jurisdiction]
    assert all(a.parent == plan.jurisdiction for a in others)
    streets = {a.name_zh for a in others if a.level == "street"}
    towns = {a.name_zh for a in others if a.level == "town"}
    assert streets == {"珠池街道", "新津街道", "金霞街道", "龙祥街道", "鸥汀街道"}
    assert towns == {"外砂镇", "新溪镇"}
    assert {a.code for a in others if a.level == "town"} == {"440507100", "440507101"}
    # the per-town indicator (4) is judged over all seven towns and streets
    assert len([a for a in others if a.level in UNIT_LEVELS["town"]]) == 7
