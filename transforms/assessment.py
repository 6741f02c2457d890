"""A whole plan judged for one stage and data year: every indicator, every area.

Bridges plan definitions and computed indicator values to the method's `judge`. For the
jurisdiction itself the baseline is the one the plan states (the official x0, from its table or
its body text); where the plan states none, and for its sub-areas, it is the warehouse's own
base-year value. Each row says where its x0 comes from (``baseline_source``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from healthplan.definitions import UNIT_LEVELS, Area, Indicator, Plan, Target
from transforms.evaluation import (
    STATUS_EN,
    Judgement,
    TargetSpec,
    Thresholds,
    judge,
    judge_per_unit,
)
from transforms.indicators import AreaTree
from transforms.reviews import override_view, review_view, verdict_status

STAGES = {"mid": "中期评估", "end": "终期评估"}

# Where a row's x0 comes from (printed as 基期值来源).
FROM_TABLE, FROM_TEXT, FROM_WAREHOUSE = "规划表", "规划正文", "数据仓库"
PLAN_SOURCES = {"table": FROM_TABLE, "text": FROM_TEXT}


def target_spec(target: Target) -> TargetSpec:
    """The plan's target in the shape the method takes."""
    strata = None
    if target.strata:
        strata = {
            key: TargetSpec(
                comparator=s.comparator, value=s.value, year=target.year, tolerance=s.tolerance
            )
            for key, s in target.strata.items()
        }
    return TargetSpec(
        comparator=target.comparator,
        value=target.value,
        year=target.year,
        tolerance=target.tolerance,
        delta=target.delta,
        strata=strata,
    )


DEFAULT_THRESHOLDS = Thresholds()  # frozen: one shared default


def thresholds_for(plan: Plan, defaults: Thresholds) -> Thresholds:
    """Settings' thresholds, overridden by any the plan's definition sets."""
    fields = {k: getattr(defaults, k) for k in defaults.__dataclass_fields__}
    fields.update(plan.thresholds)
    return Thresholds(**fields)


def data_year_for(plan: Plan, stage: str) -> int:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; use 'mid' or 'end'")
    return plan.mid_term_year if stage == "mid" else plan.target_year


class DataYearError(ValueError):
    """A data year the stage cannot be evaluated for (outside the plan period, or an
    end-of-term year before the target year)."""


def allowed_data_years(plan: Plan, stage: str) -> range:
    """The data years a stage may be evaluated for: mid-term any year of the plan period,
    end-of-term the target year up to the period's end."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; use 'mid' or 'end'")
    if stage == "mid":
        return range(plan.period_start, plan.period_end + 1)
    return range(plan.target_year, max(plan.period_end, plan.target_year) + 1)


def check_data_year(plan: Plan, stage: str, data_year: int) -> int:
    """``data_year`` when the stage may be evaluated for it; else DataYearError naming the
    allowed years."""
    allowed = allowed_data_years(plan, stage)
    if data_year in allowed:
        return data_year
    span = f"{allowed[0]}年" if len(allowed) == 1 else f"{allowed[0]}—{allowed[-1]}年"
    span_en = str(allowed[0]) if len(allowed) == 1 else f"{allowed[0]}–{allowed[-1]}"
    if stage == "end" and data_year < plan.target_year:
        why = f"终期评估的数据年份不能早于目标年{plan.target_year}年"
        why_en = (
            f"an end-of-term evaluation cannot use a year before the target year {plan.target_year}"
        )
    else:
        why = f"数据年份{data_year}年不在规划期（{plan.period_start}—{plan.period_end}年）内"
        why_en = f"data year {data_year} is outside the plan period"
    raise DataYearError(f"{why}，{STAGES[stage]}可选：{span} / {why_en}; {stage} allows {span_en}")


def data_completeness(plan: Plan, rows: Iterable[Mapping]) -> dict[str, int]:
    """How many of the plan's numeric indicators have a value for the jurisdiction in the
    rows' data year (``with_data``), of how many (``numeric``)."""
    numeric = {i.number for i in plan.indicators if i.target.comparator != "qualitative"}
    with_data = set()
    for r in rows:
        if r["area"] != plan.jurisdiction or r["number"] not in numeric:
            continue
        strata = r.get("strata") or {}
        if r.get("value") is not None or any(s.get("value") is not None for s in strata.values()):
            with_data.add(r["number"])
    return {"with_data": len(with_data), "numeric": len(numeric)}


