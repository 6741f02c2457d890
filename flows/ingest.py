"""Ingest statistics files: Load (bytes + sha256) → Process (transforms.parsing) → Save (warehouse).

Each file is saved in one transaction: its registration, its good rows and its rejects. A file
whose checksum the warehouse already holds is skipped and changes nothing; a corrected file for a
past year revises the values it changes; an unreadable file stores nothing but the reason.

The logic lives in plain functions (``ingest_paths`` for code, ``ingest_command`` for the CLI);
``ingest_flow`` is the Prefect shell around the same functions.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import Engine

from healthplan.definitions import Catalog
from healthplan.layouts import LayoutSet, load_layouts
from healthplan.settings import console as make_console
from transforms.parsing import CatalogInfo, ParsedFile, Reject, UnreadableFile

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".xlsx")
MAX_FILE_BYTES = 200 * 2**20
SHOWN_REJECTS = 100  # rejects listed in the CLI and the artifact; all are in the quarantine
ATTENTION_FILES = 10  # files, and rejected rows of each, named by a run's summary lines
ATTENTION_ROWS = 3
STATUS_ZH = {
    "loaded": "已入库 loaded",
    "skipped": "已跳过 skipped",
    "partial": "部分入库 partial",
    "unreadable": "无法读取 unreadable",
}


# ------------------------------------------------------------------------------------- results


@dataclass
class FileResult:
    """What happened to one file."""

    name: str
    status: str  # loaded | skipped | partial | unreadable
    checksum: str | None = None
    source: str | None = None
    layout: str | None = None
    encoding: str | None = None
    years: list[int] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    inserted: int = 0
    revised: int = 0
    unchanged: int = 0
    file_id: int | None = None
    messages: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "rejects"}
        out["rejects"] = [r.__dict__ for r in self.rejects]
        return out


@dataclass
class IngestSummary:
    """Every file of one ingest run, with totals and the exit code."""

    files: list[FileResult] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def totals(self) -> dict[str, int]:
        keys = ["rows_read", "rows_loaded", "rows_rejected", "inserted", "revised", "unchanged"]
        out = {k: sum(getattr(f, k) for f in self.files) for k in keys}
        out["files"] = len(self.files)
        for status in STATUS_ZH:
            out[status] = sum(1 for f in self.files if f.status == status)
        return out

    @property
    def exit_code(self) -> int:
        """0 everything loaded or skipped; 3 some rows quarantined; 2 some file unreadable."""
        if any(f.status == "unreadable" for f in self.files):
            return 2
        if any(f.status == "partial" for f in self.files):
            return 3
        return 0

    @property
    def rejects(self) -> list[Reject]:
        return [r for f in self.files for r in f.rejects]

    def as_dict(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "totals": self.totals,
            "files": [f.as_dict() for f in self.files],
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }

    # -------------------------------------------------------------- presentation

    def headline(self) -> str:
        """The totals in one line, for a command that ran the ingest as one step of several."""
        t = self.totals
        return (
            f"导入 / ingest：{t['files']} 个文件 files，已入库 {t['loaded']} · 部分入库 "
            f"{t['partial']} · 已跳过 {t['skipped']} · 无法读取 {t['unreadable']}；"
            f"隔离 {t['rows_rejected']} 行 / rows quarantined"
        )

    def attention(self, files: int = ATTENTION_FILES, rows: int = ATTENTION_ROWS) -> list[str]:
        """A line per file that needs a person (partly loaded or unreadable), naming its first
        rejected rows or why it could not be read; plain text, not markup."""
        lines = []
        needy = [f for f in self.files if f.status in ("partial", "unreadable")]
        for f in needy[:files]:
            if f.status == "unreadable":
                lines.append(f"{f.name}：{STATUS_ZH[f.status]}：{'；'.join(f.messages) or '—'}")
                continue
            shown = "；".join(
                f"第{r.row if r.row is not None else '—'}行 {r.field or '—'}"
                f"「{r.value if r.value is not None else ''}」{r.reason}"
                for r in f.rejects[:rows]
            )
            more = "…" if f.rows_rejected > rows else ""
            lines.append(
                f"{f.name}：{STATUS_ZH[f.status]}，隔离 {f.rows_rejected} 行：{shown}{more}"
            )
        if len(needy) > files:
            lines.append(f"… 另有 {len(needy) - files} 个文件 / {len(needy) - files} more files")
        return lines

    def to_markdown(self) -> str:
        """The summary as Markdown (for a Prefect artifact); every file text is escaped."""
        t = self.totals
        lines = [
            "# 数据导入 / Ingest summary",
            "",
            f"文件 files: {t['files']} · 入库 loaded: {t['loaded']} · 部分 partial: {t['partial']}"
            f" · 跳过 skipped: {t['skipped']} · 无法读取 unreadable: {t['unreadable']} · "
            f"退出码 exit code: {self.exit_code}",
            "",
            "| 文件 file | 来源 source | 版式 layout | 编码 encoding | 读取 read | 入库 loaded "
            "| 隔离 rejected | 新增 inserted | 修订 revised | 未变 unchanged | 状态 status |",
            "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for f in self.files:
            cells = [
                f.name,
                f.source or "—",
                f.layout or "—",
                f.encoding or "—",
                f.rows_read,
                f.rows_loaded,
                f.rows_rejected,
                f.inserted,
                f.revised,
                f.unchanged,
                STATUS_ZH.get(f.status, f.status),
            ]
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
        lines.append(
            f"| **合计 total** | | | | {t['rows_read']} | {t['rows_loaded']} | "
            f"{t['rows_rejected']} | {t['inserted']} | {t['revised']} | {t['unchanged']} | |"
        )
        notes = [(f.name, m) for f in self.files for m in f.messages]
        if notes:
            lines += ["", "## 说明 / Messages", ""]
            lines += [f"- {_md(name)}: {_md(m)}" for name, m in notes]
        rejects = self.rejects
        if rejects:
            lines += [
                "",
                f"## 隔离的行 / Quarantined rows ({len(rejects)})",
                "",
                "| 文件 file | 行 row | 列 field | 值 value | 原因 reason |",
                "| --- | ---: | --- | --- | --- |",
            ]
            for r in rejects[:SHOWN_REJECTS]:
                cells = [r.file, r.row if r.row is not None else "—", r.field or "—"]
                cells += [r.value if r.value is not None else "—", r.reason]
                lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
            if len(rejects) > SHOWN_REJECTS:
                lines.append(
                    f"\n… 另有 {len(rejects) - SHOWN_REJECTS} 行，见隔离区 / "
                    f"{len(rejects) - SHOWN_REJECTS} more in the quarantine table"
                )
        return "\n".join(lines) + "\n"

    def render(self, console: Console) -> None:
        """The summary for a terminal; file texts are shown as text, never as markup."""
        table = Table(title="数据导入 / ingest", show_lines=False)
        for col, justify in [
            ("文件 file", "left"),
            ("来源 source", "left"),
            ("版式 layout", "left"),
            ("编码 encoding", "left"),
            ("读取 read", "right"),
            ("入库 loaded", "right"),
            ("隔离 rejected", "right"),
            ("新增 inserted", "right"),
            ("修订 revised", "right"),
            ("未变 unchanged", "right"),
            ("状态 status", "left"),
        ]:
            table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
        colour = {"loaded": "green", "skipped": "dim", "partial": "yellow", "unreadable": "red"}
        for f in self.files:
            table.add_row(
                escape(f.name),
                escape(f.source or "—"),
                escape(f.layout or "—"),
                escape(f.encoding or "—"),
                str(f.rows_read),
                str(f.rows_loaded),
                str(f.rows_rejected),
                str(f.inserted),
                str(f.revised),
                str(f.unchanged),
                f"[{colour.get(f.status, 'white')}]{STATUS_ZH.get(f.status, f.status)}[/]",
            )
        t = self.totals
        table.add_row(
            "合计 total",
            "",
            "",
            "",
            str(t["rows_read"]),
            str(t["rows_loaded"]),
            str(t["rows_rejected"]),
            str(t["inserted"]),
            str(t["revised"]),
            str(t["unchanged"]),
            "",
        )
        console.print(table)
        for f in self.files:
            for m in f.messages:
                style = "red" if f.status == "unreadable" else "yellow"
                console.print(f"[{style}]{escape(f.name)}[/]: {escape(m)}")
        rejects = self.rejects
        if rejects:
            rt = Table(title=f"隔离的行 / quarantined rows ({len(rejects)})")
            for col in ["文件 file", "行 row", "列 field", "值 value", "原因 reason"]:
                rt.add_column(col, overflow="fold")
            for r in rejects[:SHOWN_REJECTS]:
                rt.add_row(
                    escape(r.file),
                    str(r.row) if r.row is not None else "—",
                    escape(r.field or "—"),
                    escape(r.value if r.value is not None else "—"),
                    escape(r.reason),
                )
            console.print(rt)
            if len(rejects) > SHOWN_REJECTS:
                console.print(
                    f"… 另有 {len(rejects) - SHOWN_REJECTS} 行，见隔离区 / "
                    f"{len(rejects) - SHOWN_REJECTS} more in the quarantine table"
                )
        verdict = {
            0: "[green]全部入库 / everything loaded[/]",
            3: "[yellow]部分行已隔离 / some rows quarantined (exit 3)[/]",
            2: "[red]有文件无法读取 / some file could not be read (exit 2)[/]",
        }[self.exit_code]
        console.print(verdict)


def _md(value: Any) -> str:
    """A value as inert Markdown table text: no HTML, no links, no emphasis, no new rows."""
    text = str(value)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(a, b)
    for ch in "\\`*_[]|#!":
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


# ------------------------------------------------------------------------------------- load


@dataclass
class SourceBytes:
    """One file as read: its path, the name recorded for it, its bytes and their sha256.
    ``data`` is None once a parse worker has the file: the worker reads it again itself."""

    path: Path
    name: str
    data: bytes | None
    checksum: str


@dataclass(frozen=True)
class Candidate:
    path: Path
    name: str  # as recorded and shown: relative to the given folder (its name included)


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _name_limit() -> int:
    from warehouse.schema import source_file

    return int(source_file.c.name.type.length)


def shown_name(name: str) -> str:
    """A file name as it can be shown and stored: bytes that are not UTF-8 as \\xNN escapes,
    and a name longer than the warehouse keeps shortened in the middle."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    limit = _name_limit()
    if len(text) > limit:
        keep = (limit - 1) // 2
        text = f"{text[:keep]}…{text[-keep:]}"
    return text


