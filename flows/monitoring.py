"""`healthplan ingest FILE --plan NAME`: a bureau's indicator monitoring sheet into the warehouse.

Load (bytes + sha256, as every source file) → Process (``transforms.monitoring_sheet``) → Save
(``flows.ingest.save_parsed``: the same source-file registration, observation revisions and
as-of as any other source). A sheet with anything it cannot match is refused whole, each problem
named, and nothing of it is stored (exit 3); an unreadable file exits 2.

The plain ingest (and so `healthplan run`) hands a file that no source layout reads to
``ingest_unmatched``: a monitoring sheet of exactly one known plan is loaded as here (see
``plans_of_sheet`` for how its plan is found); a sheet two plans could own is refused, naming them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import Engine

from flows.ingest import (
    STATUS_ZH,
    Candidate,
    FileResult,
    IngestSummary,
    SourceBytes,
    already_loaded,
    expand_paths,
    read_source,
    save_parsed,
    save_unreadable,
)
from healthplan.settings import console as make_console
from transforms.monitoring_sheet import (
    is_monitoring_sheet,
    parse_monitoring_sheet,
    plans_matching,
    plans_named,
    read_sheets,
)
from transforms.parsing import UnreadableFile

REFUSED = "整表未入库 / refused: nothing of the sheet was loaded"
SHOWN_PROBLEMS = 100


def ingest_monitoring_file(
    engine: Engine, candidate: Candidate, plan_id: str, now: datetime | None = None
) -> FileResult:
    """One monitoring sheet: skipped when its bytes were loaded before, refused whole when any
    row, column or cell matches nothing, else loaded in one transaction."""
    from flows.common import catalog

    catalog().plan(plan_id)  # an unknown plan: one message naming the known ones
    src = None
    try:
        src = read_source(candidate)
        sheets, fmt, encoding = read_sheets(src.name, src.data or b"")
    except (UnreadableFile, OSError) as e:
        reason = (
            e.reason
            if isinstance(e, UnreadableFile)
            else f"无法读取文件 / cannot read the file: {e.strerror or e}"
        )
        checksum = src.checksum if src is not None else None
        return save_unreadable(engine, candidate.name, reason, checksum, now)
    earlier = already_loaded(engine, src.checksum)
    if earlier is not None:
        earlier.name = src.name
        return earlier
    return saved_sheet(engine, src, (sheets, fmt, encoding), plan_id, now)


def saved_sheet(
    engine: Engine, src: SourceBytes, read: tuple, plan_id: str, now: datetime | None
) -> FileResult:
    """A monitoring sheet read for one plan: refused whole with its problems, or saved."""
    from flows.common import catalog

    cat = catalog()
    sheets, fmt, encoding = read
    parsed = parse_monitoring_sheet(
        src.name, sheets, cat.plan(plan_id), cat.areas(plan_id), fmt, encoding
    )
    if parsed.rejects:
        return FileResult(
            name=src.name,
            status="partial",
            checksum=src.checksum,
            source=parsed.source,
            layout=parsed.layout,
            encoding=encoding,
            rows_read=parsed.rows_read,
            rows_rejected=parsed.rows_rejected,
            messages=[REFUSED],
            rejects=list(parsed.rejects),
        )
    return save_parsed(engine, src, parsed, now)


def read_again(src: SourceBytes) -> SourceBytes | UnreadableFile:
    """The file's bytes once more, if they still have the checksum they were read with (a parse
    worker had them)."""
    from flows.common import bytes_as_read

    data = bytes_as_read(src.path, src.checksum)
    if isinstance(data, str):
        return UnreadableFile(src.name, data)
    return SourceBytes(src.path, src.name, data, src.checksum)


def ingest_unmatched(
    engine: Engine, src: SourceBytes, reason: str, now: datetime | None = None
) -> FileResult:
    """A file no source layout reads (``reason``): loaded as the monitoring sheet of the one plan
    it belongs to (``plans_of_sheet``), refused naming the plans when several could own it, else
    recorded unreadable for the layouts' reason."""
    try:
        if src.data is None:
            src = read_again(src)
            if isinstance(src, UnreadableFile):
                raise src
        read = read_sheets(src.name, src.data or b"")
    except UnreadableFile:
        return save_unreadable(engine, src.name, reason, src.checksum, now)
    if not is_monitoring_sheet(read[0]):
        return save_unreadable(engine, src.name, reason, src.checksum, now)
    owners = plans_of_sheet(src.name, read[0])
    if len(owners) == 1:
        return saved_sheet(engine, src, read, owners[0], now)
    if owners:
        ids = "、".join(owners)
        reason = (
            f"这是指标监测表，但可能属于多个规划（{ids}）：请用 healthplan ingest 文件 --plan 规划代号"
            f" 导入，或在文件名中写明规划代号 / a monitoring sheet that several plans could own "
            f"({', '.join(owners)}): ingest it with --plan, or put the plan id in the file name"
        )
    else:
        reason += (
            "；像是指标监测表，但与各规划的指标都对不上：请在文件名中写明规划代号（或用 --plan "
            "导入）以列出每处问题 / it looks like a monitoring sheet that matches no plan: put the "
            "plan id in the file name (or use --plan) to see each problem"
        )
    return save_unreadable(engine, src.name, reason, src.checksum, now)


