"""The bundled sample through ingest, evaluate, quality and report — checked as a reader would.

Every status must occur in each plan at both stages and be recomputable by hand from the numbers
`healthplan evaluate` prints; the PDF must print those same numbers; a corrected file creates a
revision, and a past report is reproduced as of its moment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from healthplan.settings import REPO_ROOT

pytestmark = pytest.mark.integration
INBOX = REPO_ROOT / "samples" / "inbox"
MID = {"已实现", "快于预期", "符合预期", "需加快", "滞后", "倒退", "数据缺失", "待人工评定"}
END = {"已完成", "基本完成", "未完成", "倒退", "数据缺失", "待人工评定"}
runner = CliRunner()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A fresh SQLite warehouse holding the whole bundled sample."""
    import os

    from tests.conftest import _clear_caches

    tmp = tmp_path_factory.mktemp("e2e")
    keys = ("HEALTHPLAN_DATA_DIR", "HEALTHPLAN_REPORTS_DIR", "HEALTHPLAN_DATABASE_URL")
    old = {k: os.environ.get(k) for k in keys}
    os.environ["HEALTHPLAN_DATA_DIR"] = str(tmp / "data")
    os.environ["HEALTHPLAN_REPORTS_DIR"] = str(tmp / "reports")
    os.environ.pop("HEALTHPLAN_DATABASE_URL", None)
    _clear_caches()
    from flows.ingest import ingest_paths

    summary = ingest_paths([INBOX])
    assert summary.exit_code == 0, summary.to_markdown()
    yield tmp
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _clear_caches()