def is_incomplete(counts: Mapping[str, int]) -> bool:
    """Fewer than half of the numeric indicators have a value: too little for a report."""
    return counts["with_data"] * 2 < counts["numeric"]


class ValueLookup:
    """Fast (number, area, year, stratum) → value access over the indicator-value frame.

    ``years``: hold only those years' values (an assessment reads two of the plan's years; a
    key and value held for every one took ≈ 30 MB for Guilin at 4× the preset). The values
    are held per (number, year, stratum), by area: a tuple key per value took ≈ 5 MB more.
    The frame is read a few thousand rows at a time, not copied: the copies of its rows in
    those years (≈ 7 MB for Guilin at 4× the preset) stayed resident while the rows were made.
    """

    def __init__(self, values: pd.DataFrame, years: Iterable[int] | None = None):
        self._v: dict[tuple[int, int, str], dict[str, float]] = {}
        if values.empty:
            return
        columns = [values[c].to_numpy() for c in ("number", "area_code", "year", "stratum")]
        columns.append(values["value"].to_numpy())
        for part in _positions(values, years):
            for n, a, y, s, v in zip(*(c[part].tolist() for c in columns), strict=True):
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    key = (int(n), int(y), str(s or ""))
                    by_area = self._v.get(key)
                    if by_area is None:
                        by_area = self._v[key] = {}
                    by_area[str(a)] = float(v)

    def get(self, number: int, area: str, year: int, stratum: str = "") -> float | None:
        by_area = self._v.get((number, year, stratum))
        return None if by_area is None else by_area.get(area)

    def series(self, number: int, area: str, stratum: str = "") -> dict[int, float]:
        """The area's values by year, oldest first."""
        return dict(
            sorted(
                (y, by_area[area])
                for (n, y, s), by_area in self._v.items()
                if n == number and s == stratum and area in by_area
            )
        )


# Rows of the value frame turned into Python values at a time by ValueLookup.
LOOKUP_CHUNK = 8_192


def _positions(values: pd.DataFrame, years: Iterable[int] | None) -> Iterator[np.ndarray]:
    """The positions of the rows in ``years`` (every row when None), LOOKUP_CHUNK at a time."""
    if years is None:
        rows = np.arange(len(values))
    else:
        rows = np.flatnonzero(values["year"].isin(list(years)).to_numpy())
    for start in range(0, len(rows), LOOKUP_CHUNK):
        yield rows[start : start + LOOKUP_CHUNK]


def assess_plan(
    plan: Plan,
    areas: Sequence[Area],
    values: pd.DataFrame,
    stage: str,
    data_year: int | None = None,
    reviews: Mapping[int, bool | Mapping] | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    only_area: str | None = None,
) -> list[dict]:
    """Judgements for every indicator and area of a plan, as plain rows ready to store or print.

    ``reviews``: the verdicts that apply to this stage and data year, per indicator number (see
    ``transforms.reviews.applicable_reviews``), as review rows or plain booleans.
    """
    data_year = data_year or data_year_for(plan, stage)
    tree = AreaTree(areas)
    lookup = ValueLookup(values, years={data_year, plan.baseline_year})
    th = thresholds_for(plan, thresholds)
    reviews = reviews or {}
    root = plan.jurisdiction
    area_codes = [root, *sorted(c for c in tree.areas if c != root)]
    if only_area:
        if only_area not in tree.areas:
            raise ValueError(f"area {only_area!r} is not part of plan {plan.id}")
        area_codes = [only_area]
    rows = []
    for ind in plan.indicators:
        for code in area_codes:
            rows.append(_assess_one(plan, ind, code, tree, lookup, stage, data_year, reviews, th))
    return rows


