"""Run every benchmark and print the figures as tables (Markdown).

    uv run python -m benchmarks            # the full run (≈ 30 min on 2 cores)
    uv run python -m benchmarks --quick    # a tenth of the preset: a few minutes
    uv run python benchmarks/run.py --help

Scenarios (see docs/performance.md for what each figure means):

1. province preset (≈ 35,000 facilities, 6 years, Guilin's 17 counties with synthetic towns) and
   2× and 4× of it: files → warehouse → indicators → evaluations on SQLite and on PostgreSQL;
   parse / validate / load rows per second, compute and evaluate seconds, peak memory per phase;
2. the reference: DuckDB computing the same indicators in SQL straight from the data as CSV;
3. the database's limit: the raw driver loading the same rows (executemany / COPY);
4. the nightly pipeline with no new input as a share of the full run (Prefect apart);
5. the 4 sample reports: pages per second, ours ÷ WeasyPrint's own time for the same HTML;
6. a province of 100+ plans (``benchmarks/many.py``): the night with 1…109 plans, a changed
   county file, the night on a dask cluster of 1 and 2 worker processes;
7. a polars + fastexcel script computing the same indicators from the same files.

Every measured phase runs in its own child process (``benchmarks.phases``); its peak memory is
the child's maximum resident set size as the kernel reports it. Generated data lives in a
temporary folder, removed at the end (``--keep`` keeps it). The tables go to stdout and, with the
raw figures as JSON, to ``benchmarks/out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import many, pg  # noqa: E402
from benchmarks.memory import TreeMemory  # noqa: E402

PRESET_FACILITIES = 35_000  # facilities per year in the province preset
PRESET_TOWNS = (
    9  # synthetic towns per district/county at the preset (Guilin: ~150 towns, 17 counties)
)
TARGETS = {
    "load_vs_raw": 1.3,
    "files_to_indicators_vs_duckdb": 3.0,
    "growth_4x": 4.4,
    "peak_mb_4x": 1536,
    "peak_4x_vs_1x": 1.25,  # "about the same": our reading of it
    "nochange_share": 0.05,
    "reports_vs_weasyprint": 1.2,
}


FULL_COUNTS, QUICK_COUNTS = "1,10,30,109", "1,3,10"  # plans per night (many), --quick: fewer


class PhaseFailed(RuntimeError):
    pass


class Runner:
    """Starts phases in child processes and keeps every result."""

    def __init__(self, work: Path, verbose: bool = True):
        self.work = work
        self.verbose = verbose
        self.results: list[dict] = []
        self.prefect_home = work / "prefect"
        self.prefect_home.mkdir(parents=True, exist_ok=True)

    def env(self, **healthplan: str) -> dict[str, str]:
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("HEALTHPLAN_"):
                del env[k]
        env.update({f"HEALTHPLAN_{k.upper()}": str(v) for k, v in healthplan.items()})
        env.update(
            PREFECT_HOME=str(self.prefect_home),
            PREFECT_API_URL="",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
            PYTHONPATH=str(REPO_ROOT),
        )
        return env

    def run(self, name: str, args: dict, env: dict[str, str], tag: str, **meta: Any) -> dict:
        slug = f"{len(self.results):03d}-{name}-{tag}".replace("/", "_").replace(" ", "_")
        args_path = self.work / f"{slug}.args.json"
        result_path = self.work / f"{slug}.result.json"
        log_path = self.work / f"{slug}.log"
        args_path.write_text(json.dumps(args), encoding="utf-8")
        if self.verbose:
            print(f"  · {name:<17} {tag:<28}", end="", flush=True)
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.many", name, str(args_path), str(result_path)],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            sampler = TreeMemory(proc.pid)
            _, status, usage = os.wait4(proc.pid, 0)
            tree_mb = sampler.stop()
            proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if proc.returncode != 0 or not result_path.exists():
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
            raise PhaseFailed(f"phase {name} ({tag}) failed with {proc.returncode}:\n{tail}")
        result = json.loads(result_path.read_text(encoding="utf-8"))
        result.update(
            phase=name, tag=tag, peak_mb=usage.ru_maxrss / 1024, tree_peak_mb=tree_mb,
            child_wall=wall,
            cpu=usage.ru_utime + usage.ru_stime, loadavg=[load_before, os.getloadavg()[0]], **meta,
        )  # fmt: skip
        self.results.append(result)
        if self.verbose:
            print(f"{wall:7.1f} s  peak {result['peak_mb']:6.0f} MB", flush=True)
        return result


# ------------------------------------------------------------------------------ scenarios


def generate(r: Runner, folder: Path, multiple: float, base: float, towns: int) -> dict:
    """The files of one size: facilities and towns per county both grow with the multiple."""
    towns_here = max(1, round(towns * multiple))
    args = {"out": str(folder), "scale": base * multiple, "towns_per_county": towns_here}
    return r.run("generate", args, r.env(), f"{multiple:g}×", multiple=multiple)


def scale_scenario(
    r: Runner, multiple: float, base: float, towns: int, dbs: list[str], server: str | None,
    profile_dir: Path | None,
) -> dict:  # fmt: skip
    """Generate one size, then per database: ingest, raw loads, compute, evaluate; then DuckDB."""
    label = f"{multiple:g}×"
    folder = r.work / f"scale-{multiple:g}"
    gen = generate(r, folder, multiple, base, towns)
    inbox, plans = folder / "inbox", folder / "plans"
    out: dict[str, Any] = {"multiple": multiple, "generate": gen, "db": {}}
    cores = len(os.sched_getaffinity(0))
    out["reading"] = r.run("reading_alone", {"inbox": str(inbox), "workers": cores, "runs": 3},
                           r.env(), label, multiple=multiple)  # fmt: skip
    sqlite_url = None
    for db in dbs:
        tag = f"{db} {label}"
        dbname = f"bench_{str(multiple).replace('.', '_')}"
        data = folder / f"data-{db}"
        if db == "sqlite":
            url = f"sqlite:///{(data / 'warehouse.sqlite').as_posix()}"
            plain_url = f"sqlite:///{(folder / 'raw-plain.sqlite').as_posix()}"
            obs_url = f"sqlite:///{(folder / 'raw-observation.sqlite').as_posix()}"
            sqlite_url = url
        else:
            assert server is not None
            url = pg.create_database(server, f"{dbname}_wh")
            plain_url = pg.create_database(server, f"{dbname}_plain")
            obs_url = pg.create_database(server, f"{dbname}_obs")
        env = r.env(data_dir=data, database_url=url, plans_dir=plans, inbox_dir=inbox,
                    reports_dir=folder / "reports")  # fmt: skip
        dump = folder / f"dump-{db}"
        res: dict[str, Any] = {}
        res["ingest"] = r.run("ingest", {"inbox": str(inbox), "dump": str(dump)}, env, tag,
                              db=db, multiple=multiple)  # fmt: skip
        if cores > 1:  # the product's own way: files parsed in worker processes, saved in order
            if db == "sqlite":
                purl = f"sqlite:///{(folder / 'data-parallel' / 'warehouse.sqlite').as_posix()}"
            else:
                purl = pg.create_database(server, f"{dbname}_par")
            penv = dict(env, HEALTHPLAN_DATA_DIR=str(folder / "data-parallel"),
                        HEALTHPLAN_DATABASE_URL=purl)  # fmt: skip
            res["ingest_parallel"] = r.run("ingest", {"inbox": str(inbox), "workers": cores}, penv,
                                           f"{tag} {cores} workers", db=db, multiple=multiple)  # fmt: skip
            if db == "postgresql" and server:
                pg.drop_database(server, f"{dbname}_par")
            shutil.rmtree(folder / "data-parallel", ignore_errors=True)
        res["raw_plain"] = r.run("raw_load", {"url": plain_url, "dump": str(dump), "mode": "plain"},
                                 env, tag + " plain", db=db, multiple=multiple)  # fmt: skip
        res["raw_observation"] = r.run(
            "raw_load", {"url": obs_url, "dump": str(dump), "mode": "observation"}, env,
            tag + " observation", db=db, multiple=multiple,
        )  # fmt: skip
        shutil.rmtree(dump, ignore_errors=True)
        res["compute"] = r.run("compute", {}, env, tag, db=db, multiple=multiple)
        res["evaluate"] = r.run("evaluate", {}, env, tag, db=db, multiple=multiple)
        if profile_dir is not None and multiple == 1:
            _profiles(r, db, folder, env, inbox, profile_dir, server)
        if db == "postgresql" and server:
            for suffix in ("plain", "obs"):
                pg.drop_database(server, f"{dbname}_{suffix}")
        for path in (folder / "raw-plain.sqlite", folder / "raw-observation.sqlite"):
            for p in path.parent.glob(path.name + "*"):
                p.unlink(missing_ok=True)
        out["db"][db] = res
    out["duckdb"] = r.run(
        "duckdb_reference",
        {"csv": str(folder / "csv"), "plans_dir": str(plans), "warehouse_url": sqlite_url,
         "runs": 3},
        r.env(plans_dir=plans), label, multiple=multiple,
    )  # fmt: skip
    out["polars"] = r.run(
        "polars_reference",
        {"inbox": str(inbox), "plans_dir": str(plans), "plans": ["longhu", "guilin"],
         "warehouse_url": sqlite_url, "runs": 3},
        r.env(plans_dir=plans), label, multiple=multiple,
    )  # fmt: skip
    return out


def _profiles(r: Runner, db: str, folder: Path, env: dict, inbox: Path, profile_dir: Path,
              server: str | None) -> None:  # fmt: skip
    """pyinstrument profiles of ingest, compute and evaluate at the preset, on a fresh warehouse
    (the timed runs are never profiled)."""
    pdata = folder / f"profile-{db}"
    if db == "sqlite":
        url = f"sqlite:///{(pdata / 'warehouse.sqlite').as_posix()}"
    else:
        assert server is not None
        url = pg.create_database(server, "bench_profile")
    penv = dict(env, HEALTHPLAN_DATA_DIR=str(pdata), HEALTHPLAN_DATABASE_URL=url)
    for name in ("ingest", "compute", "evaluate"):
        path = profile_dir / f"{name}-{db}.txt"
        args = (
            {"inbox": str(inbox), "profile": str(path)}
            if name == "ingest"
            else {"profile": str(path)}
        )
        r.run(name, args, penv, f"{db} 1× (profiled)", profiled=True)
    if db != "sqlite" and server:
        pg.drop_database(server, "bench_profile")
    shutil.rmtree(pdata, ignore_errors=True)


def nightly_scenario(r: Runner, folder: Path, multiple: float, plans: list[str] | None) -> dict:
    """The Prefect pipeline on the files of one size, SQLite: the full night on an empty
    warehouse, then nights with nothing new."""
    env = r.env(data_dir=folder / "data-nightly", plans_dir=folder / "plans",
                inbox_dir=folder / "inbox", reports_dir=folder / "reports-nightly")  # fmt: skip
    args = {"inbox": str(folder / "inbox"), "repeat": 2, "plans": plans}
    res = r.run("nightly", args, env, f"sqlite {multiple:g}×", multiple=multiple)
    parts = r.run("nightly_parts", {"inbox": str(folder / "inbox"), "plans": plans}, env,
                  f"sqlite {multiple:g}×", multiple=multiple)  # fmt: skip
    return {"multiple": multiple, "run": res, "parts": parts, "plans": plans}


def reports_scenario(r: Runner, profile_dir: Path | None, plans: list[str] | None) -> dict:
    """The sample reports from the sample at its bundled size (scale 1, no synthetic towns)."""
    folder = r.work / "reports-sample"
    r.run("generate", {"out": str(folder), "scale": 1.0, "towns_per_county": 0}, r.env(),
          "sample (reports)")  # fmt: skip
    env = r.env(data_dir=folder / "data", plans_dir=folder / "plans", inbox_dir=folder / "inbox",
                reports_dir=folder / "reports")  # fmt: skip
    res = r.run("reports", {"inbox": str(folder / "inbox"), "plans": plans}, env,
                f"{'4' if not plans else 2 * len(plans)} sample reports")  # fmt: skip
    if profile_dir is not None:
        env2 = dict(env, HEALTHPLAN_DATA_DIR=str(folder / "data-profile"))
        r.run("reports", {"inbox": str(folder / "inbox"), "plans": plans, "passes": ["ours"],
                          "profile": str(profile_dir / "reports.txt")}, env2, "profiled",
              profiled=True)  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    return res


# ------------------------------------------------------------------------------ tables


def _f(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def _rate(rows: float, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "—"


def tree_mb(result: dict) -> float:
    """Peak of the phase's processes together (workers included), never below its own peak."""
    return max(result.get("tree_peak_mb") or 0.0, result["peak_mb"])


