"""Quality: a monitoring sheet's reported value against the value computed from counts."""

from healthplan.definitions import reported_element
from tests.transforms.test_indicators import AREAS, RATIO, obs, plan_with
from transforms.indicators import indicator_values
from transforms.quality import plan_quality, reported_vs_computed


def test_reported_values_are_set_against_the_computed_ones():
    plan = plan_with(RATIO, {"number": 2, "name_zh": "素养", "formula": {"kind": "reported"}})
    code = reported_element("t", 1)
    o = obs(
        [
            ("C", 2019, "doctors", "", 5),
            ("C", 2019, "pop", "", 1000),
            ("C", 2020, "doctors", "", 6),
            ("C", 2020, "pop", "", 1000),
            ("C", 2019, code, "", 5.0),  # agrees: 5 per 1000
            ("C", 2020, code, "", 6.8),  # differs from 6.0
            ("C", 2020, reported_element("t", 2), "", 20.0),  # reported only: nothing to compare
        ]
    )
    values = indicator_values(plan, AREAS, o)
    issues = reported_vs_computed(plan, o, values)
    warnings = [i for i in issues if i["severity"] == "warning"]
    assert [(i["number"], i["year"]) for i in warnings] == [(1, 2020)]
    assert warnings[0]["data"]["reported"] == 6.8 and warnings[0]["data"]["computed"] == 6.0
    assert "监测表报告值6.8" in warnings[0]["detail"]
    infos = [i for i in issues if i["severity"] == "info"]
    assert [(i["number"], i["data"]["agreeing"]) for i in infos] == [(1, 1)]
    kinds = {i["kind"] for i in plan_quality(plan, AREAS, {}, o, values, [2019, 2020])}
    assert "reported_vs_computed" in kinds