def _baseline(
    plan: Plan, ind: Indicator, code: str, lookup: ValueLookup
) -> tuple[tuple[int, float | None], str | None]:
    """``((t0, x0), source)``: the plan's own baseline for the jurisdiction when it states one,
    else the warehouse's value for the baseline year (x0 None when it has none either: τ still
    needs only the years)."""
    year = plan.baseline_year
    if code == plan.jurisdiction and ind.baseline is not None:
        year = ind.baseline.year or plan.baseline_year
        if ind.baseline.value is not None:
            return (year, ind.baseline.value), PLAN_SOURCES[ind.baseline_source]
    v = lookup.get(ind.number, code, year)
    return (year, v), (None if v is None else FROM_WAREHOUSE)


def _baseline_strata(plan: Plan, ind: Indicator, code: str, lookup: ValueLookup, year: int):
    """The warehouse's baseline-year value of each stratum of a split target that has one."""
    return {
        s: v
        for s in ind.target.strata or {}
        if (v := lookup.get(ind.number, code, year, s)) is not None
    }


def _judge_area(plan, ind, code, lookup, stage, data_year, reviews, th) -> Judgement:
    spec = target_spec(ind.target)
    observed = lookup.get(ind.number, code, data_year)
    baseline, _ = _baseline(plan, ind, code, lookup)
    kwargs = {}
    if ind.target.strata:
        kwargs["observed_strata"] = {
            s: v
            for s in ind.target.strata
            if (v := lookup.get(ind.number, code, data_year, s)) is not None
        }
        kwargs["baseline_strata"] = _baseline_strata(plan, ind, code, lookup, baseline[0])
    return judge(
        baseline=baseline,
        target=spec,
        direction=ind.sign,
        stage=stage,
        observed=(data_year, observed),
        verdict=_verdict(ind, reviews.get(ind.number)),
        thresholds=th,
        **kwargs,
    )


def _verdict(ind: Indicator, review: bool | Mapping | None) -> bool | None:
    """The verdict the method takes: a plain verdict on a qualitative target only (a numeric
    one is an override, applied to the computed result afterwards)."""
    if review is None or ind.target.comparator != "qualitative":
        return None
    if isinstance(review, Mapping):
        return None if review.get("override") else bool(review["verdict"])
    return bool(review)


def _review_keys(ind: Indicator, code: str, plan: Plan, review, row: dict) -> None:
    """Set the row's ``review`` and ``override`` keys, and apply an override of a numeric
    result (to the jurisdiction's row: the result the plan is judged by)."""
    if not isinstance(review, Mapping):
        return
    if ind.target.comparator == "qualitative":
        if not review.get("override"):
            row["review"] = review_view(review)
        return
    if review.get("override") and code == plan.jurisdiction:
        row["override"] = override_view(review, row["status"])
        status = verdict_status(bool(review["verdict"]), row["stage"])
        row.update(met=bool(review["verdict"]), status=status, status_en=STATUS_EN[status])


def judging_units(plan: Plan, ind: Indicator, tree: AreaTree) -> tuple[list[str], str]:
    """The units an indicator is judged per, falling back to the finest level the data holds."""
    if ind.level == "area":
        return [], "area"
    units = tree.units(plan.jurisdiction, UNIT_LEVELS[ind.level])
    if not units and ind.level == "town":
        return tree.units(plan.jurisdiction, UNIT_LEVELS["county"]), "county"
    return units, ind.level