def name_problem(name: str) -> str | None:
    """Why a file cannot be recorded under this name (checked before the database, the same on
    SQLite and PostgreSQL), or None."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return (
            "文件名不是 UTF-8 编码（可能来自 GBK 系统），请改名后再导入 / the file name is not "
            "UTF-8 (perhaps from a GBK system): rename the file and ingest it again"
        )
    if len(name) > (limit := _name_limit()):
        return (
            f"文件路径过长（{len(name)} 个字符，上限 {limit}），请缩短文件夹或文件名 / the "
            f"path is too long ({len(name)} characters, at most {limit}): shorten it"
        )
    return None


def expand_paths(
    paths: list[Path], roots: list[Path] | None = None
) -> tuple[list[Candidate], list[FileResult]]:
    """The files to read (folders searched recursively for *.csv / *.xlsx, sorted), and the
    paths refused: '..' in a path, symlinks leading out of the folder, paths outside ``roots``.
    """
    allowed = [Path(r).resolve() for r in roots] if roots else None
    found: list[Candidate] = []
    refused: list[FileResult] = []
    seen: set[Path] = set()

    def refuse(p: Path | str, reason: str) -> None:
        refused.append(FileResult(name=shown_name(str(p)), status="unreadable", messages=[reason]))

    def add(path: Path, name: str) -> None:
        real = path.resolve()
        if (problem := name_problem(name)) is not None:
            refuse(name, problem)
        elif real not in seen:
            seen.add(real)
            found.append(Candidate(path, name))

    for given in paths:
        p = Path(given)
        if ".." in p.parts:
            refuse(p, "拒绝：路径含“..” / refused: the path contains '..'; give the real path")
            continue
        if not os.path.lexists(p):
            refuse(p, "文件或文件夹不存在 / no such file or folder")
            continue
        real = p.resolve()
        if not real.exists():
            refuse(p, "符号链接指向不存在的位置 / dangling symlink")
            continue
        if p.is_symlink() and real.is_file() and not _within(real, p.absolute().parent.resolve()):
            # a file named through a link leading elsewhere (a folder named through a link is
            # the operator's choice of inbox: the links inside it are checked against it)
            refuse(
                p,
                f"拒绝：符号链接指向所在文件夹之外（{shown_name(str(real))}），请给出真实路径 / "
                "refused: the symlink leads out of its folder; give the real path",
            )
            continue
        if allowed is not None and not any(_within(real, a) for a in allowed):
            refuse(p, "拒绝：在允许的文件夹之外 / refused: outside the allowed folders")
            continue
        if real.is_file():
            add(p, p.name)
            continue
        if not real.is_dir():
            refuse(p, "不是普通文件 / not a regular file")
            continue
        for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
            here = Path(dirpath)
            dirnames.sort()
            for d in list(dirnames):
                sub = here / d
                if sub.is_symlink() or d.startswith("."):
                    if sub.is_symlink() and not _within(sub.resolve(), real):
                        refuse(
                            sub,
                            "拒绝：符号链接指向文件夹之外 / refused: symlink leads out of the folder",
                        )
                    dirnames.remove(d)
            for fname in sorted(filenames):
                f = here / fname
                if fname.startswith((".", "~$")) or f.suffix.lower() not in SUFFIXES:
                    continue
                target = f.resolve()
                if f.is_symlink() and not _within(target, real):
                    refuse(
                        f, "拒绝：符号链接指向文件夹之外 / refused: symlink leads out of the folder"
                    )
                    continue
                if not target.is_file():
                    refuse(f, "不是普通文件 / not a regular file")
                    continue
                add(f, (Path(p.name or real.name) / f.relative_to(p)).as_posix())
    found.sort(key=lambda c: c.name)
    return found, refused


def read_source(candidate: Candidate) -> SourceBytes:
    """The file's bytes and sha256 (OSError when it cannot be read; UnreadableFile if too big)."""
    info = candidate.path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile(candidate.name, "不是普通文件 / not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise UnreadableFile(
            candidate.name,
            f"文件过大（{info.st_size / 2**20:.0f} MB，上限 {MAX_FILE_BYTES // 2**20} MB）/ "
            "file too large",
        )
    data = candidate.path.read_bytes()
    return SourceBytes(candidate.path, candidate.name, data, hashlib.sha256(data).hexdigest())


