"""The reference: DuckDB computing the plans' area-level indicators in SQL, straight from CSV.

The same numbers the sample files carry, written as plain CSV (``write_reference_csv``): one row
per facility and year, one row per area observation, and the area tree. ``duckdb_indicators``
reads them and computes every formula of every plan for every area and year with the same
semantics as ``transforms.indicators``, set-based:

* facility rows summed to (area, year, '<ownership>:<type>') per element, as the parser does;
* a term's value: its element summed over the strata its patterns match (``GLOB`` = fnmatch),
  restricted to the split stratum (``s`` or ``…:s``) when the indicator is split;
* roll-up of sums: an area's value is the sum of the deepest rows below it (a row counts when no
  area below it holds the same term and year) — the same as summing children level by level;
* ratio = factor × Σ numerator terms / Σ denominator terms, only where every term has a value;
* direct = the area's own report, else the weight-weighted mean of the nearest reports below it.

The plan definitions (formulas, area trees) are definitions, not data: they are passed in as
small tables. Nothing else of the healthplan code runs in the timed part.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from healthplan.definitions import Catalog, Term

RESOURCE_NUMBERS = (
    "beds", "tcm_beds", "doctors", "tcm_doctors", "nurses", "gps", "public_health_staff",
    "health_tech_staff", "health_tech_bachelor", "visits", "admissions",
)  # fmt: skip
RESOURCE_FLAGS = ("facilities_tcm_service", "facilities_up_to_standard", "facilities_nedl_used")


def write_reference_csv(truth: Any, out: Path) -> dict[str, int]:
    """The truth as three CSV files; returns their row counts."""
    out.mkdir(parents=True, exist_ok=True)
    fac = truth.facilities
    cols = ["plan", "year", "area_code", "ownership", "type", *RESOURCE_NUMBERS, *RESOURCE_FLAGS]
    frame = fac[cols].copy()
    for c in RESOURCE_FLAGS:
        frame[c] = frame[c].astype(bool).astype("int64")
    for c in RESOURCE_NUMBERS:
        frame[c] = frame[c].astype("int64")
    frame.to_csv(out / "facilities.csv", index=False)
    obs = truth.observations[["plan", "area_code", "year", "element", "stratum", "value"]]
    obs.to_csv(out / "area_observations.csv", index=False)
    areas = pd.DataFrame(
        [(p, a.code, a.parent) for p, areas in truth.areas.items() for a in areas],
        columns=["plan", "code", "parent"],
    )
    areas.to_csv(out / "areas.csv", index=False)
    return {"facility_rows": len(frame), "area_rows": len(obs), "areas": len(areas)}


def formula_tables(catalog: Catalog, plans: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Definitions as two small tables: terms (one row per term pattern) and indicators."""
    terms, inds = [], []
    for plan_id in plans:
        for ind in catalog.plan(plan_id).indicators:
            f = ind.formula
            if f is None:
                continue
            for split in ["", *(f.split_by or [])]:
                inds.append((plan_id, ind.number, split, f.kind, f.factor,
                             len(f.numerator), len(f.denominator)))  # fmt: skip
                roles: list[tuple[str, list[str], bool]]
                if f.kind == "ratio":
                    roles = [("num", f.numerator, True), ("den", f.denominator, True)]
                else:
                    assert f.element is not None
                    roles = [("val", [f.element], True)]
                    roles.append(
                        ("w", [f.weight], False) if f.weight else ("one", [f.element], True)
                    )
                for role, texts, use_split in roles:
                    for tidx, text in enumerate(texts):
                        t = Term.parse(text)
                        for pattern in t.strata or [None]:
                            terms.append((plan_id, ind.number, split, role, tidx, t.element,
                                          pattern, use_split))  # fmt: skip
    terms_df = pd.DataFrame(
        terms,
        columns=["plan", "number", "split", "role", "tidx", "element", "pattern", "use_split"],
    )
    inds_df = pd.DataFrame(
        inds, columns=["plan", "number", "split", "kind", "factor", "n_num", "n_den"]
    )
    return terms_df, inds_df


