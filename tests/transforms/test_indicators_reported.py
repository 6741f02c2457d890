"""The `reported` formula kind: an indicator's value is the bureau's reported figure, as is."""

import pandas as pd
import pytest

from healthplan.definitions import Formula, reported_element
from tests.transforms.test_indicators import AREAS, RATIO, obs, plan_with, value
from transforms.indicators import indicator_values

REPORTED = {"number": 2, "name_zh": "健康素养水平", "formula": {"kind": "reported"}}
SPLIT = {
    "number": 3,
    "name_zh": "知晓率",
    "target": {
        "text": "农村35城镇60",
        "comparator": "split",
        "year": 2020,
        "strata": {
            "rural": {"label_zh": "农村", "comparator": ">=", "value": 35},
            "urban": {"label_zh": "城镇", "comparator": ">=", "value": 60},
        },
    },
    "formula": {"kind": "reported"},
}


def test_reported_values_are_taken_as_reported_and_never_aggregated_upwards():
    plan = plan_with(RATIO, REPORTED, SPLIT)
    code = reported_element("t", 2)
    o = obs(
        [
            ("T1", 2019, "doctors", "", 5),
            ("T1", 2019, "pop", "", 1000),
            ("C", 2019, code, "", 21.5),
            ("T1", 2019, code, "", 30.0),
            ("T2", 2019, code, "", 10.0),  # D1 has no report of its own: no value for D1
            ("C", 2019, reported_element("t", 3), "rural", 33.0),
            ("C", 2019, reported_element("t", 3), "urban", 61.0),
            ("C", 2019, "other", "", 99.0),
        ]
    )
    v = indicator_values(plan, AREAS, o)
    assert value(v, 2, "C", 2019)["value"] == 21.5  # not the mean or sum of the towns
    assert value(v, 2, "T1", 2019)["value"] == 30.0
    assert v[(v.number == 2) & (v.area_code == "D1")].empty
    assert pd.isna(value(v, 2, "C", 2019)["numerator"])
    assert value(v, 3, "C", 2019, "rural")["value"] == 33.0
    assert value(v, 3, "C", 2019, "urban")["value"] == 61.0
    assert v[(v.number == 3) & (v.stratum == "")].empty  # no whole reported, none invented
    assert value(v, 1, "C", 2019)["value"] == 5.0  # computed indicators alongside


def test_a_reported_formula_may_name_its_element_and_takes_no_terms():
    plan = plan_with({**REPORTED, "formula": {"kind": "reported", "element": "lit_rate"}})
    assert plan.reported_element(plan.indicators[0]) == "lit_rate"
    assert "lit_rate" in plan.elements_read()
    v = indicator_values(plan, AREAS, obs([("C", 2020, "lit_rate", "", 18.0)]))
    assert value(v, 2, "C", 2020)["value"] == 18.0
    with pytest.raises(ValueError, match="reported formula takes no"):
        Formula(kind="reported", numerator=["a"], denominator=["b"])


def test_the_catalog_defines_a_reported_element_from_the_indicator(tmp_path):
    import shutil

    import yaml

    from healthplan.definitions import load_catalog
    from healthplan.settings import REPO_ROOT

    plans = tmp_path / "plans"
    shutil.copytree(REPO_ROOT / "plans", plans, ignore=shutil.ignore_patterns("guilin"))
    data = yaml.safe_load((plans / "longhu" / "plan.yaml").read_text(encoding="utf-8"))
    data["indicators"][0]["formula"] = {"kind": "reported"}
    (plans / "longhu" / "plan.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
    )
    cat = load_catalog(plans)
    el = cat.elements[reported_element("longhu", 1)]
    assert (el.name_zh, el.unit, el.source) == ("人均期望寿命", "岁", "monitoring")
