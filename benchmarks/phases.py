"""The measured phases, each run in its own child process by ``benchmarks.run``.

    python -m benchmarks.phases PHASE ARGS.json RESULT.json

A phase reads its arguments from ARGS.json and writes its figures to RESULT.json; the parent
reads the child's peak memory from the kernel (``os.wait4``), so each phase's peak is its own.
The environment (HEALTHPLAN_*, PREFECT_*) is set by the parent. With ``"profile": PATH`` in the
arguments the phase runs under pyinstrument and the profile text is written to PATH.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PLANS = ("longhu", "guilin")
STAGES = ("mid", "end")
PHASES: dict[str, Callable[[dict], dict]] = {}


def phase(fn: Callable[[dict], dict]) -> Callable[[dict], dict]:
    PHASES[fn.__name__] = fn
    return fn


class Clock:
    """Seconds accumulated per named step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._running: set[str] = set()  # a step timed inside itself counts once

    def add(self, name: str, seconds: float, count: int = 0) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.counts[name] = self.counts.get(name, 0) + count

    def _timed(self, name: str, step: Callable) -> Any:
        if name in self._running:
            return step()
        self._running.add(name)
        t = time.perf_counter()
        try:
            return step()
        finally:
            self._running.discard(name)
            self.add(name, time.perf_counter() - t)

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            return self._timed(name, lambda: fn(*args, **kwargs))

        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed

    def wrap_iter(self, name: str, fn: Callable) -> Callable:
        """A generator function whose every step (``next``) is timed: a reader that hands out
        blocks while the caller works on each."""
        end = object()

        def timed(*args, **kwargs):
            items = fn(*args, **kwargs)
            while (item := self._timed(name, lambda: next(items, end))) is not end:
                yield item

        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed


def rss_mb() -> float:
    """This process's own peak resident set (VmHWM: since its exec, without its children)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------ machine


@phase
def machine(args: dict) -> dict:
    """Where the figures come from: cores, memory, CPU model, versions."""
    import platform
    import sqlite3
    import subprocess
    from importlib.metadata import version

    from benchmarks import pg

    def sh(cmd: str) -> str:
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "machine": {
            "nproc": sh("nproc"),
            "memory": sh("free -g | awk '/^Mem:/ {print $2 \" GiB total\"}'"),
            "cpu": cpu,
            "kernel": platform.release(),
            "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "postgresql": pg.server_version(),
            **{
                p: version(p)
                for p in (
                    "duckdb",
                    "pandas",
                    "sqlalchemy",
                    "psycopg",
                    "prefect",
                    "weasyprint",
                    "python-calamine",
                )
            },
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": sh(f"git -C {REPO_ROOT} describe --always --dirty=+dirty --abbrev=12"),
        }
    }


@phase
def calibrate(args: dict) -> dict:
    """Facilities per year at the generator's scale 1, to set the scale of the preset."""
    from healthplan.definitions import load_catalog
    from samples.generator import sample_truth

    truth = sample_truth(load_catalog(REPO_ROOT / "plans"), scale=1.0, check=False)
    return {"facilities_per_year": float(truth.facilities.groupby("year").size().mean())}


# ------------------------------------------------------------------------------ generate


