"""Quality checks on tiny frames: each must flag the planted problem and nothing else."""

import numpy as np
import pandas as pd
import pytest

from healthplan.definitions import DataElement
from tests.transforms.test_indicators import AREAS, plan_with
from transforms.quality import (
    baseline_reconciliation,
    impossible_values,
    missing_values,
    modified_z_scores,
    parts_vs_total,
    printed_tolerance,
    reported_vs_recomputed,
    year_on_year_jumps,
)


def vals(rows):
    return pd.DataFrame(rows, columns=["number", "area_code", "year", "stratum", "value"])


IND = {
    "number": 2,
    "name_zh": "婴儿死亡率",
    "unit": "‰",
    "direction": "lower",
    "baseline": {"value": 0.9, "year": 2015, "text": "0.9"},
    "text_figures": [{"value": 1.01, "year": 2015, "sentence": "婴儿死亡率1.01‰。"}],
    "formula": {"kind": "ratio", "numerator": ["d"], "denominator": ["b"], "factor": 1000},
}


def test_printed_tolerance_follows_the_printed_decimals():
    assert printed_tolerance(0.9, "0.9") > 0.05 - 1e-12
    assert printed_tolerance(68.93, "68.93") < 0.0051
    assert printed_tolerance(95, "＞95") > 0.49


def test_baseline_reconciliation_lists_table_text_and_warehouse_side_by_side():
    plan = plan_with(IND)
    out = baseline_reconciliation(plan, vals([(2, "C", 2015, "", 0.93)]))
    assert len(out) == 1
    row = out[0]
    assert row["severity"] == "warning"
    assert row["data"]["table"] == 0.9 and row["data"]["warehouse"] == 0.93
    assert row["data"]["text_figures"][0]["value"] == 1.01
    assert "1.01" in row["detail"] and "0.9" in row["detail"]
    # within rounding of the printed 0.9 and no text figure → consistent
    ok = baseline_reconciliation(
        plan_with({**IND, "text_figures": []}), vals([(2, "C", 2015, "", 0.94)])
    )
    assert ok[0]["severity"] == "info"


def test_reported_rate_is_checked_against_its_parts():
    elements = {
        "d": DataElement(code="d", name_zh="死亡", name_en="d", unit="人", source="mch"),
        "b": DataElement(code="b", name_zh="活产", name_en="b", unit="人", source="mch"),
        "r": DataElement(
            code="r",
            name_zh="婴儿死亡率（报告）",
            name_en="r",
            unit="‰",
            source="mch",
            kind="rate",
            recompute={"kind": "ratio", "numerator": ["d"], "denominator": ["b"], "factor": 1000},
        ),
    }
    obs = pd.DataFrame(
        [
            ("T1", 2016, "d", "", 3),
            ("T1", 2016, "b", "", 1000),
            ("T1", 2016, "r", "", 3.0),
            ("T2", 2016, "d", "", 4),
            ("T2", 2016, "b", "", 1000),
            ("T2", 2016, "r", "", 0.4),
        ],
        columns=["area_code", "year", "element", "stratum", "value"],
    )
    out = reported_vs_recomputed(elements, obs, AREAS)
    assert [(o["area_code"], o["data"]["recomputed"]) for o in out] == [("T2", 4.0)]


def test_parts_not_summing_to_the_total_are_flagged():
    elements = {
        "births": DataElement(
            code="births", name_zh="出生", name_en="b", unit="人", source="population"
        )
    }
    obs = pd.DataFrame(
        [
            ("T1", 2017, "births", "", 100),
            ("T1", 2017, "births", "male", 52),
            ("T1", 2017, "births", "female", 48),
            ("T2", 2017, "births", "", 90),
            ("T2", 2017, "births", "male", 50),
            ("T2", 2017, "births", "female", 30),
        ],
        columns=["area_code", "year", "element", "stratum", "value"],
    )
    out = parts_vs_total(elements, obs)
    assert [o["area_code"] for o in out] == ["T2"]


def test_impossible_values_and_permille_given_as_percent():
    share = {**IND, "number": 3, "unit": "%", "name_zh": "管理率"}
    plan = plan_with(IND, share)
    v = vals(
        [
            (3, "C", 2016, "", 101.5),
            (3, "C", 2017, "", 99.0),
            (2, "C", 2015, "", 4.1),
            (2, "C", 2016, "", 4.0),
            (2, "C", 2017, "", 0.39),
            (2, "C", 2018, "", 3.9),
        ]
    )
    out = impossible_values(plan, v)
    kinds = sorted((o["kind"], o["number"], o["year"]) for o in out)
    assert kinds == [("impossible_value", 3, 2016), ("permille_as_percent", 2, 2017)]


def test_modified_z_flags_one_jump_in_a_steady_series():
    z = modified_z_scores(np.array([1.0, 1.1, 0.9, 1.0, 9.0]))
    assert abs(z[-1]) > 3.5 and all(abs(z[:-1]) < 3.5)
    plan = plan_with({**IND, "unit": "%"})
    series = [
        (2, "C", y, "", v) for y, v in zip(range(2015, 2021), [50, 51, 52, 53, 80, 81], strict=True)
    ]
    out = year_on_year_jumps(plan, vals(series))
    assert [(o["year"], round(o["data"]["to"])) for o in out] == [(2019, 80)]


def test_missing_years_and_units_are_listed():
    town = {**IND, "number": 4, "level": "town"}
    plan = plan_with(IND, town)
    v = vals(
        [
            (2, "C", 2015, "", 1),
            (2, "C", 2016, "", 1),
            (4, "C", 2015, "", 1),
            (4, "C", 2016, "", 1),
            (4, "T1", 2015, "", 1),
            (4, "T1", 2016, "", 1),
        ]
    )
    out = missing_values(plan, AREAS, v, [2015, 2016])
    assert [(o["number"], o["area_code"], o["data"]["years"]) for o in out] == [
        (4, "T2", [2015, 2016])
    ]


def test_printed_tolerance_ignores_digits_of_the_unit():
    assert printed_tolerance(18.93, "18.93/10万") == pytest.approx(0.005, abs=1e-6)


def test_ordinary_bends_in_a_trend_are_not_jumps():
    plan = plan_with({**IND, "unit": "%"})
    series = [
        (2, "C", y, "", v)
        for y, v in zip(range(2015, 2021), [50, 51, 52, 53, 54.6, 55], strict=True)
    ]
    assert year_on_year_jumps(plan, vals(series)) == []


def test_a_rate_on_few_events_does_not_jump_by_chance():
    """3 → 9 infant deaths in a town of 400 births: a big modified z, but Poisson noise."""
    plan = plan_with(IND)
    deaths = [3, 3, 3, 3, 3, 9]
    rows = [
        (2, "T1", y, "", 1000 * d / 400, d, 400)
        for y, d in zip(range(2015, 2021), deaths, strict=True)
    ]
    v = pd.DataFrame(
        rows,
        columns=["number", "area_code", "year", "stratum", "value", "numerator", "denominator"],
    )
    assert year_on_year_jumps(plan, v) == []
    # the same rates on 100 times the events are a real jump
    big = v.assign(numerator=v["numerator"] * 100, denominator=v["denominator"] * 100)
    assert [o["year"] for o in year_on_year_jumps(plan, big)] == [2020]