def evaluate_json(plan: str, stage: str, *extra: str) -> list[dict]:
    from flows.cli import app

    result = runner.invoke(
        app, ["evaluate", "--plan", plan, "--stage", stage, "--format", "json", *extra]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def by_hand(r: dict, d: int) -> str:
    """The method recomputed from the printed numbers alone (no code shared with judge())."""
    eps = 1e-9
    x0, xs, xc = r["baseline"], r["target"], r["value"]
    if r["comparator"] == "qualitative":
        return "待人工评定"
    if xc is None:
        return "数据缺失"
    if r["met"]:
        return "已实现" if r["stage"] == "mid" else "已完成"
    tau = (
        (r["data_year"] - r["baseline_year"]) / (2020 - r["baseline_year"])
        if x0 is not None
        else None
    )
    if x0 is None or xs is None or abs(xs - x0) < eps:
        worse = x0 is not None and d * (xc - x0) < -eps
        return "倒退" if worse else ("滞后" if r["stage"] == "mid" else "未完成")
    p = d * (xc - x0) / abs(xs - x0)
    assert r["p"] == pytest.approx(p, abs=1e-6)
    assert r["tau"] == pytest.approx(tau, abs=1e-9)
    if r["stage"] == "end":
        return "倒退" if p < -eps else "基本完成" if p >= 0.9 - eps else "未完成"
    rho = round(p / tau, 9)
    assert r["rho"] == pytest.approx(rho, abs=1e-6)
    if r["projection_note"]:  # outside what the quantity allows: not printed
        assert r["projection"] is None
    else:
        assert r["projection"] == pytest.approx(x0 + (xc - x0) / tau, rel=1e-6, abs=1e-6)
    if rho >= 1:
        return "快于预期"
    if rho >= 0.95:
        return "符合预期"
    if rho >= 0.60:
        return "需加快"
    return "滞后" if rho >= 0 else "倒退"


@pytest.mark.parametrize("plan", ["longhu", "guilin"])
def test_every_status_occurs_and_each_is_recomputable_by_hand(loaded, plan):
    from flows.common import catalog

    p = catalog().plan(plan)
    for stage, required in (("mid", MID), ("end", END)):
        rows = evaluate_json(plan, stage)
        assert len(rows) == len(p.indicators)
        assert {r["status"] for r in rows} >= required, (plan, stage)
        for r in rows:
            ind = p.indicator(r["number"])
            if ind.target.comparator == "split" or ind.level != "area":
                continue  # weakest stratum / unit decides: checked in the unit tests
            assert r["status"] == by_hand(r, ind.sign), (plan, stage, r)


def test_per_town_indicator_names_the_failing_towns(loaded):
    rows = {r["number"]: r for r in evaluate_json("longhu", "end")}
    town = rows[4]  # 以镇（街道）为单位适龄儿童国家免疫规划疫苗接种率 ＞95
    assert town["judged_at"] == "town"
    assert town["met"] is False and town["failing_units"]
    one_town = evaluate_json("longhu", "end", "--area", "440507100")
    assert {r["area"] for r in one_town} == {"440507100"}


def test_quality_lists_where_the_longhu_text_and_table_disagree(loaded):
    from flows.cli import app

    result = runner.invoke(app, ["quality", "--plan", "longhu", "--format", "json"])
    assert result.exit_code == 0, result.output
    issues = json.loads(result.stdout)
    rec = {i["number"]: i for i in issues if i["kind"] == "baseline_reconciliation"}
    assert rec[2]["severity"] == "warning" and rec[2]["data"]["table"] == 0.9
    assert [t["value"] for t in rec[2]["data"]["text_figures"]] == [1.01]
    assert rec[13]["data"]["text_figures"][0]["value"] == 1.47
    assert rec[5]["data"]["text_figures"][0]["value"] == 92.03
    # the sample follows the table: the warehouse's own 2015 value matches it within rounding
    assert rec[13]["data"]["warehouse"] == pytest.approx(1.58, abs=0.005)


def pdf_text(path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def fmt(v: float, d: int) -> str:
    from decimal import ROUND_HALF_UP, Decimal

    return str(Decimal(str(v)).quantize(Decimal(1).scaleb(-d), rounding=ROUND_HALF_UP))


def test_pdf_prints_the_numbers_evaluate_prints_with_an_embedded_cjk_font(loaded):
    from flows.common import catalog
    from flows.evaluate import assess
    from flows.report import render_report

    files = render_report(assess("longhu", "mid"))
    text = pdf_text(files.pdf)
    fonts = subprocess.run(["pdffonts", str(files.pdf)], capture_output=True, text=True).stdout
    assert "NotoSansCJK" in fonts.replace("-", "") and " no " not in fonts.split("\n", 2)[2]
    p = catalog().plan("longhu")
    checked = 0
    for r in evaluate_json("longhu", "mid"):
        if r["value"] is None or r["rho"] is None:
            continue
        d = p.indicator(r["number"]).decimals
        for number in (fmt(r["value"], d), fmt(r["p"], 3), fmt(r["rho"], 3)):
            assert number in text, (r["number"], number)
        checked += 1
    assert checked >= 3


def test_a_corrected_file_revises_and_a_past_report_is_reproduced_as_of(loaded, tmp_path):
    from flows.evaluate import assess
    from flows.ingest import ingest_paths
    from flows.report import render_report
    from warehouse.observations import observations_as_of

    before = datetime.now(UTC)
    original = assess("longhu", "mid", as_of=before)
    old_pdf = pdf_text(render_report(original).pdf)
    old_value = next(r for r in original.root_rows() if r["number"] == 1)["value"]

    src = INBOX / "longhu" / "2018" / "population_2018.csv"
    fixed = tmp_path / "corrections" / "population_2018.csv"
    fixed.parent.mkdir()
    lines = src.read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    assert cells[0] == "440507"
    cells[-1] = f"{float(cells[-1]) + 0.5:.2f}"  # the district's life expectancy, revised
    lines[1] = ",".join(cells)
    fixed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = ingest_paths([fixed.parent])
    assert summary.exit_code == 0 and summary.totals["revised"] == 1

    from flows.common import warehouse

    def life(as_of):
        obs = observations_as_of(warehouse(), as_of, elements=["life_expectancy"], areas=["440507"])
        return float(obs[obs.year == 2018]["value"].iloc[0])

    assert life(before) == pytest.approx(old_value)
    assert life(None) == pytest.approx(old_value + 0.5)

    again = assess("longhu", "mid", as_of=before)
    assert again.rows == original.rows
    now = assess("longhu", "mid")
    assert next(r for r in now.root_rows() if r["number"] == 1)["value"] == pytest.approx(
        old_value + 0.5
    )
    reproduced = pdf_text(render_report(again).pdf)
    assert fmt(old_value, 1) in reproduced and fmt(old_value, 1) in old_pdf
    shutil.rmtree(fixed.parent)