# ------------------------------------------------------------------------------------- process


@dataclass(frozen=True)
class ParseContext:
    layouts: LayoutSet
    info: CatalogInfo


def parse_context(catalog: Catalog | None = None, sources_dir: Path | None = None) -> ParseContext:
    """Layouts and catalog knowledge for parsing (default: the configured plans folder)."""
    from flows.common import catalog as load
    from healthplan.settings import get_settings

    plans_dir = Path(get_settings().plans_dir)
    if catalog is None and sources_dir is None:
        return _context(load(), plans_dir / "sources")
    return _context(catalog or load(), sources_dir or plans_dir / "sources")


@lru_cache(maxsize=8)
def _context(catalog: Catalog, sources_dir: Path) -> ParseContext:
    layouts = load_layouts(sources_dir, catalog.elements)
    return ParseContext(layouts, CatalogInfo.from_catalog(catalog))


def parse_source(
    src: SourceBytes, context: ParseContext, current_year: int | None = None
) -> ParsedFile | UnreadableFile:
    """Parse one file in a guarded process of its own (see ``flows.common.parse_alone``), which
    reads the file again and checks its checksum; an unreadable file, or one whose parse
    crashed, comes back as the error, not raised."""
    from flows.common import parse_alone

    out = parse_alone(
        src.name, str(src.path), src.checksum, context.layouts, context.info, current_year
    )
    return UnreadableFile(*out) if isinstance(out, tuple) else out


