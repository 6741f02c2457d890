"""Data-quality checks for a plan: load observations and values, run the checks, store the issues."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from prefect import task
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import Engine

from flows.common import catalog, warehouse
from flows.compute import observations_and_values
from flows.evaluate import retry_on_transient
from flows.ingest import parse_context
from healthplan.layouts import Layout
from healthplan.settings import console as make_console
from transforms.quality import KIND_ZH, SEVERITY_ZH, plan_quality
from transforms.reviews import misfit_issues
from warehouse.observations import quarantined, source_files
from warehouse.results import (
    acknowledge_quality_issue,
    load_quality_issues,
    load_reviews,
    replace_quality_issues,
)


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
    issues = plan_quality(
        plan, cat.areas(plan_id), cat.elements, obs, values, years, rejected, layouts
    )
    # verdicts that apply to nothing (recorded before stages, or no longer fitting the plan)
    return issues + misfit_issues(plan, load_reviews(engine, plan_id, as_of=as_of))


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


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_on_transient)
def quality_task(plan_id: str, as_of: datetime | None = None) -> dict[str, int]:
    issues = check_plan(plan_id, as_of)
    save_issues(plan_id, issues)
    counts: dict[str, int] = {}
    for i in issues:
        counts[i["severity"]] = counts.get(i["severity"], 0) + 1
    return counts


def issue_state(issue: dict) -> str:
    """待处理 (open), 已确认 (acknowledged for the numbers it holds) or 数字已变 (acknowledged,
    but its numbers changed since: open again)."""
    if issue.get("acknowledged"):
        return "已确认"
    if issue.get("reopened"):
        return "数字已变，重新打开"
    return "—" if issue.get("severity") == "info" else "待处理"


def quality_command(plan_id: str, fmt: str = "table") -> None:
    engine = warehouse()
    save_issues(plan_id, check_plan(plan_id, engine=engine), engine)
    issues = load_quality_issues(engine, plan_id)  # as stored: with ids and acknowledgements
    if fmt == "json":
        sys.stdout.write(json.dumps(issues, ensure_ascii=False, indent=2, default=str) + "\n")
        return
    plan = catalog().plan(plan_id)
    areas = {a.code: a.name_zh for a in catalog().areas(plan_id)}
    t = Table(title=f"{plan.short_title_zh}：数据质量问题 / data-quality issues（{len(issues)}）")
    for col in ["编号", "级别", "类型", "指标", "地区", "年份", "说明 detail", "状态"]:
        t.add_column(col, overflow="fold")
    for i in issues:
        state = issue_state(i)
        if i["acknowledged"]:
            state += f"（{i['acknowledged_by']}：{i['acknowledge_reason']}）"
        t.add_row(
            str(i["id"]),
            SEVERITY_ZH[i["severity"]],
            KIND_ZH.get(i["kind"], i["kind"]),
            str(i["number"] or ""),
            areas.get(i["area_code"] or "", ""),
            str(i["year"] or ""),
            escape(i["detail"] or ""),
            escape(state),
        )
    console = make_console()
    console.print(t)
    if any(not i["acknowledged"] for i in issues):
        console.print(
            "确认某个问题 / acknowledge one: "
            "healthplan quality --acknowledge 编号 --by 姓名 --reason 理由"
        )


def acknowledge_command(issue_id: int, by: str | None, reason: str | None) -> dict:
    """Acknowledge one open issue: it leaves the report's open list until its numbers change."""
    row = acknowledge_quality_issue(warehouse(), issue_id, by or "", reason or "")
    make_console().print(
        f"已确认质量问题 {issue_id} / issue {issue_id} acknowledged（{escape(row['acknowledged_by'])}）："
        f"{escape(row['detail'] or '')}\n"
        "该问题移出报告的未关闭问题清单，列入附录；其数字变化时将重新打开 / "
        "it leaves the report's open list for its appendix, and reopens if its numbers change"
    )
    return row
