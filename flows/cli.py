"""The `healthplan` command. Chinese first; bad input gives a message, never a traceback."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from healthplan.settings import console as make_console

app = typer.Typer(
    help="healthplan：卫生健康规划监测评估流水线 / health-plan monitoring and evaluation pipeline",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="数据仓库 / warehouse", no_args_is_help=True)
plan_app = typer.Typer(help="规划定义 / plan definitions", no_args_is_help=True)
sample_app = typer.Typer(help="样例数据 / bundled sample data", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(plan_app, name="plan")
app.add_typer(sample_app, name="sample")
console = make_console()
err = make_console(stderr=True)


class Fmt(StrEnum):
    table = "table"
    json = "json"


class Stage(StrEnum):
    mid = "mid"
    end = "end"


class Verdict(StrEnum):
    met = "met"
    not_met = "not-met"


class UserError(Exception):
    """A problem the user can fix; shown as a message with exit code 2."""


def parse_moment(text: str | None) -> datetime | None:
    """An as-of moment from ISO text; a date alone means the end of that day (UTC)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"无法解析时间 / cannot parse time: {text!r} (例 e.g. 2026-11-23T10:00)"
        ) from None
    if len(text) <= 10:
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json(data) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def fmt_num(v, digits: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and v != v:  # NaN
        return "—"
    return f"{v:,.{digits}f}"


# ------------------------------------------------------------------ catalog


@app.command()
def catalog(
    plan: Annotated[str, typer.Option("--plan", help="规划 / plan id")],
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
    formulas: Annotated[bool, typer.Option("--formulas", help="显示公式 / show formulas")] = False,
):
    """指标目录 / the plan's indicator set."""
    from flows.common import catalog as load

    p = load().plan(plan)
    rows = [catalog_row(p, i) for i in p.indicators]
    if format == Fmt.json:
        return _json(rows)
    t = Table(title=f"{p.title_zh}：主要指标（{len(rows)}项）", show_lines=False)
    for col in ["序号", "指标（单位）", "基期值", "目标", "属性", "评价层级"]:
        t.add_column(col, overflow="fold")
    if formulas:
        t.add_column("公式 formula", overflow="fold")
    category = None
    for r, i in zip(rows, p.indicators, strict=True):
        if i.category_zh != category:
            category = i.category_zh
            t.add_row("", f"[bold]{category}[/]", *[""] * (len(t.columns) - 2))
        base = i.baseline.text if i.baseline and i.baseline.text else fmt_base(r["baseline"])
        cells = [
            str(r["number"]),
            f"{r['name_zh']}（{r['unit']}）" if r["unit"] else r["name_zh"],
            base,
            i.target.text,
            r["attribute"] or "—",
            LEVEL_ZH[r["level"]],
        ]
        t.add_row(*cells, *([r["formula"]] if formulas else []))
    console.print(t)


LEVEL_ZH = {"area": "全域", "county": "各县（区）", "town": "各镇（街道）"}


def fmt_base(b) -> str:
    return "—" if not b or b.get("value") is None else f"{b['value']}（{b.get('year')}）"


def catalog_row(p, i) -> dict:
    f = i.formula
    if f is None:
        formula = "无常规统计来源 / no routine source"
    elif f.kind == "ratio":
        factor = f"{f.factor:g} × " if f.factor != 1 else ""
        formula = f"{factor}({' + '.join(f.numerator)}) / ({' + '.join(f.denominator)})"
    else:
        formula = f"直接报告 reported directly: {f.element}" + (
            f"（按 {f.weight} 加权 weighted）" if f.weight else ""
        )
    t = i.target
    return {
        "plan": p.id,
        "number": i.number,
        "category": i.category_zh,
        "category_en": i.category_en,
        "name_zh": i.name_zh,
        "name_en": i.name_en,
        "unit": i.unit,
        "direction": i.direction,
        "baseline": None
        if i.baseline is None
        else {"value": i.baseline.value, "year": i.baseline.year, "text": i.baseline.text},
        "baseline_source": i.baseline_source,
        "target": {
            "comparator": t.comparator,
            "value": t.value,
            "year": t.year,
            "tolerance": t.tolerance,
            "delta": t.delta,
            "strata": None
            if not t.strata
            else {k: s.model_dump(mode="json") for k, s in t.strata.items()},
            "text": t.text,
        },
        "attribute": i.attribute,
        "level": i.level,
        "formula": formula,
        "formula_definition": None if f is None else f.model_dump(mode="json", exclude_none=True),
        "text_figures": [tf.model_dump(mode="json") for tf in i.text_figures],
    }


# ------------------------------------------------------------------ warehouse


@db_app.command("upgrade")
def db_upgrade():
    """执行数据库迁移 / apply schema migrations."""
    from flows.common import warehouse
    from healthplan.settings import get_settings, masked_url

    warehouse()
    console.print(
        f"数据仓库已是最新 / warehouse up to date: {masked_url(get_settings().effective_database_url)}"
    )


@db_app.command("counts")
def db_counts():
    """各表行数 / row counts per table."""
    from flows.common import warehouse
    from warehouse.observations import counts

    _json(counts(warehouse()))


@db_app.command("quarantine")
def db_quarantine(
    file: Annotated[
        str | None, typer.Option("--file", help="文件名包含 / file name contains")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="最近多少行 / latest rows")] = 100,
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
):
    """隔离的行 / quarantined rows: file, row, field, value, reason."""
    from flows.ingest import quarantine_command

    quarantine_command(file, limit, format.value)


