"""The Guilin plan definition against its printed source (seed 004_7988dea4f5de7b07.txt, 附件1)."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from healthplan.definitions import Catalog, Plan
from healthplan.settings import REPO_ROOT
from transforms.assessment import judging_units
from transforms.indicators import AreaTree, indicator_values

PLANS = REPO_ROOT / "plans"
PLAN_DIR = PLANS / "guilin"
SEED = REPO_ROOT / "plans" / "guilin" / "source.txt"  # the plan as received (seed 004_…)
CITY = "450300"


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def printed_table(seed_text) -> dict[int, tuple[str, str]]:
    """附件1 as printed: number → (name with its unit, 2020 target cell)."""
    lines = seed_text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("附件1"))
    rows = {}
    for i in range(start, len(lines) - 1):
        m = re.match(r"^\t(\d+)\.(.+)$", lines[i])
        if m and lines[i + 1].strip():
            rows[int(m.group(1))] = (m.group(2), lines[i + 1].strip())
    return rows


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    """A catalog of the shared elements and this plan only (independent of other plans' files)."""
    root = tmp_path_factory.mktemp("plans")
    shutil.copy(PLANS / "elements.yaml", root / "elements.yaml")
    shutil.copytree(PLAN_DIR, root / "guilin")
    return Catalog(root)


@pytest.fixture(scope="module")
def plan(catalog) -> Plan:
    return catalog.plan("guilin")


def test_counts_and_header(plan):
    assert [i.number for i in plan.indicators] == list(range(1, 56))
    assert len(plan.text_goals) == 12
    assert plan.jurisdiction == CITY
    assert plan.issuing_body_zh == "桂林市卫生和计划生育委员会"
    assert (plan.baseline_year, plan.mid_term_year, plan.target_year) == (2015, 2018, 2020)
    assert (plan.period_start, plan.period_end) == (2016, 2020)
    assert plan.source_document == SEED.name
    assert plan.title_zh == "桂林市卫生和计划生育事业发展“十三五”规划"


def test_every_printed_row_is_there_with_its_name_and_target_text(plan, printed_table):
    assert sorted(printed_table) == list(range(1, 56))
    for ind in plan.indicators:
        printed_name, printed_target = printed_table[ind.number]
        assert printed_name.startswith(ind.name_zh), ind.number
        unit_part = printed_name[len(ind.name_zh) :]
        assert unit_part == "" or re.fullmatch(r"（[^（）]*）|\([^()]*\)", unit_part), ind.number
        assert ind.target.text == printed_target, ind.number
        assert ind.target.year == 2020


def test_categories_as_printed_merged_cells_continue(plan):
    expected = {
        "居民健康": range(1, 5),
        "人口发展": range(5, 8),
        "疾病预防控制": range(8, 20),
        "妇幼健康": range(20, 28),
        "医疗服务": range(28, 32),
        "基本药物": range(32, 33),
        "卫生资源": range(33, 39),
        "计划生育": range(39, 43),
        "卫生费用": range(43, 48),
        "医学研究": range(48, 50),
        "中医服务": range(50, 56),
    }
    for category, numbers in expected.items():
        assert [i.number for i in plan.indicators if i.category_zh == category] == list(numbers)


def test_no_attribute_column_in_this_table(plan):
    assert all(i.attribute is None and not i.attribute_from_merged_cell for i in plan.indicators)


def test_comparators_follow_the_printed_wording(plan):
    for ind in plan.indicators:
        text, t = ind.target.text, ind.target
        if "以下" in text or text.startswith("≤"):
            assert t.comparator == "<=", ind.number
        elif "以上" in text or text.startswith("≥"):
            assert t.comparator == ">=", ind.number
        elif "左右" in text:
            assert (t.comparator, t.tolerance) == ("about", None), ind.number
        elif re.fullmatch(r"[\d.]+", text):
            assert (t.comparator, t.value) == ("reach", float(text)), ind.number
    assert [i.number for i in plan.indicators if i.target.comparator == "about"] == [
        7,
        8,
        43,
        44,
        45,
        46,
    ]


@pytest.mark.parametrize(
    ("number", "comparator", "value", "direction", "baseline", "unit"),
    [
        (2, "<=", 7.5, "lower", 4.13, "‰"),
        (4, "<=", 18, "lower", 18.93, "/10万"),
        (6, "reach", 11, "lower", 6.31, "‰"),
        (7, "about", 1.95, "higher", 1.73, ""),
        (11, "<=", 8, "lower", None, "%"),
        (20, ">=", 80, "higher", 107.38, "%"),
        (28, "reach", 8, "lower", None, "天"),
        (30, "<=", 2.4, "lower", None, "%"),
        (33, "reach", 2.51, "higher", 2.19, "人/千人口"),
        (36, "reach", 6, "higher", 3.97, "张/千人口"),
        (37, "reach", 1.5, "higher", None, "护士/医师"),
        (38, "reach", 2, "higher", 0.35, "人/万人口"),
        (44, "about", 28, "lower", None, "%"),
        (47, ">=", 80, "higher", 40, "元"),
        (53, "reach", 70, "higher", 65, "%"),
        (55, "reach", 3.79, "higher", 2.8, "人/万人口"),
    ],
)
def test_rows_field_by_field(plan, number, comparator, value, direction, baseline, unit):
    ind = plan.indicator(number)
    assert ind.target.comparator == comparator
    assert ind.target.value == pytest.approx(value)
    assert ind.direction == direction
    assert ind.unit == unit
    if baseline is None:
        assert ind.baseline is None
    else:
        assert ind.baseline.value == pytest.approx(baseline)
        assert ind.baseline.year == 2015
        assert ind.baseline_source == "text"


def test_inferred_values_are_flagged(plan):
    assert any("笔误" in i["why"] for i in plan.indicator(34).inferences())
    assert plan.indicator(6).allowed_range.min is None  # a growth rate may fall below 0
    assert plan.indicator(20).allowed_range.max is None  # over an assigned task number
    assert (plan.indicator(2).allowed_range.min, plan.indicator(2).allowed_range.max) == (0, 1000)


def test_special_targets(plan):
    life = plan.indicator(1)
    # a rule and a figure for Guilin: the printed 78 is the target, the +1 reading kept as data
    assert (life.target.comparator, life.target.delta, life.target.value) == ("reach", None, 78)
    other = life.target.other_reading
    assert (other.comparator, other.delta) == ("relative", 1) and "78.88" in other.note_zh
    assert "78" in life.target.note_zh
    assert plan.indicator(5).target.comparator == "qualitative"
    assert plan.indicator(5).target.value is None
    split = plan.indicator(13).target
    assert split.comparator == "split"
    assert {k: (s.label_zh, s.comparator, s.value) for k, s in split.strata.items()} == {
        "rural": ("农村", ">=", 35),
        "urban": ("城镇", ">=", 60),
    }
    assert plan.indicator(13).formula.split_by == ["rural", "urban"]
    assert plan.indicator(37).target.text == "1∶1.5"


def test_levels(plan):
    assert plan.indicator(12).level == "town"
    assert plan.indicator(12).name_zh.startswith("以乡（镇、街道）为单位")
    assert [i.number for i in plan.indicators if i.level != "area"] == [12]


def test_baselines_come_from_verbatim_body_sentences(plan, seed_text):
    for ind in plan.indicators:
        if ind.baseline is None:
            continue
        assert ind.baseline_source == "text", ind.number
        assert ind.baseline_sentence and ind.baseline_sentence in seed_text, ind.number
        assert ind.baseline.text and ind.baseline.text in ind.baseline_sentence, ind.number
        if ind.baseline.value is not None:
            assert any(f.value == ind.baseline.value for f in ind.text_figures), ind.number


def test_text_figure_sentences_occur_verbatim(plan, seed_text):
    figures = [(i.number, f) for i in plan.indicators for f in i.text_figures]
    assert len(figures) == 34
    for number, f in figures:
        assert f.sentence in seed_text, number
        assert f.year == 2015
        if f.value != 0:
            digits = f"{f.value:g}"
            assert digits in f.sentence, (number, digits)


def test_text_goals_occur_verbatim(plan, seed_text):
    for g in plan.text_goals:
        assert g.sentence in seed_text, g.name_zh
        assert g.target.year == 2020
        assert f"{g.target.value:g}" in g.sentence, g.name_zh
    related = {g.name_zh: g.related_indicator for g in plan.text_goals if g.related_indicator}
    assert related == {
        "每万名居民合格的全科医生数": 38,
        "社会办医院每千常住人口床位数": 36,
        "每千常住人口公立中医壮瑶类医院床位数": 54,
    }


def test_every_formula_element_is_known(plan, catalog):
    for ind in plan.indicators:
        if ind.formula is not None:
            assert ind.formula.elements() <= set(catalog.elements), ind.number
    assert [i.number for i in plan.indicators if i.formula is None] == [48, 49]
    assert all(i.notes for i in plan.indicators if i.formula is None)


def test_own_elements_do_not_redefine_shared_ones(catalog):
    import yaml

    shared = {e["code"] for e in yaml.safe_load((PLANS / "elements.yaml").read_text())["elements"]}
    own = {e["code"] for e in yaml.safe_load((PLAN_DIR / "elements.yaml").read_text())["elements"]}
    assert own and not own & shared


def test_areas_form_a_tree_rooted_at_the_city(catalog):
    areas = catalog.areas("guilin")
    assert len(areas) == 18
    root = [a for a in areas if a.parent is None]
    assert [(a.code, a.name_zh, a.level) for a in root] == [(CITY, "桂林市", "city")]
    children = [a for a in areas if a.code != CITY]
    assert all(a.parent == CITY for a in children)
    assert sum(a.level == "district" for a in children) == 6
    assert sum(a.level == "county" for a in children) == 11
    assert {a.code: a.name_zh for a in children}["450328"] == "龙胜各族自治县"
    tree = AreaTree(areas)
    assert all(tree.is_below(a.code, CITY) for a in children)


def test_township_indicator_is_judged_per_county_here(plan, catalog):
    tree = AreaTree(catalog.areas("guilin"))
    units, level = judging_units(plan, plan.indicator(12), tree)
    assert level == "county" and len(units) == 17


def test_flags_and_splits_compute(plan, catalog):
    areas = catalog.areas("guilin")
    counties = [a.code for a in areas if a.code != CITY]
    rows = [
        (c, 2018, "occ_disease_surveillance", "", 1 if i < 9 else 0) for i, c in enumerate(counties)
    ]
    rows += [
        ("450302", 2018, "chronic_info_aware", "rural", 30),
        ("450302", 2018, "chronic_info_surveyed", "rural", 100),
        ("450302", 2018, "chronic_info_aware", "urban", 70),
        ("450302", 2018, "chronic_info_surveyed", "urban", 100),
    ]
    obs = pd.DataFrame(rows, columns=["area_code", "year", "element", "stratum", "value"])
    out = indicator_values(plan, areas, obs)

    def at(number, area, stratum=""):
        row = out[(out.number == number) & (out.area_code == area) & (out.stratum == stratum)]
        return row.iloc[0].value

    assert at(15, CITY) == pytest.approx(9 / 17 * 100)
    assert at(13, CITY, "rural") == pytest.approx(30)
    assert at(13, CITY, "urban") == pytest.approx(70)
