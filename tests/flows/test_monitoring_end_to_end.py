"""A new bureau's plan whose every indicator is reported by its monitoring sheet, end to end:
plan folder → `healthplan template` → the sheet filled → `ingest --plan` → `evaluate` and
`report --stage end`, each indicator's status the one the method gives.

The plan is written here as a plan folder; `plan import` of a .docx will produce the same.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from healthplan.settings import REPO_ROOT
from tests.flows.test_templates import fill_monitoring

pytestmark = pytest.mark.integration
runner = CliRunner()
ROOT, TOWN_A, TOWN_B = "999801", "999801101", "999801102"
SPLIT = {
    "rural": {"label_zh": "农村", "comparator": ">=", "value": 35},
    "urban": {"label_zh": "城镇", "comparator": ">=", "value": 60},
}
# number: (name, unit, direction, baseline, target, level), the 2025 value, expected status
INDICATORS = {
    1: ("人均预期寿命", "岁", "higher", 78.0, (">=", 79, "≥79"), 79.2, "已完成"),
    2: ("婴儿死亡率", "‰", "lower", 4.0, ("<=", 3, "≤3"), 3.08, "基本完成"),
    3: ("孕产妇死亡率", "1/10万", "lower", 12.0, ("<", 10, "＜10"), 11.0, "未完成"),
    4: ("总和生育率", "", "higher", 1.7, ("about", 1.8, "1.8左右"), 1.75, "已完成"),
    5: ("居民健康素养水平", "%", "higher", 20.0, ("relative", 5, "提高5个百分点"), 26.0, "已完成"),
    6: ("重点慢性病核心信息知晓率", "%", "higher", None, ("split", None, "农村35城镇60"), None,
        "未完成"),
    7: ("卫生应急能力", "", "higher", None, ("qualitative", None, "达国家要求"), None, "待人工评定"),
    8: ("医疗卫生服务体系", "", "higher", None, ("qualitative", None, "基本建立"), None, "已完成"),
    9: ("每千人口医疗卫生机构床位数", "张", "higher", 5.0, ("reach", 6.0, "6.0"), 4.8, "倒退"),
    10: ("个人卫生支出占卫生总费用的比重", "%", "lower", 30.0, ("<=", 28, "≤28"), 27.0, "已完成"),
    11: ("适龄儿童免疫规划疫苗接种率", "%", "higher", 96.0, (">", 95, "＞95"), 97.5, "已完成"),
    12: ("严重精神障碍患者规范管理率", "%", "higher", 80.0, (">=", 85, "≥85"), None, "数据缺失"),
    13: ("以镇为单位高血压患者规范管理率", "%", "higher", 70.0, (">=", 90, "≥90"), None,
         "未完成"),
    14: ("医护比", "护士/医师", "higher", 1.0, ("reach", 1.2, "1:1.2"), 1.19, "基本完成"),
    15: ("门诊处方抗菌药物使用率", "%", "lower", 25.0, ("<=", 20, "≤20"), 26.0, "倒退"),
    16: ("每万人口全科医生数", "人", "higher", None, (">=", 3, "≥3"), 2.5, "未完成"),
}  # fmt: skip


def indicator(number: int) -> dict:
    name, unit, direction, base, (comparator, value, text), _, _ = INDICATORS[number]
    target: dict = {"text": text, "comparator": comparator, "year": 2025}
    if comparator == "relative":
        target["delta"] = value
    elif comparator == "split":
        target["strata"] = SPLIT
    elif value is not None:
        target["value"] = value
    if comparator == "about":
        target["tolerance"] = 0.05
    return {
        "number": number,
        "category_zh": "一、健康水平" if number <= 8 else "二、健康服务",
        "category_en": "Health" if number <= 8 else "Services",
        "name_zh": name,
        "name_en": f"Indicator {number}",
        "unit": unit,
        "direction": direction,
        "baseline": None if base is None else {"value": base, "year": 2020, "text": f"{base:g}"},
        "target": target,
        "attribute": "约束性" if number % 3 == 0 else "预期性",
        "level": "town" if number == 13 else "area",
        "formula": {"kind": "reported"},
    }


PLAN = {
    "id": "newcity",
    "title_zh": "新城区卫生健康事业发展“十四五”规划",
    "title_en": "Newcity 14th Five-Year Health Plan",
    "short_title_zh": "新城区卫生健康“十四五”规划",
    "jurisdiction": ROOT,
    "issuing_body_zh": "新城区卫生健康局",
    "period_start": 2021,
    "period_end": 2025,
    "baseline_year": 2020,
    "target_year": 2025,
    "mid_term_year": 2023,
    "indicators": [indicator(n) for n in INDICATORS],
}
AREAS = {
    "jurisdiction": ROOT,
    "areas": [
        {"code": ROOT, "name_zh": "新城区", "name_en": "Newcity", "level": "district"},
        {"code": TOWN_A, "name_zh": "东镇", "name_en": "East", "level": "town", "parent": ROOT},
        {"code": TOWN_B, "name_zh": "西镇", "name_en": "West", "level": "town", "parent": ROOT},
    ],
}


def sheet_values() -> dict:
    """What the bureau writes into its sheet: 2025 for each indicator, 2020 where the plan
    states no baseline (a split target's strata, indicator 16, the towns)."""
    values: dict = {}
    for number, spec in INDICATORS.items():
        if spec[5] is not None:
            values[("新城区", number, "")] = {2025: spec[5]}
    values[("新城区", 6, "农村")] = {2020: 30, 2025: 36}
    values[("新城区", 6, "城镇")] = {2020: 50, 2025: 58}  # p 0.8 → 未完成
    values[("新城区", 16, "")][2020] = 2.0
    values[("东镇", 13, "")] = {2020: 72, 2025: 92}
    values[("西镇", 13, "")] = {2020: 70, 2025: 85}  # p 0.75: the weakest unit, 未完成
    return values


@pytest.fixture
def newcity(isolated, monkeypatch):
    """A copy of the plans with the new plan beside them; data and reports in tmp."""
    from tests.conftest import _clear_caches

    plans = isolated / "plans"
    shutil.copytree(REPO_ROOT / "plans", plans)
    (plans / "newcity").mkdir()
    for name, data in (("plan.yaml", PLAN), ("areas.yaml", AREAS)):
        (plans / "newcity" / name).write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    monkeypatch.setenv("HEALTHPLAN_PLANS_DIR", str(plans))
    _clear_caches()
    return isolated


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.stdout


def test_a_plan_of_reported_indicators_from_template_to_end_of_term_report(newcity):
    cli("plan", "validate", str(newcity / "plans" / "newcity"))
    listed = json.loads(cli("catalog", "--plan", "newcity", "--format", "json"))
    assert listed[0]["formula"].startswith("监测表报告值") and len(listed) == 16
    out = newcity / "templates"
    cli("template", "--plan", "newcity", "--out", str(out))
    files = sorted(p.name for p in out.iterdir())
    assert files == ["新城区卫生健康“十四五”规划_指标监测表.xlsx"]  # nothing computed: no forms
    sheet = out / files[0]
    fill_monitoring(sheet, sheet_values())
    assert "全部入库" in cli("ingest", str(sheet), "--plan", "newcity")
    cli("review", "--plan", "newcity", "--indicator", "8", "--verdict", "met", "--by", "李四",
        "--reason", "区医疗卫生服务体系已通过验收")  # fmt: skip

    rows = json.loads(cli("evaluate", "--plan", "newcity", "--stage", "end", "--format", "json"))
    status = {r["number"]: r["status"] for r in rows}
    assert status == {n: spec[6] for n, spec in INDICATORS.items()}
    by = {r["number"]: r for r in rows}
    assert by[13]["failing_units"] == ["西镇"] and by[13]["value"] is None  # towns only
    assert by[5]["target"] == pytest.approx(25) and by[16]["value"] == pytest.approx(2.5)
    assert by[6]["strata"]["urban"]["value"] == 58 and by[6]["strata"]["rural"]["met"] is True

    cli("report", "--plan", "newcity", "--stage", "end")
    pdf = newcity / "reports" / "newcity_end_2025.pdf"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout.replace("\n", "")
    assert "新城区卫生健康事业发展“十四五”规划" in text
    assert "门诊处方抗菌药物使用率" in text and "倒退" in text
