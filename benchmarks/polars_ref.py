"""What a user would write instead: polars (fastexcel for the workbooks) reads the received files
and computes the plans' indicators — no checks, no provenance, no history, nothing stored.

The file → element mapping is the layouts' (definitions, like the formulas); the semantics are
those of ``benchmarks/duck.py`` (roll-up of sums, ratios, weighted direct values), so both
references' values can be compared with ours.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pandas as pd
import polars as pl

KEY = ["plan", "number", "split", "role", "tidx"]
YEAR = re.compile(r"_(\d{4})\.")


def read_frame(path: Path, layout) -> pl.DataFrame:
    """A file's table as text cells (header at the layout's row)."""
    skip = layout.header_row - 1
    if layout.format == "xlsx":
        import fastexcel

        reader = fastexcel.read_excel(str(path))
        names = reader.sheet_names
        sheet = layout.sheet if layout.sheet in names else names[0]
        return reader.load_sheet(sheet, header_row=skip, dtypes="string").to_polars()
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    return pl.read_csv(io.StringIO(text), skip_rows=skip, infer_schema=False)


def _number(col: str) -> pl.Expr:
    """A cell as a number; 是/否 (flag elements) as 1/0."""
    cell = pl.col(col).str.strip_chars()
    return (pl.when(cell == "是").then(1.0).when(cell == "否").then(0.0)
            .otherwise(cell.cast(pl.Float64, strict=False)))  # fmt: skip


def long_rows(frame: pl.DataFrame, layout, year: int) -> pl.DataFrame:
    """(area_code, year, element, stratum, value) from a long layout: one row per area."""
    area = next(h for h, c in layout.columns.items() if c.field == "area_code")
    parts = []
    for header, col in layout.columns.items():
        if col.element is None or header not in frame.columns:
            continue
        parts.append(frame.select(
            pl.col(area).alias("area_code"), pl.lit(col.element).alias("element"),
            pl.lit(col.stratum or "").alias("stratum"),
            (_number(header) * col.scale).alias("value"),
        ))  # fmt: skip
    out = pl.concat(parts).drop_nulls("value")
    return out.with_columns(pl.lit(year).alias("year"))


def facility_rows(frame: pl.DataFrame, layout, year: int) -> pl.DataFrame:
    """Facility rows summed per (area, '<ownership>:<type>'), as the parser sums them."""
    cols = layout.columns
    field = {c.field: h for h, c in cols.items() if c.field}
    maps = layout.value_maps
    exprs = []
    for header, col in cols.items():
        if col.element is None or header not in frame.columns:
            continue
        if col.flag:
            exprs.append((pl.col(header) == "是").cast(pl.Float64).sum().alias(col.element))
        else:
            exprs.append(_number(header).sum().alias(col.element))
    if layout.facility_count_element:
        exprs.append(pl.len().cast(pl.Float64).alias(layout.facility_count_element))
    grouped = (
        frame.with_columns(
            pl.col(field["ownership"]).replace_strict(maps["ownership"], default=None).alias("o"),
            pl.col(field["type"]).replace_strict(maps["type"], default=None).alias("t"),
        )
        .group_by(pl.col(field["area_code"]).alias("area_code"), "o", "t")
        .agg(exprs)
    )
    long = grouped.with_columns((pl.col("o") + ":" + pl.col("t")).alias("stratum")).drop("o", "t")
    long = long.unpivot(index=["area_code", "stratum"], variable_name="element")
    return long.with_columns(pl.lit(year).alias("year"))


def read_inbox(inbox: Path, layouts) -> pl.DataFrame:
    """Every received file as observations (area_code, year, element, stratum, value)."""
    parts = []
    for path in sorted(p for p in Path(inbox).rglob("*") if p.suffix in (".csv", ".xlsx")):
        year = int(YEAR.search(path.name).group(1))
        layout = layouts.layout_for(path.stem.rsplit("_", 1)[0], year)
        frame = read_frame(path, layout)
        rows = (facility_rows if layout.shape == "facility" else long_rows)(frame, layout, year)
        parts.append(rows.select("area_code", "year", "element", "stratum", "value"))
    return pl.concat(parts).with_columns(pl.col("year").cast(pl.Int64))


def closure(catalog, plans: list[str]) -> pl.DataFrame:
    """(plan, anc, des, depth) of every plan's area tree (definitions)."""
    rows = []
    for plan in plans:
        parent = {a.code: a.parent for a in catalog.areas(plan) if a.parent}
        for a in catalog.areas(plan):
            cur, d = a.code, 0
            while cur is not None:
                rows.append((plan, cur, a.code, d))
                cur, d = parent.get(cur), d + 1
    return pl.DataFrame(rows, schema=["plan", "anc", "des", "depth"], orient="row")


def _glob(pattern: str) -> str:
    return "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"


def term_values(obs: pl.DataFrame, terms: pl.DataFrame, clo: pl.DataFrame) -> pl.DataFrame:
    """Each term's value per (indicator, split, role, term, area, year) over the plan's areas."""
    own_areas = clo.filter(pl.col("depth") == 0).select("plan", pl.col("des").alias("area_code"))
    j = terms.join(obs, on="element").join(own_areas, on=["plan", "area_code"])
    ok = pl.col("pattern").is_null()
    for pattern in terms["pattern"].drop_nulls().unique():
        ok = ok | ((pl.col("pattern") == pattern) & pl.col("stratum").str.contains(_glob(pattern)))
    split_ok = (~pl.col("use_split") | (pl.col("split") == "") | (pl.col("stratum") ==
                pl.col("split")) | pl.col("stratum").str.ends_with(":" + pl.col("split")))  # fmt: skip
    j = j.filter(ok & split_ok).unique([*KEY, "area_code", "year", "stratum", "value"])
    tv = j.group_by([*KEY, "area_code", "year"]).agg(pl.col("value").sum().alias("v"))
    return tv.with_columns(pl.when(pl.col("role") == "one").then(1.0).otherwise("v").alias("v"))


