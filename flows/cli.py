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
from rich.markup import escape
from rich.table import Table
from rich.text import Text

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
    goals = [text_goal_row(p, g) for g in p.text_goals]
    if format == Fmt.json:
        return _json([*rows, *goals])
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
    for r in rows:
        for i in r["inferred"]:
            field = FIELD_ZH.get(i["field"], i["field"])
            console.print(f"注：指标{r['number']}{field}为推定：{i['why']}", markup=False)
    if goals:
        g = Table(title=f"仅在规划正文中提出的目标（{len(goals)}项）")
        for col in ["序号", "目标（单位）", "目标值", "相关指标", "评定"]:
            g.add_column(col, overflow="fold")
        for r in goals:
            name = f"{r['name_zh']}（{r['unit']}）" if r["unit"] else r["name_zh"]
            related = str(r["related_indicator"]) if r["related_indicator"] else "—"
            g.add_row(str(r["goal"]), name, r["target"]["text"], related, r["status"])
        console.print(g)


LEVEL_ZH = {"area": "全域", "county": "各县（区）", "town": "各镇（街道）"}


def fmt_base(b) -> str:
    return "—" if not b or b.get("value") is None else f"{b['value']}（{b.get('year')}）"


def catalog_row(p, i) -> dict:
    f = i.formula
    if f is None:
        formula = "无常规统计来源 / no routine source"
    elif f.kind == "reported":
        formula = f"监测表报告值 reported in the monitoring sheet: {p.reported_element(i)}"
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
            "other_reading": None
            if t.other_reading is None
            else t.other_reading.model_dump(mode="json", exclude_none=True),
        },
        "attribute": i.attribute,
        "level": i.level,
        "formula": formula,
        "formula_definition": None if f is None else f.model_dump(mode="json", exclude_none=True),
        "text_figures": [tf.model_dump(mode="json") for tf in i.text_figures],
        "inferred": i.inferences(),
        "kind": "indicator",
    }


def text_goal_row(p, g) -> dict:
    """A goal stated only in the plan's body text, named by its code (T1, T2 …)."""
    t = g.target
    return {
        "plan": p.id,
        "kind": "text_goal",
        "number": None,
        "goal": g.code,
        "name_zh": g.name_zh,
        "name_en": g.name_en,
        "unit": g.unit,
        "direction": g.direction,
        "target": {
            "comparator": t.comparator,
            "value": t.value,
            "year": t.year,
            "text": t.text,
            "note_zh": t.note_zh,
        },
        "sentence": g.sentence,
        "related_indicator": g.related_indicator,
        "status": "待人工评定",
        "review": None,
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


@db_app.command("backup")
def db_backup(file: Annotated[Path, typer.Argument(help="备份文件 / backup file")]):
    """备份整个数据仓库 / back up the whole warehouse (SQLite: backup API; PostgreSQL: pg_dump)."""
    from healthplan.settings import get_settings
    from warehouse.backup import BackupError, backup
    from warehouse.engine import get_engine, safe_url

    url = get_settings().effective_database_url
    get_engine(url)  # reachable, or exit 4 with a message
    try:
        written = backup(url, file)
    except BackupError as e:
        err.print(f"[red]备份失败 backup failed:[/] {escape(str(e))}")
        raise typer.Exit(1) from None
    console.print(
        Text(
            f"已备份 / backed up: {safe_url(url)} → {written}（{written.stat().st_size:,} 字节 bytes）"
        )
    )


@db_app.command("restore")
def db_restore(
    file: Annotated[Path, typer.Argument(help="备份文件 / backup file")],
    wait: Annotated[int, typer.Option("--wait", help="等待流水线锁的秒数 / seconds to wait")] = 0,
):
    """用备份替换整个数据仓库 / replace the whole warehouse with a backup (under the pipeline lock)."""
    from healthplan.settings import get_settings
    from warehouse.backup import BackupError, restore
    from warehouse.engine import get_engine, safe_url
    from warehouse.lock import LockHeld, holder_name, pipeline_lock

    url = get_settings().effective_database_url
    engine = get_engine(url)
    try:
        with pipeline_lock(engine, "pipeline", holder_name(), wait):
            restore(url, file)
    except LockHeld as e:
        err.print(Text(str(e)))
        raise typer.Exit(5) from None
    except BackupError as e:
        err.print(f"[red]恢复失败 restore failed:[/] {escape(str(e))}")
        raise typer.Exit(1) from None
    from flows.common import warehouse

    warehouse()  # migrated to this code's schema, holding the current plans
    console.print(Text(f"已恢复 / restored: {safe_url(url)} ← {file}"))


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
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="文件或文件夹 / files or folders")],
    plan: Annotated[
        str | None,
        typer.Option(
            "--plan", help="按该规划的指标监测表导入 / read as the plan's monitoring sheet"
        ),
    ] = None,
):
    """导入统计数据文件 / ingest statistics files (CSV, XLSX). Exit 0 ok, 3 rows quarantined, 2 unreadable."""
    if plan is not None:
        from flows.monitoring import monitoring_command

        raise typer.Exit(monitoring_command([str(p) for p in paths], plan))
    from flows.ingest import ingest_command

    raise typer.Exit(ingest_command([str(p) for p in paths]))