def _assess_one(plan, ind, code, tree, lookup, stage, data_year, reviews, th) -> dict:
    j = _judge_area(plan, ind, code, lookup, stage, data_year, reviews, th)
    judged_at = "area"
    per_unit = False
    if code == plan.jurisdiction and ind.level != "area":
        units, judged_at = judging_units(plan, ind, tree)
        if units:
            unit_js = {
                tree.areas[u].name_zh: _judge_area(
                    plan, ind, u, lookup, stage, data_year, reviews, th
                )
                for u in units
            }
            j = judge_per_unit(j, unit_js, thresholds=th)
            per_unit = True
    (base_year, base_value), source = _baseline(plan, ind, code, lookup)
    if ind.target.strata and source is None:
        strata_base = _baseline_strata(plan, ind, code, lookup, base_year)
        source = FROM_WAREHOUSE if strata_base else None
    value = lookup.get(ind.number, code, data_year)
    projection, projection_note = bounded_projection(j.projection, ind)
    row = {
        "plan": plan.id,
        "number": ind.number,
        "area": code,
        "area_name": tree.areas[code].name_zh,
        "stage": stage,
        "data_year": data_year,
        "value": value,
        "baseline": base_value,
        "baseline_year": base_year,
        "baseline_source": source,
        "target": j.target_value,
        "target_text": ind.target.text,
        "comparator": ind.target.comparator,
        "met": j.met,
        "tau": j.tau,
        "p": j.p,
        "rho": j.rho,
        "projection": projection,
        "projection_note": projection_note,
        "cagr": j.cagr,
        "status": j.status,
        "status_en": j.status_en,
        "failing_units": list(j.failing_units),
        "warnings": list(j.warnings),
        "judged_at": judged_at,
        "strata": {
            k: {"value": sj_value, "status": s.status, "met": s.met}
            for k, s in (j.strata or {}).items()
            for sj_value in [lookup.get(ind.number, code, data_year, k)]
        },
        "inferred": inferred_for(ind, code == plan.jurisdiction, source),
        "review": None,
        "override": None,
    }
    if per_unit:  # a few rows: their keys in a table of their own (see ``compact``)
        row["weakest_unit"] = j.weakest_unit
        row["jurisdiction_status"] = j.jurisdiction_status
        row["jurisdiction_value"] = value
    _review_keys(ind, code, plan, reviews.get(ind.number), row)
    return compact(row)


def bounded_projection(projection: float | None, ind: Indicator) -> tuple[float | None, str | None]:
    """The straight-line projection if the quantity allows it, else None and a note saying
    why (spec, decisions: a rate is never below 0, a share never above 100 %)."""
    if projection is None:
        return None, None
    allowed = ind.allowed_range
    eps = 1e-9 * max(1.0, abs(projection))
    if allowed.min is not None and projection < allowed.min - eps:
        return None, f"按直线外推将超出合理范围（不低于{allowed.min:g}），不作预测"
    if allowed.max is not None and projection > allowed.max + eps:
        return (
            None,
            f"按直线外推将超出合理范围（不高于{allowed.max:g}{_range_unit(ind)}），不作预测",
        )
    return projection, None


def _range_unit(ind: Indicator) -> str:
    return ind.unit if ind.unit.strip() in ("%", "‰") else ""


def inferred_for(ind: Indicator, is_root: bool, baseline_source: str | None) -> list[dict]:
    """What the row prints that the definitions infer: every inference for the jurisdiction
    when its x0 is the plan's; the baseline ones drop where x0 comes from the warehouse."""
    keep_baseline = is_root and baseline_source in (FROM_TABLE, FROM_TEXT)
    return [i for i in ind.inferences() if keep_baseline or not i["field"].startswith("baseline")]


# Keys a per-unit jurisdiction row has beyond the others (None elsewhere: read with .get).
PER_UNIT_KEYS = ("weakest_unit", "jurisdiction_status", "jurisdiction_value")


def compact(row: dict) -> dict:
    """The same dict (equal, its keys in the same order), holding its values only: its keys
    are in one table shared by every row of the same keys (CPython's key-sharing dicts, PEP
    412; up to 29 keys in CPython 3.11). A dict of 24 keys of its own takes ≈ 830 bytes, ≈ 300 so: Guilin's 35,000 rows a
    stage at 4× the preset held ≈ 19 MB less."""
    shared = _shared_keys(tuple(row)).copy()  # the copy of a key-sharing dict shares them too
    shared.update(row)
    return shared


@functools.cache
def _shared_keys(keys: tuple[str, ...]) -> dict:
    """A key-sharing dict of these keys: the attributes of an instance of a class of its own."""
    holder = type("Row", (), {"__doc__": "The holder of a key-sharing dict of row keys."})()
    for key in keys:
        setattr(holder, key, None)
    return vars(holder)