@phase
def generate(args: dict) -> dict:
    """Sample truth at a scale → the received files (inbox), the reference CSV and a plans folder
    whose area files carry the synthetic towns."""
    import shutil

    import yaml

    from benchmarks.duck import write_reference_csv
    from healthplan.definitions import load_catalog
    from healthplan.layouts import load_layouts
    from samples.generator import sample_truth, write_sample

    out = Path(args["out"])
    catalog = load_catalog(REPO_ROOT / "plans")
    layouts = load_layouts(REPO_ROOT / "plans" / "sources", catalog.elements)
    t = time.perf_counter()
    truth = sample_truth(
        catalog, seed=args.get("seed", 20161), scale=args["scale"],
        towns_per_county=args["towns_per_county"], check=False,
    )  # fmt: skip
    t_truth = time.perf_counter() - t
    t = time.perf_counter()
    written = write_sample(truth, catalog, layouts, out / "inbox")
    t_write = time.perf_counter() - t
    t = time.perf_counter()
    ref = write_reference_csv(truth, out / "csv")
    t_csv = time.perf_counter() - t
    plans = out / "plans"
    shutil.copytree(REPO_ROOT / "plans", plans, ignore=shutil.ignore_patterns("_skeleton"))
    for plan_id, areas in truth.areas.items():
        doc = {
            "jurisdiction": catalog.plan(plan_id).jurisdiction,
            "areas": [a.model_dump(exclude_none=True) for a in areas],
        }
        (plans / plan_id / "areas.yaml").write_text(
            yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    per_year = truth.facilities.groupby("year").size()
    fac_rows = sum(w.rows for w in written if w.source == "resources")
    return {
        "facilities_per_year": float(per_year.mean()),
        "facilities": int(truth.facilities["key"].nunique()),
        "facility_rows": int(fac_rows),
        "area_file_rows": int(sum(w.rows for w in written if w.source != "resources")),
        "files": len(written),
        "xlsx_files": sum(1 for w in written if w.path.suffix == ".xlsx"),
        "bytes": int(sum(w.bytes for w in written)),
        "areas": {p: len(a) for p, a in truth.areas.items()},
        "towns_per_county": args["towns_per_county"],
        "reference_csv": ref,
        "seconds": {"truth": t_truth, "write files": t_write, "write reference csv": t_csv},
    }


# ------------------------------------------------------------------------------ ingest


@phase
def ingest(args: dict) -> dict:
    """Files → warehouse with ``flows.ingest.ingest_paths``, timed by step (with ``workers`` 1;
    with more, files are parsed in worker processes the timers here do not see: then only the
    total and the load, which stays in this process, are meaningful):
    read = the file's bytes and sha256 and the checksum look-up; parse = CSV reader / calamine
    into cells (a big sheet's row blocks included, read while the rows before are checked); validate = layout choice, cell checks, facility roll-up (the rest of
    ``parse_file``); load = ``save_parsed`` (register, load_observations, quarantine, commit)."""
    import flows.ingest as ing
    import transforms.parsing as parsing
    from flows.common import warehouse

    clock = Clock()
    t = time.perf_counter()
    engine = warehouse()
    context = ing.parse_context()
    clock.add("setup (migrate, sync definitions, layouts)", time.perf_counter() - t)

    # parse: timed around the public readers that turn bytes into rows of cells
    from transforms.parsing import XlsxBook, csv_table

    csv_table.read_csv_table = clock.wrap("parse csv", csv_table.read_csv_table)
    XlsxBook.__init__ = clock.wrap("parse xlsx", XlsxBook.__init__)
    XlsxBook.table = clock.wrap("parse xlsx", XlsxBook.table)
    XlsxBook.blocks = clock.wrap_iter("parse xlsx", XlsxBook.blocks)
    ing.read_source = clock.wrap("read", ing.read_source)
    ing.already_loaded = clock.wrap("read", ing.already_loaded)

    dump = Path(args["dump"]) if args.get("dump") else None
    if dump:
        dump.mkdir(parents=True, exist_ok=True)
    per_format: dict[str, dict[str, float]] = {}
    original_parse, original_save = ing.parse_source, ing.save_parsed
    counter = {"files": 0}

    def parse_source(src, ctx, current_year=None):
        t0 = time.perf_counter()
        before = dict(clock.seconds)
        parsed = original_parse(src, ctx, current_year)
        whole = time.perf_counter() - t0
        reading = sum(
            clock.seconds.get(k, 0) - before.get(k, 0) for k in ("parse csv", "parse xlsx")
        )
        clock.add("validate", whole - reading)
        if isinstance(parsed, parsing.ParsedFile):
            f = per_format.setdefault(parsed.format, {"files": 0, "rows": 0, "parse": 0.0,
                                                      "validate": 0.0, "obs": 0})  # fmt: skip
            f["files"] += 1
            f["rows"] += parsed.rows_read
            f["obs"] += len(parsed.good)
            f["parse"] += reading
            f["validate"] += whole - reading
        return parsed

    def save_parsed(engine, src, parsed, now=None):
        t0 = time.perf_counter()
        result = original_save(engine, src, parsed, now)
        clock.add("load", time.perf_counter() - t0, len(parsed.good))
        if dump is not None:  # the same rows for the raw-driver baselines, outside the timing
            counter["files"] += 1
            with open(dump / f"{counter['files']:05d}.pkl", "wb") as fh:
                pickle.dump(parsed.good, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return result

    ing.parse_source, ing.save_parsed = parse_source, save_parsed
    t = time.perf_counter()
    workers = int(args.get("workers", 1))
    summary = ing.ingest_paths([Path(args["inbox"])], engine=engine, context=context,
                               now=datetime.now(UTC), workers=workers)  # fmt: skip
    total = time.perf_counter() - t
    totals = summary.totals
    parse = clock.seconds.get("parse csv", 0) + clock.seconds.get("parse xlsx", 0)
    return {
        "seconds": {
            "setup": clock.seconds["setup (migrate, sync definitions, layouts)"],
            "read": clock.seconds.get("read", 0.0),
            "parse": parse,
            "validate": clock.seconds.get("validate", 0.0),
            "load": clock.seconds.get("load", 0.0),
            "total": total,
        },
        "per_format": per_format,
        "files": totals["files"],
        "statuses": {k: totals[k] for k in ("loaded", "partial", "skipped", "unreadable")},
        "rows_read": totals["rows_read"],
        "rows_rejected": totals["rows_rejected"],
        "observations": totals["inserted"] + totals["revised"] + totals["unchanged"],
        "inserted": totals["inserted"],
        "exit_code": summary.exit_code,
        "workers": workers,
    }


# ------------------------------------------------------------------------------ reading alone


def cells_of(path: str) -> tuple[int, int]:
    """A file's rows of cells by the plain readers, nothing checked: python-calamine for a
    workbook (every sheet), the ``csv`` module over the decoded text — the floor under any parse
    of these files. Returns (rows, cells)."""
    import csv
    import io

    data = Path(path).read_bytes()
    if path.endswith((".xlsx", ".xls", ".xlsm")):
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = [book.get_sheet_by_name(n).to_python() for n in book.sheet_names]
    else:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        sheets = [list(csv.reader(io.StringIO(text, newline="")))]
    return sum(len(s) for s in sheets), sum(len(r) for s in sheets for r in s)


@phase
def reading_alone(args: dict) -> dict:
    """Every file of the inbox turned into rows of cells by the plain readers (``cells_of``),
    in one process and in a pool of ``workers`` processes (largest file first, the way ingest
    hands them out), best of ``runs``: what reading the files costs before any check, load or
    formula — the part of files → indicators no pipeline over XLSX can go below."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    paths = sorted((p for p in Path(args["inbox"]).rglob("*") if p.is_file()),
                   key=lambda p: p.stat().st_size, reverse=True)  # fmt: skip
    names = [str(p) for p in paths]
    runs, workers = int(args.get("runs", 3)), int(args.get("workers", 2))
    one: list[float] = []
    by_format: dict[str, float] = {}
    for _ in range(runs):
        t = time.perf_counter()
        counts = []
        for name in names:
            t0 = time.perf_counter()
            counts.append(cells_of(name))
            fmt = "xlsx" if name.endswith(".xlsx") else "csv"
            by_format[fmt] = by_format.get(fmt, 0.0) + time.perf_counter() - t0
        one.append(time.perf_counter() - t)
    parallel: list[float] = []
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(["python_calamine"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp) as pool:
        list(pool.map(cells_of, names[-workers:]))  # workers started and warm before the clock
        for _ in range(runs):
            t = time.perf_counter()
            list(pool.map(cells_of, names, chunksize=1))
            parallel.append(time.perf_counter() - t)
    return {
        "files": len(names),
        "rows": sum(r for r, _ in counts),
        "cells": sum(c for _, c in counts),
        "workers": workers,
        "seconds": {
            "one process": min(one),
            "parallel": min(parallel),
            **{f"one process {k}": v / runs for k, v in by_format.items()},
        },
    }


# ------------------------------------------------------------------------------ raw driver


def _frames(dump: Path):
    for path in sorted(dump.glob("*.pkl")):
        with open(path, "rb") as fh:
            yield pickle.load(fh)


@phase
def raw_load(args: dict) -> dict:
    """The same rows, file by file (one transaction each, as the ingest does), by the driver's
    own bulk path: ``sqlite3`` executemany / psycopg COPY.

    mode 'plain': into a table of the same columns without any index — the database's limit;
    mode 'observation': into the warehouse's observation table (its indexes and foreign key),
    revision 1, each file registered first — the floor for any loader of that schema."""
    from benchmarks.bench_load import COLUMNS, _ship
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade

    engine = get_engine(args["url"])
    mode = args["mode"]
    if mode == "plain":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS bench_raw")
            conn.exec_driver_sql(
                "CREATE TABLE bench_raw (area_code VARCHAR(64), year INTEGER, element VARCHAR(64),"
                " stratum VARCHAR(64), value DOUBLE PRECISION, source_rows TEXT)"
            )
    else:
        upgrade(engine)
    pg = engine.dialect.name == "postgresql"
    rows_total, seconds = 0, 0.0
    now = datetime.now(UTC)
    stamp = now if pg else now.strftime("%Y-%m-%d %H:%M:%S.%f")
    for i, frame in enumerate(_frames(Path(args["dump"]))):
        n = len(frame)
        t = time.perf_counter()
        with engine.begin() as conn:
            if mode == "plain":
                rows = zip(*(frame[c].tolist() for c in COLUMNS), strict=True)
                _ship(conn, "bench_raw", COLUMNS, rows)
            else:
                file_id = conn.exec_driver_sql(
                    "INSERT INTO source_file (checksum, name, received_at, status) VALUES "
                    f"('{i:064x}', 'raw {i}', '2000-01-01 00:00:00', 'loaded') RETURNING id"
                ).scalar()
                cols = [*COLUMNS, "source_file_id", "revision", "valid_from"]
                values = [frame[c].tolist() for c in COLUMNS]
                values += [[file_id] * n, [1] * n, [stamp] * n]
                _ship(conn, "observation", cols, zip(*values, strict=True))
        seconds += time.perf_counter() - t
        rows_total += n
    return {"seconds": {"load": seconds}, "rows": rows_total, "mode": mode}


# ------------------------------------------------------------------------------ compute, evaluate


@phase
def compute(args: dict) -> dict:
    """Indicators for every area and year of both plans: load observations → formulas → save."""
    from flows import compute as comp
    from flows.common import warehouse

    clock = Clock()
    t = time.perf_counter()
    engine = warehouse()
    clock.add("setup", time.perf_counter() - t)
    moment = datetime.now(UTC)
    rows = {"observations": 0, "indicator_values": 0}
    for plan_id in PLANS:
        t = time.perf_counter()
        obs = comp.load_observations(engine, plan_id, moment)
        clock.add("load observations", time.perf_counter() - t)
        t = time.perf_counter()
        values = comp.compute_values(plan_id, obs)
        clock.add("formulas", time.perf_counter() - t)
        t = time.perf_counter()
        comp.save_values(engine, plan_id, values, moment)
        clock.add("save", time.perf_counter() - t)
        rows["observations"] += len(obs)
        rows["indicator_values"] += len(values)
    secs = dict(clock.seconds)
    secs["total"] = sum(v for k, v in secs.items() if k != "setup")
    return {"seconds": secs, **rows}


@phase
def evaluate(args: dict) -> dict:
    """Both plans at both stages: ``flows.evaluate.assess`` (load → recompute → judge every
    indicator in every area; the load and recompute happen once per plan, the second stage
    reuses them) and ``save_assessment``. A fresh process: nothing computed before is reused."""
    import flows.evaluate as ev
    from flows.common import warehouse

    clock = Clock()
    t = time.perf_counter()
    engine = warehouse()
    clock.add("setup", time.perf_counter() - t)
    import flows.compute as comp

    # once per plan: assess shares a plan's observations and values between stages (and with
    # compute and quality in the same process) while the warehouse holds the same observations
    comp.load_observations = clock.wrap("load observations", comp.load_observations)
    comp.compute_values = clock.wrap("recompute indicators", comp.compute_values)
    ev.assess_plan = clock.wrap("judge", ev.assess_plan)
    moment = datetime.now(UTC)
    n = 0
    for plan_id in PLANS:
        for stage in STAGES:
            t = time.perf_counter()
            a = ev.assess(plan_id, stage, as_of=moment, engine=engine)
            clock.add("assess", time.perf_counter() - t)
            t = time.perf_counter()
            n += ev.save_assessment(a, engine)
            clock.add("save", time.perf_counter() - t)
            del a  # as the flow does: a stage's verdicts go once saved
    secs = dict(clock.seconds)
    secs["total"] = secs["assess"] + secs["save"]
    return {"seconds": secs, "evaluations": n}


# ------------------------------------------------------------------------------ DuckDB


@phase
def duckdb_reference(args: dict) -> dict:
    from benchmarks.duck import compare, duckdb_indicators, formula_tables
    from healthplan.definitions import load_catalog

    catalog = load_catalog(Path(args["plans_dir"]))
    terms, inds = formula_tables(catalog, list(PLANS))
    runs = []
    out = None
    for _ in range(int(args.get("runs", 1))):
        out, timings = duckdb_indicators(Path(args["csv"]), terms, inds)
        runs.append(timings)
    best = min(runs, key=lambda r: r["total"])
    result: dict[str, Any] = {"seconds": best, "values": len(out), "runs": len(runs)}
    if args.get("warehouse_url"):
        import sqlalchemy as sa

        from warehouse.engine import get_engine
        from warehouse.schema import indicator_value

        engine = get_engine(args["warehouse_url"])
        with engine.connect() as conn:
            ours = conn.execute(
                sa.select(
                    indicator_value.c.plan_id.label("plan"),
                    indicator_value.c.number,
                    indicator_value.c.area_code,
                    indicator_value.c.year,
                    indicator_value.c.stratum,
                    indicator_value.c.value,
                )  # fmt: skip
            ).all()
        import pandas as pd

        frame = pd.DataFrame(ours, columns=["plan", "number", "area_code", "year", "stratum",
                                            "value"])  # fmt: skip
        result["agreement"] = compare(frame, out)
    return result


# ------------------------------------------------------------------------------ nightly pipeline


@phase
def nightly(args: dict) -> dict:
    """The Prefect pipeline: full run on an empty warehouse, then the same night again with no
    new input. Prefect's own start-up (temporary API server) and per-flow overhead are measured
    first with an empty flow, so they can be reported apart."""
    t = time.perf_counter()
    from prefect import flow

    t_import = time.perf_counter() - t

    @flow(name="bench-empty")
    def empty() -> int:
        return 1

    t = time.perf_counter()
    empty()
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    empty()
    t_flow = time.perf_counter() - t

    from flows.pipeline import pipeline_flow

    inbox, plans = args["inbox"], args.get("plans")
    t = time.perf_counter()
    full = pipeline_flow(inbox=inbox, plans=plans)
    t_full = time.perf_counter() - t
    again_runs = []
    again = None
    for _ in range(int(args.get("repeat", 2))):
        t = time.perf_counter()
        again = pipeline_flow(inbox=inbox, plans=plans)
        again_runs.append(time.perf_counter() - t)
    assert again is not None
    return {
        "seconds": {
            "import prefect": t_import,
            "prefect start-up (first empty flow)": t_first,
            "empty flow": t_flow,
            "full run": t_full,
            "no-change run": min(again_runs),
            "no-change runs": again_runs,
        },
        "full_skipped": full["skipped"],
        "again_skipped": again["skipped"],
        "reports": len(full["reports"]),
    }


@phase
def nightly_parts(args: dict) -> dict:
    """What the no-change night does, without Prefect: ingest the unchanged inbox (every file
    read and hashed, every checksum looked up) and the fingerprint of the inputs."""
    from flows.common import warehouse
    from flows.ingest import ingest_paths
    from flows.pipeline import input_fingerprint, previous_outputs

    engine = warehouse()
    t = time.perf_counter()
    s = ingest_paths([Path(args["inbox"])], engine=engine)
    t_ingest = time.perf_counter() - t
    t = time.perf_counter()
    fp = input_fingerprint(args.get("plans") or list(PLANS), list(STAGES), None)
    previous_outputs(fp)
    t_fp = time.perf_counter() - t
    return {
        "seconds": {"ingest (nothing new)": t_ingest, "fingerprint + previous run": t_fp},
        "skipped": s.totals["skipped"],
        "bytes": sum(p.stat().st_size for p in Path(args["inbox"]).rglob("*") if p.is_file()),
    }


# ------------------------------------------------------------------------------ reports


_ASSESSMENTS: list = []
_HTML: list[str] = []


def _render_ours(i: int) -> tuple[float, int, str]:
    from flows.report import render_report

    a = _ASSESSMENTS[i]
    t = time.perf_counter()
    files = render_report(a)
    return time.perf_counter() - t, files.pages, str(files.html)


def _render_weasy(i: int) -> tuple[float, int]:
    import weasyprint

    from flows.report import TEMPLATES_DIR, template_fetcher

    t = time.perf_counter()
    doc = weasyprint.HTML(
        string=_HTML[i], base_url=TEMPLATES_DIR.as_uri() + "/", url_fetcher=template_fetcher()
    ).render()
    doc.write_pdf()
    return time.perf_counter() - t, len(doc.pages)


def _render_weasy_held_back(i: int) -> tuple[float, int]:
    """WeasyPrint alone, with the collector held back as ``render_pdf`` holds it: what is left
    of ours ÷ WeasyPrint is then our own work (context, HTML, XLSX, files, records)."""
    from flows.report import fewer_collections

    with fewer_collections():
        return _render_weasy(i)


def _pool_map(fn, order: list[int], workers: int) -> float:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    t = time.perf_counter()
    with ctx.Pool(workers) as pool:
        pool.map(fn, order, chunksize=1)
    return time.perf_counter() - t


PASSES = ("sequential", "processes")  # threads: no longer how the flows render


@phase
def reports(args: dict) -> dict:
    """The sample reports (both plans, mid and end term) from the sample at its bundled size.

    ours = ``flows.report.render_report`` (context, charts, HTML, WeasyPrint PDF, XLSX, atomic
    writes, warehouse records); weasyprint = ``HTML(string=the same finished HTML).render()``
    and ``write_pdf()`` only, at Python's default collector settings and (one after another)
    also with the collector held back as ours holds it. One after another, then in a process pool of one worker per core
    (forked after a warm-up render, so fonts and imports are loaded once; longest report first),
    and ours also in a thread pool, as the report flow and the pipeline run them."""
    from concurrent.futures import ThreadPoolExecutor

    from flows.common import warehouse
    from flows.evaluate import assess
    from flows.ingest import ingest_paths

    workers = int(args.get("workers") or os.cpu_count() or 1)
    passes = args.get("passes") or list(PASSES)
    engine = warehouse()
    ingest_paths([Path(args["inbox"])], engine=engine)
    for plan_id in args.get("plans") or PLANS:
        for stage in STAGES:
            _ASSESSMENTS.append(assess(plan_id, stage, engine=engine))
    t = time.perf_counter()
    _render_ours(0)  # warm-up: imports, fonts, template compilation
    warm = time.perf_counter() - t
    n = len(_ASSESSMENTS)

    seq_ours = [_render_ours(i) for i in range(n)]
    pages = [p for _, p, _ in seq_ours]
    _HTML.extend(Path(h).read_text(encoding="utf-8") for _, _, h in seq_ours)
    order = sorted(range(n), key=lambda i: -pages[i])
    seconds = {"warm-up render": warm, "ours sequential": sum(s for s, _, _ in seq_ours)}
    per_report = [{"pages": p, "ours": so[0]} for p, so in zip(pages, seq_ours, strict=True)]
    if "sequential" in passes:
        seq_weasy = [_render_weasy(i) for i in range(n)]
        seconds["weasyprint sequential"] = sum(s for s, _ in seq_weasy)
        seq_held = [_render_weasy_held_back(i) for i in range(n)]
        seconds["weasyprint held back sequential"] = sum(s for s, _ in seq_held)
        for row, (s, _), (h, _) in zip(per_report, seq_weasy, seq_held, strict=True):
            row["weasyprint"], row["weasyprint_held_back"] = s, h
    if "processes" in passes:
        seconds["ours processes"] = _pool_map(_render_ours, order, workers)
        seconds["weasyprint processes"] = _pool_map(_render_weasy, order, workers)
    if "threads" in passes:
        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as ex:
            list(ex.map(_render_ours, order))
        seconds["ours threads"] = time.perf_counter() - t
    names = [f"{a.plan_id}_{a.stage}_{a.data_year}" for a in _ASSESSMENTS]
    for row, name in zip(per_report, names, strict=True):
        row["report"] = name
    return {
        "workers": workers,
        "reports": names,
        "pages": pages,
        "seconds": seconds,
        "per_report": per_report,
    }


# ------------------------------------------------------------------------------ entry


def main() -> None:
    name, args_path, result_path = sys.argv[1:4]
    args = json.loads(Path(args_path).read_text(encoding="utf-8"))
    fn = PHASES[name]
    profiler = None
    if args.get("profile"):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.005)
        profiler.start()
    started = time.perf_counter()
    result = fn(args)
    result["wall"] = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
        text = profiler.output_text(unicode=True, color=False, show_all=False)
        Path(args["profile"]).write_text(text, encoding="utf-8")
    result["self_peak_mb"] = rss_mb()
    Path(result_path).write_text(json.dumps(result, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
