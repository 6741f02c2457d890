"""The many-plans parts of ``python -m benchmarks``: a province of 100+ plans (``province.py``),
the full night with 1, 10, 30 and all plans on SQLite and PostgreSQL, a night in which one
county's facility file changed, the night on a real dask cluster with 1 and 2 workers, and the
polars reference (``polars_ref.py``).

Phases run in child processes like the others (``python -m benchmarks.many PHASE ARGS RESULT``).
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.phases import Clock, phase  # noqa: E402

TARGETS = {"per_plan_flat": 1.1, "changed_share": 0.10}
STEPS = ("compute", "quality", "evaluate", "reports")


# ------------------------------------------------------------------------------ phases


@phase
def province_generate(args: dict) -> dict:
    from benchmarks.province import generate_province

    t = time.perf_counter()
    out = generate_province(Path(args["out"]), args["scale"], args["towns"], args["cities"])
    out["seconds"] = {"generate": time.perf_counter() - t}
    return out


class StepClock(Clock):
    """Seconds and calls per step, summed over the pipeline's task threads: each thread's call
    counts (a step inside itself in the same thread counts once)."""

    def __init__(self) -> None:
        import threading

        super().__init__()
        self._lock = threading.Lock()
        self._local = threading.local()

        self.cpu: dict[str, float] = {}

    def add(self, name: str, seconds: float, count: int = 1) -> None:
        with self._lock:
            super().add(name, seconds, count)

    def add_cpu(self, name: str, seconds: float) -> None:
        with self._lock:
            self.cpu[name] = self.cpu.get(name, 0.0) + seconds

    def _timed(self, name: str, step):
        running = self._local.__dict__.setdefault("running", set())
        if name in running:
            return step()
        running.add(name)
        t, c = time.perf_counter(), time.thread_time()
        try:
            return step()
        finally:
            running.discard(name)
            self.add_cpu(name, time.thread_time() - c)
            self.add(name, time.perf_counter() - t)

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.counts.clear()
            self.cpu.clear()


def instrumented(clock: Clock) -> None:
    """Time every plan's compute, quality check, evaluation and report inside the pipeline."""
    import flows.pipeline as pl
    import flows.quality as q
    import flows.report as rep

    pl.compute_plan = clock.wrap("compute", pl.compute_plan)
    q.check_plan = clock.wrap("quality", q.check_plan)
    pl.assess = clock.wrap("evaluate", pl.assess)
    pl.save_assessment = clock.wrap("save evaluation", pl.save_assessment)
    rep.render_report = clock.wrap("reports", rep.render_report)


def changed_county_file(path: Path) -> str:
    """One facility of one county's file gets one more of everything it counts (beds, staff,
    visits): the file's bytes change, and the county's, its city's and the province's numbers
    with them."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    for row in wb.worksheets[0].iter_rows(min_row=2):
        counts = [c for c in row if isinstance(c.value, int) and not isinstance(c.value, bool)
                  and c.value > 0 and not 1990 < c.value < 2100]  # fmt: skip
        if counts:
            for cell in counts:
                cell.value += 1
            wb.save(path)
            return f"{path.parent.parent.name}/{path.name}, row {row[0].row}"
    raise RuntimeError(f"{path}: no count to change")


def _night(pipeline, inbox: str, plans: list[str], clock: Clock) -> dict:
    t = time.perf_counter()
    result = pipeline(inbox=inbox, plans=plans)
    steps, cpu = dict(clock.seconds), dict(clock.cpu)
    for d in (steps, cpu):
        d["evaluate"] = d.get("evaluate", 0.0) + d.pop("save evaluation", 0.0)
    return {"wall": time.perf_counter() - t, "steps": steps, "cpu": cpu,
            "calls": dict(clock.counts), "reports": len(result["reports"]) // 3,
            "skipped": result["skipped"]}  # fmt: skip


@phase
def many_night(args: dict) -> dict:
    """The Prefect pipeline over ``plans``: the full night on an empty warehouse, then (with
    ``change``) the night after one county's file changed. Seconds per step are the sums of
    each plan's calls (reports rendered in this process: HEALTHPLAN_WORKERS=1)."""
    from prefect import flow

    @flow(name="bench-empty")
    def empty() -> int:
        return 1

    t = time.perf_counter()
    empty()
    startup = time.perf_counter() - t
    from flows.pipeline import pipeline_flow

    clock = StepClock()
    instrumented(clock)
    out: dict[str, Any] = {"plans": len(args["plans"]), "prefect start-up": startup}
    out["full"] = _night(pipeline_flow, args["inbox"], args["plans"], clock)
    if args.get("change"):
        clock.reset()
        out["changed_file"] = changed_county_file(Path(args["change"]))
        out["changed"] = _night(pipeline_flow, args["inbox"], args["plans"], clock)
    return out


