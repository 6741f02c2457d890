"""The quality check of a plan names the indicators whose numbers come from a file that lost rows
to the quarantine, until a corrected file is loaded; the report's source list counts those rows."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from healthplan.settings import REPO_ROOT

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SAMPLE = REPO_ROOT / "samples" / "inbox" / "longhu"
DAMAGED_ROW = 3  # the first town under the header and the district row
NAME = "inbox/2018/population_2018.csv"  # as the ingest names it: under the folder given


@pytest.fixture
def damaged(isolated, db_url, monkeypatch, tmp_path):
    """The longhu sample with one town's resident population unreadable in 2018, loaded (the
    rest of that row is loaded)."""
    from flows import compute
    from flows.common import warehouse
    from flows.ingest import ingest_paths
    from tests.conftest import _clear_caches

    monkeypatch.setenv("HEALTHPLAN_DATABASE_URL", db_url)
    _clear_caches()
    compute.forget_values()
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE, inbox)
    path = inbox / "2018" / "population_2018.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[DAMAGED_ROW - 1].split(",")
    cells[3] = "不详"  # 常住人口（万人）
    lines[DAMAGED_ROW - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    engine = warehouse()
    summary = ingest_paths([inbox], engine=engine, now=T0, workers=1)
    assert summary.exit_code == 3, summary.as_dict()
    yield engine, inbox
    compute.forget_values()


def population_indicators() -> set[int]:
    """The indicators computed from the resident population (the damaged cell's element):
    the rest of the damaged row was loaded."""
    from flows.common import catalog

    return {
        i.number
        for i in catalog().plan("longhu").indicators
        if i.formula is not None and "pop_resident" in i.formula.elements()
    }


def test_indicators_from_a_file_with_quarantined_rows_are_named_until_it_is_corrected(damaged):
    from flows import compute
    from flows.ingest import ingest_paths
    from flows.quality import check_plan

    engine, _ = damaged
    found = [i for i in check_plan("longhu") if i["kind"] == "quarantined_rows"]
    assert {i["number"] for i in found} == population_indicators() != set()
    assert {(i["year"], i["file_name"], i["row"], i["severity"]) for i in found} == {
        (2018, NAME, DAMAGED_ROW, "warning")
    }
    assert all(f"第{DAMAGED_ROW}行" in i["detail"] for i in found)

    corrected = SAMPLE / "2018" / "population_2018.csv"
    summary = ingest_paths([corrected], engine=engine, now=T0 + timedelta(days=1), workers=1)
    assert summary.exit_code == 0 and summary.totals["inserted"] >= 1
    compute.forget_values()
    assert [i for i in check_plan("longhu") if i["kind"] == "quarantined_rows"] == []
    # the damaged state is still what the warehouse held a moment after the first load
    before = check_plan("longhu", as_of=T0 + timedelta(hours=1))
    assert {i["number"] for i in before if i["kind"] == "quarantined_rows"} == (
        population_indicators()
    )


def test_the_report_counts_the_quarantined_rows_and_names_the_indicators(damaged):
    from flows.evaluate import assess
    from flows.quality import check_plan, save_issues
    from flows.report import load_inputs
    from transforms.report_context import build_context

    engine, _ = damaged
    save_issues("longhu", check_plan("longhu"), engine)
    a = assess("longhu", "mid", engine=engine)
    inputs = load_inputs(a, engine)
    ctx = build_context(inputs.plan, a.rows, a.values, stage=a.stage, data_year=a.data_year,
                        as_of=a.as_of, areas=inputs.areas, quality_issues=inputs.quality_issues,
                        source_files=inputs.source_files, with_charts=False)  # fmt: skip
    rows = {s["name"]: s["rows_rejected"] for s in ctx["appendix"]["sources"]}
    assert rows[NAME] == "1"
    assert set(rows.values()) == {"0", "1"}
    assert "其中1个文件共有1行未通过核验而被单独存放" in ctx["appendix"]["sources_summary"]
    shown = [i for i in ctx["quality"]["issues"] if i["kind"] == "行被隔离"]
    assert {int(i["number"]) for i in shown} == population_indicators()
    assert {(i["year"], i["file"]) for i in shown} == {("2018", NAME)}


def test_the_cli_lists_the_quarantined_rows_and_the_affected_indicators(damaged):
    import json

    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["db", "quarantine", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["file_name"], r["row"], r["field"], r["value"]) for r in rows] == [
        (NAME, DAMAGED_ROW, "常住人口（万人）", "不详")
    ]
    assert rows[0]["created_at"].endswith("+08:00")  # the bureau's time zone
    table = runner.invoke(app, ["db", "quarantine", "--file", "population_2018"])
    assert table.exit_code == 0 and "不详" in table.stdout and "数值无法解析" in table.stdout
    none = runner.invoke(app, ["db", "quarantine", "--file", "no-such-file"])
    assert none.exit_code == 0 and "没有匹配的文件" in none.stdout
    quality = runner.invoke(app, ["quality", "--plan", "longhu", "--format", "json"])
    assert quality.exit_code == 0, quality.output
    found = [i for i in json.loads(quality.stdout) if i["kind"] == "quarantined_rows"]
    assert {i["number"] for i in found} == population_indicators()
