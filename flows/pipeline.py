"""The nightly and yearly composition: ingest → compute → quality → evaluate → report.

Work whose inputs did not change is skipped: the run's fingerprint covers the warehouse's source
files, the definition files and the code version, so a night with no new file finishes fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.schedules import Cron
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import catalog, code_version, warehouse
from flows.compute import compute_plan, forget_values
from flows.evaluate import assess, retry_on_transient, save_assessment
from flows.ingest import ingest_paths
from flows.quality import quality_task
from healthplan.settings import console as make_console
from healthplan.settings import get_settings, masked_url
from warehouse.lock import LockHeld, fail_unfinished_runs, pipeline_lock
from warehouse.observations import source_files
from warehouse.results import finish_run, recent_runs, start_run

STAGES = ("mid", "end")


def task_runner():
    """Threads on one machine; a Dask cluster (local threads or a scheduler address) to scale out."""
    s = get_settings()
    if s.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if s.dask_address:
            return DaskTaskRunner(address=s.dask_address)
        return DaskTaskRunner(cluster_kwargs={"processes": False, "n_workers": 2})
    return ThreadPoolTaskRunner(max_workers=max(2, os.cpu_count() or 2))


def input_fingerprint(plans: list[str], stages: list[str], data_year: int | None) -> str:
    """What the outputs depend on: source files, definitions, reviews, commentary, code,
    parameters."""
    files = source_files(warehouse())
    checksums = sorted(files["checksum"]) if not files.empty else []
    h = hashlib.sha256()
    for part in (checksums, catalog().checksum(), code_version(), plans, stages, data_year):
        h.update(json.dumps(part, default=str).encode())
    from warehouse.results import load_quality_issues, load_reviews

    for p in plans:
        h.update(json.dumps(load_reviews(warehouse(), p), default=str, sort_keys=True).encode())
        acknowledged = [
            (i["id"], str(i["acknowledged_at"]), i["acknowledged"])
            for i in load_quality_issues(warehouse(), p)
            if i["acknowledged_at"] is not None
        ]
        h.update(json.dumps(acknowledged).encode())
    from flows.commentary import commentary_checksum

    h.update(commentary_checksum(plans).encode())  # the bureau's words: an edit re-renders
    return h.hexdigest()


def previous_outputs(fingerprint: str) -> dict | None:
    """The last completed pipeline run with the same fingerprint, if its reports still exist."""
    for run in recent_runs(warehouse(), 50):
        params = run.get("parameters") or {}
        if isinstance(params, str):
            params = json.loads(params)
        if run.get("flow") != "pipeline" or run.get("outcome") != "completed":
            continue
        if params.get("fingerprint") != fingerprint:
            return None
        paths = params.get("reports", [])
        if paths and all(Path(p).exists() for p in paths):
            return params
        return None
    return None


@task(retries=2, retry_delay_seconds=[5, 30])
def ingest_task(inbox: str) -> dict:
    summary = ingest_paths([Path(inbox)])
    return {
        "exit_code": summary.exit_code,
        "markdown": summary.to_markdown(),
        "lines": [summary.headline(), *summary.attention()],
    }


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_on_transient)
def compute_task(plan_id: str, as_of: datetime | None) -> int:
    return len(compute_plan(plan_id, as_of))


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_on_transient)
def evaluate_task(plan_id: str, stage: str, data_year: int | None, as_of: datetime | None):
    a = assess(plan_id, stage, data_year, as_of)
    save_assessment(a)
    return a


@task(retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=retry_on_transient)
def report_task(a, as_of: datetime | None = None) -> list[str]:
    """A run ``as_of`` a past moment renders reproductions: their file names and quality annex
    are of that moment, as ``healthplan report --as-of`` makes them."""
    from flows.report import assessment_stem, render_in_run

    files = render_in_run(a, stem=assessment_stem(a, as_of), as_of=as_of)
    return [str(p) for p in (files.pdf, files.html, files.xlsx, files.docx) if p is not None]


@dataclass
class PipelineResult:
    run_id: int
    skipped: bool
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    quality: dict[str, dict[str, int]] = field(default_factory=dict)
    reports: list[str] = field(default_factory=list)
    ingest_exit_code: int = 0
    seconds: float = 0.0
    ingest_lines: list[str] = field(default_factory=list)  # the ingest's totals, then its problems
    failures: list[str] = field(default_factory=list)  # what failed, per plan and step
    skipped_reports: list[str] = field(default_factory=list)  # reports not rendered, and why


class PipelineFailed(Exception):
    """Some plans' steps failed (the others completed): the message names them; ``result`` is
    the run's result, as a completed run returns it."""

    def __init__(self, message: str, result: dict):
        super().__init__(message, result)
        self.message, self.result = message, result

    def __str__(self) -> str:
        return self.message