def _sql(csv_dir: Path) -> list[str]:
    fac = (csv_dir / "facilities.csv").as_posix()
    aobs = (csv_dir / "area_observations.csv").as_posix()
    areas = (csv_dir / "areas.csv").as_posix()
    sums = ", ".join(f"sum({c})::DOUBLE AS {c}" for c in (*RESOURCE_NUMBERS, *RESOURCE_FLAGS))
    elements = ", ".join(("facilities", *RESOURCE_NUMBERS, *RESOURCE_FLAGS))
    return [
        f"""CREATE TEMP TABLE areas AS SELECT * FROM read_csv('{areas}', header = true,
            columns = {{'plan': 'VARCHAR', 'code': 'VARCHAR', 'parent': 'VARCHAR'}})""",
        f"""CREATE TEMP TABLE obs AS
            SELECT plan, area_code, year, element, coalesce(stratum, '') AS stratum, value
            FROM read_csv('{aobs}', header = true, columns = {{'plan': 'VARCHAR',
                 'area_code': 'VARCHAR', 'year': 'INTEGER', 'element': 'VARCHAR',
                 'stratum': 'VARCHAR', 'value': 'DOUBLE'}})
            UNION ALL
            SELECT plan, area_code, year, element, stratum, value FROM (
                SELECT plan, area_code, year, ownership || ':' || type AS stratum,
                       count(*)::DOUBLE AS facilities, {sums}
                FROM read_csv('{fac}', header = true, types = {{'area_code': 'VARCHAR'}})
                GROUP BY ALL
            ) UNPIVOT (value FOR element IN ({elements}))""",
        """CREATE TEMP TABLE clo AS
            WITH RECURSIVE c(plan, anc, des, depth) AS (
                SELECT plan, code, code, 0 FROM areas
                UNION ALL
                SELECT c.plan, a.parent, c.des, c.depth + 1
                FROM c JOIN areas a ON a.plan = c.plan AND a.code = c.anc
                WHERE a.parent IS NOT NULL)
            SELECT * FROM c""",
        # term values per (indicator, split, role, term, area, year)
        """CREATE TEMP TABLE tv AS
            SELECT plan, number, split, role, tidx, area_code, year, sum(value) AS v FROM (
                SELECT DISTINCT t.plan, t.number, t.split, t.role, t.tidx,
                       o.area_code, o.year, o.stratum, o.value
                FROM terms t
                JOIN obs o ON o.plan = t.plan AND o.element = t.element
                JOIN areas a ON a.plan = o.plan AND a.code = o.area_code
                WHERE (t.pattern IS NULL OR o.stratum GLOB t.pattern)
                  AND (NOT t.use_split OR t.split = '' OR o.stratum = t.split
                       OR ends_with(o.stratum, ':' || t.split)))
            GROUP BY ALL""",
        "UPDATE tv SET v = 1 WHERE role = 'one'",
        # sums up the tree: the deepest rows below each area
        """CREATE TEMP TABLE rolled AS
            WITH leaf AS (
                SELECT tv.* FROM tv
                WHERE role IN ('num', 'den', 'w', 'one') AND NOT EXISTS (
                    SELECT 1 FROM clo c JOIN tv t2 ON t2.plan = c.plan AND t2.area_code = c.des
                    WHERE c.plan = tv.plan AND c.anc = tv.area_code AND c.depth > 0
                      AND t2.number = tv.number AND t2.split = tv.split AND t2.role = tv.role
                      AND t2.tidx = tv.tidx AND t2.year = tv.year))
            SELECT l.plan, l.number, l.split, l.role, l.tidx, c.anc AS area_code, l.year,
                   sum(l.v) AS v
            FROM leaf l JOIN clo c ON c.plan = l.plan AND c.des = l.area_code
            GROUP BY ALL""",
        """CREATE TEMP TABLE ratio AS
            WITH parts AS (
                SELECT plan, number, split, role, area_code, year, sum(v) AS v, count(*) AS n
                FROM rolled WHERE role IN ('num', 'den') GROUP BY ALL)
            SELECT i.plan, i.number, i.split AS stratum, n.area_code, n.year,
                   i.factor * n.v / nullif(d.v, 0) AS value
            FROM inds i
            JOIN parts n ON n.plan = i.plan AND n.number = i.number AND n.split = i.split
                        AND n.role = 'num' AND n.n = i.n_num
            JOIN parts d ON d.plan = i.plan AND d.number = i.number AND d.split = i.split
                        AND d.role = 'den' AND d.n = i.n_den
                        AND d.area_code = n.area_code AND d.year = n.year
            WHERE i.kind = 'ratio' AND d.v <> 0""",
        """CREATE TEMP TABLE direct AS
            WITH own AS (SELECT plan, number, split, area_code, year, v FROM tv WHERE role = 'val'),
            w AS (SELECT plan, number, split, area_code, year, v FROM rolled
                  WHERE role IN ('w', 'one')),
            nearest AS (  -- reports below an area with no report in between
                SELECT c.plan, o.number, o.split, c.anc AS area_code, o.year, o.v, w.v AS w
                FROM own o
                JOIN clo c ON c.plan = o.plan AND c.des = o.area_code AND c.depth > 0
                JOIN w ON w.plan = o.plan AND w.number = o.number AND w.split = o.split
                      AND w.area_code = o.area_code AND w.year = o.year
                WHERE NOT EXISTS (
                    SELECT 1 FROM clo c1
                    JOIN clo c2 ON c2.plan = c1.plan AND c2.anc = c1.des
                    JOIN own o2 ON o2.plan = c1.plan AND o2.area_code = c1.des
                    WHERE c1.plan = c.plan AND c1.anc = c.anc AND c1.depth > 0
                      AND c2.des = o.area_code AND c2.depth > 0
                      AND o2.number = o.number AND o2.split = o.split AND o2.year = o.year)),
            means AS (
                SELECT plan, number, split, area_code, year, sum(v * w) / nullif(sum(w), 0) AS v
                FROM nearest GROUP BY ALL),
            best AS (
                SELECT coalesce(o.plan, m.plan) AS plan, coalesce(o.number, m.number) AS number,
                       coalesce(o.split, m.split) AS split,
                       coalesce(o.area_code, m.area_code) AS area_code,
                       coalesce(o.year, m.year) AS year, coalesce(o.v, m.v) AS v
                FROM own o FULL JOIN means m
                  ON m.plan = o.plan AND m.number = o.number AND m.split = o.split
                 AND m.area_code = o.area_code AND m.year = o.year)
            SELECT i.plan, i.number, i.split AS stratum, b.area_code, b.year, i.factor * b.v AS value
            FROM best b JOIN inds i ON i.plan = b.plan AND i.number = b.number AND i.split = b.split
            WHERE i.kind = 'direct' AND b.v IS NOT NULL""",
    ]


