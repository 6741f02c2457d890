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
from flows.ingest import parse_context
from healthplan.layouts import Layout
from healthplan.settings import console as make_console
from transforms.quality import KIND_ZH, SEVERITY_ZH, plan_quality
from warehouse.observations import quarantined, source_files
from warehouse.results import replace_quality_issues


def check_plan(plan_id: str, as_of: datetime | None = None, engine: Engine | None = None):
    """Load → Process: every quality issue of one plan, most severe first."""
    engine = engine or warehouse()
    cat = catalog()
    plan = cat.plan(plan_id)
    obs, values = observations_and_values(engine, plan_id, as_of or datetime.now(UTC))
    last = int(obs["year"].max()) if not obs.empty else plan.baseline_year
    years = range(plan.baseline_year, min(last, plan.target_year) + 1)
    rejected = quarantined(engine, file_ids=obs["source_file_id"].unique().tolist())
    layouts = file_layouts(engine, rejected["source_file_id"].dropna().unique().tolist())
    return plan_quality(
        plan, cat.areas(plan_id), cat.elements, obs, values, years, rejected, layouts
    )


def file_layouts(engine: Engine, file_ids: list[int]) -> dict[int, Layout]:
    """The layout each file was read by, where it is still defined (a file read by a layout
    removed since is treated as having lost whole rows)."""
    if not file_ids:
        return {}
    files = source_files(engine)
    layouts = parse_context().layouts
    out = {}
    for file_id, layout_id in files.loc[files["id"].isin(file_ids), ["id", "layout"]].itertuples(
        index=False
    ):
        try:
            out[int(file_id)] = layouts.layout(str(layout_id))[1]
        except KeyError:
            continue
    return out


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