@flow(name="pipeline", log_prints=True)
def pipeline_flow(
    plans: list[str] | None = None,
    stages: list[str] | None = None,
    data_year: int | None = None,
    as_of: datetime | None = None,
    inbox: str | None = None,
    force: bool = False,
) -> dict:
    """Everything, in order, under one warehouse lock; returns statuses, quality and report paths."""
    logger = get_run_logger()
    started = time.perf_counter()
    engine = warehouse()
    plans = plans or sorted(catalog().plans)
    stages = stages or list(STAGES)
    inbox = inbox or str(get_settings().inbox_dir)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    params = {"plans": plans, "stages": stages, "data_year": data_year, "inbox": inbox}
    with pipeline_lock(engine, "pipeline", holder):
        fail_unfinished_runs(engine, "pipeline")  # under the lock, none of them still runs
        run_id = start_run(engine, "pipeline", params)
        step = "ingest"
        try:
            ingested = ingest_task(inbox)
            create_markdown_artifact(key="ingest-summary", markdown=ingested["markdown"])
            step = "fingerprint"
            fp = input_fingerprint(plans, stages, data_year)
            before = None if (force or as_of) else previous_outputs(fp)
            if before:
                logger.info(
                    "输入未变，跳过计算与报告 / inputs unchanged: skipping compute and reports"
                )
                result = PipelineResult(run_id, True, before.get("statuses", {}),
                                        before.get("quality", {}), before.get("reports", []),
                                        ingested["exit_code"])  # fmt: skip
            else:
                result = _full_run(run_id, plans, stages, data_year, as_of, ingested["exit_code"])
                step = "artifacts"
            result.seconds = round(time.perf_counter() - started, 2)
            result.ingest_lines = ingested["lines"]
            _publish(result)
            outcome = "failed" if result.failures else "completed"
            finish_run(engine, run_id, outcome, _summary_line(result), parameters={
                **params, "fingerprint": fp, "statuses": result.statuses,
                "quality": result.quality, "reports": result.reports, "skipped": result.skipped,
                "failures": result.failures, "skipped_reports": result.skipped_reports,
            })  # fmt: skip
        except BaseException as e:  # an interrupt too: a run is never left marked running
            finish_run(
                engine, run_id, "failed", masked_url(f"步骤 {step} 失败 / step {step} failed: {e}")
            )
            raise
        finally:
            forget_values()  # a long-lived `serve` process should not hold last night's frames
    if result.failures:
        for line in result.failures:
            logger.error(line)
        raise PipelineFailed(_failures_message(result.failures), result.__dict__)
    return result.__dict__


def _failures_message(failures: list[str]) -> str:
    return f"{len(failures)} 项失败 / {len(failures)} failed: " + "；".join(failures)


def _outcome(future, what: str, failures: list[str]) -> tuple[bool, object]:
    """A task's result, or (False, None) with a line naming what failed and why."""
    try:
        return True, future.result()
    except Exception as e:  # noqa: BLE001 - one plan's failure is named, the others go on
        failures.append(f"{what}失败 / failed: {_reason(e)}")
        return False, None


