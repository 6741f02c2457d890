"""A new bureau from its plan document to its first end-of-term report, with no YAML written by
hand: the fictitious 青山县 十四五 plan as a .docx → `plan import` → `template` → the monitoring
sheet filled as the bureau would → `ingest --plan` → `evaluate` / `review` → `report --stage end`.

The plan (tests/fixtures/plan_docx.py) has 17 indicators, 类别 and 指标属性 cells merged down, two
relative targets (#1 提高1岁, #17 提高15个百分点), one “左右” (#14), one split (#7 农村60城镇70) and
one qualitative target (#9 达到省定要求). Every expected status below is worked out by hand from the
plan's numbers and the figures filled in (end of term: τ = 1, p = d·(xc − x0)/|x* − x0|).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from healthplan.settings import REPO_ROOT
from tests.fixtures.plan_docx import COUNTY_ROWS, county_plan_docx
from tests.flows.test_templates import fill_monitoring

pytestmark = pytest.mark.integration
runner = CliRunner()
COUNTY = "青山县"

# number: (2025 value filled in, expected end-of-term status, why)
FILLED = {
    1: (79.5, "已完成", "relative: 78.2 + 1 = 79.2; 79.5 ≥ 79.2"),
    2: (4.5, "已完成", "< 5 met (worse than 4.1, but the target is what counts)"),
    3: (6.0, "倒退", "6.0 is not < 6; p = −(6.0 − 5.6)/0.4 = −1"),
    4: (15, "倒退", "15 is not < 14; p = −(15 − 12.5)/1.5 < 0"),
    5: (97, "已完成", "> 95; no towns in the imported areas: the county's own figure"),
    6: (64, "未完成", "≥ 65 not met; p = (64 − 58)/7 = 0.857 < 0.9"),
    8: (70, "已完成", "70以上 read as ≥ 70; 70 ≥ 70"),
    10: (3.0, "已完成", "reach 3.0 upward: 3.0 ≥ 3.0"),
    11: (3.5, "未完成", "≥ 3.6 not met; p = 0.7/0.8 = 0.875"),
    12: (2.5, "倒退", "reach 3.5: p = (2.5 − 2.6)/0.9 < 0"),
    13: (1.19, "未完成", "1:1.2 → 1.2; p = 0.02/0.03 = 0.667"),
    14: (27.4, "已完成", "27左右: ±2% of 27 = ±0.54; |27.4 − 27| = 0.4"),
    15: (60, "未完成", "≥ 65: p = (60 − 52.3)/12.7 = 0.606"),
    17: (94, "基本完成", "80 + 15 = 95 not reached; p = 14/15 = 0.933 ≥ 0.9"),
}
# #7 split: the plan prints no baseline, so 2020 is filled too. 农村 50 → 61 meets 60; 城镇
# 60 → 69 misses 70 with p = 9/10 = 0.9 → 基本完成 (a split is met only when every stratum is).
SPLIT = {"农村": {2020: 50, 2025: 61}, "城镇": {2020: 60, 2025: 69}}
EXPECTED = {n: status for n, (_, status, _) in FILLED.items()} | {
    7: "基本完成",
    9: "待人工评定",  # qualitative: a reviewer decides (below)
    16: "数据缺失",  # the bureau left 县域内住院率 blank
}


def sheet_values() -> dict:
    values = {(COUNTY, n, ""): {2025: v} for n, (v, _, _) in FILLED.items()}
    for stratum, years in SPLIT.items():
        values[(COUNTY, 7, stratum)] = years
    return values


@pytest.fixture
def newcomer(tmp_path, monkeypatch):
    """The repository's plans copied to tmp (the new plan is written beside them); the
    warehouse and reports in tmp too."""
    from tests.conftest import _clear_caches

    plans = tmp_path / "plans"
    shutil.copytree(REPO_ROOT / "plans", plans, ignore=shutil.ignore_patterns("commentary"))
    for name, sub in (("PLANS", "plans"), ("DATA", "data"), ("REPORTS", "reports")):
        monkeypatch.setenv(f"HEALTHPLAN_{name}_DIR", str(tmp_path / sub))
    monkeypatch.delenv("HEALTHPLAN_DATABASE_URL", raising=False)
    _clear_caches()
    yield tmp_path
    _clear_caches()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.stdout


def end_statuses() -> dict[int, str]:
    rows = json.loads(cli("evaluate", "--plan", "qingshan", "--stage", "end", "--format", "json"))
    return {r["number"]: r["status"] for r in rows}


def imported_and_filled(folder: Path) -> Path:
    """`plan import` of the .docx and `template`; the monitoring sheet filled as the bureau
    would (its path)."""
    assert len(COUNTY_ROWS) >= 15
    document = folder / "青山县卫生健康事业发展十四五规划.docx"
    county_plan_docx(document)
    out = cli("plan", "import", str(document), "--id", "qingshan", "--area-code", "999903",
              "--area-name", COUNTY)  # fmt: skip
    assert "17 项指标" in out and "校验通过" in out
    areas = (folder / "plans" / "qingshan" / "areas.yaml").read_text(encoding="utf-8")
    assert "999903" in areas and COUNTY in areas

    cli("template", "--plan", "qingshan", "--out", str(folder / "下发"))
    sheets = sorted((folder / "下发").iterdir())
    assert [p.name for p in sheets] == ["青山县卫生健康“十四五”规划_指标监测表.xlsx"]
    fill_monitoring(sheets[0], sheet_values())
    return sheets[0]


def test_a_plan_document_goes_to_its_end_of_term_report_without_hand_written_yaml(newcomer):
    sheet = imported_and_filled(newcomer)
    assert "全部入库" in cli("ingest", str(sheet), "--plan", "qingshan")

    assert end_statuses() == EXPECTED
    cli("review", "--plan", "qingshan", "--indicator", "9", "--stage", "end", "--verdict",
        "not-met", "--by", "王五", "--reason", "孕产妇系统管理率未达到省定要求")  # fmt: skip
    reviewed = EXPECTED | {9: "未完成"}
    assert end_statuses() == reviewed

    cli("report", "--plan", "qingshan", "--stage", "end")
    pdf = newcomer / "reports" / "qingshan_end_2025.pdf"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "青山县卫生健康事业发展“十四五”规划" in text and "终期评估报告" in text
    counts = {s: list(reviewed.values()).count(s) for s in set(reviewed.values())}
    assert counts == {"已完成": 6, "基本完成": 2, "未完成": 5, "倒退": 3, "数据缺失": 1}
    assert "17项主要指标中，已完成6项、基本完成2项、未完成5项、倒退3项、数据缺失1项" in (
        text.replace("\n", "").replace(" ", "")
    )


def test_run_takes_the_filled_sheet_from_the_inbox(newcomer, prefect_harness):
    """`healthplan run` with the filled sheet in the inbox: loaded as the plan's monitoring
    sheet (its file name is the plan's title, as the template wrote it), then judged and
    reported."""
    from flows.pipeline import run_command

    sheet = imported_and_filled(newcomer)
    inbox = newcomer / "收件"
    inbox.mkdir()
    sheet.rename(inbox / sheet.name)
    assert run_command(["qingshan"], ["end"], None, inbox) == 0
    assert end_statuses() == EXPECTED
    assert (newcomer / "reports" / "qingshan_end_2025.pdf").exists()
