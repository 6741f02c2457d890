"""Data-quality checks: what a careful statistician would question before trusting a status.

Each check returns plain issue dicts (kind, severity, where, a Chinese-first detail and the numbers
behind it), so the warehouse can store them and the report can show them. Pure functions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from healthplan.definitions import Area, DataElement, Plan
from healthplan.layouts import Layout, normalize_header
from transforms.assessment import judging_units
from transforms.indicators import AreaTree, formula_values

MODIFIED_Z_LIMIT = 3.5
MIN_JUMP_SHARE = 0.25
CHANCE_LIMIT = 3.0  # standard errors of a rate on counts (Poisson)
ROWS_SHOWN = 10  # quarantined row numbers named in an issue's text; all are in its data

SEVERITY_ZH = {"error": "错误", "warning": "警告", "info": "提示"}
KIND_ZH = {
    "baseline_reconciliation": "基期值核对",
    "reported_vs_recomputed": "报告值与重算值",
    "parts_vs_total": "分项与合计",
    "impossible_value": "不可能值",
    "permille_as_percent": "‰/%混用",
    "year_on_year_jump": "年度异常波动",
    "missing_value": "数据缺失",
    "no_source": "无统计来源",
    "quarantined_rows": "行被隔离",
    "target_other_reading": "目标两种读法",
    "review_not_applied": "人工评定未计入",
    "reported_vs_computed": "监测表报告值与计算值",
}


def issue(kind: str, severity: str, detail: str, **where) -> dict:
    row = {
        "kind": kind,
        "severity": severity,
        "number": None,
        "area_code": None,
        "year": None,
        "file_name": None,
        "row": None,
        "detail": detail,
        "data": {},
    }
    row.update(where)
    return row


def printed_tolerance(value: float, text: str | None = None) -> float:
    """Half a unit of the last printed digit: 0.9 may be 0.85…0.95, 68.93 may be 68.925…68.935."""
    match = re.search(r"\d+(?:\.(\d+))?", text or "")
    if match is None:
        match = re.search(r"\d+(?:\.(\d+))?", repr(float(value)))
    decimals = len(match.group(1) or "") if match else 0
    return 0.5 * 10**-decimals + 1e-9


def baseline_reconciliation(plan: Plan, values: pd.DataFrame) -> list[dict]:
    """Plan table baseline, the text's own figure and the warehouse's base-year value, side by side."""
    root = plan.jurisdiction
    v = values[(values["area_code"] == root) & (values["year"] == plan.baseline_year)]
    v = v[v["stratum"] == ""].set_index("number")["value"] if not v.empty else pd.Series()
    out = []
    for ind in plan.indicators:
        stated = ind.baseline.value if ind.baseline else None
        stated_text = ind.baseline.text if ind.baseline else None
        warehouse_v = float(v[ind.number]) if ind.number in v.index else None
        texts = [
            {"value": tf.value, "year": tf.year, "sentence": tf.sentence} for tf in ind.text_figures
        ]
        problems = []
        if stated is not None:
            for tf in ind.text_figures:
                if abs(tf.value - stated) > printed_tolerance(
                    stated, stated_text
                ) + printed_tolerance(tf.value):
                    note = f"（{tf.unit_note}）" if tf.unit_note else ""
                    problems.append(f"规划正文{tf.value:g}{note}与指标表{stated:g}不一致")
            if warehouse_v is not None and abs(warehouse_v - stated) > printed_tolerance(
                stated, stated_text
            ):
                problems.append(
                    f"数据仓库{plan.baseline_year}年值{warehouse_v:.{ind.decimals}f}与规划基期值{stated:g}不一致"
                )
        if not texts and stated is None and warehouse_v is None:
            continue
        severity = "warning" if problems else "info"
        detail = "；".join(problems) or _nothing_differs(plan, ind, stated, warehouse_v)
        out.append(
            issue(
                "baseline_reconciliation",
                severity,
                detail,
                number=ind.number,
                area_code=root,
                year=plan.baseline_year,
                data={
                    "table": stated,
                    "table_text": stated_text,
                    "baseline_source": ind.baseline_source,
                    "text_figures": texts,
                    "warehouse": warehouse_v,
                },
            )
        )
    return out


def _nothing_differs(plan: Plan, ind, stated: float | None, warehouse_v: float | None) -> str:
    """What a reconciliation without a difference says: agreement only when something was
    compared; without a plan baseline, which x0 the evaluation uses instead."""
    t0 = plan.baseline_year
    if stated is None:
        if warehouse_v is None:
            return f"规划未列基期值，数据仓库也无{t0}年值，未作核对 / no baseline to compare"
        return (
            f"规划未列基期值，未作核对；评估采用数据仓库{t0}年值"
            f"{warehouse_v:.{ind.decimals}f} / no plan baseline: the warehouse's value is used"
        )
    if warehouse_v is None and not ind.text_figures:
        return f"数据仓库无{t0}年值，未作核对 / nothing to compare"
    return "基期值一致 / baseline consistent"


def target_other_readings(plan: Plan) -> list[dict]:
    """Targets printed both as a rule and as a figure (在2015年基础上提高1岁（桂林78岁）): the
    figure is judged; the other reading is listed here for the data-quality annex."""
    out = []
    for ind in plan.indicators:
        other = ind.target.other_reading
        if other is None:
            continue
        value = other.value
        base = ind.baseline.value if ind.baseline else None
        if other.comparator == "relative" and other.delta is not None and base is not None:
            value = base + other.delta
        figure = f"{ind.target.value:g}" if ind.target.value is not None else ind.target.text
        shown = f"（另一读法的目标值为{value:g}）" if value is not None else ""
        out.append(
            issue(
                "target_other_reading",
                "info",
                f"目标“{ind.target.text}”有两种读法：按写明的数值{figure}评估；{other.note_zh}{shown}",
                number=ind.number,
                area_code=plan.jurisdiction,
                data={"judged": ind.target.value, "other": value, "comparator": other.comparator},
            )
        )
    return out


def reported_vs_recomputed(
    elements: Mapping[str, DataElement], observations: pd.DataFrame, areas: Sequence[Area]
) -> list[dict]:
    """A rate a source reports beside its parts must equal the rate recomputed from them."""
    tree = AreaTree(areas)
    out = []
    for el in elements.values():
        if el.recompute is None:
            continue
        reported = observations[observations["element"] == el.code]
        if reported.empty:
            continue
        recomputed = formula_values(observations, el.recompute, tree)["value"]
        for row in reported.itertuples(index=False):
            key = (row.area_code, row.year)
            if key not in recomputed.index:
                continue
            expected = float(recomputed[key])
            tol = max(printed_tolerance(row.value), abs(expected) * 0.005)
            if abs(expected - row.value) > tol:
                out.append(
                    issue(
                        "reported_vs_recomputed",
                        "warning",
                        f"{el.name_zh}：报告值{row.value:g}，按分子分母重算为{expected:.2f}"
                        f" / reported {row.value:g}, recomputed {expected:.2f}",
                        area_code=row.area_code,
                        year=int(row.year),
                        data={"element": el.code, "reported": row.value, "recomputed": expected},
                    )
                )
    return out


def reported_vs_computed(
    plan: Plan, observations: pd.DataFrame, values: pd.DataFrame
) -> list[dict]:
    """An indicator computed from counts that the bureau's monitoring sheet also reports: each
    area and year where the two differ beyond rounding, and per indicator how many agree."""
    computed = {
        (int(r.number), r.area_code, int(r.year), r.stratum): float(r.value)
        for r in values.itertuples(index=False)
    }
    out = []
    for ind in plan.indicators:
        if ind.formula is None or ind.formula.kind == "reported":
            continue
        element = plan.reported_element(ind)
        reported = observations[observations["element"] == element]
        agree = []
        for row in reported.itertuples(index=False):
            key = (ind.number, row.area_code, int(row.year), str(row.stratum or ""))
            if key not in computed:
                continue
            expected = computed[key]
            tol = max(printed_tolerance(row.value), abs(expected) * 0.005)
            if abs(expected - row.value) <= tol:
                agree.append(int(row.year))
                continue
            out.append(
                issue(
                    "reported_vs_computed",
                    "warning",
                    f"{ind.name_zh}：{int(row.year)}年监测表报告值{row.value:g}，按统计数据计算为"
                    f"{expected:.{ind.decimals}f} / reported {row.value:g}, computed {expected:.2f}",
                    number=ind.number,
                    area_code=row.area_code,
                    year=int(row.year),
                    data={"element": element, "reported": row.value, "computed": expected},
                )
            )
        if agree:
            out.append(
                issue(
                    "reported_vs_computed",
                    "info",
                    f"{ind.name_zh}：{len(agree)}个值的监测表报告值与计算值一致 / reported and "
                    "computed values agree",
                    number=ind.number,
                    area_code=plan.jurisdiction,
                    year=max(agree),
                    data={"element": element, "agreeing": len(agree)},
                )
            )
    return out


def parts_vs_total(elements: Mapping[str, DataElement], observations: pd.DataFrame) -> list[dict]:
    """Strata of a count must add up to the total the same source gives."""
    counts = [e.code for e in elements.values() if e.kind in ("count", "amount")]
    obs = observations[observations["element"].isin(counts)]
    if obs.empty:
        return []
    totals = obs[obs["stratum"] == ""].set_index(["area_code", "year", "element"])["value"]
    parts = obs[obs["stratum"] != ""].groupby(["area_code", "year", "element"])["value"].sum()
    both = pd.concat({"total": totals, "parts": parts}, axis=1, join="inner")
    out = []
    for (area, year, element), r in both.iterrows():
        if abs(r["total"] - r["parts"]) > max(0.5, abs(r["total"]) * 0.001):
            out.append(
                issue(
                    "parts_vs_total",
                    "warning",
                    f"{elements[element].name_zh}：分项合计{r['parts']:g}不等于总数{r['total']:g}"
                    " / parts do not sum to the total",
                    area_code=area,
                    year=int(year),
                    data={"element": element, "total": r["total"], "parts": r["parts"]},
                )
            )
    return out


def impossible_values(plan: Plan, values: pd.DataFrame) -> list[dict]:
    """Shares over 100 %, negative values, and ‰ that look like they were given as %."""
    out = []
    units = {i.number: i.unit for i in plan.indicators}
    names = {i.number: i.name_zh for i in plan.indicators}
    for r in values.itertuples(index=False):
        unit = units.get(r.number, "")
        where = {"number": int(r.number), "area_code": r.area_code, "year": int(r.year)}
        if r.value < 0:
            out.append(
                issue(
                    "impossible_value", "error", f"{names[r.number]}：出现负值{r.value:g}", **where
                )
            )
        elif unit == "%" and r.value > 100 + 1e-9:
            out.append(
                issue(
                    "impossible_value",
                    "warning",
                    f"{names[r.number]}：比例超过100%（{r.value:.2f}%）/ share over 100 %",
                    data={"value": r.value},
                    **where,
                )
            )
    for (number, area, _stratum), g in values.groupby(["number", "area_code", "stratum"]):
        if units.get(number) != "‰" or len(g) < 3:
            continue
        med = float(g["value"].median())
        for r in g.itertuples(index=False):
            if med > 0 and 0.07 <= r.value / med <= 0.14:
                out.append(
                    issue(
                        "permille_as_percent",
                        "warning",
                        f"{names[number]}：{int(r.year)}年值{r.value:g}约为其他年份的十分之一，疑似以%填报‰"
                        " / looks like ‰ given as %",
                        number=int(number),
                        area_code=area,
                        year=int(r.year),
                        data={"value": r.value, "median": med},
                    )
                )
    return out


def modified_z_scores(changes: np.ndarray) -> np.ndarray:
    """Iglewicz–Hoaglin modified z-scores; a robust scale so one jump cannot hide itself."""
    med = np.median(changes)
    mad = np.median(np.abs(changes - med))
    if mad > 0:
        return 0.6745 * (changes - med) / mad
    mean_ad = np.mean(np.abs(changes - med))
    if mean_ad > 0:
        return (changes - med) / (1.253314 * mean_ad)
    return np.zeros_like(changes)


def chance_spread(g: pd.DataFrame) -> np.ndarray | None:
    """Per-year standard error of a rate on counts (Poisson on the numerator), or None.

    A town's rate on a handful of events (3 infant deaths, then 5) swings by chance alone; a
    change within three such errors is noise, whatever its modified z-score says."""
    if "numerator" not in g or "denominator" not in g:
        return None
    num = g["numerator"].to_numpy(dtype=float)
    den = g["denominator"].to_numpy(dtype=float)
    vals = g["value"].to_numpy(dtype=float)
    known = np.isfinite(num) & np.isfinite(den) & (den > 0) & (num >= 0)
    if not known.all():
        return None
    scaled = num > 0
    if not scaled.any():
        return None
    factor = float(np.median(vals[scaled] * den[scaled] / num[scaled]))
    return np.abs(factor) * np.sqrt(np.maximum(num, 1.0)) / den


def year_on_year_jumps(
    plan: Plan, values: pd.DataFrame, limit: float = MODIFIED_Z_LIMIT
) -> list[dict]:
    """Year-on-year changes far outside the series' own spread (modified z-score > limit), large
    against its level, and beyond what chance gives on the counts behind a rate."""
    names = {i.number: i.name_zh for i in plan.indicators}
    out = []
    for (number, area, _stratum), g in values.groupby(["number", "area_code", "stratum"]):
        g = g.sort_values("year")
        if len(g) < 4:
            continue
        years = g["year"].to_numpy()
        vals = g["value"].to_numpy(dtype=float)
        changes = np.diff(vals)
        z = modified_z_scores(changes)
        # a robust score on five changes flags ordinary bends; also require a jump that is large
        # against the series' own level (MIN_JUMP_SHARE of its median) beyond the typical change
        level = max(abs(float(np.median(vals))), 1e-9)
        big = np.abs(changes - np.median(changes)) > MIN_JUMP_SHARE * level
        spread = chance_spread(g)
        if spread is not None:
            noise = CHANCE_LIMIT * np.sqrt(spread[:-1] ** 2 + spread[1:] ** 2)
            big &= np.abs(changes) > noise
        for k in np.flatnonzero((np.abs(z) > limit) & big):
            out.append(
                issue(
                    "year_on_year_jump",
                    "warning",
                    f"{names.get(number, number)}：{int(years[k])}→{int(years[k + 1])}年由{vals[k]:g}变为"
                    f"{vals[k + 1]:g}，修正Z值{z[k]:.1f}（阈值{limit}）/ unusual jump",
                    number=int(number),
                    area_code=area,
                    year=int(years[k + 1]),
                    data={"from": vals[k], "to": vals[k + 1], "modified_z": float(z[k])},
                )
            )
    return out


def missing_values(
    plan: Plan, areas: Sequence[Area], values: pd.DataFrame, years: Iterable[int]
) -> list[dict]:
    """Years and areas the plan needs (jurisdiction, judging units) that hold no value."""
    tree = AreaTree(areas)
    have = set(zip(values["number"], values["area_code"], values["year"], strict=False))
    out = []
    for ind in plan.indicators:
        if ind.formula is None:
            out.append(
                issue(
                    "no_source",
                    "info",
                    f"{ind.name_zh}：无常规统计来源，需专项调查或人工评定 / no routine source",
                    number=ind.number,
                    area_code=plan.jurisdiction,
                )
            )
            continue
        units, _ = judging_units(plan, ind, tree)
        for code in [plan.jurisdiction, *units]:
            missing = [y for y in years if (ind.number, code, y) not in have]
            if missing:
                out.append(
                    issue(
                        "missing_value",
                        "warning",
                        f"{ind.name_zh}：{tree.areas[code].name_zh}缺少{'、'.join(map(str, missing))}年数据"
                        " / missing years",
                        number=ind.number,
                        area_code=code,
                        year=missing[-1],
                        data={"years": missing},
                    )
                )
    return out


def rows_text(rows: Sequence[int]) -> str:
    """'第5、9、12行' with at most ROWS_SHOWN numbers, '等' after a longer list."""
    shown = "、".join(str(r) for r in rows[:ROWS_SHOWN])
    return f"第{shown}行" + ("等" if len(rows) > ROWS_SHOWN else "")


def rejected_elements(layout: Layout | None, fields: Iterable[str | None]) -> set[str] | None:
    """The elements a file's rejected cells held, or None when whole rows were lost: a row-per-
    area file rejects a bad value cell alone (the rest of its row is loaded), but a bad area,
    year or duplicate row, and any rejected row of a facility list, takes the row's every value."""
    if layout is None or layout.shape != "long":
        return None
    element_of = {
        key: col.element
        for header, col in layout.columns.items()
        if col.element
        for key in layout.header_keys(header)
    }
    out = set()
    for f in fields:
        element = element_of.get(normalize_header(f)) if f is not None else None
        if element is None:
            return None
        out.add(element)
    return out