def _reason(e: BaseException) -> str:
    text = str(e).strip().strip("'")
    if isinstance(e, ValueError | KeyError) and text:
        return text
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _full_run(run_id, plans, stages, data_year, as_of, ingest_code) -> PipelineResult:
    """Compute, check, evaluate and report every plan; a plan's failing step fails that plan's
    later steps only (named in ``failures``), and a report from too little data is skipped."""
    from flows.report import assessment_stem, incomplete_message, render_order, report_workers

    failures: list[str] = []
    skipped: list[str] = []
    # The report workers start now and import their libraries while compute and evaluate run.
    with report_workers(_local_reports(len(plans) * len(stages))) as pool:
        computed = {p: compute_task.submit(p, as_of) for p in plans}
        ready = [p for p in plans if _outcome(computed[p], f"{p} 指标计算 compute ", failures)[0]]
        quality = {p: quality_task.submit(p, as_of) for p in ready}
        evaluated = {
            (p, s): evaluate_task.submit(p, s, data_year, as_of) for p in ready for s in stages
        }
        statuses, assessed = {}, {}
        for (p, s), fut in evaluated.items():
            ok, a = _outcome(fut, f"{p}/{s} 评估 evaluation ", failures)
            if not ok:
                continue
            counts: dict[str, int] = {}
            for r in a.root_rows():
                counts[r["status"]] = counts.get(r["status"], 0) + 1
            statuses[f"{p}/{s}"] = counts
            why = incomplete_message(a)
            if why:
                skipped.append(f"{p}/{s}：{why}")
            else:
                assessed[(p, s)] = a
        order = render_order(assessed)
        if pool is not None:
            pool.queue([assessment_stem(assessed[key], as_of) for key in order])
        # a report's quality annex lists the issues its plan's quality check stored tonight
        reports = {
            key: report_task.submit(evaluated[key], as_of, wait_for=[quality[key[0]]])
            for key in order
        }
        paths = []
        for key in evaluated:
            if key in reports:
                ok, files = _outcome(reports[key], f"{key[0]}/{key[1]} 报告 report ", failures)
                paths += files if ok else []
        checked = {}
        for p, fut in quality.items():
            ok, counts = _outcome(fut, f"{p} 质量检查 quality check ", failures)
            if ok:
                checked[p] = counts
    return PipelineResult(
        run_id,
        False,
        statuses,
        checked,
        paths,
        ingest_code,
        failures=failures,
        skipped_reports=skipped,
    )


def _local_reports(reports: int) -> int:
    """The reports rendered in this process's workers: none when the tasks run on a remote Dask
    cluster (its workers render them where they run)."""
    s = get_settings()
    return 0 if s.task_runner == "dask" and s.dask_address else reports


def _publish(result: PipelineResult) -> None:
    rows = [
        {"plan/stage": key, **{status: n for status, n in counts.items()}}
        for key, counts in result.statuses.items()
    ]
    create_table_artifact(key="statuses", table=rows, description="各规划各阶段指标状态 / statuses")
    create_table_artifact(
        key="quality",
        table=[{"plan": p, **c} for p, c in result.quality.items()],
        description="数据质量问题 / quality issues by severity",
    )
    create_markdown_artifact(
        key="reports",
        markdown="\n".join(["# 评估报告 / reports", *[f"- `{p}`" for p in result.reports]]),
    )


def _summary_line(result: PipelineResult) -> str:
    what = "跳过未变工作 / skipped unchanged work" if result.skipped else "完整运行 / full run"
    line = f"{what}; {len(result.reports)} files; {result.seconds}s"
    if result.failures:
        line += "; " + _failures_message(result.failures)
    if result.skipped_reports:
        line += "; 未生成报告 / reports skipped: " + "；".join(result.skipped_reports)
    return line


def run_pipeline(plans=None, stages=None, data_year=None, inbox=None, force=False) -> dict:
    """Run the pipeline flow now with the configured task runner."""
    runner_flow = pipeline_flow.with_options(task_runner=task_runner())
    return runner_flow(
        plans=plans,
        stages=stages,
        data_year=data_year,
        inbox=str(inbox) if inbox else None,
        force=force,
    )


def run_command(plans, stages, data_year, inbox) -> int:
    """`healthplan run`: the pipeline now, with progress, then where the reports are."""
    from rich.markup import escape
    from rich.table import Table

    console = make_console()
    started = time.perf_counter()
    quiet_prefect_tracebacks()
    try:
        with console.status("运行流水线 / running the pipeline（导入→计算→评估→报告）…"):
            result = run_pipeline(plans, stages, data_year, inbox)
    except LockHeld as e:
        console.print(f"[yellow]{escape(str(e))}[/]")
        return 5
    except PipelineFailed as e:
        result = e.result
    except Exception as e:  # noqa: BLE001 - a message and an exit code, not a traceback
        return run_failed(e)
    t = Table(title="各规划指标状态 / statuses")
    t.add_column("规划/阶段")
    t.add_column("状态分布")
    for key, counts in result["statuses"].items():
        t.add_row(key, "  ".join(f"{k} {v}" for k, v in counts.items()))
    console.print(t)
    headline, *attention = result["ingest_lines"] or [""]
    console.print(escape(headline))
    for line in attention:
        console.print(f"  [yellow]{escape(line)}[/]")
    if attention:
        console.print("  全部隔离行 / every quarantined row: healthplan db quarantine")
        for plan in result["quality"]:
            console.print(
                f"  受影响的指标 / indicators affected: healthplan quality --plan {escape(plan)}"
            )
    if result["skipped"]:
        console.print("输入未变，沿用上次结果 / inputs unchanged: previous results kept")
    console.print("报告 / reports:")
    for p in result["reports"]:
        console.print(f"  {escape(p)}")
    for line in result.get("skipped_reports", []):
        console.print(f"[yellow]未生成报告 / report skipped: {escape(line)}[/]")
    console.print(f"用时 / took {time.perf_counter() - started:.1f}s")
    if result.get("failures"):
        err = make_console(stderr=True)
        err.print("[red]以下步骤失败，其余规划已完成 / failed (the other plans completed):[/]")
        for line in result["failures"]:
            err.print(f"  [red]{escape(line)}[/]")
        return 1
    return result["ingest_exit_code"]  # the ingest's: 0, 3 rows quarantined, 2 a file unreadable


