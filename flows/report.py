"""Render the evaluation report: Load → Process → Save.

Load: the plan, its areas, the open quality issues (those open then, for a report reproduced as
of a past moment) and the source files the assessment used.
Process: ``transforms.report_context.build_context`` → Jinja2 (autoescaping on) → WeasyPrint
(fetching nothing outside ``report_templates/``) and an XLSX of the indicator table.
Save: every file written atomically (temporary file in the same folder, fsync, ``os.replace``),
then each one recorded in the warehouse with its checksum and the inputs it was made from.
The report flow and the pipeline render each report whole in a worker process (``RenderPool``),
longest first, one worker per core.
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import hashlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from healthplan.settings import console as make_console
from healthplan.settings import get_settings, usable_cpus
from transforms.assessment import STAGES, thresholds_for
from transforms.report_context import build_context
from writers.docx import render_docx
from writers.files import (  # noqa: F401 - remove_stale_parts is used by callers
    ARCHIVE_DIR,
    archive_contents,
    remove_stale_parts,
    write_atomically,
)
from writers.html import TEMPLATE, TEMPLATES_DIR, css_string, render_html, sym  # noqa: F401
from writers.pdf import (  # noqa: F401 - re-exported for callers and tests
    _weasyprint,
    fewer_collections,
    render_pdf,
    template_fetcher,
)
from writers.xlsx import put, render_xlsx  # noqa: F401

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from flows.evaluate import Assessment
    from healthplan.definitions import Area, Plan
    from warehouse.lock import Fence

FORMATS = ("pdf", "html", "xlsx", "docx")
log = logging.getLogger("healthplan.report")


@dataclass(frozen=True)
class ReportFiles:
    """Where one report went, how many PDF pages it has and how long it took."""

    pdf: Path
    html: Path
    xlsx: Path
    pages: int
    seconds: float
    warnings: tuple[str, ...] = field(default=())
    docx: Path | None = None
    notices: tuple[str, ...] = field(default=())  # for the reader: e.g. commentary to re-check
    archived: tuple[Path, ...] = field(default=())  # the previous files, kept in reports/archive
    written: tuple[str, ...] = FORMATS  # the formats rendered (`report --format` may pick some)

    def paths(self) -> list[Path]:
        files = {"pdf": self.pdf, "html": self.html, "xlsx": self.xlsx, "docx": self.docx}
        return [files[f] for f in self.written if files.get(f) is not None]


class ReportError(RuntimeError):
    """A report that could not be made, with a message for the person who asked for it."""


# ------------------------------------------------------------------------------ Load → Process → Save


@dataclass
class ReportInputs:
    """What the report needs beyond the assessment."""

    plan: Plan
    areas: Sequence[Area]
    quality_issues: list[dict]
    source_files: list[dict]
    definition_checksum: str
    code_version: str
    commentary: str | None = None  # the bureau's commentary file's text, if it has one
    commentary_name: str = ""  # where it came from, for messages
    issued_on: date | None = None  # the report's date (default: today in the bureau's zone)


def load_inputs(a: Assessment, engine: Engine, as_of: datetime | None = None) -> ReportInputs:
    """The report's inputs; ``as_of`` only for a reproduction (as in ``report_stem``): its quality
    issues are those open at that moment, else those open now (the nightly run's quality check
    may close or open some after the assessment's moment, and its report shows them)."""
    from flows.commentary import read_commentary
    from flows.common import catalog, code_version
    from warehouse.observations import source_files
    from warehouse.results import load_quality_issues

    cat = catalog()
    ids = set(a.source_file_ids())
    commentary_path, commentary = read_commentary(a.plan_id, a.stage, a.data_year)
    files = source_files(engine)
    used = [] if files.empty else files[files["id"].isin(ids)].to_dict("records")
    return ReportInputs(
        plan=cat.plan(a.plan_id),
        areas=cat.areas(a.plan_id),
        quality_issues=load_quality_issues(engine, a.plan_id, open_only=True, as_of=as_of),
        source_files=used,
        definition_checksum=cat.checksum(),
        code_version=code_version(),
        commentary=commentary,
        commentary_name=str(commentary_path),
    )


def report_stem(plan_id: str, stage: str, data_year: int, as_of: datetime | None = None) -> str:
    """'myplan_mid_2023'; a reproduction as of a past moment gets '_asof20240301T100000' (UTC)."""
    stem = f"{plan_id}_{stage}_{data_year}"
    if as_of is not None:
        stem += f"_asof{as_of.astimezone(UTC):%Y%m%dT%H%M%S}"
    return stem


def assessment_stem(a: Assessment, as_of: datetime | None = None) -> str:
    """The file stem of an assessment's report (``as_of`` only for a reproduction)."""
    return report_stem(a.plan_id, a.stage, a.data_year, as_of)


def build_report(
    a: Assessment,
    inputs: ReportInputs,
    *,
    issued_on: date | None = None,
    pdf: bool = True,
) -> tuple[dict, str, bytes, int, list[str], bytes]:
    """Process: context, HTML, PDF and XLSX bytes (nothing written; no PDF laid out, and empty
    bytes and 0 pages instead, when ``pdf`` is false)."""
    from flows.evaluate import settings_thresholds
    from transforms.commentary import parse_commentary

    s = get_settings()
    commentary = (
        parse_commentary(inputs.commentary, {i.number for i in inputs.plan.indicators})
        if inputs.commentary
        else None
    )
    ctx = build_context(
        inputs.plan,
        a.rows,
        a.values,
        stage=a.stage,
        data_year=a.data_year,
        as_of=a.as_of,
        areas=inputs.areas,
        quality_issues=inputs.quality_issues,
        source_files=inputs.source_files,
        reviews=a.reviews,
        goal_reviews=a.goal_reviews,
        review_history=a.review_history,
        thresholds=thresholds_for(inputs.plan, settings_thresholds()),
        issuing_body=s.issuing_body,
        issued_on=issued_on or inputs.issued_on,
        generated_at=datetime.now(UTC),
        code_version=inputs.code_version,
        definition_checksum=inputs.definition_checksum,
        timezone=s.timezone,
        commentary=commentary,
    )
    html = render_html(ctx)
    pdf_bytes, pages, warnings = render_pdf(html) if pdf else (b"", 0, [])
    xlsx = render_xlsx(ctx, a.rows, inputs.plan, a.values)
    return ctx, html, pdf_bytes, pages, warnings, xlsx


def _inputs_record(a: Assessment, inputs: ReportInputs) -> dict:
    return {
        "source_files": sorted(str(f["checksum"]) for f in inputs.source_files),
        "definition_checksum": inputs.definition_checksum,
        "reviews": {
            str(n): {
                "id": r.get("id"),
                "override": bool(r.get("override")),
                "verdict": bool(r.get("verdict")),
                "reviewer": r.get("reviewer"),
                "reviewed_at": str(r.get("reviewed_at")),
            }
            for n, r in [*sorted(a.reviews.items()), *sorted(a.goal_reviews.items())]
        },
        "data_year": a.data_year,
        "as_of": a.as_of.isoformat(),
    }


def render_report(
    a: Assessment,
    *,
    out_dir: Path | None = None,
    engine: Engine | None = None,
    stem: str | None = None,
    inputs: ReportInputs | None = None,
    as_of: datetime | None = None,
    fence: Fence | None = None,
    formats: Sequence[str] | None = None,
    issued_on: date | None = None,
) -> ReportFiles:
    """Render one assessment to PDF, HTML, XLSX and DOCX (or only ``formats``) in the reports
    folder, keep the files they replace in reports/archive, and record them (``as_of`` only for
    a reproduction as of a past moment: see ``load_inputs``). Under a pipeline lock (``fence``,
    default: the one this process holds) the files are put in place and recorded only while the
    run still holds it."""
    from warehouse.lock import held_fence

    fence = fence or held_fence()
    formats = tuple(f for f in FORMATS if formats is None or f in formats)
    if not formats:
        raise ReportError(f"未指定报告格式 no report format among {FORMATS}")
    started = time.perf_counter()
    if engine is None:
        from flows.common import warehouse

        engine = warehouse()
    inputs = inputs or load_inputs(a, engine, as_of)
    folder = Path(out_dir or get_settings().reports_dir)
    stem = stem or report_stem(a.plan_id, a.stage, a.data_year)
    ctx, html, pdf, pages, warnings, xlsx = build_report(
        a, inputs, issued_on=issued_on, pdf="pdf" in formats
    )
    for w in warnings:
        log.warning("WeasyPrint: %s", w)
    docx = render_docx(ctx) if "docx" in formats else b""
    paths = {fmt: folder / f"{stem}.{fmt}" for fmt in FORMATS}
    data = {"pdf": pdf, "html": html.encode("utf-8"), "xlsx": xlsx, "docx": docx}
    # the current files are kept in reports/archive, in the same all-or-none write as the new ones
    archived = archive_contents(
        [paths[f] for f in formats], folder / ARCHIVE_DIR, previous_as_of(engine, paths["pdf"])
    )
    if fence is not None:
        fence.check(engine, "替换报告文件 / replacing the report files")
    write_atomically({**archived, **{paths[f]: data[f] for f in formats}})
    notices = commentary_notices(ctx, inputs.commentary_name)
    for n in notices:
        log.warning("%s", n)

    from flows.incremental import with_content_key
    from warehouse.results import record_report

    record_inputs = with_content_key(_inputs_record(a, inputs), a, inputs)
    for fmt in formats:
        if fence is not None:
            fence.check(engine, "记录报告 / recording the report")
        record_report(
            engine,
            plan_id=a.plan_id,
            stage=a.stage,
            data_year=a.data_year,
            as_of=a.as_of,
            format=fmt,
            path=str(paths[fmt].resolve()),
            checksum=hashlib.sha256(data[fmt]).hexdigest(),
            inputs=record_inputs,
            code_version=inputs.code_version[:64],
        )
    return ReportFiles(
        pdf=paths["pdf"],
        html=paths["html"],
        xlsx=paths["xlsx"],
        pages=pages,
        seconds=round(time.perf_counter() - started, 3),
        warnings=tuple(warnings),
        docx=paths["docx"],
        notices=tuple(notices),
        archived=tuple(archived),
        written=formats,
    )


def commentary_notices(ctx: Mapping[str, Any], source: str) -> list[str]:
    """What the reader of the command's output must check in the commentary file."""
    check = ctx["appendix"]["commentary_check"]
    return [f"{source}：{t}" for t in [*check["stale"], *check["problems"]]]


def previous_as_of(engine, pdf: Path) -> datetime | None:
    """The as-of moment of the report now at ``pdf`` (from its record), if there is one."""
    if not pdf.exists() or not hasattr(engine, "connect"):
        return None
    from warehouse.results import find_reports

    try:
        records = find_reports(engine)
    except Exception:  # noqa: BLE001 - an unrecorded file is archived under its file time
        return None
    path = str(pdf.resolve())
    for r in records:
        if r["path"] == path and r.get("as_of") is not None:
            return r["as_of"]
    return None


# ------------------------------------------------------------------------------ mail text


def mail_text(a: Assessment, plan: Plan, files: ReportFiles) -> tuple[str, str]:
    stage_zh = STAGES[a.stage]
    subject = f"{plan.short_title_zh}{stage_zh}报告（{a.data_year}年数据）"
    tz = ZoneInfo(get_settings().timezone)
    body = "\n".join(
        [
            f"{plan.title_zh}{stage_zh}报告（数据年份{a.data_year}年）见附件。",
            f"数据截至：{a.as_of.astimezone(tz):%Y-%m-%d %H:%M}（{tz.key}）",
            f"报告文件：{files.pdf.name}（{files.pages}页）；另有 "
            + "、".join(p.name for p in files.paths() if p != files.pdf)
            + "。",
            "",
            "本邮件由 healthplan 评估流水线自动发送。",
        ]
    )
    return subject, body


# ------------------------------------------------------------------------------ command


def incomplete_message(a: Assessment) -> str | None:
    """Why an assessment holds too little data for a report (fewer than half of the numeric
    indicators have a value for the data year), Chinese first; None when it holds enough."""
    from flows.common import catalog
    from transforms.assessment import data_completeness, is_incomplete

    counts = data_completeness(catalog().plan(a.plan_id), a.rows)
    if not is_incomplete(counts):
        return None
    return (
        f"{a.data_year}年数据不完整：{counts['numeric']}项数值指标中仅{counts['with_data']}项有数据"
        f"（不足一半）/ incomplete data: {counts['with_data']} of {counts['numeric']} numeric "
        f"indicators have a {a.data_year} value"
    )


def report_command(
    plan_id: str,
    stage: str,
    data_year: int | None = None,
    as_of: datetime | None = None,
    mail: bool = False,
    allow_incomplete: bool = False,
    formats: Sequence[str] | None = None,
    issued_on: date | None = None,
) -> int:
    """`healthplan report`: render (and optionally mail) one report; 0 on success, 1 on failure,
    2 for a data year the stage does not allow, 3 for too little data (unless
    ``allow_incomplete``: then the report is marked 数据不完整)."""

    from healthplan.definitions import DefinitionError
    from transforms.assessment import DataYearError

    out, err = make_console(), make_console(stderr=True)
    s = get_settings()
    from flows.common import catalog
    from flows.evaluate import assess
    from warehouse.engine import WarehouseUnavailable

    try:
        if stage not in STAGES:
            raise ValueError(f"未知评估阶段 unknown stage {stage!r}（mid 或 end）")
        plan = catalog().plan(plan_id)
        folder = Path(s.reports_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ReportError(
                f"无法创建报告文件夹 cannot create the reports folder {folder}: {e.strerror or e}"
            ) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ReportError(f"报告文件夹不可写 reports folder is not writable: {folder}")
        a = assess(plan_id, stage, data_year, as_of)
        incomplete = incomplete_message(a)
        if incomplete and not allow_incomplete:
            hint = "（--as-of 时点早于数据入库？/ is --as-of before the data?）" if as_of else ""
            err.print(
                f"[red]报告未生成 report not rendered:[/] {incomplete}{hint}\n"
                "请先导入数据（healthplan ingest），或加 --allow-incomplete 生成标有“数据不完整”的报告 / "
                "ingest the data first, or pass --allow-incomplete for a report marked incomplete"
            )
            return 3
        stem = report_stem(plan_id, stage, a.data_year, as_of)
        files = render_report(
            a, out_dir=folder, stem=stem, as_of=as_of, formats=formats, issued_on=issued_on
        )
    except DataYearError as e:
        err.print(f"[red]报告未生成 report not rendered:[/] {e}")
        return 2
    except WarehouseUnavailable as e:
        err.print(f"[red]数据仓库不可用 warehouse unavailable:[/] {e}")
        return 1
    except (ReportError, DefinitionError, ValueError, KeyError) as e:
        err.print(f"[red]报告未生成 report not rendered:[/] {str(e).strip(chr(39))}")
        return 1
    except OSError as e:
        err.print(
            f"[red]报告未生成，文件写入失败 report not rendered, cannot write:[/] "
            f"{e.filename or ''} {e.strerror or e}"
        )
        return 1
    if as_of is not None:
        out.print(
            f"按 {as_of.isoformat()} 时点的数据重新生成 / reproduced as of {as_of.isoformat()}"
        )
    if incomplete:
        err.print(f"[yellow]注意 note:[/] {incomplete}；报告已标注“数据不完整” / marked incomplete")
    out.print(f"报告已生成 / report written（{files.pages} 页 pages，{files.seconds:.1f} 秒 s）：")
    for p in files.paths():
        out.print(f"  {p}")
    for w in files.warnings:
        err.print(f"[yellow]排版警告 layout warning:[/] {w}")
    for n in files.notices:
        err.print(f"[yellow]请核对评述 check the commentary:[/] {n}")
    for p in files.archived:
        out.print(f"  上一版已存档 / previous kept: {p}")
    if mail and files.pages == 0:
        err.print("[red]邮件未发送：未生成 PDF / mail not sent: no PDF rendered[/]")
        return 1
    if mail:
        from flows.distribute import MailError, mail_report

        subject, body = mail_text(a, plan, files)
        try:
            sent = mail_report(files.pdf, subject, body, s)
        except MailError as e:
            err.print(f"[red]邮件未发送 mail not sent:[/] {e}")
            return 1
        out.print(f"已发送至 / mailed to: {'、'.join(sent)}")
    return 0


# ------------------------------------------------------------------------------ worker processes

# WeasyPrint is pure Python under the GIL: renders in threads take longer than one
# after another, renders in processes take half as long on 2 cores and keep every layout out of
# the parent's memory.

K = TypeVar("K", bound=Hashable)
TURN_WAIT_SECONDS = 30.0  # how long a render waits for the longer ones queued before it


def worker_count() -> int:
    """Processes that may render reports: the HEALTHPLAN_WORKERS setting (default: the CPU
    cores this process may run on), shared with the ingest's parse workers."""
    from healthplan.settings import get_settings

    return get_settings().workers


def render_order(assessments: Mapping[K, Assessment | None]) -> list[K]:
    """The reports longest first (most rows: areas × indicators, hence pages), so that no long
    report starts last while the other workers sit idle; missing assessments go last."""

    def size(key: K) -> int:
        a = assessments[key]
        return -1 if a is None else len(a.rows)

    return sorted(assessments, key=size, reverse=True)


def slim_for_render(a: Assessment) -> Assessment:
    """The assessment a worker is sent: of the observation rows the report only needs the ids of
    the source files, so the rest is not pickled across."""
    obs = a.observations
    if obs.empty or "source_file_id" not in obs.columns:
        return a
    kept = [c for c in ("source_file_id", "year") if c in obs.columns]  # year: content key
    ids = obs[kept].drop_duplicates().reset_index(drop=True)
    return dataclasses.replace(a, observations=ids)


def _restore_exception(cls: type[BaseException], args: tuple, state: dict) -> BaseException:
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def _reduce_exception(exc: BaseException):
    return _restore_exception, (type(exc), exc.args, dict(vars(exc)))


def _round_trips(exc: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure means it cannot travel as it is
        return False
    return True


def portable_error(exc: BaseException) -> BaseException:
    """The error as it can travel from a worker to the parent: the same class, message and
    attributes. Exceptions whose ``__init__`` takes other arguments than their message (e.g.
    ``WarehouseUnavailable``) are rebuilt without calling it; one that still cannot be pickled
    becomes a ``ReportError`` with its message. (An exception that fails to unpickle in the
    parent would break the whole pool.)"""
    if _round_trips(exc):
        return exc
    copyreg.pickle(type(exc), _reduce_exception)  # this worker only: its errors go to the parent
    if _round_trips(exc):
        return exc
    return ReportError(f"{type(exc).__name__}: {exc}")


def _prepare_worker(parent_pid: int | None = None) -> None:
    """End with the parent (a killed run's workers must not live on and publish); then import
    the renderer's libraries as soon as the worker starts, while the parent is still assessing;
    a failure here shows up, with its traceback, in the first render instead."""
    from flows.common import die_with_parent

    die_with_parent(parent_pid)
    with contextlib.suppress(Exception):
        _weasyprint()
        import openpyxl  # noqa: F401

        import flows.evaluate  # noqa: F401
        import transforms.charts  # noqa: F401
        import warehouse.results  # noqa: F401


def _render_in_worker(
    a: Assessment,
    inputs: ReportInputs,
    out_dir: str,
    stem: str,
    database_url: str,
    fence: Fence | None = None,
) -> ReportFiles:
    """One report, fully (files and warehouse records), in a worker; its error goes back whole.
    ``fence``: the parent run's lock, checked before the files are put in place and recorded."""
    from warehouse.engine import get_engine

    try:
        engine = get_engine(database_url)
        return render_report(
            a, out_dir=Path(out_dir), stem=stem, engine=engine, inputs=inputs, fence=fence
        )
    except Exception as e:
        portable = portable_error(e)
        if portable is e:
            raise
        raise portable from None


class RenderPool:
    """Worker processes that each render whole reports, fed in the order given by ``queue``.

    Started with "spawn" (the parent runs Prefect's threads, which a fork would copy mid-flight)
    as soon as the pool is made, so their imports overlap the parent's own work. They inherit
    the parent's environment, hence its settings; the warehouse URL and the reports folder are
    passed explicitly. SQLite writers wait for each other (busy timeout), so the workers may
    record their reports at the same time.
    """

    def __init__(self, workers: int, database_url: str, reports_dir: Path):
        self.workers = workers
        self.database_url = database_url
        self.reports_dir = Path(reports_dir)
        self._turns = threading.Condition()
        self._order: list[str] = []
        self._next = 0
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_prepare_worker,
            initargs=(os.getpid(),),
        )
        for _ in range(self.workers):  # a worker is spawned per submission while none is idle
            executor.submit(int)
        return executor

    def queue(self, stems: Sequence[str]) -> None:
        """The order in which renders reach the workers (longest first), whatever order the
        render tasks' threads happen to call ``render`` in."""
        with self._turns:
            self._order, self._next = list(stems), 0
            self._turns.notify_all()

    def _submit_in_turn(self, stem: str, *args: Any) -> Future:
        with self._turns:
            if stem in self._order:
                place = self._order.index(stem)
                self._turns.wait_for(lambda: self._next >= place, timeout=TURN_WAIT_SECONDS)
                self._next = max(self._next, place + 1)
                self._turns.notify_all()
            try:
                return self._executor.submit(_render_in_worker, *args)
            except BrokenProcessPool:  # a worker died earlier (e.g. killed): start afresh
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._start()
                return self._executor.submit(_render_in_worker, *args)

    def render(
        self,
        a: Assessment,
        *,
        stem: str,
        engine: Engine | None = None,
        as_of: datetime | None = None,
    ) -> ReportFiles:
        """``render_report`` in a worker, waiting for its result. The inputs (plan, areas, quality
        issues, source files, code version) are loaded here, so that the worker lays out exactly
        what this process would."""
        if engine is None:
            from warehouse.engine import get_engine

            engine = get_engine(self.database_url)
        from warehouse.lock import held_fence

        inputs = load_inputs(a, engine, as_of)
        future = self._submit_in_turn(
            stem,
            slim_for_render(a),
            inputs,
            str(self.reports_dir),
            stem,
            self.database_url,
            held_fence(),
        )
        try:
            return future.result()
        except BrokenProcessPool:
            from flows.common import unguarded_script_hint

            raise ReportError(
                f"报告 {stem} 未生成：渲染子进程意外退出（内存不足？）/ report {stem} not rendered: "
                f"its worker process ended unexpectedly (out of memory?){unguarded_script_hint()}"
            ) from None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


_POOLS: dict[str | None, RenderPool] = {}


def _flow_run_key() -> str | None:
    from prefect.runtime import flow_run

    return flow_run.get_id()


@contextlib.contextmanager
def report_workers(reports: int) -> Iterator[RenderPool | None]:
    """Worker processes for the current flow run's reports: one per core and no more than
    reports; none (each report renders in its task's thread) for one report or one core."""
    workers = min(worker_count(), reports)
    if workers <= 1:
        yield None
        return
    s = get_settings()
    pool = RenderPool(workers, s.effective_database_url, Path(s.reports_dir))
    key = _flow_run_key()
    _POOLS[key] = pool
    try:
        yield pool
    finally:
        if _POOLS.get(key) is pool:
            del _POOLS[key]
        pool.close()


def render_in_run(a: Assessment, *, stem: str, as_of: datetime | None = None) -> ReportFiles:
    """Render in the current flow run's worker processes when it has some, else right here
    (``as_of`` only for a reproduction)."""
    pool = _POOLS.get(_flow_run_key())
    if pool is None:
        return render_report(a, stem=stem, as_of=as_of)
    return pool.render(a, stem=stem, as_of=as_of)


# ------------------------------------------------------------------------------ Prefect


def _retry_on_io(task, task_run, state) -> bool:
    """Retry only what may pass on a second try: file-system and network errors."""
    try:
        state.result()
    except OSError:
        return True
    except Exception:
        return False
    return False


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_on_io)
def assess_for_report(plan_id: str, stage: str, data_year: int | None, as_of: datetime | None):
    from flows.evaluate import assess

    return assess(plan_id, stage, data_year, as_of)


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=_retry_on_io)
def render_task(a: Assessment, as_of: datetime | None) -> ReportFiles:
    return render_in_run(a, stem=assessment_stem(a, as_of), as_of=as_of)


