"""A plan judged as plain rows: what each row holds, and what the value lookup keeps."""

import pandas as pd
import pytest

from tests.transforms.test_indicators import AREAS, RATIO, obs, plan_with
from transforms.assessment import PER_UNIT_KEYS, ValueLookup, assess_plan
from transforms.indicators import indicator_values

ROW_KEYS = [
    "plan", "number", "area", "area_name", "stage", "data_year", "value", "baseline",
    "baseline_year", "baseline_source", "target", "target_text", "comparator", "met", "tau",
    "p", "rho", "projection", "projection_note", "cagr", "status", "status_en",
    "failing_units", "warnings", "judged_at", "strata", "inferred", "review", "override",
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


def _series_values(points: dict[str, dict[int, float]], number: int = 1) -> pd.DataFrame:
    """An indicator-value frame straight from {area: {year: value}}."""
    return pd.DataFrame(
        [
            {"number": number, "area_code": a, "year": y, "stratum": "", "value": v}
            for a, by_year in points.items()
            for y, v in by_year.items()
        ]
    )


def _root(rows):
    return next(r for r in rows if r["area"] == "C")


def test_no_plan_baseline_uses_the_warehouse_value_at_the_jurisdiction_too():
    plan = plan_with(
        {
            **RATIO,
            "target": {"text": "≤8", "comparator": "reach", "value": 8, "year": 2020},
            "direction": "lower",
            "unit": "天",
        }
    )
    values = _series_values({"C": {2015: 10.0, 2018: 8.9}, "D1": {2015: 11.0, 2018: 9.0}})
    rows = assess_plan(plan, AREAS, values, "mid")
    root = _root(rows)
    # x0 = 10 from the warehouse: p = 1.1 / 2 = 0.55, τ = 0.6, ρ = 0.917 → 需加快 (not 滞后)
    assert (root["baseline"], root["baseline_year"]) == (10.0, 2015)
    assert root["baseline_source"] == "数据仓库"
    assert root["p"] == pytest.approx(0.55) and root["rho"] == pytest.approx(0.55 / 0.6)
    assert root["status"] == "需加快"
    assert "缺少基期值" not in "".join(root["warnings"])
    d1 = next(r for r in rows if r["area"] == "D1")
    assert d1["baseline_source"] == "数据仓库" and d1["baseline"] == 11.0


def test_plan_baseline_is_labelled_by_where_the_plan_prints_it():
    table = plan_with({**RATIO, "baseline": {"value": 2.0, "year": 2015}})
    text = plan_with({**RATIO, "baseline": {"value": 2.0, "year": 2015}, "baseline_source": "text"})
    values = _series_values({"C": {2015: 5.0, 2018: 2.5}})
    assert _root(assess_plan(table, AREAS, values, "mid"))["baseline_source"] == "规划表"
    row = _root(assess_plan(text, AREAS, values, "mid"))
    assert (row["baseline_source"], row["baseline"]) == ("规划正文", 2.0)  # the plan's, not 5.0
    assert [i["field"] for i in row["inferred"]] == ["baseline"]


def test_tau_needs_only_years_even_without_any_baseline_value():
    values = _series_values({"C": {2018: 2.5}})
    rows = assess_plan(plan_with(RATIO), AREAS, values, "mid")
    for row in rows:
        assert (row["baseline_year"], row["tau"]) == (2015, 0.6)
        assert row["baseline"] is None and row["baseline_source"] is None
        assert row["p"] is None and row["rho"] is None
    qualitative = plan_with(
        {**RATIO, "target": {"text": "达国家要求", "comparator": "qualitative", "year": 2020}}
    )
    assert _root(assess_plan(qualitative, AREAS, values, "mid"))["tau"] == 0.6


def test_projection_outside_what_the_quantity_allows_is_not_printed():
    # a share: 95 → 99.5 in three years projects to 102.5 %
    share = plan_with(
        {
            **RATIO,
            "baseline": {"value": 95.0, "year": 2015},
            "target": {"text": "≥99.9", "comparator": ">=", "value": 99.9, "year": 2020},
        }
    )
    row = _root(assess_plan(share, AREAS, _series_values({"C": {2018: 99.5}}), "mid"))
    assert row["projection"] is None
    assert row["projection_note"] == "按直线外推将超出合理范围（不高于100%），不作预测"
    # a rate per 10万 falling fast: 18 → 6 projects to −2
    rate = plan_with(
        {
            **RATIO,
            "unit": "/10万",
            "direction": "lower",
            "baseline": {"value": 18.0, "year": 2015},
            "target": {"text": "≤1", "comparator": "<=", "value": 1, "year": 2020},
        }
    )
    row = _root(assess_plan(rate, AREAS, _series_values({"C": {2018: 6.0}}), "mid"))
    assert row["projection"] is None
    assert row["projection_note"] == "按直线外推将超出合理范围（不低于0），不作预测"
    # inside the range: printed, no note
    row = _root(assess_plan(share, AREAS, _series_values({"C": {2018: 96.0}}), "mid"))
    assert row["projection"] == pytest.approx(95 + 1 / 0.6) and row["projection_note"] is None
    # a quantity that may leave the default range says so as data
    own = plan_with(
        {
            **RATIO,
            "unit": "‰",
            "direction": "lower",
            "value_range": {"min": None},
            "baseline": {"value": 3.0, "year": 2015},
            "target": {"text": "≤1", "comparator": "<=", "value": 1, "year": 2020},
        }
    )
    row = _root(assess_plan(own, AREAS, _series_values({"C": {2018: 0.5}}), "mid"))
    assert row["projection"] == pytest.approx(3 - 2.5 / 0.6) and row["projection_note"] is None


def test_per_unit_row_carries_the_weakest_unit_and_the_jurisdictions_own_figure():
    plan = plan_with(
        {
            **RATIO,
            "level": "town",
            "baseline": {"value": 90.0, "year": 2015},
            "target": {"text": ">95", "comparator": ">", "value": 95, "year": 2020},
        }
    )
    values = _series_values({
        "C": {2015: 90.0, 2018: 97.0},
        "T1": {2015: 90.0, 2018: 99.0},
        "T2": {2015: 96.0, 2018: 94.0},  # moving away from the target
    })  # fmt: skip
    root = _root(assess_plan(plan, AREAS, values, "mid"))
    assert (root["status"], root["met"]) == ("倒退", False)
    assert root["jurisdiction_status"] == "已实现" and root["jurisdiction_value"] == 97.0
    assert (root["weakest_unit"], root["failing_units"]) == ("二镇", ["二镇"])
    t2 = next(r for r in assess_plan(plan, AREAS, values, "mid") if r["area"] == "T2")
    assert list(t2) == ROW_KEYS and list(root) == [*ROW_KEYS, *PER_UNIT_KEYS]


def test_inferred_values_are_on_the_rows_that_print_them():
    plan = plan_with(
        {
            **RATIO,
            "attribute": "约束性",
            "attribute_from_merged_cell": True,
            "baseline": {"value": 1.0, "year": 2015},
            "baseline_source": "text",
            "inferred": [{"field": "baseline", "why_zh": "按单位笔误读作每千人口"}],
        }
    )
    rows = assess_plan(plan, AREAS, _series_values({"C": {2015: 1.2, 2018: 1.5}}), "mid")
    root = _root(rows)
    assert [(i["field"], i["why"][:4]) for i in root["inferred"]] == [
        ("attribute", "指标属性"),
        ("baseline", "规划表未"),
        ("baseline", "按单位笔"),
    ]
    d1 = next(r for r in rows if r["area"] == "D1")  # x0 from the warehouse: nothing inferred
    assert [i["field"] for i in d1["inferred"]] == ["attribute"]
