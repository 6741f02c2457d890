"""Time the report: our context + charts + templating vs WeasyPrint's own layout of the same HTML.

    uv run python benchmarks/bench_report.py [--plan longhu] [--stage mid] [--runs 3] [--out DIR]

Uses the plan's real definition with synthetic values (deterministic), so it needs no warehouse:
the warehouse reads and writes of ``render_report`` are replaced by in-memory stand-ins. Prints
pages, pages per second, and where the time goes.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows import report as rep  # noqa: E402
from healthplan.definitions import Area, AreaSet, Plan  # noqa: E402
from healthplan.settings import get_settings  # noqa: E402
from transforms.assessment import assess_plan, data_year_for  # noqa: E402
from transforms.report_context import build_context  # noqa: E402


def synthetic_values(
    plan: Plan, areas: list[Area], data_year: int, seed: int = 2016
) -> pd.DataFrame:
    """Every indicator, area and year from the baseline to the data year, with mixed progress."""
    rng = random.Random(seed)
    rows = []
    t0, T = plan.baseline_year, plan.target_year
    for ind in plan.indicators:
        if ind.target.comparator == "qualitative" or ind.number % 11 == 0:
            continue  # qualitative: reviewed by people; every 11th: no data at all
        base = ind.baseline.value if ind.baseline and ind.baseline.value is not None else None
        strata = list(ind.target.strata or {"": None})
        for area in areas:
            for stratum in strata:
                target = (
                    (ind.target.strata[stratum].value if stratum else ind.target.value)
                    if ind.target.comparator != "relative"
                    else None
                )
                x0 = base if base is not None else (target * 0.7 if target else 50.0)
                if area.code != plan.jurisdiction:
                    x0 *= rng.uniform(0.85, 1.15)
                if target is None:
                    target = x0 + (ind.target.delta or 1.0)
                pace = rng.choice([1.6, 1.1, 0.97, 0.75, 0.3, -0.2])
                for year in range(t0, data_year + 1):
                    tau = (year - t0) / (T - t0)
                    v = x0 + (target - x0) * pace * tau + rng.uniform(-0.01, 0.01) * abs(x0 or 1)
                    rows.append(
                        {
                            "plan_id": plan.id,
                            "number": ind.number,
                            "area_code": area.code,
                            "year": year,
                            "stratum": stratum,
                            "value": round(max(v, 0.0), ind.decimals + 2),
                            "numerator": None,
                            "denominator": None,
                        }
                    )
    return pd.DataFrame(rows)


def load_plan(plan_id: str) -> tuple[Plan, list[Area], str]:
    """One plan's definition (not the whole catalog, so a colleague's half-written plan elsewhere
    does not stop the benchmark)."""
    folder = Path(get_settings().plans_dir) / plan_id
    texts = [(folder / name).read_bytes() for name in ("plan.yaml", "areas.yaml")]
    plan = Plan.model_validate(yaml.safe_load(texts[0]))
    areas = AreaSet.model_validate(yaml.safe_load(texts[1])).areas
    return plan, areas, hashlib.sha256(b"".join(texts)).hexdigest()


def synthetic_assessment(plan_id: str, stage: str):
    from flows.evaluate import Assessment

    plan, areas, checksum = load_plan(plan_id)
    year = data_year_for(plan, stage)
    values = synthetic_values(plan, areas, year)
    rows = assess_plan(plan, areas, values, stage, year)
    a = Assessment(
        plan_id, stage, year, datetime(2019, 3, 1, 2, tzinfo=UTC),
        pd.DataFrame({"source_file_id": []}), values, rows, {},
    )  # fmt: skip
    inputs = rep.ReportInputs(
        plan=plan,
        areas=areas,
        quality_issues=[],
        source_files=[],
        definition_checksum=checksum,
        code_version="bench",
    )
    return a, inputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plan", default="longhu")
    ap.add_argument("--stage", default="mid", choices=["mid", "end"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import weasyprint

    a, inputs = synthetic_assessment(args.plan, args.stage)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_report_"))
    import warehouse.results as results

    results.record_report = lambda engine, **row: 0  # no warehouse needed for the timing
    from flows.evaluate import settings_thresholds
    from transforms.assessment import thresholds_for

    def context_and_html():
        ctx = build_context(
            inputs.plan, a.rows, a.values, stage=a.stage, data_year=a.data_year, as_of=a.as_of,
            areas=inputs.areas, thresholds=thresholds_for(inputs.plan, settings_thresholds()),
            code_version="bench", definition_checksum=inputs.definition_checksum,
        )  # fmt: skip
        return rep.render_html(ctx)

    rep.render_report(a, out_dir=out, engine=object(), inputs=inputs)  # warm-up (fonts, imports)
    ours, layout, whole, pages = [], [], [], 0
    for _ in range(args.runs):
        t = time.perf_counter()
        html = context_and_html()
        ours.append(time.perf_counter() - t)

        t = time.perf_counter()
        weasyprint.HTML(
            string=html,
            base_url=rep.TEMPLATES_DIR.as_uri() + "/",
            url_fetcher=rep.template_fetcher(),
        ).write_pdf()
        layout.append(time.perf_counter() - t)

        t = time.perf_counter()
        files = rep.render_report(a, out_dir=out, engine=object(), inputs=inputs)
        whole.append(time.perf_counter() - t)
        pages = files.pages

    med = statistics.median
    print(
        f"plan {args.plan}, stage {args.stage}: {pages} pages, {len(a.rows)} rows, {args.runs} runs (median)"
    )
    print(f"  context + charts + templating : {med(ours):6.2f} s")
    print(
        f"  WeasyPrint alone (same HTML)   : {med(layout):6.2f} s  → {pages / med(layout):.2f} pages/s"
    )
    print(
        f"  whole render_report (3 files)  : {med(whole):6.2f} s  → {pages / med(whole):.2f} pages/s"
    )
    print(f"  added over WeasyPrint          : {med(whole) - med(layout):6.2f} s "
          f"({(med(whole) - med(layout)) / med(whole):.0%} of the whole)")  # fmt: skip
    print(f"  files: {out}")


if __name__ == "__main__":
    main()