# ------------------------------------------------------------------------------------- save


def _stamp(now: datetime | None) -> datetime:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {moment!r}")
    return moment


def already_loaded(engine: Engine, checksum: str) -> FileResult | None:
    """The earlier result of a file with this checksum, if it was loaded (not failed)."""
    from warehouse.observations import source_files

    rows = source_files(engine, [checksum])
    rows = rows[rows["status"] != "failed"]
    if rows.empty:
        return None
    row = rows.iloc[0]

    def num(v: Any) -> int:
        return 0 if v is None or v != v else int(v)

    return FileResult(
        name="",
        status="skipped",
        checksum=checksum,
        source=row["source"],
        layout=row["layout"],
        encoding=row["encoding"],
        rows_read=num(row["rows_read"]),
        file_id=int(row["id"]),
        messages=[
            f"已导入过（校验和相同，文件 #{int(row['id'])}「{row['name']}」）/ already loaded "
            "(same checksum): nothing changed"
        ],
    )


def save_parsed(
    engine: Engine, src: SourceBytes, parsed: ParsedFile, now: datetime | None = None
) -> FileResult:
    """Register the file, load its good rows and quarantine its rejects, in one transaction."""
    from warehouse.engine import begin_write
    from warehouse.observations import (
        finish_source_file,
        load_observations,
        register_source_file,
        write_quarantine,
    )

    moment = _stamp(now)
    result = FileResult(
        name=src.name,
        status=parsed.status,
        checksum=src.checksum,
        source=parsed.source,
        layout=parsed.layout,
        encoding=parsed.encoding,
        years=parsed.years,
        rows_read=parsed.rows_read,
    )
    with begin_write(engine) as conn:
        file_id, loaded_before = register_source_file(
            conn,
            checksum=src.checksum,
            name=src.name,
            source=parsed.source,
            layout=parsed.layout,
            encoding=parsed.encoding,
            rows_read=parsed.rows_read,
            received_at=moment,
        )
        result.file_id = file_id
        if loaded_before:
            result.status = "skipped"
            result.messages.append("已导入过（校验和相同）/ already loaded (same checksum)")
            return result
        stats = load_observations(conn, file_id, parsed.good, moment)
        write_quarantine(
            conn,
            [
                {**r.as_quarantine(), "checksum": src.checksum, "source_file_id": file_id}
                for r in parsed.rejects
            ],
        )
        finish_source_file(conn, file_id, parsed.rows_loaded, parsed.rows_rejected, parsed.status)
    result.rows_loaded = parsed.rows_loaded
    result.rows_rejected = parsed.rows_rejected
    result.inserted, result.revised, result.unchanged = (
        stats.inserted,
        stats.revised,
        stats.unchanged,
    )
    result.rejects = list(parsed.rejects)
    if parsed.rejects:
        result.messages.append(
            f"{parsed.rows_rejected} 行有问题，已隔离 {len(parsed.rejects)} 项 / "
            f"{len(parsed.rejects)} rejects in {parsed.rows_rejected} rows quarantined"
        )
    result.messages += [_flag_text(f) for f in parsed.flags]
    return result


def _flag_text(f: Reject) -> str:
    where = " ".join(x for x in (f"第 {f.row} 行 row {f.row}" if f.row else "", f.field or "") if x)
    value = f"「{f.value}」" if f.value else ""
    return f"提示 note: {where}{value}: {f.reason}"


def save_unreadable(
    engine: Engine,
    name: str,
    reason: str,
    checksum: str | None = None,
    now: datetime | None = None,
) -> FileResult:
    """Nothing of the file is stored but the reason: a quarantine row without a row number.

    The same file (checksum, or name when it could not be read) failing for the same reason
    again is recorded once, so re-running an inbox changes nothing.
    """
    import sqlalchemy as sa

    from warehouse.engine import begin_write
    from warehouse.observations import write_quarantine
    from warehouse.schema import quarantine

    q = quarantine.c
    same = sa.select(q.id).where(
        q.row.is_(None),
        q.source_file_id.is_(None),
        q.reason == reason,
        q.checksum == checksum if checksum else sa.and_(q.checksum.is_(None), q.file_name == name),
    )
    with begin_write(engine) as conn:
        if conn.execute(same.limit(1)).first() is None:
            write_quarantine(
                conn,
                [
                    {
                        "file_name": name,
                        "checksum": checksum,
                        "row": None,
                        "field": None,
                        "value": None,
                        "reason": reason,
                        "source_file_id": None,
                        "created_at": _stamp(now),
                    }
                ],
            )
    return FileResult(name=name, status="unreadable", checksum=checksum, messages=[reason])


