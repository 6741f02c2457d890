"""A plan judged as plain rows: what each row holds, and what the value lookup keeps."""

import pandas as pd
import pytest

from tests.transforms.test_indicators import AREAS, RATIO, obs, plan_with
from transforms.assessment import ValueLookup, assess_plan
from transforms.indicators import indicator_values

ROW_KEYS = [
    "plan", "number", "area", "area_name", "stage", "data_year", "value", "baseline",
    "baseline_year", "target", "target_text", "comparator", "met", "tau", "p", "rho",
    "projection", "cagr", "status", "status_en", "failing_units", "warnings", "judged_at",
    "strata", "review", "override",
]  # fmt: skip


def _values() -> pd.DataFrame:
    return indicator_values(
        plan_with(RATIO),
        AREAS,
        obs([
            (town, year, element, "", base + year - 2015)
            for town in ("T1", "T2", "D2")
            for year in range(2015, 2019)
            for element, base in [("doctors", 10), ("pop", 1000)]
        ]),
    )  # fmt: skip


def test_rows_are_plain_dicts_with_their_own_values():
    rows = assess_plan(plan_with(RATIO), AREAS, _values(), "mid")
    assert [r["area"] for r in rows] == ["C", "D1", "D2", "T1", "T2"]
    assert all(type(r) is dict and list(r) == ROW_KEYS for r in rows)
    first, second = rows[0], rows[1]
    assert first["value"] == pytest.approx(3 * 13 / (3 * 1003) * 1000)
    assert (second["baseline"], second["baseline_year"]) == (pytest.approx(10.0), 2015)
    first["status"] = "改"
    first["failing_units"].append("T1")
    first["note"] = 1
    assert second["status"] != "改" and second["failing_units"] == [] and "note" not in second
    assert first == {**dict(zip(ROW_KEYS, first.values(), strict=False)), "note": 1}


def test_value_lookup_keeps_only_the_years_asked_for():
    values = _values()
    every = ValueLookup(values)
    two = ValueLookup(values, years={2015, 2018})
    assert every.get(1, "C", 2016) is not None and two.get(1, "C", 2016) is None
    assert two.get(1, "C", 2018) == every.get(1, "C", 2018) is not None
    assert two.series(1, "T1") == {y: every.get(1, "T1", y) for y in (2015, 2018)}