def rolled_up(tv: pl.DataFrame, clo: pl.DataFrame) -> pl.DataFrame:
    """Sums up the tree: each area's value is the sum of the deepest rows below it."""
    below = clo.filter(pl.col("depth") > 0)
    sums = tv.filter(pl.col("role").is_in(["num", "den", "w", "one"]))
    covered = sums.join(below, left_on=["plan", "area_code"], right_on=["plan", "des"])
    covered = covered.select(*KEY, pl.col("anc").alias("area_code"), "year").unique()
    leaf = sums.join(covered, on=[*KEY, "area_code", "year"], how="anti")
    up = leaf.join(clo, left_on=["plan", "area_code"], right_on=["plan", "des"])
    return up.group_by([*KEY, "anc", "year"]).agg(pl.col("v").sum()).rename({"anc": "area_code"})


def ratios(rolled: pl.DataFrame, inds: pl.DataFrame) -> pl.DataFrame:
    by = ["plan", "number", "split", "area_code", "year"]
    parts = (
        rolled.filter(pl.col("role").is_in(["num", "den"]))
        .group_by([*by, "role"])
        .agg(pl.col("v").sum(), pl.len().alias("n"))
    )
    num = parts.filter(pl.col("role") == "num").drop("role")
    den = parts.filter(pl.col("role") == "den").drop("role")
    r = num.join(den, on=by, suffix="_d").join(inds.filter(pl.col("kind") == "ratio"),
                                               on=["plan", "number", "split"])  # fmt: skip
    r = r.filter((pl.col("n") == pl.col("n_num")) & (pl.col("n_d") == pl.col("n_den"))
                 & (pl.col("v_d") != 0))  # fmt: skip
    return r.select(*by, (pl.col("factor") * pl.col("v") / pl.col("v_d")).alias("value"))


def directs(tv: pl.DataFrame, rolled: pl.DataFrame, inds: pl.DataFrame, clo: pl.DataFrame):
    k = ["plan", "number", "split"]
    own = tv.filter(pl.col("role") == "val").select(*k, "area_code", "year", "v")
    w = rolled.filter(pl.col("role").is_in(["w", "one"])).select(*k, "area_code", "year",
                                                                  pl.col("v").alias("w"))  # fmt: skip
    below = clo.filter(pl.col("depth") > 0)
    cand = own.join(w, on=[*k, "area_code", "year"]).join(
        below, left_on=["plan", "area_code"], right_on=["plan", "des"]
    )  # (anc, the report below it)
    # a report strictly between anc and the report's area hides it
    mids = own.join(below, left_on=["plan", "area_code"], right_on=["plan", "des"]).select(
        *k, "year", pl.col("anc").alias("mid"), pl.col("area_code").alias("src")
    )  # mid is above src: src's report is hidden from everything above a mid with its own report
    mids = mids.join(own.select(*k, pl.col("area_code").alias("mid"), "year"),
                     on=[*k, "mid", "year"])  # fmt: skip
    hidden = mids.join(below, left_on=["plan", "mid"], right_on=["plan", "des"]).select(
        *k, "year", "anc", pl.col("src").alias("area_code")
    )
    near = cand.join(hidden.unique(), on=[*k, "year", "anc", "area_code"], how="anti")
    means = (
        near.group_by([*k, "anc", "year"])
        .agg(((pl.col("v") * pl.col("w")).sum() / pl.col("w").sum()).alias("m"))
        .rename({"anc": "area_code"})
    )
    best = own.join(means, on=[*k, "area_code", "year"], how="full", coalesce=True)
    best = best.with_columns(pl.coalesce("v", "m").alias("v")).drop_nulls("v")
    d = best.join(inds.filter(pl.col("kind") == "direct"), on=k)
    return d.select(*k, "area_code", "year", (pl.col("factor") * pl.col("v")).alias("value"))


def polars_indicators(inbox: Path, catalog, layouts, plans: list[str]):
    """Every indicator value of ``plans`` from the files; (frame, seconds per step)."""
    from benchmarks.duck import formula_tables

    seconds: dict[str, float] = {}
    started = t = time.perf_counter()
    obs = read_inbox(inbox, layouts)
    seconds["read files"] = time.perf_counter() - t
    t = time.perf_counter()
    terms_pd, inds_pd = formula_tables(catalog, plans)
    terms, inds = plain(terms_pd), plain(inds_pd)
    clo = closure(catalog, plans)
    tv = term_values(obs, terms, clo)
    rolled = rolled_up(tv, clo)
    out = pl.concat([ratios(rolled, inds), directs(tv, rolled, inds, clo)])
    seconds["indicators"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - started
    frame = pd.DataFrame(out.rename({"split": "stratum"}).to_dict(as_series=False))
    return frame, seconds


def plain(frame: pd.DataFrame) -> pl.DataFrame:
    """A small pandas frame as polars, column by column (no pyarrow needed)."""
    cols = {c: [None if pd.isna(x) else x for x in frame[c].tolist()] for c in frame.columns}
    return pl.DataFrame(cols, strict=False)