@flow(
    name="report",
    log_prints=True,
    # threads only wait on the render workers; read no settings at import (a bad env var would
    # fail the import instead of the command that reports it)
    task_runner=ThreadPoolTaskRunner(max_workers=max(2, usable_cpus())),
)
def report_flow(
    plans: list[str] | None = None,
    stages: list[str] | None = None,
    data_year: int | None = None,
    as_of: datetime | None = None,
    allow_incomplete: bool = False,
) -> dict[str, list[str]]:
    """Render every (plan, stage) report; each render runs in a worker process, longest first.
    A report from too little data is skipped (named in the artifact) unless ``allow_incomplete``:
    then it is rendered marked 数据不完整."""
    from prefect.futures import wait

    from flows.common import catalog

    keys = [(p, s) for p in plans or sorted(catalog().plans) for s in stages or list(STAGES)]
    with report_workers(len(keys)) as pool:
        assessed = {key: assess_for_report.submit(*key, data_year, as_of) for key in keys}
        wait(list(assessed.values()))
        done = {k: f.result() if f.state.is_completed() else None for k, f in assessed.items()}
        order = render_order(done)
        if pool is not None:
            pool.queue([assessment_stem(done[k], as_of) for k in order if done[k] is not None])
        skipped = {
            k: why
            for k in order
            if done[k] and not allow_incomplete and (why := incomplete_message(done[k]))
        }
        futures = {
            key: render_task.submit(assessed[key], as_of) for key in order if key not in skipped
        }
        out: dict[str, list[str]] = {}
        lines = ["# 评估报告 / evaluation reports", ""]
        failed: list[tuple[str, BaseException]] = []
        for plan_id, stage in keys:
            key = f"{plan_id}/{stage}"
            if (plan_id, stage) in skipped:
                lines += [f"## {key}：未生成 / skipped", skipped[(plan_id, stage)], ""]
                continue
            future = futures.get((plan_id, stage)) or assessed[(plan_id, stage)]
            try:  # one plan's failure is named; the others' reports are still listed
                files: ReportFiles = future.result()
            except Exception as e:  # noqa: BLE001 - re-raised below, after the listing
                failed.append((key, e))
                lines += [f"## {key}：失败 / failed", f"{type(e).__name__}: {e}", ""]
                continue
            out[key] = [str(p) for p in files.paths()]
            lines.append(f"## {key}（{files.pages} 页，{files.seconds:.1f} 秒）")
            lines.extend(f"- `{p}`" for p in files.paths())
            lines.append("")
    create_markdown_artifact(
        key="evaluation-reports", markdown="\n".join(lines), description="报告文件 / report files"
    )
    for key, e in failed:
        log.error("报告失败 / report failed: %s: %s: %s", key, type(e).__name__, e)
    if failed:
        raise failed[0][1]  # the flow fails with the first error; every failure is logged above
    return out
