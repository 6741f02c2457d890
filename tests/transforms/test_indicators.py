"""Indicator computation on tiny inline frames: sums up the hierarchy, never averages of rates."""

import math

import pandas as pd
import pytest

from healthplan.definitions import Area, Plan
from transforms.indicators import AreaTree, indicator_values

AREAS = [
    Area(code="C", name_zh="市", name_en="City", level="city"),
    Area(code="D1", name_zh="甲区", name_en="D1", level="district", parent="C"),
    Area(code="D2", name_zh="乙县", name_en="D2", level="county", parent="C"),
    Area(code="T1", name_zh="一镇", name_en="T1", level="town", parent="D1"),
    Area(code="T2", name_zh="二镇", name_en="T2", level="town", parent="D1"),
]


def plan_with(*indicators: dict) -> Plan:
    base = {
        "category_zh": "类",
        "category_en": "cat",
        "name_en": "x",
        "unit": "%",
        "direction": "higher",
        "baseline": None,
        "target": {"text": "≥1", "comparator": ">=", "value": 1, "year": 2020},
    }
    return Plan(
        id="t",
        title_zh="测试规划",
        title_en="Test",
        short_title_zh="测试",
        jurisdiction="C",
        issuing_body_zh="测试局",
        period_start=2016,
        period_end=2020,
        baseline_year=2015,
        target_year=2020,
        mid_term_year=2018,
        indicators=[{**base, **ind} for ind in indicators],
    )


def obs(rows):
    return pd.DataFrame(rows, columns=["area_code", "year", "element", "stratum", "value"])


RATIO = {
    "number": 1,
    "name_zh": "每千人医师",
    "formula": {"kind": "ratio", "numerator": ["doctors"], "denominator": ["pop"], "factor": 1000},
}


def value(frame, number, area, year, stratum=""):
    row = frame[
        (frame.number == number)
        & (frame.area_code == area)
        & (frame.year == year)
        & (frame.stratum == stratum)
    ]
    assert len(row) == 1, f"expected one row for {number}/{area}/{year}/{stratum}, got {len(row)}"
    return row.iloc[0]


def test_ratio_sums_parts_up_the_hierarchy_instead_of_averaging_rates():
    o = obs(
        [
            ("T1", 2015, "doctors", "", 10),
            ("T1", 2015, "pop", "", 1000),
            ("T2", 2015, "doctors", "", 90),
            ("T2", 2015, "pop", "", 9000),
            ("D2", 2015, "doctors", "", 30),
            ("D2", 2015, "pop", "", 10000),
        ]
    )
    out = indicator_values(plan_with(RATIO), AREAS, o)
    d1 = value(out, 1, "D1", 2015)
    assert (d1.numerator, d1.denominator) == (100, 10000)
    assert d1.value == pytest.approx(10.0)
    city = value(out, 1, "C", 2015)
    assert city.value == pytest.approx(130 / 20000 * 1000)  # 6.5, not the mean of 10, 10, 3
    assert value(out, 1, "T1", 2015).value == pytest.approx(10.0)


def test_children_win_over_a_parent_total_and_a_missing_part_gives_no_value():
    o = obs(
        [
            ("T1", 2016, "doctors", "", 5),
            ("T1", 2016, "pop", "", 1000),
            ("T2", 2016, "doctors", "", 5),
            ("T2", 2016, "pop", "", 1000),
            ("D1", 2016, "doctors", "", 999),
            ("D1", 2016, "pop", "", 2000),
            ("D2", 2016, "doctors", "", 7),  # no population for D2
        ]
    )
    out = indicator_values(plan_with(RATIO), AREAS, o)
    assert value(out, 1, "D1", 2016).numerator == 10
    assert out[(out.area_code == "D2")].empty


def test_strata_patterns_select_parts_and_split_by_computes_each_stratum():
    ind = {
        "number": 2,
        "name_zh": "公立医院床位",
        "formula": {
            "kind": "ratio",
            "numerator": ["beds[public:hospital,public:tcm_hospital]"],
            "denominator": ["pop"],
            "factor": 1000,
        },
    }
    split = {
        "number": 3,
        "name_zh": "知晓率",
        "formula": {
            "kind": "ratio",
            "numerator": ["aware"],
            "denominator": ["surveyed"],
            "factor": 100,
            "split_by": ["rural", "urban"],
        },
    }
    o = obs(
        [
            ("T1", 2017, "beds", "public:hospital", 20),
            ("T1", 2017, "beds", "public:tcm_hospital", 5),
            ("T1", 2017, "beds", "private:hospital", 100),
            ("T1", 2017, "pop", "", 1000),
            ("T1", 2017, "aware", "rural", 30),
            ("T1", 2017, "surveyed", "rural", 100),
            ("T1", 2017, "aware", "urban", 60),
            ("T1", 2017, "surveyed", "urban", 80),
        ]
    )
    out = indicator_values(plan_with(ind, split), AREAS, o)
    assert value(out, 2, "T1", 2017).value == pytest.approx(25.0)
    assert value(out, 3, "T1", 2017, "rural").value == pytest.approx(30.0)
    assert value(out, 3, "T1", 2017, "urban").value == pytest.approx(75.0)
    assert value(out, 3, "T1", 2017, "").value == pytest.approx(50.0)