def quarantined_rows(
    plan: Plan,
    observations: pd.DataFrame,
    quarantined: pd.DataFrame,
    layouts: Mapping[int, Layout] | None = None,
) -> list[dict]:
    """Indicators computed from a file some of whose rows were quarantined: a total built from
    that file lacks the rejected values, so the value may be understated. One warning per
    indicator, year and file (only the indicators of the rejected cells' elements where the
    file's layout, ``layouts[file id]``, tells them), until a later file without rejected rows
    supplies a value of an element and year the file supplied: a resubmission of that file,
    whose loading revised or added what it corrects (the rejected values among them).
    ``quarantined``: source_file_id, file_name, row, field per rejected cell or row of the files
    the observations come from."""
    if quarantined.empty or observations.empty:
        return []
    layouts = layouts or {}
    files = quarantined.dropna(subset=["source_file_id"])
    file_ids = files["source_file_id"].astype("int64")
    pairs = (
        observations[["source_file_id", "element", "year"]]
        .drop_duplicates()
        .astype({"source_file_id": "int64", "element": "str", "year": "int64"})
    )
    rejecting = pairs["source_file_id"].isin(file_ids.unique())
    latest_clean = pairs[~rejecting].groupby(["element", "year"])["source_file_id"].max()
    out = []
    for file_id, group in files.groupby(file_ids, sort=True):
        mine = pairs[pairs["source_file_id"] == file_id]
        later = latest_clean.reindex(pd.MultiIndex.from_frame(mine[["element", "year"]]))
        if mine.empty or (later.to_numpy() > file_id).any():
            continue
        touched = rejected_elements(layouts.get(int(file_id)), group["field"])
        if touched is not None:
            mine = mine[mine["element"].isin(touched)]
        name = str(group["file_name"].iloc[0])
        rows = sorted({int(r) for r in group["row"].dropna()})
        count = len(rows) + int(group["row"].isna().sum())
        for ind in plan.indicators:
            if ind.formula is None:
                continue
            hit = mine[mine["element"].isin(ind.formula.elements())]
            for year in sorted(hit["year"].unique()):
                elements = sorted(hit.loc[hit["year"] == year, "element"].unique())
                out.append(
                    issue(
                        "quarantined_rows",
                        "warning",
                        f"{ind.name_zh}：{int(year)}年数值所用文件{name}有{count}行被隔离"
                        f"（{rows_text(rows)}），相关合计可能偏小 / {count} quarantined row(s) "
                        "in a source file: the value may be incomplete",
                        number=ind.number,
                        year=int(year),
                        file_name=name,
                        row=rows[0] if rows else None,
                        data={"rows": rows, "count": count, "elements": elements},
                    )
                )
    return out