# ------------------------------------------------------------------------------------- compose


# Workers pay only when there is parsing to overlap: files are parsed whole, one per worker, so
# what counts is the bytes to parse besides the largest file. Starting them costs ≈ 0.4 s before
# the first parse (the forkserver imports the parser) and ≈ 0.8 s of CPU; parsing runs at
# ≈ 0.3 s per MB (province preset, 2 cores). Measured: the 1.1 MB of one plan in 45 files, or
# 2.8 MB that is one workbook and its CSVs, gain nothing; from ≈ 2 MB besides the largest on
# (two years of the province's files: 5.5 MB) the workers save more than they cost.
PARALLEL_MIN_BYTES = 2 * 2**20
PARALLEL_MIN_FILES = 2
AHEAD_FILES = 32  # files handed to the workers and not yet saved, at most
AHEAD_BYTES = 64 * 2**20  # and their bytes, past the first workers + 1 files


@dataclass
class FileAhead:
    """One file read before its turn: what ``ingest_one`` learns before parsing, nothing written."""

    candidate: Candidate
    src: SourceBytes | None = None  # None once not needed (unreadable, already loaded)
    unreadable: str | None = None  # why it could not be read
    earlier: FileResult | None = None  # its checksum was already loaded
    error: Exception | None = None  # raised while reading: raised again in its turn
    parsing: Future | None = None  # its parse in a worker process
    look_again: bool = False  # a file before it in this run has the same checksum
    size: int = -1  # its bytes (-1: as src holds them)

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = len(self.src.data) if self.src is not None and self.src.data else 0

    @property
    def to_parse(self) -> bool:
        return self.src is not None and self.error is None


def read_ahead(engine: Engine, candidate: Candidate, seen: set[str] | None = None) -> FileAhead:
    """Read the file and look its checksum up, as ``ingest_one`` does first; errors are kept
    for the file's turn, so the files before it are still saved as they would have been.
    ``seen``: the checksums read before it in this run (a copy must be looked up in its turn)."""
    ahead = FileAhead(candidate)
    try:
        ahead.src = read_source(candidate)
        ahead.size = len(ahead.src.data or b"")
    except UnreadableFile as e:
        ahead.unreadable = e.reason
        return ahead
    except OSError as e:
        ahead.unreadable = f"无法读取文件 / cannot read the file: {e.strerror or e}"
        return ahead
    except Exception as e:  # noqa: BLE001 - raised again in the file's turn
        ahead.error = e
        return ahead
    if seen is not None:
        ahead.look_again = ahead.src.checksum in seen
        seen.add(ahead.src.checksum)
    try:
        earlier = already_loaded(engine, ahead.src.checksum)
    except Exception as e:  # noqa: BLE001 - raised again in the file's turn
        ahead.error = e
        return ahead
    if earlier is not None:
        earlier.name = ahead.src.name
        ahead.earlier, ahead.src = earlier, None
    return ahead


def finish_file(
    engine: Engine,
    ahead: FileAhead,
    context: ParseContext,
    now: datetime | None = None,
    current_year: int | None = None,
) -> FileResult:
    """Parse (or take the worker's parse) and save one file in its turn. A copy of a file saved
    before it in the same run, read before that one was saved, is looked up again now and
    skipped exactly as ``ingest_one`` skips it."""
    if ahead.error is not None:
        raise ahead.error
    if ahead.unreadable is not None:
        return save_unreadable(engine, ahead.candidate.name, ahead.unreadable, None, now)
    if ahead.earlier is not None:
        return ahead.earlier
    src = ahead.src
    assert src is not None
    if ahead.look_again:
        earlier = already_loaded(engine, src.checksum)
        if earlier is not None:
            if ahead.parsing is not None:
                ahead.parsing.cancel()
            earlier.name = src.name
            return earlier
    from flows.common import parse_died

    parsed = parsed_in_turn(ahead, context, current_year)
    if isinstance(parsed, UnreadableFile) and parse_died(parsed.reason):
        return save_unreadable(engine, src.name, parsed.reason, src.checksum, now)
    if isinstance(parsed, UnreadableFile):
        from flows.monitoring import ingest_unmatched  # a plan's monitoring sheet, or unreadable

        return ingest_unmatched(engine, src, parsed.reason, now)
    return save_parsed(engine, src, parsed, now)


def parsed_in_turn(
    ahead: FileAhead, context: ParseContext, current_year: int | None
) -> ParsedFile | UnreadableFile:
    """The pool worker's parse of the file, or a guarded process's of its own when there is no
    pool or its worker failed (a worker killed or crashed, perhaps by another file it was
    parsing: each file of a broken pool is tried again alone, so only the file that kills its
    process fails). The parse is pure, so either is the same."""
    assert ahead.src is not None
    if ahead.parsing is not None:
        try:
            out = ahead.parsing.result()
        except Exception as e:  # noqa: BLE001 - parsed alone instead
            from flows.common import unguarded_script_hint

            log.warning(
                "工作进程解析失败，改在单独的进程中解析 / parsing in a pool worker failed, "
                "parsing alone: %s: %s: %s%s",
                ahead.src.name,
                type(e).__name__,
                e,
                unguarded_script_hint() if isinstance(e, BrokenProcessPool) else "",
            )
        else:
            return UnreadableFile(*out) if isinstance(out, tuple) else out
        finally:
            ahead.parsing = None
    return parse_source(ahead.src, context, current_year)


