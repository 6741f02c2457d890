"""The plan's values are the same however they are held while computed: elements factorized a
chunk at a time, rows taken by position, the result assembled a column at a time."""

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
    """The result as it was assembled: every indicator's rows concatenated, then sorted."""
    tree = indicators.AreaTree(AREAS)
    frames = [indicators._one_indicator(plan.id, ind, o, tree) for ind in plan.indicators]
    out = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    out["year"] = out["year"].astype("int64")
    out["number"] = out["number"].astype("int64")
    return out[INDICATOR_COLUMNS].sort_values(["number", "area_code", "year", "stratum"])


def test_result_is_the_sorted_concatenation_labels_included():
    """Indicators out of number order: labels are their rows' places in plan order."""
    nurses = {
        "number": 2,
        "name_zh": "护士",
        "formula": {"kind": "ratio", "numerator": ["nurses"], "denominator": ["pop"], "factor": 1},
    }
    plan = plan_with({**RATIO, "number": 3}, {**RATIO, "number": 1, "name_zh": "医师"}, nurses)
    o = obs(
        [
            (town, year, element, "", base * (i + 1) + year)
            for i, town in enumerate(["T2", "T1", "D2"])
            for year in (2016, 2015)
            for element, base in [("doctors", 10), ("pop", 1000), ("nurses", 20)]
        ]
    )
    got = indicator_values(plan, AREAS, o)
    expected = _reference(plan, o)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.index.tolist() == expected.index.tolist()
    assert got["number"].tolist() == [1] * 10 + [2] * 10 + [3] * 10
    # two indicators of one number (a plan refuses that; the assembly still sorts them jointly)
    frames = [indicators._sorted(f.set_axis(range(i * 10, i * 10 + 10))) for i, f in
              enumerate(indicators._one_indicator("t", ind, o, indicators.AreaTree(AREAS))
                        for ind in plan.indicators)]  # fmt: skip
    for frame in frames:
        frame["number"] = 7
    expected = pd.concat(frames).sort_values(["number", "area_code", "year", "stratum"])
    shared = indicators._concatenated(list(frames))
    pd.testing.assert_frame_equal(shared, expected, check_exact=True)
    assert shared.index.tolist() == expected.index.tolist()