def run_failed(exc: BaseException) -> int:
    """What `healthplan run` prints when the pipeline failed (the run is recorded as failed):
    one Chinese-first message, no traceback (HEALTHPLAN_DEBUG=1 shows it); the exit code:
    4 the warehouse unavailable, 1 anything else."""
    import sqlalchemy as sa
    from rich.markup import escape

    from warehouse.engine import WarehouseUnavailable, db_error_message, warehouse_down

    if os.environ.get("HEALTHPLAN_DEBUG"):
        raise exc
    err = make_console(stderr=True)
    if isinstance(exc, sa.exc.SQLAlchemyError):
        text = db_error_message(exc, "流水线 / the pipeline: ")
    else:
        text = f"{type(exc).__name__}: {exc}"
    err.print(
        f"[red]流水线运行失败 pipeline failed:[/] {escape(masked_url(text)[:800])}\n"
        "本次运行已记为失败（healthplan history）；设置 HEALTHPLAN_DEBUG=1 可查看详细堆栈 / the "
        "run is recorded as failed (healthplan history); set HEALTHPLAN_DEBUG=1 for the traceback"
    )
    down = isinstance(exc, WarehouseUnavailable) or warehouse_down(exc)
    return 4 if down else 1


def quiet_prefect_tracebacks() -> None:
    """Prefect's console lines without their tracebacks (its server's logs keep them), unless
    HEALTHPLAN_DEBUG is set: the person at the terminal reads one message from `run`."""
    import logging

    if os.environ.get("HEALTHPLAN_DEBUG"):
        return

    class NoTraceback(logging.Formatter):
        def __init__(self, inner: logging.Formatter | None):
            super().__init__()
            self.inner = inner or logging.Formatter()

        def format(self, record: logging.LogRecord) -> str:
            saved = record.exc_info, record.exc_text, record.stack_info
            record.exc_info = record.exc_text = record.stack_info = None
            try:
                return self.inner.format(record)
            finally:
                record.exc_info, record.exc_text, record.stack_info = saved

    names = ["", *[n for n in logging.root.manager.loggerDict if n.startswith("prefect")]]
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if type(handler).__name__ == "APILogHandler" or not isinstance(
                handler, logging.StreamHandler
            ):
                continue
            if not hasattr(handler.formatter, "inner"):  # not wrapped already
                handler.setFormatter(NoTraceback(handler.formatter))


def deployments():
    """The scheduled deployments: a nightly pipeline and the yearly mid/end-term report runs."""
    s = get_settings()
    nightly = pipeline_flow.to_deployment(
        name="nightly",
        schedule=Cron(s.nightly_cron, timezone=s.timezone),
        description="每夜导入收件夹并刷新评估 / nightly ingest and refresh",
    )
    mid = pipeline_flow.to_deployment(
        name="mid-term-report",
        schedule=Cron(s.mid_term_cron, timezone=s.timezone),
        parameters={"stages": ["mid"], "force": True},
        description="中期评估报告 / mid-term evaluation report",
    )
    end = pipeline_flow.to_deployment(
        name="end-term-report",
        schedule=Cron(s.end_term_cron, timezone=s.timezone),
        parameters={"stages": ["end"], "force": True},
        description="终期评估报告 / end-of-term evaluation report",
    )
    return [nightly, mid, end]


def serve_deployments() -> None:
    from prefect import serve

    serve(*deployments())


def prefect_api_url() -> str | None:
    """The Prefect server `serve` would report to (PREFECT_API_URL, from the environment or the
    active profile), or None: then Prefect starts a temporary server whose history vanishes."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None