def ingest_one(
    engine: Engine,
    candidate: Candidate,
    context: ParseContext,
    now: datetime | None = None,
    current_year: int | None = None,
) -> FileResult:
    """Load → Process → Save for one file."""
    return finish_file(engine, read_ahead(engine, candidate), context, now, current_year)


def parse_pool(workers: int, context: ParseContext) -> ProcessPoolExecutor | None:
    """Worker processes for parsing, or None when they cannot be had (each file is then parsed
    in a guarded process of its own). Each worker's memory is capped and it ends with this
    process (``start_parse_worker``). A script that calls ``ingest_paths`` at module level
    needs ``if __name__ == "__main__":``, as with any process pool."""
    from flows.common import memory_mb, parse_process_context, start_parse_worker

    try:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=parse_process_context(),
            initializer=start_parse_worker,
            initargs=(context.layouts, context.info, os.getpid(), memory_mb()),
        )
    except Exception as e:  # noqa: BLE001 - each file parsed alone instead
        log.warning("无法启动解析进程 / cannot start parse workers: %s: %s", type(e).__name__, e)
        return None


def refuse_in_starting_worker() -> None:
    """Stop a worker process that is re-running the calling script (its main module) on start:
    without this it would ingest the whole inbox a second time, in every worker."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            "解析进程启动时又调用了导入：调用脚本需要 `if __name__ == '__main__':` / ingest "
            "called while a parse worker starts: guard the calling script with "
            "`if __name__ == '__main__':` (or set HEALTHPLAN_WORKERS=1)"
        )


def worth_workers(ahead: Iterable[FileAhead]) -> bool:
    """Enough to parse besides the largest file to pay for starting worker processes."""
    sizes = [a.size for a in ahead if a.to_parse]
    if len(sizes) < PARALLEL_MIN_FILES:
        return False
    return sum(sizes) - max(sizes) >= PARALLEL_MIN_BYTES


def submit_parse(
    pool: ProcessPoolExecutor,
    ahead: FileAhead,
    current_year: int | None,
    context: ParseContext,
    workers: int,
) -> ProcessPoolExecutor | None:
    """Hand the file to a worker, which reads it again (checking its checksum) so that its bytes
    do not wait in this process as well; the pool (a new one when a file's parse broke the old
    one), or None when no pool takes work (each file is then parsed alone)."""
    from flows.common import parsed_in_worker

    src = ahead.src
    assert src is not None
    for attempt in range(2):
        try:
            ahead.parsing = pool.submit(
                parsed_in_worker, src.name, str(src.path), src.checksum, current_year
            )
            break
        except Exception as e:  # noqa: BLE001 - a fresh pool, or each file parsed alone
            log.warning("解析进程不可用 / parse workers unavailable: %s: %s", type(e).__name__, e)
            pool.shutdown(wait=False, cancel_futures=True)
            fresh = parse_pool(workers, context) if attempt == 0 else None
            if fresh is None:
                return None
            pool = fresh
    ahead.src = SourceBytes(src.path, src.name, None, src.checksum)
    return pool


def ingested(
    engine: Engine,
    candidates: list[Candidate],
    context: ParseContext,
    now: datetime | None = None,
    current_year: int | None = None,
    workers: int = 1,
) -> Iterator[FileResult]:
    """``ingest_one`` for every candidate, in order, one transaction per file.

    With ``workers`` > 1 and enough to parse, the files ahead are read and parsed in worker
    processes while this process saves each file in its turn: the same files stored in the same
    order with the same results. How far ahead: see ``room_ahead``.
    """
    if workers <= 1:
        for candidate in candidates:
            yield file_or_failure(
                engine,
                candidate.name,
                lambda c=candidate: ingest_one(engine, c, context, now, current_year),
                now,
            )
        return
    todo = deque(candidates)
    ahead: deque[FileAhead] = deque()
    seen: set[str] = set()
    while todo and not worth_workers(ahead):
        ahead.append(read_ahead(engine, todo.popleft(), seen))
    pool = parse_pool(workers, context) if worth_workers(ahead) else None
    try:
        while ahead or todo:
            if pool is not None:
                pool = keep_parsing(pool, engine, ahead, todo, seen, workers, current_year, context)
            if not ahead:
                ahead.append(read_ahead(engine, todo.popleft(), seen))
            a = ahead.popleft()
            yield file_or_failure(
                engine,
                a.candidate.name,
                lambda a=a: finish_file(engine, a, context, now, current_year),
                now,
            )
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def file_or_failure(
    engine: Engine, name: str, work: Callable[[], FileResult], now: datetime | None = None
) -> FileResult:
    """``work()``'s result for one file, or, when it raises anything unexpected, that file's
    failure, named, recorded and reported like an unreadable file: one file never ends the run.
    Only a warehouse that cannot be used at all (unreachable, connection lost) stops it."""
    from warehouse.engine import warehouse_down

    try:
        return work()
    except Exception as e:  # noqa: BLE001 - this file's failure, not the run's
        if warehouse_down(e):
            raise
        return failed_file(engine, name, e, now)


def failure_reason(exc: BaseException) -> str:
    """An unexpected error in one file as its message: Chinese first, no SQL, no traceback."""
    import sqlalchemy as sa

    from healthplan.settings import masked_url
    from warehouse.engine import db_error_message

    if isinstance(exc, sa.exc.SQLAlchemyError):
        what = db_error_message(exc, "保存此文件 / saving this file: ")
    else:
        what = f"{type(exc).__name__}: {masked_url(str(exc))[:300]}"
    return (
        f"导入此文件时发生意外错误，文件未入库，其他文件照常导入 / an unexpected error while "
        f"ingesting this file; nothing of it stored, the other files load: {what}"
    )


def failed_file(
    engine: Engine, name: str, exc: BaseException, now: datetime | None = None
) -> FileResult:
    """Record and report a file whose ingest failed unexpectedly (the traceback to the log)."""
    from warehouse.engine import warehouse_down

    log.info("ingest of %s failed", shown_name(name), exc_info=exc)
    reason = failure_reason(exc)
    try:
        return save_unreadable(engine, shown_name(name), reason, None, now)
    except Exception as again:  # noqa: BLE001 - reported, if not recorded
        if warehouse_down(again):
            raise
        log.info("recording the failure of %s failed", shown_name(name), exc_info=again)
        return FileResult(
            name=shown_name(name),
            status="unreadable",
            messages=[reason + "（未能记入隔离区 / not recorded in the quarantine）"],
        )


def room_ahead(busy: list[FileAhead], size: int, workers: int) -> bool:
    """Whether a file of ``size`` bytes may join the files handed to the workers and not yet
    saved: always up to workers + 1 of them; then up to AHEAD_FILES while their bytes stay under
    AHEAD_BYTES. Only bytes and finished results wait in this process (a parse's own memory is
    its worker's), and looking past the small files lets a second worker start on the next large
    one while the first still parses its own."""
    if len(busy) < workers + 1:
        return True
    return len(busy) < AHEAD_FILES and sum(a.size for a in busy) + size <= AHEAD_BYTES


def keep_parsing(
    pool: ProcessPoolExecutor,
    engine: Engine,
    ahead: deque[FileAhead],
    todo: deque[Candidate],
    seen: set[str],
    workers: int,
    current_year: int | None,
    context: ParseContext,
) -> ProcessPoolExecutor | None:
    """Hand files to the workers in their order, reading further ahead, while there is room."""
    busy = [a for a in ahead if a.parsing is not None]
    waiting = (a for a in list(ahead) if a.to_parse and a.parsing is None)
    while True:
        a = next(waiting, None)
        if a is None:
            if not todo:
                return pool
            ahead.append(a := read_ahead(engine, todo.popleft(), seen))
            if not a.to_parse:
                continue
        if not room_ahead(busy, a.size, workers):
            return pool
        if (pool := submit_parse(pool, a, current_year, context, workers)) is None:
            return None
        busy.append(a)


def ingest_paths(
    paths: list[Path],
    *,
    engine: Engine | None = None,
    now: datetime | None = None,
    roots: list[Path] | None = None,
    context: ParseContext | None = None,
    current_year: int | None = None,
    workers: int | None = None,
) -> IngestSummary:
    """Ingest files and folders; one transaction per file. ``engine``: a migrated warehouse
    (default: the configured one, migrated and synced). ``now``: the load time (default: the
    clock at each file). ``roots``: folders every path must lie in (default: the paths).
    ``workers``: processes parsing ahead while files are saved in order (default: the
    HEALTHPLAN_WORKERS setting; 1 = everything in this process)."""
    from healthplan.settings import get_settings

    refuse_in_starting_worker()
    if engine is None:
        from flows.common import warehouse

        engine = warehouse()
    context = context or parse_context()
    current_year = current_year or (now.year if now else date.today().year)
    workers = workers or get_settings().workers
    summary = IngestSummary(started_at=datetime.now(UTC))
    candidates, refused = expand_paths([Path(p) for p in paths], roots)
    for r in refused:
        summary.files.append(save_unreadable(engine, r.name, r.messages[0], None, now))
    for result in ingested(engine, candidates, context, now, current_year, workers):
        summary.files.append(result)
    from warehouse.observations import refresh_statistics

    refresh_statistics(engine, sum(f.inserted for f in summary.files))
    summary.finished_at = datetime.now(UTC)
    return summary


# ------------------------------------------------------------------------------------- Prefect


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def read_task(candidate: Candidate) -> SourceBytes | UnreadableFile:
    try:
        return read_source(candidate)
    except UnreadableFile as e:
        return e


@task(cache_policy=NO_CACHE)
def parse_task(src: SourceBytes) -> ParsedFile | UnreadableFile:
    return parse_source(src, parse_context())


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def known_task(checksum: str) -> FileResult | None:
    from flows.common import warehouse

    return already_loaded(warehouse(), checksum)


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def save_task(src: SourceBytes, parsed: ParsedFile) -> FileResult:
    from flows.common import warehouse

    return save_parsed(warehouse(), src, parsed)


@task(retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def save_unreadable_task(name: str, reason: str, checksum: str | None) -> FileResult:
    from flows.common import warehouse

    return save_unreadable(warehouse(), name, reason, checksum)


@flow(name="ingest", log_prints=True)
def ingest_flow(paths: list[str]) -> dict:
    """Ingest files and folders into the warehouse; publishes the summary as an artifact."""
    from prefect.artifacts import create_markdown_artifact

    from flows.common import warehouse
    from warehouse.observations import refresh_statistics

    summary = IngestSummary(started_at=datetime.now(UTC))
    candidates, refused = expand_paths([Path(p) for p in paths])
    for r in refused:
        summary.files.append(save_unreadable_task(r.name, r.messages[0], None))
    for candidate in candidates:
        summary.files.append(
            file_or_failure(warehouse(), candidate.name, lambda c=candidate: _ingest_in_flow(c))
        )
    refresh_statistics(warehouse(), sum(f.inserted for f in summary.files))
    summary.finished_at = datetime.now(UTC)
    create_markdown_artifact(
        key="ingest-summary",
        markdown=summary.to_markdown(),
        description="数据导入结果 / ingest summary",
    )
    print(
        f"ingest: {summary.totals['files']} files, exit code {summary.exit_code}: {summary.totals}"
    )
    return summary.as_dict()


def _ingest_in_flow(candidate: Candidate) -> FileResult:
    """One file through the flow's tasks: read, look up, parse (guarded), save."""
    try:
        src = read_task(candidate)
    except OSError as e:
        src = UnreadableFile(candidate.name, f"无法读取文件 / cannot read the file: {e}")
    if isinstance(src, UnreadableFile):
        return save_unreadable_task(src.file, src.reason, None)
    earlier = known_task(src.checksum)
    if earlier is not None:
        earlier.name = src.name
        return earlier
    parsed = parse_task(src)
    if isinstance(parsed, UnreadableFile):
        return save_unreadable_task(src.name, parsed.reason, src.checksum)
    return save_task(src, parsed)


# ------------------------------------------------------------------------------------- CLI


def ingest_command(paths: list[str], console: Console | None = None) -> int:
    """`healthplan ingest PATH...`: ingest, print the summary, return the exit code.

    Bad input never ends in a traceback: unreadable files and rows are in the summary; bad
    definition files, an unreachable warehouse or a failed save end in one message.
    """
    from healthplan.definitions import DefinitionError
    from healthplan.settings import masked_url

    console = console or make_console()
    err = make_console(stderr=True)
    if not paths:
        err.print("[red]错误 error:[/] 请给出文件或文件夹 / give files or folders to ingest")
        return 2
    try:
        summary = ingest_paths([Path(p) for p in paths])
    except DefinitionError as e:
        err.print(f"[red]定义文件错误 definition error:[/] {escape(str(e))}")
        return 2
    except Exception as e:  # noqa: BLE001 - a message, not a traceback
        from warehouse.engine import WarehouseUnavailable

        if isinstance(e, WarehouseUnavailable):
            err.print(f"[red]数据仓库不可用 warehouse unavailable:[/] {escape(masked_url(str(e)))}")
            return 4
        err.print(
            f"[red]导入失败 ingest failed:[/] {escape(type(e).__name__)}: "
            f"{escape(masked_url(str(e))[:500])}"
        )
        return 1
    summary.render(console)
    return summary.exit_code


def quarantine_rows(
    engine: Engine, file: str | None = None, limit: int = SHOWN_REJECTS
) -> list[dict]:
    """The latest ``limit`` quarantined rows (of files whose name contains ``file``), oldest
    first: what an operator looks at after a run that ended with exit 3."""
    from warehouse.observations import quarantined

    rows = quarantined(engine, name_contains=file, latest=limit)
    keep = ["file_name", "row", "field", "value", "reason", "created_at"]
    return [
        {k: (None if v is None or v != v else v) for k, v in r.items()}
        for r in rows[keep].astype(object).to_dict("records")
    ]


def quarantine_command(file: str | None, limit: int, fmt: str, console: Console | None = None):
    """`healthplan db quarantine`: the rejected rows kept in the warehouse, newest last, times
    in the bureau's time zone."""
    import json
    import sys
    from zoneinfo import ZoneInfo

    from flows.common import warehouse
    from healthplan.settings import get_settings

    tz = ZoneInfo(get_settings().timezone)
    rows = quarantine_rows(warehouse(), file, limit)
    for r in rows:
        r["created_at"] = r["created_at"].astimezone(tz)
    if fmt == "json":
        data = [{**r, "created_at": r["created_at"].isoformat()} for r in rows]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    console = console or make_console()
    if not rows:
        console.print(
            "没有匹配的文件 / no such file" if file else "隔离区为空 / nothing quarantined"
        )
        return
    t = Table(title=f"隔离的行 / quarantined rows（{len(rows)}）")
    for col in ["文件 file", "行 row", "列 field", "值 value", "原因 reason", "隔离于 at"]:
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(
            escape(r["file_name"]),
            "—" if r["row"] is None else str(int(r["row"])),
            escape(r["field"] or "—"),
            escape("—" if r["value"] is None else str(r["value"])),
            escape(r["reason"]),
            f"{r['created_at']:%Y-%m-%d %H:%M}",
        )
    console.print(t)