@app.command()
def template(
    plan: Annotated[str, typer.Option("--plan", help="规划 / plan id")],
    out: Annotated[Path, typer.Option("--out", help="输出文件夹 / output folder")],
    year: Annotated[
        int | None, typer.Option("--year", help="数据年份（默认上一年）/ data year")
    ] = None,
):
    """生成下发填报的空白模板（指标监测表、各来源报表）/ write the blank templates to send out."""
    from flows.templates import template_command

    raise typer.Exit(template_command(plan, out, year))


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
    for r in a.review_history:
        if r["state"] in ("需重新评定", "不再适用"):
            err.print(
                f"[yellow]评定 {r['id']} 未计入 / review {r['id']} not applied：{r['note']}[/]"
            )
    rows = a.rows if area else a.root_rows()
    if format == Fmt.json:
        return _json([evaluation_json(r) for r in rows])
    print_evaluation(p, a, rows)


def evaluation_json(r: dict) -> dict:
    keys = [
        "plan", "number", "area", "area_name", "stage", "data_year", "value", "baseline",
        "baseline_year", "baseline_source", "target", "target_text", "comparator", "met", "tau",
        "p", "rho", "projection", "projection_note", "cagr", "status", "status_en",
        "failing_units", "weakest_unit", "jurisdiction_status", "jurisdiction_value",
        "warnings", "judged_at", "strata", "inferred", "review", "override",
    ]  # fmt: skip
    return {k: r.get(k) for k in keys}


def print_evaluation(p, a, rows) -> None:
    stage_zh = "中期评估" if a.stage == "mid" else "终期评估"
    areas = sorted({r["area_name"] for r in rows})
    one_area = len(areas) == 1
    where = f"·{areas[0]}" if one_area else ""
    t = Table(title=f"{p.short_title_zh} {stage_zh}{where}（数据年份 {a.data_year}）")
    cols = ["序号", "地区", "指标", "x0", "x0来源", "目标x*", "xc", "τ", "p", "ρ", "x̂T", "状态"]
    cols.append("未达标单位")
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
            r.get("baseline_source") or "—",
            r["target_text"],
            fmt_num(r["value"], d),
            fmt_num(r["tau"], 2),
            fmt_num(r["p"], 3),
            fmt_num(r["rho"], 3),
            fmt_num(r["projection"], d),
            status_cell(r)
            + (f"（人工调整，原{r['override']['computed_status']}）" if r.get("override") else ""),
            "、".join(r["failing_units"]) or "",
        )
    console.print(t)
    for note in evaluation_notes(rows):
        console.print(note, markup=False)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    console.print("  ".join(f"{k} {v}项" for k, v in counts.items()))


def status_cell(r: dict) -> str:
    """The status; for a per-unit indicator with its weakest unit and the jurisdiction's own."""
    if r.get("weakest_unit") and r.get("failing_units"):
        return f"{r['status']}（最弱单位{r['weakest_unit']}；全域{r['jurisdiction_status']}）"
    return r["status"]


