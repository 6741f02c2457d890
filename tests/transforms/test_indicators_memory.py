"""The plan's values are the same however they are held while computed: elements factorized a
chunk at a time, rows taken by position, the result assembled from arrays a column at a time."""

import numpy as np
import pandas as pd

from tests.transforms.test_indicators import AREAS, RATIO, obs, plan_with
from transforms import indicators
from transforms.indicators import INDICATOR_COLUMNS, ByElement, indicator_values


def test_codes_a_chunk_at_a_time_are_factorize_codes(monkeypatch):
    monkeypatch.setattr(indicators, "CODES_CHUNK", 2)
    values = np.array(["b", "a", None, "b", "c", np.nan, "a", "c", "d"], dtype=object)
    codes, uniques, counts = indicators._codes(values)
    expected_codes, expected_uniques = pd.factorize(values)
    assert codes.tolist() == expected_codes.tolist()
    assert uniques == list(expected_uniques)
    assert counts == [2, 2, 2, 1]


def test_by_element_takes_each_elements_rows_when_read():
    o = obs(
        [("T1", 2015, "pop", "", 1), ("T2", 2015, "doctors", "", 2), ("T2", 2016, "pop", "m", 3)]
    )
    by = ByElement(o)
    assert "pop" in by and "beds" not in by and len(by) == 2
    pd.testing.assert_frame_equal(
        by["pop"], o[o.element == "pop"].drop(columns="element").reset_index(drop=True)
    )
    by.forget({"pop"})
    assert by.get("pop") is None and list(by) == ["doctors"]


def _reference(plan, o) -> pd.DataFrame:
    """The result as it was assembled: every indicator's rows (the whole, then each split
    stratum, as formula_values gives them) concatenated in plan order, then sorted."""
    tree = indicators.AreaTree(AREAS)
    frames = [
        indicators.formula_values(o, ind.formula, tree, stratum)
        .reset_index()
        .assign(plan_id=plan.id, number=ind.number, stratum=stratum or "")
        for ind in plan.indicators
        for stratum in [None, *(ind.formula.split_by or [])]
    ]
    out = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    out["year"] = out["year"].astype("int64")
    out["number"] = out["number"].astype("int64")
    return out[INDICATOR_COLUMNS].sort_values(["number", "area_code", "year", "stratum"])


NURSES = {
    "number": 2,
    "name_zh": "护士",
    "formula": {"kind": "ratio", "numerator": ["nurses"], "denominator": ["pop"], "factor": 1},
}


def _observations():
    return obs(
        [
            (town, year, element, stratum, base * (i + 1) + year)
            for i, town in enumerate(["T2", "T1", "D2"])
            for year in (2016, 2015)
            for element, base in [("doctors", 10), ("pop", 1000), ("nurses", 20)]
            for stratum in ["", "urban", "rural"]
        ]
    )


def test_result_is_the_sorted_concatenation_labels_included():
    """Indicators out of number order: labels are their rows' places in plan order."""
    plan = plan_with({**RATIO, "number": 3}, {**RATIO, "number": 1, "name_zh": "医师"}, NURSES)
    o = _observations()
    got = indicator_values(plan, AREAS, o)
    expected = _reference(plan, o)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.index.tolist() == expected.index.tolist()
    assert got["number"].tolist() == [1] * 10 + [2] * 10 + [3] * 10


def test_split_strata_interleave_and_keep_their_labels():
    """A split indicator's rows sort by stratum within each area and year; each keeps the label
    of its place among the whole's rows, then each stratum's."""
    split = {**RATIO, "formula": {**RATIO["formula"], "split_by": ["urban", "rural"]}}
    plan = plan_with({**split, "number": 2}, {**RATIO, "number": 1, "name_zh": "医师"})
    o = _observations()
    got = indicator_values(plan, AREAS, o)
    expected = _reference(plan, o)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.index.tolist() == expected.index.tolist() != list(range(len(got)))
    first = got[(got.number == 2) & (got.area_code == "C") & (got.year == 2015)]
    assert first["stratum"].tolist() == ["", "rural", "urban"]


def test_indicators_sharing_a_number_are_sorted_jointly():
    """A plan refuses two indicators of one number; the assembly still sorts their rows
    together, the first indicator's before the second's where all keys tie."""
    plan = plan_with({**RATIO, "number": 1}, NURSES)
    second = plan.indicators[1].model_copy(update={"number": 1})
    plan = plan.model_copy(update={"indicators": [plan.indicators[0], second]})
    o = _observations()
    got = indicator_values(plan, AREAS, o)
    expected = _reference(plan, o)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.index.tolist() == expected.index.tolist()
    assert got["value"].iloc[:2].tolist() == expected["value"].iloc[:2].tolist()
    assert got.index[:2].tolist() == [0, 10]  # C 2015: doctors per person, then nurses
