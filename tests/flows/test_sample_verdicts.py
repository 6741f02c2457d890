"""The method's binding decisions on the bundled sample: warehouse baselines, τ from years alone,
per-unit indicators judged by their weakest unit, projections inside what a quantity allows."""

from __future__ import annotations

import pytest

from tests.flows.test_sample_end_to_end import evaluate_json, loaded  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def test_guilin_indicators_without_a_plan_baseline_are_judged_from_the_warehouses(loaded):  # noqa: F811
    rows = {r["number"]: r for r in evaluate_json("guilin", "mid")}
    for number in (28, 30, 31):
        r = rows[number]
        assert r["baseline_source"] == "数据仓库", r
        assert r["baseline"] is not None and r["p"] is not None and r["rho"] is not None
        assert "缺少基期值，无法计算进度（p、ρ）" not in r["warnings"]
        assert r["status"] != "滞后", r  # on or near schedule, as their charts show
    assert rows[1]["baseline_source"] == "规划正文"
    assert (rows[1]["target"], rows[1]["target_text"]) == (78, "在2015年基础上提高1岁（桂林78岁）")
    assert any(i["field"] == "target" for i in rows[1]["inferred"])


@pytest.mark.parametrize("plan", ["longhu", "guilin"])
def test_every_row_with_a_baseline_year_has_tau(loaded, plan):  # noqa: F811
    for stage in ("mid", "end"):
        rows = evaluate_json(plan, stage)
        assert all(r["baseline_year"] for r in rows)
        assert all(r["tau"] == (0.6 if stage == "mid" else 1.0) for r in rows), plan


def test_longhu_4_takes_its_weakest_units_status(loaded):  # noqa: F811
    from flows.common import catalog
    from flows.evaluate import assess

    area_rows = assess("longhu", "mid").rows
    units = [r for r in area_rows if r["number"] == 4 and r["area"] != "440507"]
    units = [r for r in units if r["area_name"] in {u["area_name"] for u in units}]
    root = next(r for r in evaluate_json("longhu", "mid") if r["number"] == 4)
    weakest = next(r for r in units if r["area_name"] == root["weakest_unit"])
    rank = ["倒退", "滞后", "需加快", "符合预期", "快于预期", "已实现"]
    judged = [r for r in units if r["status"] in rank]
    assert rank.index(weakest["status"]) == min(rank.index(r["status"]) for r in judged)
    assert root["status"] == weakest["status"] != "已实现"
    assert root["jurisdiction_status"] == "已实现" and root["jurisdiction_value"] == root["value"]
    assert root["weakest_unit"] in root["failing_units"]
    assert catalog().plan("longhu").indicator(4).level == "town"


@pytest.mark.parametrize("plan", ["longhu", "guilin"])
def test_no_projection_leaves_what_the_quantity_allows(loaded, plan):  # noqa: F811
    from flows.common import catalog

    p = catalog().plan(plan)
    noted = 0
    for stage in ("mid", "end"):
        for r in evaluate_json(plan, stage):
            allowed = p.indicator(r["number"]).allowed_range
            if r["projection"] is not None:
                assert allowed.min is None or r["projection"] >= allowed.min - 1e-9, r
                assert allowed.max is None or r["projection"] <= allowed.max + 1e-9, r
            if r["projection_note"]:
                assert r["projection"] is None and "不作预测" in r["projection_note"]
                noted += 1
    assert noted >= 1


def test_the_stored_evaluation_keeps_where_x0_comes_from(loaded):  # noqa: F811
    from flows.common import warehouse
    from warehouse.results import load_evaluations

    evaluate_json("guilin", "mid")  # without --as-of: stored
    stored = {
        r["number"]: r
        for r in load_evaluations(warehouse(), "guilin", "mid", 2018, area_code="450300")
    }
    assert stored[28]["detail"]["baseline_source"] == "数据仓库"
    assert stored[1]["detail"]["baseline_source"] == "规划正文"
    assert any(i["field"] == "target" for i in stored[1]["detail"]["inferred"])
    evaluate_json("longhu", "mid")
    [town] = load_evaluations(warehouse(), "longhu", "mid", 2018, area_code="440507")[3:4]
    assert town["number"] == 4 and town["detail"]["weakest_unit"] == "鸥汀街道"
    assert town["detail"]["jurisdiction_status"] == "已实现"
