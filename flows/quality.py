"""Data-quality checks for a plan: load observations and values, run the checks, store the issues."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from prefect import task
from rich.table import Table
from sqlalchemy.engine import Engine

from flows.common import catalog, warehouse
from flows.compute import observations_and_values
from healthplan.settings import console as make_console
from transforms.quality import plan_quality
from warehouse.results import replace_quality_issues

SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
KIND_ZH = {
    "baseline_reconciliation": "基期值核对",
    "reported_vs_recomputed": "报告值与重算值",
    "parts_vs_total": "分项与合计",
    "impossible_value": "不可能值",
    "permille_as_percent": "‰/%混用",
    "year_on_year_jump": "年度异常波动",
    "missing_value": "数据缺失",
    "no_source": "无统计来源",
}


def check_plan(plan_id: str, as_of: datetime | None = None, engine: Engine | None = None):
    """Load → Process: every quality issue of one plan, most severe first."""
    engine = engine or warehouse()
    cat = catalog()
    plan = cat.plan(plan_id)
    obs, values = observations_and_values(engine, plan_id, as_of or datetime.now(UTC))
    last = int(obs["year"].max()) if not obs.empty else plan.baseline_year
    years = range(plan.baseline_year, min(last, plan.target_year) + 1)
    return plan_quality(plan, cat.areas(plan_id), cat.elements, obs, values, years)


def save_issues(plan_id: str, issues: list[dict], engine: Engine | None = None) -> int:
    now = datetime.now(UTC)
    rows = [{**i, "detected_at": now, "is_open": True} for i in issues]
    replace_quality_issues(engine or warehouse(), plan_id, rows)
    return len(rows)


@task(retries=2, retry_delay_seconds=[2, 10])
def quality_task(plan_id: str, as_of: datetime | None = None) -> dict[str, int]:
    issues = check_plan(plan_id, as_of)
    save_issues(plan_id, issues)
    counts: dict[str, int] = {}
    for i in issues:
        counts[i["severity"]] = counts.get(i["severity"], 0) + 1
    return counts


def quality_command(plan_id: str, fmt: str = "table") -> None:
    issues = check_plan(plan_id)
    save_issues(plan_id, issues)
    if fmt == "json":
        sys.stdout.write(json.dumps(issues, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    plan = catalog().plan(plan_id)
    areas = {a.code: a.name_zh for a in catalog().areas(plan_id)}
    t = Table(title=f"{plan.short_title_zh}：数据质量问题 / data-quality issues（{len(issues)}）")
    for col in ["级别", "类型", "指标", "地区", "年份", "说明 detail"]:
        t.add_column(col, overflow="fold")
    for i in issues:
        t.add_row(
            SEVERITY_ZH[i["severity"]],
            KIND_ZH.get(i["kind"], i["kind"]),
            str(i["number"] or ""),
            areas.get(i["area_code"] or "", ""),
            str(i["year"] or ""),
            i["detail"],
        )
    make_console().print(t)