def evaluation_notes(rows: list[dict]) -> list[str]:
    """Notes under the table: projections not printed, and values the definitions infer."""
    notes: list[str] = []
    for r in rows:
        where = f"指标{r['number']}" + (f"（{r['area_name']}）" if r.get("area_name") else "")
        if r.get("projection_note"):
            notes.append(f"注：{where}x̂T：{r['projection_note']}")
        for i in r.get("inferred") or []:
            note = f"注：指标{r['number']}{FIELD_ZH.get(i['field'], i['field'])}为推定：{i['why']}"
            if note not in notes:
                notes.append(note)
    return notes


FIELD_ZH = {
    "attribute": "属性",
    "target": "目标",
    "baseline": "基期值",
    "baseline.year": "基期年份",
}


@app.command()
def review(
    plan: Annotated[str | None, typer.Option("--plan")] = None,
    indicator: Annotated[int | None, typer.Option("--indicator")] = None,
    goal: Annotated[
        str | None, typer.Option("--goal", help="正文目标编号（如 T1）/ text goal code")
    ] = None,
    stage: Annotated[
        Stage | None, typer.Option("--stage", help="评估阶段（默认：当前评估）/ stage")
    ] = None,
    year: Annotated[
        int | None, typer.Option("--year", help="数据年份（默认：该阶段的评估年）/ data year")
    ] = None,
    verdict: Annotated[Verdict | None, typer.Option("--verdict")] = None,
    by: Annotated[str | None, typer.Option("--by", help="评定人 / reviewer")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="理由 / reason")] = None,
    override: Annotated[
        bool, typer.Option("--override", help="人工调整数值指标的结果 / override a numeric result")
    ] = False,
    withdraw: Annotated[
        int | None, typer.Option("--withdraw", help="撤回某条评定（编号）/ withdraw review ID")
    ] = None,
):
    """人工评定定性指标（或 --override 人工调整数值结果；--withdraw 撤回）/ record, override or
    withdraw a reviewer's verdict for one indicator, stage and data year."""
    from flows.reviews import review_command, withdraw_command

    checked_review_texts(by or "", reason or "")  # before anything is stored
    if withdraw is not None:
        withdraw_command(withdraw, by, reason)
        return
    review_command(
        plan,
        indicator,
        stage.value if stage else None,
        year,
        None if verdict is None else verdict == Verdict.met,
        by,
        reason,
        override,
        goal=goal,
    )


def checked_review_texts(by: str, reason: str) -> None:
    """A reviewer's name and reason as they may be stored: one line of text within the
    warehouse's limits, the same on SQLite and PostgreSQL (raises UserError)."""
    from warehouse.engine import check_lengths
    from warehouse.schema import review as review_table

    if any(ord(ch) < 32 or ord(ch) == 127 for ch in by):
        raise UserError("评定人姓名含控制字符 / the reviewer's name holds control characters")
    try:
        check_lengths(
            review_table, {"reviewer": by.strip(), "reason": reason}, {"reviewer": "评定人姓名"}
        )
    except ValueError as e:
        raise UserError(str(e)) from None


@app.command()
def reviews(
    plan: Annotated[str, typer.Option("--plan")],
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
):
    """人工评定记录（含已撤回）/ every review of a plan, with its id and status."""
    from flows.reviews import reviews_command

    reviews_command(plan, format.value)