def test_direct_measures_aggregate_by_weight_and_an_own_report_wins():
    ind = {
        "number": 4,
        "name_zh": "期望寿命",
        "unit": "岁",
        "formula": {"kind": "direct", "element": "life", "weight": "pop"},
    }
    o = obs(
        [
            ("T1", 2018, "life", "", 76.0),
            ("T1", 2018, "pop", "", 1000),
            ("T2", 2018, "life", "", 80.0),
            ("T2", 2018, "pop", "", 3000),
            ("D2", 2018, "life", "", 70.0),
            ("D2", 2018, "pop", "", 4000),
            ("C", 2018, "life", "", 77.5),
        ]
    )
    out = indicator_values(plan_with(ind), AREAS, o)
    assert value(out, 4, "D1", 2018).value == pytest.approx((76 * 1000 + 80 * 3000) / 4000)
    assert value(out, 4, "C", 2018).value == pytest.approx(77.5)


def test_zero_denominator_yields_no_value_rather_than_infinity():
    o = obs([("T1", 2019, "doctors", "", 3), ("T1", 2019, "pop", "", 0)])
    out = indicator_values(plan_with(RATIO), AREAS, o)
    assert not any(math.isinf(v) for v in out["value"])
    assert out[out.area_code == "T1"].empty


def test_area_tree_units_and_cycle_detection():
    tree = AreaTree(AREAS)
    assert tree.units("C", ["town", "street"]) == ["T1", "T2"]
    assert tree.units("C", ["district", "county"]) == ["D1", "D2"]
    with pytest.raises(ValueError, match="cycle"):
        AreaTree(
            [
                Area(code="A", name_zh="a", name_en="a", level="town", parent="B"),
                Area(code="B", name_zh="b", name_en="b", level="town", parent="A"),
            ]
        )


def test_by_element_holds_each_elements_rows_in_order_with_what_a_term_reads():
    from transforms.indicators import ByElement

    o = obs(
        [
            ("T1", 2015, "pop", "", 1),
            ("T1", 2015, "doctors", "", 2),
            ("T2", 2015, "pop", "", 3),
            ("T2", 2016, None, "", 4),
            ("T1", 2016, "pop", "m", 5),
        ]
    ).assign(source_file_id=7)
    by = ByElement(o)
    assert list(by) == ["pop", "doctors"]  # a row with no element belongs to none
    assert list(by["pop"].columns) == ["area_code", "year", "stratum", "value"]
    assert by["pop"]["value"].tolist() == [1, 3, 5]
    assert by["pop"]["stratum"].tolist() == ["", "", "m"]
    by.rolled[(0, "pop", None, None)] = pd.Series([1.0])
    by.rolled[(0, "doctors", None, None)] = pd.Series([2.0])
    by.forget({"pop"})
    assert list(by) == ["doctors"] and list(by.rolled) == [(0, "doctors", None, None)]


def test_an_element_is_kept_until_the_last_indicator_that_reads_it():
    """Each plan computed as a whole equals its indicators computed one by one: an element
    read by the first and third indicators, not the second, is still there for the third."""
    first = {**RATIO, "number": 1}
    second = {
        "number": 2,
        "name_zh": "护士",
        "formula": {"kind": "ratio", "numerator": ["nurses"], "denominator": ["beds"], "factor": 1},
    }
    third = {
        "number": 3,
        "name_zh": "每千人护士",
        "formula": {
            "kind": "ratio",
            "numerator": ["nurses"],
            "denominator": ["pop"],
            "factor": 1000,
        },
    }
    o = obs(
        [
            (town, year, element, "", base * (i + 1) + year - 2015)
            for i, town in enumerate(["T1", "T2", "D2"])
            for year in (2015, 2016)
            for element, base in [("doctors", 10), ("pop", 1000), ("nurses", 20), ("beds", 40)]
        ]
    )
    whole = indicator_values(plan_with(first, second, third), AREAS, o)
    alone = pd.concat(
        [indicator_values(plan_with(ind), AREAS, o) for ind in (first, second, third)]
    ).sort_values(["number", "area_code", "year", "stratum"])
    assert len(whole) == 3 * 5 * 2  # 3 indicators × 5 areas × 2 years
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), alone.reset_index(drop=True))
