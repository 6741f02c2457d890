"""`healthplan catalog`: the indicator sets as the plans' tables state them."""

import json

import pytest
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()
REQUIRED = {"plan", "number", "category", "name_zh", "name_en", "unit", "direction", "baseline",
            "target", "attribute", "level", "formula"}  # fmt: skip


def catalog_json(plan: str) -> list[dict]:
    result = runner.invoke(app, ["catalog", "--plan", plan, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


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
    assert guilin[1]["target"]["comparator"] == "relative" and guilin[1]["target"]["delta"] == 1
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