@app.command()
def quality(
    plan: Annotated[str | None, typer.Option("--plan")] = None,
    format: Annotated[Fmt, typer.Option("--format")] = Fmt.table,
    acknowledge: Annotated[
        int | None, typer.Option("--acknowledge", help="确认某个问题（编号）/ acknowledge issue ID")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="确认人 / who")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="理由 / why")] = None,
):
    """数据质量问题 / data-quality issues (baseline reconciliation, parts vs totals, outliers, gaps,
    quarantined source rows); --acknowledge ID --by NAME --reason TEXT to acknowledge one."""
    from flows.quality import acknowledge_command, quality_command

    if acknowledge is not None:
        acknowledge_command(acknowledge, by, reason)
        return
    if plan is None:
        raise UserError("请指定 --plan / give --plan (或 or --acknowledge ID)")
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
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="数据不足一半时仍生成（标注数据不完整）/ render even with too little data",
        ),
    ] = False,
    format: Annotated[
        list[ReportFormat] | None,
        typer.Option("--format", help="只生成这些格式 / only these formats (default: all)"),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option("--date", help="报告日期 YYYY-MM-DD / report date (default: today, 北京时间)"),
    ] = None,
):
    """生成评估报告（PDF、HTML、XLSX、DOCX）/ render the evaluation report. Exit 2: data year
    not allowed; 3: too little data for the year."""
    from flows.report import report_command

    raise typer.Exit(
        report_command(
            plan,
            stage.value,
            year,
            parse_moment(as_of),
            mail,
            allow_incomplete,
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
def serve(
    temporary: Annotated[
        bool,
        typer.Option(
            "--temporary",
            help="没有 PREFECT_API_URL 时使用临时服务器（历史随进程消失）/ without PREFECT_API_URL, "
            "use a temporary server whose history vanishes with this process",
        ),
    ] = False,
):
    """启动定时部署（每夜、年度）/ serve the scheduled deployments (nightly, yearly)."""
    from flows.pipeline import prefect_api_url, serve_deployments

    if not prefect_api_url() and not temporary:
        err.print(
            "[red]错误 error:[/] 未设置 PREFECT_API_URL：定时运行的记录会随临时服务器一起消失。请先"
            "启动 Prefect 服务器（prefect server start）并设置 PREFECT_API_URL（如 "
            "http://127.0.0.1:4200/api），或明确加上 --temporary / PREFECT_API_URL is not set: the "
            "scheduled runs' history would vanish with a temporary server. Start a Prefect server "
            "and set PREFECT_API_URL, or pass --temporary to accept that"
        )
        raise typer.Exit(2)
    if not prefect_api_url():
        err.print(
            "[yellow]提示 note:[/] 使用临时 Prefect 服务器，运行历史随本进程消失 / using a temporary "
            "Prefect server: the run history vanishes with this process"
        )
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
                Text(str(r.get(k) or ""))
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


@plan_app.command("import")
def plan_import(
    file: Annotated[
        Path, typer.Argument(help="规划文件 / plan document (.docx .xlsx .html .txt .pdf)")
    ],
    id: Annotated[str, typer.Option("--id", help="新规划代号 / new plan id")],
    area_code: Annotated[
        str | None, typer.Option("--area-code", help="地区代码 / area code")
    ] = None,
    area_name: Annotated[
        str | None, typer.Option("--area-name", help="地区名称 / area name")
    ] = None,
    baseline_year: Annotated[
        int | None, typer.Option("--baseline-year", help="基期年 / baseline year")
    ] = None,
    target_year: Annotated[
        int | None, typer.Option("--target-year", help="目标年 / target year")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="写入 DIR/ID/（默认 plans 目录）/ writes DIR/ID/")
    ] = None,
):
    """从规划文件的指标表生成规划草稿 / draft plans/ID/ from a plan document's indicator table."""
    from flows.plans import import_command
    from transforms.plan_import import Options

    options = Options(id, area_code, area_name, baseline_year, target_year)
    raise typer.Exit(import_command(file, options, out))


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
        err.print(f"[red]错误 error:[/] {escape(masked_url(str(e).strip(chr(39))))}")
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 - last line of defence: a message, not a traceback
        from warehouse.engine import WarehouseUnavailable

        if isinstance(e, WarehouseUnavailable):
            err.print(f"[red]数据仓库不可用 warehouse unavailable:[/] {escape(masked_url(str(e)))}")
            sys.exit(4)
        if isinstance(e, OSError):
            err.print(f"[red]文件错误 file error:[/] {escape(masked_url(str(e)))}")
            sys.exit(2)
        if os.environ.get("HEALTHPLAN_DEBUG"):
            raise
        err.print(
            f"[red]内部错误 internal error:[/] {type(e).__name__}: {escape(masked_url(str(e)))}\n"
            "设置 HEALTHPLAN_DEBUG=1 可查看详细堆栈 / set HEALTHPLAN_DEBUG=1 for the traceback"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