@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="文件或文件夹 / files or folders")]):
    """导入统计数据文件 / ingest statistics files (CSV, XLSX). Exit 0 ok, 3 rows quarantined, 2 unreadable."""
    from flows.ingest import ingest_command

    raise typer.Exit(ingest_command([str(p) for p in paths]))


@app.command()
def compute(
    plan: Annotated[list[str] | None, typer.Option("--plan")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of")] = None,
):
    """计算规划指标 / compute indicator values for every area and year."""
    from flows.common import catalog as load
    from flows.compute import compute_plan

    for plan_id in plan or sorted(load().plans):
        values = compute_plan(plan_id, parse_moment(as_of))
        console.print(f"{plan_id}: {len(values)} 个指标值 / indicator values")


@app.command()
def evaluate(
    plan: Annotated[str, typer.Option("--plan")],
    stage: Annotated[Stage, typer.Option("--stage")],
    year: Annotated[int | None, typer.Option("--year", help="数据年份 / data year")] = None,
    area: Annotated[str | None, typer.Option("--area", help="地区代码 / area code")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of")] = None,
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
):
    """按评估方法评估指标 / judge every indicator by the method."""
    from flows.common import catalog as load
    from flows.evaluate import assess, save_assessment

    p = load().plan(plan)
    a = assess(plan, stage.value, year, parse_moment(as_of), area=area)
    if not as_of and not area:
        save_assessment(a)
    rows = a.rows if area else a.root_rows()
    if format == Fmt.json:
        return _json([evaluation_json(r) for r in rows])
    print_evaluation(p, a, rows)


def evaluation_json(r: dict) -> dict:
    keys = [
        "plan", "number", "area", "area_name", "stage", "data_year", "value", "baseline",
        "baseline_year", "target", "target_text", "comparator", "met", "tau", "p", "rho",
        "projection", "cagr", "status", "status_en", "failing_units", "warnings", "judged_at",
        "strata",
    ]  # fmt: skip
    return {k: r[k] for k in keys}


def print_evaluation(p, a, rows) -> None:
    stage_zh = "中期评估" if a.stage == "mid" else "终期评估"
    areas = sorted({r["area_name"] for r in rows})
    one_area = len(areas) == 1
    where = f"·{areas[0]}" if one_area else ""
    t = Table(title=f"{p.short_title_zh} {stage_zh}{where}（数据年份 {a.data_year}）")
    cols = ["序号", "地区", "指标", "x0", "目标x*", "xc", "τ", "p", "ρ", "x̂T", "状态", "未达标单位"]
    for col in cols[:1] + cols[2:] if one_area else cols:
        t.add_column(col, overflow="fold")
    for r in rows:
        ind = p.indicator(r["number"])
        d = ind.decimals
        t.add_row(
            str(r["number"]),
            *([] if one_area else [r["area_name"]]),
            ind.name_zh,
            fmt_num(r["baseline"], d),
            r["target_text"],
            fmt_num(r["value"], d),
            fmt_num(r["tau"], 2),
            fmt_num(r["p"], 3),
            fmt_num(r["rho"], 3),
            fmt_num(r["projection"], d),
            r["status"],
            "、".join(r["failing_units"]) or "",
        )
    console.print(t)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    console.print("  ".join(f"{k} {v}项" for k, v in counts.items()))


@app.command()
def review(
    plan: Annotated[str, typer.Option("--plan")],
    indicator: Annotated[int, typer.Option("--indicator")],
    verdict: Annotated[Verdict, typer.Option("--verdict")],
    by: Annotated[str, typer.Option("--by", help="评定人 / reviewer")],
    reason: Annotated[str, typer.Option("--reason", help="理由 / reason")],
):
    """人工评定定性指标 / record a reviewer's verdict on a qualitative target."""
    from flows.common import catalog as load
    from flows.common import warehouse
    from warehouse.results import add_review

    p = load().plan(plan)
    ind = p.indicator(indicator)
    if ind.target.comparator != "qualitative":
        console.print(
            f"[yellow]提示 note: 指标 {indicator}「{ind.name_zh}」的目标不是定性目标；"
            "评定已记录，评估以数值为准 / not a qualitative target: recorded, numbers still decide[/]"
        )
    row = add_review(warehouse(), plan, indicator, verdict == Verdict.met, by, reason)
    console.print(
        f"已记录评定 / verdict recorded: {plan} #{indicator}「{ind.name_zh}」→ "
        f"{'达到 met' if verdict == Verdict.met else '未达到 not met'}（{by}，{row.get('reviewed_at')}）"
    )


@app.command()
def quality(
    plan: Annotated[str, typer.Option("--plan")],
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
):
    """数据质量问题 / data-quality issues (baseline reconciliation, parts vs totals, outliers, gaps,
    quarantined source rows)."""
    from flows.quality import quality_command

    quality_command(plan, format.value)


class ReportFormat(StrEnum):
    pdf = "pdf"
    html = "html"
    xlsx = "xlsx"
    docx = "docx"


def parse_report_date(text: str | None):
    """--date YYYY-MM-DD as a date; a bad date is a message, not a traceback."""
    from datetime import date as Date

    if text is None:
        return None
    try:
        return Date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"日期格式应为 YYYY-MM-DD / expected YYYY-MM-DD: {text!r}", param_hint="--date"
        ) from None


@app.command()
def report(
    plan: Annotated[str, typer.Option("--plan")],
    stage: Annotated[Stage, typer.Option("--stage")],
    year: Annotated[int | None, typer.Option("--year")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="复现某时点的报告 / reproduce as of")
    ] = None,
    mail: Annotated[bool, typer.Option("--mail/--no-mail")] = False,
    format: Annotated[
        list[ReportFormat] | None,
        typer.Option("--format", help="只生成这些格式 / only these formats (default: all)"),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option("--date", help="报告日期 YYYY-MM-DD / report date (default: today, 北京时间)"),
    ] = None,
):
    """生成评估报告（PDF、HTML、XLSX、DOCX）/ render the evaluation report."""
    from flows.report import report_command

    raise typer.Exit(
        report_command(
            plan,
            stage.value,
            year,
            parse_moment(as_of),
            mail,
            formats=[f.value for f in format] if format else None,
            issued_on=parse_report_date(date),
        )
    )