def plans_of_sheet(name: str, sheets: list) -> list[str]:
    """The plans a monitoring sheet belongs to: those it names (plan id as a word of the file
    name, or the plan's title in the file name or the sheet's title rows); if it names none,
    those whose indicators every one of its rows matches."""
    from flows.common import catalog

    cat = catalog()
    plans = list(cat.plans.values())
    return plans_named(name, sheets, plans) or plans_matching(
        name, sheets, [(p, cat.areas(p.id)) for p in plans]
    )


def ingest_monitoring(
    paths: list[Path], plan_id: str, engine: Engine | None = None, now: datetime | None = None
) -> IngestSummary:
    """Every monitoring sheet among the paths (folders searched for CSV and XLSX files)."""
    from flows.common import warehouse

    engine = engine or warehouse()
    summary = IngestSummary()
    candidates, refused = expand_paths(paths)
    summary.files.extend(refused)
    for candidate in candidates:
        summary.files.append(ingest_monitoring_file(engine, candidate, plan_id, now))
    return summary


def monitoring_command(paths: list[str], plan_id: str, console: Console | None = None) -> int:
    """Ingest monitoring sheets for a plan and print what happened; the exit code: 0 loaded or
    skipped, 3 a sheet refused (its problems listed), 2 a file unreadable."""
    from flows.common import catalog

    console = console or make_console()
    catalog().plan(plan_id)  # an unknown plan: one message naming the known ones
    summary = ingest_monitoring([Path(p) for p in paths], plan_id)
    render(summary, console)
    return summary.exit_code


def render(summary: IngestSummary, console: Console) -> None:
    """One line per file, then every problem of a refused sheet: file, cell, value, reason."""
    table = Table(title="指标监测表导入 / monitoring sheets")
    for col in ["文件 file", "读取行 rows", "入库值 values", "修订 revised", "状态 status"]:
        table.add_column(col, overflow="fold")
    for f in summary.files:
        status = REFUSED if f.status == "partial" else STATUS_ZH.get(f.status, f.status)
        table.add_row(
            escape(f.name), str(f.rows_read), str(f.inserted), str(f.revised), escape(status)
        )
    console.print(table)
    for f in summary.files:
        for m in f.messages:
            if m != REFUSED:
                console.print(f"{escape(f.name)}: {escape(m)}")
    rejects = summary.rejects
    if rejects:
        rt = Table(title=f"无法匹配的内容 / what matches nothing ({len(rejects)})")
        for col in ["文件 file", "行 row", "位置 cell", "值 value", "原因 reason"]:
            rt.add_column(col, overflow="fold")
        for r in rejects[:SHOWN_PROBLEMS]:
            rt.add_row(
                escape(r.file),
                "—" if r.row is None else str(r.row),
                escape(r.field or "—"),
                escape(r.value or "—"),
                escape(r.reason),
            )
        console.print(rt)
    verdict = {
        0: "[green]全部入库 / everything loaded[/]",
        3: "[yellow]有监测表未入库，请按上表修改后重新导入 / a sheet was refused (exit 3)[/]",
        2: "[red]有文件无法读取 / some file could not be read (exit 2)[/]",
    }[summary.exit_code]
    console.print(verdict)