def ingest_seconds(db: dict) -> float:
    """The ingest as the product runs it: in parallel where there are cores."""
    return db.get("ingest_parallel", db["ingest"])["seconds"]["total"]


def reading_seconds(scale: dict) -> float | None:
    """Reading every file into cells with the plain readers, as many processes as the ingest."""
    rd = scale.get("reading")
    return rd["seconds"]["parallel"] if rd else None


def reading_bound(scales: list[dict], db: str) -> str:
    """What reading the files alone costs against DuckDB, and ours against it, by size."""
    if not all(reading_seconds(s) for s in scales):
        return ""
    floor = [(reading_seconds(s) or 0.0, s) for s in scales]
    vs_duck = " · ".join(f"{f / s['duckdb']['seconds']['total']:.1f}" for f, s in floor)
    ours = " · ".join(f"{files_to_indicators(s['db'][db]) / f:.1f}" for f, s in floor)
    return f"; reading the files alone takes {vs_duck}× DuckDB, ours ÷ reading alone {ours}"


def files_to_indicators(db: dict) -> float:
    return ingest_seconds(db) + db["compute"]["seconds"]["total"]


def tables(results: dict) -> str:
    m = results["machine"]
    lines: list[str] = []
    add = lines.append
    scales = results["scales"]
    add(f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']}, {m['os']}; Python "
        f"{m['python']}, SQLite {m['sqlite']}, {m['postgresql']}, DuckDB {m['duckdb']}, "
        f"WeasyPrint {m['weasyprint']}, python-calamine {m['python-calamine']}; {m['date']}, "
        f"commit {m['commit']}.")  # fmt: skip
    add("")
    add(f"Command: `{results['command']}`")
    add("")
    loads = [
        x for r in results.get("phases", []) if not r.get("profiled") for x in r.get("loadavg", [])
    ]
    if loads:
        add(f"1-minute load average at the start and end of each measured phase: "
            f"{min(loads):.2f}–{max(loads):.2f} (2 cores; each phase runs alone).")  # fmt: skip
        add("")
    if scales:
        add("### 1. Files → warehouse → indicators → evaluations")
        add("")
        add("| size | facilities/yr | areas (towns/county) | files | MB | facility rows | area rows "
            "| rows quarantined | observations |")  # fmt: skip
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s in scales:
            g = s["generate"]
            first = next(iter(s["db"].values()))
            add(f"| {s['multiple']:g}× | {g['facilities_per_year']:,.0f} | "
                f"{sum(g['areas'].values()):,} ({g.get('towns_per_county', '?')}) | {g['files']} | "
                f"{g['bytes'] / 2**20:.1f} | {g['facility_rows']:,} | {g['area_file_rows']:,} | "
                f"{first['ingest']['rows_rejected']:,} | {first['ingest']['observations']:,} |")  # fmt: skip
        add("")
        add("Rows per second: parse and validate count the rows read from the files, load counts "
            "the observation rows the parsed files hold (facility rows are summed per town, "
            "ownership and type while validating).")  # fmt: skip
        add("")
        add(
            "| db | size | parse rows/s (xlsx · csv) | validate rows/s | load rows/s | ingest s "
            "(1 process · parallel) | compute s | evaluate s | files→indicators s | peak MB ingest "
            "(1 process · parallel, all processes) · compute · evaluate |"
        )
        add("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s in scales:
            for db, d in s["db"].items():
                ing = d["ingest"]
                par = d.get("ingest_parallel")
                sec = ing["seconds"]
                pf = ing["per_format"]
                x = pf.get("xlsx", {})
                c = pf.get("csv", {})
                add(
                    f"| {db} | {s['multiple']:g}× | {_rate(ing['rows_read'], sec['parse'])} "
                    f"({_rate(x.get('rows', 0), x.get('parse', 0))} · "
                    f"{_rate(c.get('rows', 0), c.get('parse', 0))}) "
                    f"| {_rate(ing['rows_read'], sec['validate'])} "
                    f"| {_rate(ing['observations'], sec['load'])} | {_f(sec['total'])} · "
                    f"{_f(par['seconds']['total']) if par else '—'} "
                    f"| {_f(d['compute']['seconds']['total'])} "
                    f"| {_f(d['evaluate']['seconds']['total'])} | {_f(files_to_indicators(d))} "
                    f"| {d['ingest']['peak_mb']:,.0f} · {_f(par and tree_mb(par), 0)} · "
                    f"{d['compute']['peak_mb']:,.0f} · {d['evaluate']['peak_mb']:,.0f} |"
                )
        add("")
        add("Where the ingest time goes (seconds):")
        add("")
        add("| db | size | read + hash + checksum look-up | parse | validate | load | setup |")
        add("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for s in scales:
            for db, d in s["db"].items():
                sec = d["ingest"]["seconds"]
                add(f"| {db} | {s['multiple']:g}× | {_f(sec['read'], 2)} | {_f(sec['parse'], 2)} | "
                    f"{_f(sec['validate'], 2)} | {_f(sec['load'], 2)} | {_f(sec['setup'], 2)} |")  # fmt: skip
        add("")
        add("Where compute and evaluate go (seconds):")
        add("")
        add(
            "| db | size | compute: load obs · formulas · save | evaluate: load obs · recompute · "
            "judge · save |"
        )
        add("| --- | --- | --- | --- |")
        for s in scales:
            for db, d in s["db"].items():
                c = d["compute"]["seconds"]
                e = d["evaluate"]["seconds"]
                add(f"| {db} | {s['multiple']:g}× | {_f(c['load observations'], 2)} · "
                    f"{_f(c['formulas'], 2)} · {_f(c['save'], 2)} | "
                    f"{_f(e.get('load observations'), 2)} · {_f(e.get('recompute indicators'), 2)} "
                    f"· {_f(e.get('judge'), 2)} · {_f(e['save'], 2)} |")  # fmt: skip
        add("")
        add("### 2. The reference: DuckDB, same indicators in SQL straight from CSV")
        add("")
        add(
            "| size | DuckDB s | values | agree with ours | ours ÷ DuckDB (SQLite) | "
            "ours ÷ DuckDB (PostgreSQL) | ours ÷ DuckDB, one process, parse excluded (SQLite) | "
            "reading the files alone s (1 process · parallel) | reading alone ÷ DuckDB | "
            "ours ÷ reading alone (SQLite · PostgreSQL) |"
        )
        add("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s in scales:
            dk = s["duckdb"]
            t = dk["seconds"]["total"]
            ag = dk.get("agreement") or {}
            agree = (f"{ag.get('values_equal', 0):,} of {ag.get('ours', 0):,} equal "
                     f"(max rel. diff {ag.get('max_rel_diff', 0):.1e})") if ag else "—"  # fmt: skip
            ratios = {db: files_to_indicators(d) / t for db, d in s["db"].items()}
            sq = s["db"].get("sqlite")
            no_parse = ((sq["ingest"]["seconds"]["total"] - sq["ingest"]["seconds"]["parse"]
                         + sq["compute"]["seconds"]["total"]) / t if sq else None)  # fmt: skip
            rd = s.get("reading")
            floor = reading_seconds(s)
            add(f"| {s['multiple']:g}× | {t:.2f} | {dk['values']:,} | {agree} | "
                f"{_f(ratios.get('sqlite'), 1)} | {_f(ratios.get('postgresql'), 1)} | "
                f"{_f(no_parse, 1)} | "
                + (f"{rd['seconds']['one process']:.2f} · {floor:.2f} | {floor / t:.1f} | "
                   + " · ".join(_f(files_to_indicators(d) / floor, 1) for d in s["db"].values())
                   + " |" if floor else "— | — | — |"))  # fmt: skip
        add("")
        add("*Reading the files alone*: every file turned into rows of cells by the plain readers "
            "(python-calamine for the workbooks, the `csv` module for the text files), nothing "
            "checked, loaded or computed, in as many processes as the ingest uses: the part of "
            "files → indicators no pipeline over these XLSX files goes below.")  # fmt: skip
        add("")
        add("### 3. The database's own limit: the raw driver, same rows, one transaction per file")
        add("")
        add(
            "| db | size | rows | ours s | raw into a plain table s | ours ÷ raw | raw into the "
            "observation table s | ours ÷ that |"
        )
        add("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for s in scales:
            for db, d in s["db"].items():
                ours = d["ingest"]["seconds"]["load"]
                plain = d["raw_plain"]["seconds"]["load"]
                obs = d["raw_observation"]["seconds"]["load"]
                add(f"| {db} | {s['multiple']:g}× | {d['raw_plain']['rows']:,} | {ours:.2f} | "
                    f"{plain:.2f} | {ours / plain:.2f} | {obs:.2f} | {ours / obs:.2f} |")  # fmt: skip
        add("")
        add("### Growth with size (time at n× ÷ time at 1×; peak memory at n× ÷ at 1×)")
        add("")
        add(
            "| db | size | parse | validate | load | compute | evaluate | files→evaluations | "
            "peak memory |"
        )
        add("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        base = scales[0]
        for s in scales[1:]:
            for db, d in s["db"].items():
                b = base["db"][db]
                g = growth(b, d)
                add(f"| {db} | {s['multiple'] / base['multiple']:g}× | {g['parse']:.2f} | "
                    f"{g['validate']:.2f} | {g['load']:.2f} | {g['compute']:.2f} | "
                    f"{g['evaluate']:.2f} | {g['all']:.2f} | {g['peak']:.2f} |")  # fmt: skip
        add("")
    n = results.get("nightly")
    if n:
        sec = n["run"]["seconds"]
        parts = n["parts"]["seconds"]
        which = f"plan {', '.join(n['plans'])}" if n.get("plans") else "both plans"
        add(f"### 4. Nothing new: the nightly pipeline (Prefect, SQLite, {n['multiple']:g}× preset, "
            f"{which})")  # fmt: skip
        add("")
        add(
            "| Prefect import s | Prefect start-up s (first empty flow) | empty flow s | full run s "
            "| no-change run s | no-change ÷ full | no-change work ÷ full run's work (empty flow "
            "taken off both) | the no-change work without Prefect: ingest (read + hash every file, "
            "look up checksums) s · fingerprint s | peak MB: largest process · all processes |"
        )
        add("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
        add(f"| {sec['import prefect']:.1f} | {sec['prefect start-up (first empty flow)']:.1f} | "
            f"{sec['empty flow']:.2f} | {sec['full run']:.1f} | {sec['no-change run']:.2f} | "
            f"{sec['no-change run'] / sec['full run']:.1%} | {nochange_share(n):.1%} | "
            f"{parts['ingest (nothing new)']:.2f} · {parts['fingerprint + previous run']:.2f} | "
            f"{n['run']['peak_mb']:,.0f} · {tree_mb(n['run']):,.0f} |")  # fmt: skip
        add("")
    rep = results.get("reports")
    if rep:
        sec = rep["seconds"]
        pages = sum(rep["pages"])
        n = len(rep["pages"])
        add(f"### 5. Reports: the {n} sample reports ({pages} pages), {rep['workers']} workers")
        add("")
        add("| report | pages | ours s | WeasyPrint alone s (same HTML) | ours ÷ WeasyPrint | "
            "WeasyPrint alone, collector held back as ours s | ours ÷ that |")  # fmt: skip
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")

        def ratio(a: float | None, b: float | None) -> str:
            return _f(a / b if a is not None and b else None, 2)

        for p in rep["per_report"]:
            w, h = p.get("weasyprint"), p.get("weasyprint_held_back")
            add(f"| {p['report']} | {p['pages']} | {p['ours']:.2f} | {_f(w, 2)} | "
                f"{ratio(p['ours'], w)} | {_f(h, 2)} | {ratio(p['ours'], h)} |")  # fmt: skip

        def row(label: str, ours: str, weasy: str, held: str = "-") -> None:
            if ours in sec:
                w, h = sec.get(weasy), sec.get(held)
                add(f"| {label} | {pages} | {sec[ours]:.2f} | {_f(w, 2)} | "
                    f"{ratio(sec[ours], w)} | {_f(h, 2)} | {ratio(sec[ours], h)} |")  # fmt: skip

        row(f"all {n}, one after another", "ours sequential", "weasyprint sequential",
            "weasyprint held back sequential")  # fmt: skip
        row(f"all {n}, {rep['workers']} processes", "ours processes", "weasyprint processes")
        row(
            f"all {n}, {rep['workers']} threads (as the report flow runs them)", "ours threads", "-"
        )
        add("")
        add(
            "*Collector held back*: `flows.report.render_pdf` freezes the objects alive before a "
            "layout out of the cyclic collector's walks and collects every 50,000 allocations "
            "instead of 700 while WeasyPrint lays out (`fewer_collections`); the last column "
            "compares ours with WeasyPrint under the same settings, i.e. our own work alone."
        )
        add("")
        rates = [f"{pages / sec[k]:.2f} ({label})" for k, label in (
            ("ours processes", "ours, processes"), ("ours threads", "ours, threads"),
            ("ours sequential", "ours, one after another"),
            ("weasyprint processes", "WeasyPrint alone, processes"),
        ) if k in sec]  # fmt: skip
        add(f"Pages per second: {', '.join(rates)}; peak {rep['peak_mb']:,.0f} MB.")
        add("")
    lines.extend(many.polars_lines(scales, files_to_indicators))
    lines.extend(many.many_tables(results.get("many")))
    add("### Targets")
    add("")
    add("| target | measured | met |")
    add("| --- | --- | --- |")
    for name, measured, ok in verdicts(results):
        add(f"| {name} | {measured} | {'yes' if ok else '**no**'} |")
    return "\n".join(lines) + "\n"


def growth(b: dict, d: dict) -> dict[str, float]:
    def r(x: float, y: float) -> float:
        return y / x if x else float("nan")

    def peak(x: dict) -> float:
        phases = ("ingest", "ingest_parallel", "compute", "evaluate")
        return max(tree_mb(x[k]) for k in phases if k in x)

    def whole(x: dict) -> float:
        return files_to_indicators(x) + x["evaluate"]["seconds"]["total"]

    bi, di = b["ingest"]["seconds"], d["ingest"]["seconds"]
    return {
        "parse": r(bi["parse"], di["parse"]),
        "validate": r(bi["validate"], di["validate"]),
        "load": r(bi["load"], di["load"]),
        "compute": r(b["compute"]["seconds"]["total"], d["compute"]["seconds"]["total"]),
        "evaluate": r(b["evaluate"]["seconds"]["total"], d["evaluate"]["seconds"]["total"]),
        "all": r(whole(b), whole(d)),
        "peak": r(peak(b), peak(d)),
        "peak_mb": peak(d),
    }


def nochange_share(n: dict) -> float:
    sec = n["run"]["seconds"]
    overhead = sec["empty flow"]
    return max(sec["no-change run"] - overhead, 0) / max(sec["full run"] - overhead, 1e-9)


def verdicts(results: dict) -> list[tuple[str, str, bool]]:
    out = []
    scales = results["scales"]
    for db in ("sqlite", "postgresql"):
        rows = [s for s in scales if db in s["db"]]
        if not rows:
            continue
        ratios = [s["db"][db]["ingest"]["seconds"]["load"] / s["db"][db]["raw_plain"]["seconds"]["load"]
                  for s in rows]  # fmt: skip
        out.append((f"{db}: load ≤ {TARGETS['load_vs_raw']}× the raw driver (plain table)",
                    " · ".join(f"{x:.2f}" for x in ratios) + " (by size)",
                    max(ratios) <= TARGETS["load_vs_raw"]))  # fmt: skip
        same = [s["db"][db]["ingest"]["seconds"]["load"]
                / s["db"][db]["raw_observation"]["seconds"]["load"] for s in rows]  # fmt: skip
        out.append((f"{db}: load ≤ {TARGETS['load_vs_raw']}× the raw driver (the same "
                    "observation table)", " · ".join(f"{x:.2f}" for x in same) + " (by size)",
                    max(same) <= TARGETS["load_vs_raw"]))  # fmt: skip
        duck = [files_to_indicators(s["db"][db]) / s["duckdb"]["seconds"]["total"] for s in rows]
        bound = reading_bound(rows, db)
        out.append((f"{db}: files → indicators ≤ {TARGETS['files_to_indicators_vs_duckdb']:g}× DuckDB",
                    " · ".join(f"{x:.1f}" for x in duck) + " (by size)" + bound,
                    max(duck) <= TARGETS["files_to_indicators_vs_duckdb"]))  # fmt: skip
        if len(rows) > 1:
            b, d = rows[0]["db"][db], rows[-1]["db"][db]
            k = rows[-1]["multiple"] / rows[0]["multiple"]
            g = growth(b, d)
            limit = TARGETS["growth_4x"] * k / 4
            out.append((f"{db}: {k:g}× the data in ≤ {limit:.1f}× the time (files → evaluations)",
                        f"{g['all']:.2f}× (parse {g['parse']:.2f}, validate {g['validate']:.2f}, "
                        f"load {g['load']:.2f}, compute {g['compute']:.2f}, evaluate "
                        f"{g['evaluate']:.2f})", g["all"] <= limit))  # fmt: skip
            out.append((f"{db}: peak memory at {k:g}× ≤ {TARGETS['peak_mb_4x']:,} MB and ≤ "
                        f"{TARGETS['peak_4x_vs_1x']}× the peak at 1×",
                        f"{g['peak_mb']:,.0f} MB, {g['peak']:.2f}× the 1× peak",
                        g["peak_mb"] <= TARGETS["peak_mb_4x"]
                        and g["peak"] <= TARGETS["peak_4x_vs_1x"]))  # fmt: skip
    out.extend(many.polars_verdicts(scales, files_to_indicators))
    out.extend(many.per_plan_verdicts(results.get("many")))
    n = results.get("nightly")
    if n:
        share = nochange_share(n)
        out.append(
            (
                f"no-change night ≤ {TARGETS['nochange_share']:.0%} of the full run's work",
                f"{share:.1%}",
                share <= TARGETS["nochange_share"],
            )
        )
    rep = results.get("reports")
    if rep:
        sec = rep["seconds"]
        ratio = sec["ours processes"] / sec["weasyprint processes"]
        held = sec.get("weasyprint held back sequential")
        held_text = (f"; ours ÷ WeasyPrint with the collector held back as ours "
                     f"{sec['ours sequential'] / held:.2f}×" if held else "")  # fmt: skip
        out.append((f"reports ≤ {TARGETS['reports_vs_weasyprint']}× WeasyPrint's own time",
                    f"{ratio:.2f}× (processes; one after another "
                    f"{sec['ours sequential'] / sec['weasyprint sequential']:.2f}×{held_text})",
                    ratio <= TARGETS["reports_vs_weasyprint"]))  # fmt: skip
    return out


# ------------------------------------------------------------------------------ main


def many_part(r: Runner, args, stack: ExitStack, server: str | None, dbs: list[str],
              scale: float, towns: int) -> dict:  # fmt: skip
    """Section 6: the province of many plans (a PostgreSQL server started if none is)."""
    print("many plans")
    if "postgresql" in dbs and server is None:
        server = args.pg_url or stack.enter_context(pg.temporary_postgres(r.work))
    text = QUICK_COUNTS if args.quick and args.plan_counts == FULL_COUNTS else args.plan_counts
    counts = [int(x) for x in text.split(",")]
    return many.many_scenario(r, scale, towns, args.cities, counts, dbs, server,
                              cluster="postgresql" in dbs)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a tenth of the preset (1×, 2×, 4× of 3,500 facilities): a few minutes",
    )
    ap.add_argument(
        "--facilities",
        type=int,
        default=None,
        help=f"facilities per year at 1× (default {PRESET_FACILITIES:,}; --quick: a tenth)",
    )
    ap.add_argument("--multiples", default="1,2,4", help="sizes to run, as multiples of the preset")
    ap.add_argument(
        "--towns",
        type=int,
        default=PRESET_TOWNS,
        help="synthetic towns per district/county at the full preset (scaled with size)",
    )
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--pg-url", help="an existing PostgreSQL server (maintenance database URL)")
    ap.add_argument(
        "--only",
        default="scales,nightly,reports,many",
        help="scenarios to run: scales (1-3, and 7: the polars reference), nightly (4), "
        "reports (5), many (6: many plans, changed file, cluster)",
    )
    ap.add_argument("--plan-counts", default=FULL_COUNTS, help="plans per night (many)")
    ap.add_argument("--cities", type=int, default=6, help="cities in the province (many)")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also write pyinstrument profiles (1×) to benchmarks/profiles/",
    )
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "out")
    ap.add_argument("--work-dir", type=Path, default=None, help="where the temporary data goes")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    args = ap.parse_args(argv)

    fraction = 0.1 if args.quick else 1.0
    facilities = args.facilities or int(PRESET_FACILITIES * fraction)
    towns = max(1, round(args.towns * facilities / PRESET_FACILITIES))
    multiples = [float(x) for x in args.multiples.split(",") if x.strip()]
    only = {x.strip() for x in args.only.split(",")}
    dbs = ["sqlite"] if args.no_pg else ["sqlite", "postgresql"]
    profile_dir = REPO_ROOT / "benchmarks" / "profiles" if args.profile else None
    if profile_dir:
        profile_dir.mkdir(parents=True, exist_ok=True)

    if args.work_dir:
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="healthplan-bench-", dir=args.work_dir))
    if os.geteuid() == 0:  # the PostgreSQL server runs as postgres and needs to reach its folder
        os.chmod(work, 0o755)
    r = Runner(work)
    started = time.perf_counter()
    print(f"healthplan benchmarks → {work}")
    results: dict[str, Any] = {
        "machine": r.run("machine", {}, r.env(), "versions")["machine"],
        "command": "uv run python -m benchmarks "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "preset": {
            "facilities_per_year": facilities,
            "towns_per_county": towns,
            "multiples": multiples,
        },  # fmt: skip
        "scales": [],
    }
    base = facilities / r.run("calibrate", {}, r.env(), "scale 1")["facilities_per_year"]
    print(f"preset: {facilities:,} facilities per year (generator scale {base:.2f}), "
          f"{towns} towns per county, sizes {', '.join(f'{m:g}×' for m in multiples)}; "
          f"databases: {', '.join(dbs)}")  # fmt: skip
    try:
        with ExitStack() as stack:
            server = None
            if "postgresql" in dbs and "scales" in only:
                server = args.pg_url or stack.enter_context(pg.temporary_postgres(work))
            nightly_plans = ["longhu"] if args.quick else None
            for i, m in enumerate(multiples):
                if "scales" in only:
                    print(f"size {m:g}×")
                    results["scales"].append(
                        scale_scenario(r, m, base, towns, dbs, server,
                                       profile_dir if i == 0 else None)
                    )  # fmt: skip
                if i == 0 and "nightly" in only:
                    print(f"nightly pipeline, {m:g}×")
                    folder = r.work / f"scale-{m:g}"
                    if not (folder / "inbox").exists():
                        generate(r, folder, m, base, towns)
                    results["nightly"] = nightly_scenario(r, folder, m, nightly_plans)
                if not args.keep:
                    for sub in ("csv", "inbox"):
                        shutil.rmtree(r.work / f"scale-{m:g}" / sub, ignore_errors=True)
            if "many" in only:
                results["many"] = many_part(r, args, stack, server, dbs, base * multiples[0], towns)
            if "reports" in only:
                print("reports")
                results["reports"] = reports_scenario(
                    r, profile_dir, ["longhu"] if args.quick else None
                )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = time.perf_counter() - started
    results["phases"] = [
        {k: v for k, v in x.items() if k in ("phase", "tag", "wall", "child_wall", "cpu",
                                               "peak_mb", "self_peak_mb", "loadavg", "profiled")}
        for x in r.results
    ]  # fmt: skip
    text = tables(results)
    text += f"\nWhole benchmark run: {results['seconds'] / 60:.1f} min.\n"
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "quick" if args.quick else "full"
    (args.out / f"{stem}.json").write_text(
        json.dumps(results, indent=1, default=str), encoding="utf-8"
    )
    (args.out / f"{stem}.md").write_text(text, encoding="utf-8")
    print(f"written: {args.out / (stem + '.md')}, {args.out / (stem + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