def plan_quality(
    plan: Plan,
    areas: Sequence[Area],
    elements: Mapping[str, DataElement],
    observations: pd.DataFrame,
    values: pd.DataFrame,
    years: Iterable[int],
    quarantined: pd.DataFrame | None = None,
    layouts: Mapping[int, Layout] | None = None,
) -> list[dict]:
    """Every check for one plan, most severe first. ``quarantined``, ``layouts``: the rejected
    rows of the files the observations come from and those files' layouts (see
    ``quarantined_rows``)."""
    issues = [
        *(
            quarantined_rows(plan, observations, quarantined, layouts)
            if quarantined is not None
            else []
        ),
        *baseline_reconciliation(plan, values),
        *target_other_readings(plan),
        *reported_vs_recomputed(elements, observations, areas),
        *reported_vs_computed(plan, observations, values),
        *parts_vs_total(elements, observations),
        *impossible_values(plan, values),
        *year_on_year_jumps(plan, values),
        *missing_values(plan, areas, values, years),
    ]
    order = {"error": 0, "warning": 1, "info": 2}
    for row in issues:
        row["plan_id"] = plan.id
        for k, v in list(row["data"].items()):
            if isinstance(v, float) and math.isnan(v):
                row["data"][k] = None
    return sorted(issues, key=lambda r: (order[r["severity"]], r["kind"], r["number"] or 0))