@phase
def cluster_night(args: dict) -> dict:
    """The pipeline on a process cluster of ``workers`` dask workers (PostgreSQL), full night."""
    from prefect.testing.utilities import prefect_test_harness

    from benchmarks.cluster import process_cluster, worker_environment
    from healthplan.settings import get_settings

    folder = Path(args["folder"])
    with prefect_test_harness(server_startup_timeout=180):  # one API for every process
        env = worker_environment({"HEALTHPLAN_WORKERS": "1"})
        with process_cluster(folder / f"dask-{args['workers']}", args["workers"], env) as c:
            os.environ.update(HEALTHPLAN_TASK_RUNNER="dask", HEALTHPLAN_DASK_ADDRESS=c.address)
            get_settings.cache_clear()
            from flows.pipeline import run_pipeline

            t = time.perf_counter()
            result = run_pipeline(plans=args["plans"], inbox=args["inbox"])
            wall = time.perf_counter() - t
    return {"workers": args["workers"], "wall": wall, "reports": len(result["reports"]) // 3}


@phase
def polars_reference(args: dict) -> dict:
    """The polars script over the received files, best of ``runs``; its values against ours."""
    from benchmarks.duck import compare
    from benchmarks.polars_ref import polars_indicators
    from healthplan.definitions import load_catalog
    from healthplan.layouts import load_layouts

    catalog = load_catalog(Path(args["plans_dir"]))
    layouts = load_layouts(Path(args["plans_dir"]) / "sources", catalog.elements)
    runs = [polars_indicators(Path(args["inbox"]), catalog, layouts, list(args["plans"]))
            for _ in range(int(args.get("runs", 1)))]  # fmt: skip
    frame, best = min(runs, key=lambda r: r[1]["total"])
    result: dict[str, Any] = {"seconds": best, "values": len(frame)}
    if args.get("warehouse_url"):
        result["agreement"] = compare(_our_values(args["warehouse_url"]), frame)
    return result


def _our_values(url: str):
    import pandas as pd
    import sqlalchemy as sa

    from warehouse.engine import get_engine
    from warehouse.schema import indicator_value

    c = indicator_value.c
    with get_engine(url).connect() as conn:
        rows = conn.execute(sa.select(c.plan_id, c.number, c.area_code, c.year, c.stratum,
                                      c.value)).all()  # fmt: skip
    return pd.DataFrame(rows, columns=["plan", "number", "area_code", "year", "stratum", "value"])


def polars_lines(scales: list[dict], ours) -> list[str]:
    """Section 7: ours ÷ the polars script and ÷ reading the files alone, by size."""
    rows = [s for s in scales if s.get("polars")]
    if not rows:
        return []
    lines = ["### 7. Against what a user would write: polars + fastexcel, files → indicators", "",
             "| size | polars s (read · indicators) | agree with ours | ours ÷ polars (SQLite · "
             "PostgreSQL) | ours ÷ reading alone |", "| --- | ---: | --- | ---: | ---: |"]  # fmt: skip
    for s in rows:
        p = s["polars"]
        ag = p.get("agreement") or {}
        t = p["seconds"]["total"]
        floor = s.get("reading", {}).get("seconds", {}).get("parallel")
        vs = " · ".join(f"{ours(d) / t:.2f}" for d in s["db"].values())
        rd = " · ".join(f"{ours(d) / floor:.2f}" for d in s["db"].values()) if floor else "—"
        lines.append(f"| {s['multiple']:g}× | {t:.2f} ({p['seconds']['read files']:.2f} · "
                     f"{p['seconds']['indicators']:.2f}) | {ag.get('values_equal', 0):,} of "
                     f"{ag.get('ours', 0):,} | {vs} | {rd} |")  # fmt: skip
    return [*lines, ""]


def polars_verdicts(scales: list[dict], ours) -> list[tuple[str, str, bool]]:
    out = []
    for db in ("sqlite", "postgresql"):
        rows = [s for s in scales if s.get("polars") and db in s["db"]]
        if not rows:
            continue
        r = [ours(s["db"][db]) / s["polars"]["seconds"]["total"] for s in rows]
        out.append((f"{db}: files → indicators no slower than the polars script",
                    " · ".join(f"{x:.2f}" for x in r) + " (by size)", max(r) <= 1.0))  # fmt: skip
        rd = [ours(s["db"][db]) / s["reading"]["seconds"]["parallel"] for s in rows
              if s.get("reading")]  # fmt: skip
        if rd:
            out.append((f"{db}: files → indicators ≤ 1.5× reading the files alone",
                        " · ".join(f"{x:.2f}" for x in rd) + " (by size)", max(rd) <= 1.5))  # fmt: skip
    return out


# ------------------------------------------------------------------------------ scenario


def plan_sample(plans: list[str], n: int, seed: int = 1) -> list[str]:
    """n plans with the whole list's mix of sizes: a fixed shuffle's first n."""
    order = list(plans)
    random.Random(seed).shuffle(order)
    return order[:n]


def many_scenario(r, scale: float, towns: int, cities: int, counts: list[int], dbs: list[str],
                  server: str | None, cluster: bool) -> dict:  # fmt: skip
    """Generate the province; per database and plan count, a full night on a fresh warehouse
    (and at the largest count the changed-file night); then the cluster nights."""
    from benchmarks import pg

    folder = r.work / "province"
    gen = r.run("province_generate", {"out": str(folder), "scale": scale, "towns": towns,
                                      "cities": cities}, r.env(), f"{cities} cities")  # fmt: skip
    plans = gen["plans"]
    counts = sorted({min(n, len(plans)) for n in counts})
    res: dict[str, Any] = {"generate": gen, "counts": counts, "db": {}}
    for db in dbs:
        res["db"][db] = {}
        for n in counts:
            tag = f"{db} {n} plans"
            data = folder / f"data-{db}-{n}"
            url = (f"sqlite:///{(data / 'warehouse.sqlite').as_posix()}" if db == "sqlite"
                   else pg.create_database(server, f"many_{n}"))  # fmt: skip
            inbox = folder / f"inbox-{db}-{n}"
            _copy_inbox(folder / "inbox", inbox)
            env = r.env(data_dir=data, database_url=url, plans_dir=folder / "plans",
                        inbox_dir=inbox, reports_dir=folder / f"reports-{db}-{n}", workers=1)  # fmt: skip
            chosen = plan_sample(plans, n)
            change = _county_file(inbox, chosen) if n == counts[-1] else None
            res["db"][db][n] = r.run("many_night", {"inbox": str(inbox), "plans": chosen,
                                                    "change": change}, env, tag)  # fmt: skip
    if cluster and server:
        res["cluster"] = cluster_part(r, folder, plans, counts, server)
    return res


def cluster_part(r, folder: Path, plans: list[str], counts: list[int], server: str) -> dict:
    from benchmarks import pg

    n = counts[len(counts) // 2]
    out = {"plans": n}
    for workers in (1, 2):
        url = pg.create_database(server, f"many_cluster_{workers}")
        env = r.env(data_dir=folder / f"data-cluster-{workers}", database_url=url,
                    plans_dir=folder / "plans", inbox_dir=folder / "inbox",
                    reports_dir=folder / f"reports-cluster-{workers}", workers=1)  # fmt: skip
        env.pop("PREFECT_API_URL", None)
        out[workers] = r.run("cluster_night", {"folder": str(folder), "workers": workers,
                             "plans": plan_sample(plans, n), "inbox": str(folder / "inbox")},
                             env, f"dask {workers} workers, {n} plans")  # fmt: skip
    return out


def _copy_inbox(src: Path, dst: Path) -> None:
    import shutil

    if not dst.exists():
        shutil.copytree(src, dst)


def _county_file(inbox: Path, plans: list[str]) -> str:
    """The last facility file of a county the first of ``plans`` holds: the county itself, or
    the first county below a city's or the province's root (``inbox/<city>/<county>/<year>``)."""
    root = plans[0].removeprefix("p")
    files = sorted(inbox.glob("*/*/*/resources_*.xlsx"))
    mine = [f for f in files if root in (f.parent.parent.name, f.parent.parent.parent.name)]
    mine = mine or files  # the province: every county is below it
    county = mine[0].parent.parent
    return str(sorted(county.glob("*/resources_*.xlsx"))[-1])


# ------------------------------------------------------------------------------ tables


def per_plan_verdicts(many: dict | None) -> list[tuple[str, str, bool]]:
    """time at the most plans ≤ 1.1 × (most / middle) × time at the middle count, per step;
    and the changed-file night ≤ 10 % of the full night, per database."""
    out: list[tuple[str, str, bool]] = []
    counts = (many or {}).get("counts", [])
    if many is None or len(counts) < 2:
        return out
    lo, hi = counts[-2], counts[-1]
    for db, runs in many["db"].items():
        a, b = runs[lo]["full"]["cpu"], runs[hi]["full"]["cpu"]  # CPU: steady on a busy machine
        for step in ("compute", "evaluate", "reports"):
            ratio = b.get(step, 0) / a[step] / (hi / lo) if a.get(step) else float("nan")
            out.append((f"{db}: {step} at {hi} plans ≤ {TARGETS['per_plan_flat']} × {hi}/{lo} × "
                        f"at {lo}", f"{ratio:.2f} × the flat line (CPU {a.get(step, 0):.1f} s → "
                        f"{b.get(step, 0):.1f} s)", ratio <= TARGETS["per_plan_flat"]))  # fmt: skip
        ch = runs[hi].get("changed")
        if ch:
            share = ch["wall"] / runs[hi]["full"]["wall"]
            out.append((f"{db}: one changed county file at {hi} plans ≤ 10 % of the full night",
                        f"{share:.1%} ({ch['wall']:.1f} s of {runs[hi]['full']['wall']:.1f} s; "
                        f"{ch['calls'].get('compute', 0)} plans recomputed, "
                        f"{ch['calls'].get('reports', 0)} reports rendered)",
                        share <= TARGETS["changed_share"]))  # fmt: skip
    return out


def many_tables(many: dict | None) -> list[str]:
    if not many:
        return []
    g = many["generate"]
    lines = [f"### 6. A province: {len(g['plans'])} plans ({g['cities']} cities), {g['areas']} "
             f"areas, {g['files']} files ({g['bytes'] / 2**20:.1f} MB, "
             f"{g['facility_rows']:,} facility rows)", "",
             "Step seconds are sums over the plans (wall · CPU of the calls' threads).", "",
             "| db | plans | full night s | compute s | quality s | evaluate s | reports s "
             "(count) | CPU per plan s (compute · evaluate · reports) | peak MB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]  # fmt: skip
    for db, runs in many["db"].items():
        for n, res in runs.items():
            f = res["full"]
            s, c = f["steps"], f.get("cpu", {})

            def both(k: str) -> str:
                return f"{s.get(k, 0):.1f} · {c.get(k, 0):.1f}"  # noqa: B023 - used at once

            per = " · ".join(f"{c.get(k, 0) / int(n):.2f}" for k in ("compute", "evaluate",
                                                                     "reports"))  # fmt: skip
            lines.append(f"| {db} | {n} | {f['wall']:.1f} | {both('compute')} | "
                         f"{both('quality')} | {both('evaluate')} | "
                         f"{both('reports')} ({f['calls'].get('reports', 0)}) | {per} | "
                         f"{max(res.get('tree_peak_mb') or 0, res['peak_mb']):,.0f} |")  # fmt: skip
    lines.append("")
    ch = [(db, runs[max(runs, key=int)]) for db, runs in many["db"].items()]
    lines += ["| db | plans | changed file | night s | ÷ full night | plans recomputed | "
              "reports rendered |", "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for db, res in ch:
        c = res.get("changed")
        if c:
            lines.append(f"| {db} | {res['plans']} | {res['changed_file']} | {c['wall']:.1f} | "
                         f"{c['wall'] / res['full']['wall']:.1%} | {c['calls'].get('compute', 0)}"
                         f" | {c['calls'].get('reports', 0)} |")  # fmt: skip
    lines.append("")
    lines += cluster_lines(many)
    return lines


def cluster_lines(many: dict) -> list[str]:
    cl = many.get("cluster")
    if not cl:
        return []
    one, two = cl.get(1) or cl.get("1"), cl.get(2) or cl.get("2")
    n = cl["plans"]
    speedup = one["wall"] / two["wall"]
    pg_runs = many["db"].get("postgresql", {})
    res = pg_runs.get(n) or pg_runs.get(str(n))
    lines = [f"Cluster (PostgreSQL, {n} plans, dask workers as separate processes, one thread "
             f"each): 1 worker {one['wall']:.1f} s, 2 workers {two['wall']:.1f} s — speed-up "
             f"{speedup:.2f}×."]  # fmt: skip
    if res:
        s = res["full"]["steps"]
        work = sum(s.get(k, 0) for k in STEPS)
        serial = max(res["full"]["wall"] - work, 0)
        for w in (16, 64):
            lines.append(f"On paper, {w} workers: {serial:.1f} s not spread (ingest, flow) + "
                         f"{work:.1f} s of per-plan work ÷ {w} = "
                         f"{serial + work / w:.1f} s, if the warehouse keeps up and the largest "
                         f"plan ({max(s.values()) / max(n, 1):.1f} s on average) is not the "
                         f"longest pole.")  # fmt: skip
    return [*lines, ""]


def main() -> None:
    from benchmarks.phases import main as phases_main

    phases_main()


if __name__ == "__main__":
    main()