commentary_app = typer.Typer(help="报告评述 / the bureau's commentary", no_args_is_help=True)
app.add_typer(commentary_app, name="commentary")


@commentary_app.command("init")
def commentary_init(
    plan: Annotated[str, typer.Option("--plan")],
    stage: Annotated[Stage, typer.Option("--stage")],
    year: Annotated[int | None, typer.Option("--year", help="数据年份 / data year")] = None,
):
    """写出评述文件框架（不覆盖已有文件）/ write the commentary skeleton (never overwrites)."""
    from flows.commentary import init_command

    raise typer.Exit(init_command(plan, stage.value, year))


@app.command()
def run(
    plan: Annotated[list[str] | None, typer.Option("--plan")] = None,
    stage: Annotated[list[Stage] | None, typer.Option("--stage")] = None,
    year: Annotated[int | None, typer.Option("--year")] = None,
    inbox: Annotated[Path | None, typer.Option("--inbox", help="收件夹 / inbox folder")] = None,
):
    """立即运行完整流水线 / run the whole pipeline now: ingest → compute → evaluate → report."""
    from flows.pipeline import run_command

    raise typer.Exit(
        run_command(plan or None, [s.value for s in stage] if stage else None, year, inbox)
    )


@app.command()
def serve():
    """启动定时部署（每夜、年度）/ serve the scheduled deployments (nightly, yearly)."""
    from flows.pipeline import serve_deployments

    serve_deployments()


