"""Values are summed as pandas' groupby sums them, to the bit (the stored values must not change
when the way they are computed does). pandas 3 sums a group's run of rows by np.add.reduceat
when the groups come in order and no value is NaN, else by Kahan's compensated sum in row
order: 0.1 + 0.2 + 0.7 is 0.9999999999999999 the first way and 1.0 the second."""

import numpy as np
import pandas as pd
import pytest

from healthplan.definitions import Area, Formula, Term
from tests.transforms.test_indicators import AREAS, RATIO, obs, plan_with, value
from transforms import indicators
from transforms.indicators import (
    INDICATOR_COLUMNS,
    AreaTree,
    formula_values,
    indicator_values,
    roll_up_sum,
    term_values,
)

PARTS = [0.1, 0.2, 0.7]
IN_ORDER, COMPENSATED = 0.9999999999999999, 1.0

TOWNS = [
    Area(code="C", name_zh="市", name_en="C", level="city"),
    Area(code="D", name_zh="区", name_en="D", level="district", parent="C"),
    *(Area(code=t, name_zh=t, name_en=t, level="town", parent="D") for t in ("T1", "T2", "T3")),
]


def bits(values) -> list[int]:
    return np.asarray(values, dtype=np.float64).view(np.int64).tolist()


@pytest.mark.parametrize(
    ("cells", "values"),
    [
        ([0, 0, 0], PARTS),  # in order: a run each
        ([0, 1, 0, 0], [0.1, 5.0, 0.2, 0.7]),  # out of order: compensated
        ([0, 1, 0, 0], [0.1, 5.0, 0.2, 0.3]),  # compensated 0.6, plainly 0.6000000000000001
        ([0, 0, 0, 1], [*PARTS, np.nan]),  # a NaN anywhere: compensated
        ([-1, 0, 0, 0], [9.0, *PARTS]),  # a row with no cell first: still in order
        ([0, 0, 1, 1, 0], [np.inf, 1.0, -np.inf, np.inf, 2.0]),  # infinities
    ],
)
def test_group_sums_are_pandas_groupby_sums_bit_for_bit(cells, values):
    cells, values = np.array(cells), np.array(values)
    keys = np.where(cells < 0, np.nan, cells)  # pandas drops a missing key
    expected = pd.Series(values).groupby(keys).sum(min_count=1)
    sums, counts, named = indicators._group_sums(cells, values, 3)
    at = expected.index.to_numpy().astype(int)
    assert named.tolist() == [c in at for c in range(3)]
    got = np.where(counts[at] > 0, sums[at], np.nan)
    assert bits(got) == bits(expected)


def test_a_terms_strata_are_summed_by_runs_or_compensated_as_pandas_does():
    in_order = obs([("T1", 2015, "beds", s, v) for s, v in zip("abc", PARTS, strict=True)])
    assert bits(term_values(in_order, Term.parse("beds"))) == bits([IN_ORDER])
    mixed = obs([("T1", 2015, "beds", "a", 0.1), ("T2", 2015, "beds", "a", 5.0)])
    mixed = pd.concat(
        [mixed, obs([("T1", 2015, "beds", s, v) for s, v in [("b", 0.2), ("c", 0.7)]])]
    )
    assert term_values(mixed, Term.parse("beds"))[("T1", 2015)] == COMPENSATED
    with_nan = pd.concat([in_order, obs([("T2", 2015, "beds", "a", np.nan)])])
    assert term_values(with_nan, Term.parse("beds"))[("T1", 2015)] == COMPENSATED


def test_children_are_summed_by_runs_only_while_parent_and_year_come_in_order():
    """One year: the towns' rows come in (district, year) order; two years interleave."""
    tree = AreaTree(TOWNS)
    index = pd.MultiIndex.from_tuples(
        [(t, 2015) for t in ("T1", "T2", "T3")], names=["area_code", "year"]
    )
    one_year = roll_up_sum(pd.Series(PARTS, index=index), tree)
    assert bits([one_year[("D", 2015)], one_year[("C", 2015)]]) == bits([IN_ORDER, IN_ORDER])
    index = pd.MultiIndex.from_tuples(
        [(t, y) for t in ("T1", "T2", "T3") for y in (2015, 2016)], names=["area_code", "year"]
    )
    two_years = roll_up_sum(pd.Series(np.repeat(PARTS, 2), index=index), tree)
    assert two_years[("D", 2015)] == two_years[("D", 2016)] == COMPENSATED


def test_a_formulas_terms_add_left_to_right():
    """(0.1 + 0.2) + 0.3 is 0.6000000000000001; 0.1 + (0.2 + 0.3) would be 0.6."""
    ind = {
        "number": 1,
        "name_zh": "三项",
        "formula": {"kind": "ratio", "numerator": ["a", "b", "c"], "denominator": ["n"]},
    }
    o = obs([("T1", 2015, e, "", v) for e, v in [("a", 0.1), ("b", 0.2), ("c", 0.3), ("n", 1)]])
    assert bits(
        [value(indicator_values(plan_with(ind), AREAS, o), 1, "T1", 2015).numerator]
    ) == bits([(0.1 + 0.2) + 0.3])


def test_an_unweighted_report_with_no_value_still_counts_once_upward():
    """Without a weight each report weighs 1, a report with no value too: the district of one
    valued and one empty report weighs 2 in the city's mean."""
    ind = {
        "number": 4,
        "name_zh": "期望寿命",
        "unit": "岁",
        "formula": {"kind": "direct", "element": "life"},
    }
    o = obs(
        [
            ("T1", 2018, "life", "", np.nan),
            ("T2", 2018, "life", "", 80.0),
            ("D2", 2018, "life", "", 70.0),
        ]
    )
    out = indicator_values(plan_with(ind), AREAS, o)
    assert value(out, 4, "D1", 2018).value == 80.0
    assert value(out, 4, "C", 2018).value == (80.0 * 2 + 70.0) / 3
    assert value(out, 4, "T2", 2018).denominator == 1.0 and out[out.area_code == "T1"].empty


def test_formula_values_keep_areas_outside_the_tree_as_they_are():
    """Quality recomputes reported rates from the raw observations: an area the tree lacks
    gets its own value, and nothing is rolled into or out of it."""
    o = obs(
        [
            ("T1", 2015, "doctors", "", 10),
            ("T1", 2015, "pop", "", 1000),
            ("X", 2015, "doctors", "", 3),
            ("X", 2015, "pop", "", 100),
        ]
    )
    formula = Formula(kind="ratio", numerator=["doctors"], denominator=["pop"], factor=1000)
    out = formula_values(o, formula, AreaTree(AREAS))
    assert out.loc[("X", 2015), "value"] == 30.0
    assert out.loc[("D1", 2015), "numerator"] == out.loc[("C", 2015), "numerator"] == 10
    assert list(out.columns) == ["numerator", "denominator", "value"]


def test_no_observations_no_years_give_no_values():
    """An as-of moment before any load: a grid with no year, and no row."""
    direct = {"number": 4, "name_zh": "期望寿命", "formula": {"kind": "direct", "element": "life"}}
    out = indicator_values(plan_with(RATIO, direct), AREAS, obs([]))
    assert out.empty and list(out.columns) == INDICATOR_COLUMNS
    formula = Formula(kind="direct", element="life", weight="pop")
    assert formula_values(obs([]), formula, AreaTree(AREAS)).empty