def duckdb_indicators(
    csv_dir: Path, terms: pd.DataFrame, inds: pd.DataFrame, threads: int | None = None
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Every indicator value from the CSV files; returns the frame and the seconds per step."""
    import duckdb

    timings: dict[str, float] = {}
    started = time.perf_counter()
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.register("terms_df", terms)
    con.register("inds_df", inds)
    con.execute("CREATE TEMP TABLE terms AS SELECT * FROM terms_df")
    con.execute("CREATE TEMP TABLE inds AS SELECT * FROM inds_df")
    names = ["areas", "read+roll-up facilities", "tree", "terms", "ones", "roll-up", "ratios",
             "direct"]  # fmt: skip
    for name, stmt in zip(names, _sql(csv_dir), strict=True):
        t = time.perf_counter()
        con.execute(stmt)
        timings[name] = time.perf_counter() - t
    t = time.perf_counter()
    out = con.execute(
        "SELECT plan, number, area_code, year, stratum, value FROM ratio UNION ALL "
        "SELECT plan, number, area_code, year, stratum, value FROM direct "
        "ORDER BY plan, number, area_code, year, stratum"
    ).df()
    timings["fetch"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    con.close()
    return out, timings


def compare(ours: pd.DataFrame, ref: pd.DataFrame, rtol: float = 1e-6) -> dict[str, Any]:
    """How well two indicator frames agree (keys and values)."""
    key = ["plan", "number", "area_code", "year", "stratum"]
    a = ours[[*key, "value"]].copy()
    b = ref[[*key, "value"]].copy()
    for f in (a, b):
        f["number"] = f["number"].astype("int64")
        f["year"] = f["year"].astype("int64")
        f["area_code"] = f["area_code"].astype(str)
        f["stratum"] = f["stratum"].fillna("").astype(str)
    m = a.merge(b, on=key, how="outer", suffixes=("_ours", "_ref"), indicator=True)
    both = m[m["_merge"] == "both"]
    diff = (both["value_ours"] - both["value_ref"]).abs() / both["value_ref"].abs().clip(lower=1e-9)
    return {
        "ours": len(a),
        "reference": len(b),
        "matched_keys": len(both),
        "only_ours": int((m["_merge"] == "left_only").sum()),
        "only_reference": int((m["_merge"] == "right_only").sum()),
        "values_equal": int((diff <= rtol).sum()),
        "max_rel_diff": float(diff.max()) if len(diff) else 0.0,
    }
