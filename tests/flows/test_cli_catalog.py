"""`healthplan catalog`: the indicator sets as the plans' tables state them."""

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()
REQUIRED = {"plan", "number", "category", "name_zh", "name_en", "unit", "direction", "baseline",
            "target", "attribute", "level", "formula"}  # fmt: skip


def catalog_entries(plan: str) -> list[dict]:
    result = runner.invoke(app, ["catalog", "--plan", plan, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def catalog_json(plan: str) -> list[dict]:
    return [r for r in catalog_entries(plan) if r["kind"] == "indicator"]


@pytest.mark.parametrize(("plan", "count"), [("longhu", 30), ("guilin", 55)])
def test_catalog_lists_every_indicator_with_the_contract_fields(plan, count):
    rows = catalog_json(plan)
    assert len(rows) == count
    assert [r["number"] for r in rows] == list(range(1, count + 1))
    for r in rows:
        assert set(r) >= REQUIRED, set(REQUIRED - set(r))
        assert {"comparator", "value", "year", "tolerance", "strata"} <= set(r["target"])
        assert r["target"]["year"] == 2020


def test_catalog_states_targets_and_baselines_as_printed():
    longhu = {r["number"]: r for r in catalog_json("longhu")}
    assert longhu[1]["baseline"] == {"value": 76.3, "year": 2015, "text": "76.3"}
    assert (longhu[1]["target"]["comparator"], longhu[1]["target"]["value"]) == (">=", 77)
    assert (longhu[2]["target"]["comparator"], longhu[2]["target"]["value"]) == ("<", 3)
    assert longhu[4]["level"] == "town" and longhu[4]["attribute"] == "约束性"
    assert longhu[5]["target"]["comparator"] == "qualitative"
    assert (longhu[15]["target"]["comparator"], longhu[15]["target"]["value"]) == ("reach", 1.2)
    assert longhu[22]["baseline"] is None
    guilin = {r["number"]: r for r in catalog_json("guilin")}
    assert (guilin[1]["target"]["comparator"], guilin[1]["target"]["value"]) == ("reach", 78)
    assert guilin[7]["target"]["comparator"] == "about"
    assert set(guilin[13]["target"]["strata"]) == {"rural", "urban"}
    assert guilin[5]["target"]["comparator"] == "qualitative"


def test_unknown_plan_is_a_clear_message_not_a_traceback():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from flows.cli import main; main()", "catalog", "--plan", "nope"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "unknown plan 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_guilin_1_targets_the_printed_78_with_the_plus_one_reading_kept():
    g1 = next(r for r in catalog_json("guilin") if r["number"] == 1)
    assert g1["target"]["other_reading"]["comparator"] == "relative"
    assert g1["target"]["other_reading"]["delta"] == 1
    assert "78.88" in g1["target"]["other_reading"]["note_zh"]
    assert any(i["field"] == "target" and "78.88" in i["why"] for i in g1["inferred"])


def test_catalog_marks_what_the_definitions_infer():
    longhu = {r["number"]: r for r in catalog_json("longhu")}
    assert longhu[1]["inferred"] == []
    assert [i["field"] for i in longhu[3]["inferred"]] == ["attribute"]
    assert "合并单元格" in longhu[3]["inferred"][0]["why"]
    assert [i["field"] for i in longhu[7]["inferred"]] == ["attribute", "target"]
    assert any("＞95" in i["why"] for i in longhu[4]["inferred"])
    guilin = {r["number"]: r for r in catalog_json("guilin")}
    assert guilin[2]["inferred"][0] == {
        "field": "baseline",
        "why": "规划表未列基期值，取自规划正文",
        "why_en": "the plan's table gives no baseline; read from the body text",
    }
    assert any("笔误" in i["why"] for i in guilin[34]["inferred"])  # per 10 000 read as 1000
    assert guilin[28]["inferred"] == []  # no baseline in the plan: nothing inferred


def test_catalog_lists_the_goals_stated_only_in_the_text():
    goals = [r for r in catalog_entries("guilin") if r["kind"] == "text_goal"]
    assert len(goals) >= 5 and [g["goal"] for g in goals] == [
        f"T{k}" for k in range(1, len(goals) + 1)
    ]
    first = goals[0]
    assert (first["name_zh"], first["target"]["text"]) == ("县域内就诊率", "90%左右")
    assert (first["status"], first["review"], first["number"]) == ("待人工评定", None, None)
    table = runner.invoke(app, ["catalog", "--plan", "guilin"])
    assert table.exit_code == 0
    assert "仅在规划正文中提出的目标" in table.stdout and "县域内就诊率" in table.stdout
    assert "为推定" in table.stdout