@app.command()
def history(limit: Annotated[int, typer.Option("--limit")] = 20):
    """运行记录 / recent pipeline runs."""
    from flows.common import warehouse
    from warehouse.results import recent_runs

    t = Table(title="运行记录 / runs")
    for col in ["#", "flow", "开始 started", "结束 finished", "结果 outcome", "说明 message"]:
        t.add_column(col, overflow="fold")
    for r in recent_runs(warehouse(), limit):
        t.add_row(
            *(
                str(r.get(k) or "")
                for k in ["id", "flow", "started_at", "finished_at", "outcome", "message"]
            )
        )
    console.print(t)


@plan_app.command("validate")
def plan_validate(path: Annotated[Path, typer.Argument(help="规划文件夹或 plans 目录")]):
    """校验规划定义文件 / check a plan's definition files."""
    from flows.plans import validate_command

    raise typer.Exit(validate_command(path))


@plan_app.command("new")
def plan_new(name: Annotated[str, typer.Argument(help="新规划代号 / new plan id")]):
    """生成带注释的规划骨架 / write a commented skeleton for a new plan."""
    from flows.plans import new_command

    raise typer.Exit(new_command(name))


@sample_app.command("generate")
def sample_generate(
    out: Annotated[Path, typer.Option("--out")] = Path("samples/inbox"),
    scale: Annotated[float, typer.Option("--scale", help="规模倍数 / scale knob")] = 1.0,
    seed: Annotated[int, typer.Option("--seed")] = 20161,
):
    """生成样例统计数据 / write the deterministic sample statistics."""
    from samples.generator import generate_command

    raise typer.Exit(generate_command(out, scale, seed))


def main() -> None:
    """Entry point: map every expected failure to a clear message and an exit code."""
    from healthplan.definitions import DefinitionError
    from healthplan.settings import masked_url

    try:
        app()
    except (UserError, DefinitionError, KeyError, ValueError) as e:
        err.print(f"[red]错误 error:[/] {masked_url(str(e).strip(chr(39)))}")
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 - last line of defence: a message, not a traceback
        from warehouse.engine import WarehouseUnavailable

        if isinstance(e, WarehouseUnavailable):
            err.print(f"[red]数据仓库不可用 warehouse unavailable:[/] {masked_url(str(e))}")
            sys.exit(4)
        if isinstance(e, OSError):
            err.print(f"[red]文件错误 file error:[/] {masked_url(str(e))}")
            sys.exit(2)
        if os.environ.get("HEALTHPLAN_DEBUG"):
            raise
        err.print(
            f"[red]内部错误 internal error:[/] {type(e).__name__}: {masked_url(str(e))}\n"
            "设置 HEALTHPLAN_DEBUG=1 可查看详细堆栈 / set HEALTHPLAN_DEBUG=1 for the traceback"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
