"""Judge one indicator against its plan target: the method in spec/evaluation.md.

Pure functions on plain values, so every status in a report can be recomputed by hand from
the numbers printed beside it (x0, x*, xc, τ, p, ρ, x̂T).

Floating point: comparisons against a target use a relative epsilon, and τ, p, ρ are rounded
to 9 decimals before they meet a threshold, so a value that is on a boundary in decimal
(58 vs ``< 58``, ρ = 0.95 computed as 0.9499999999999997) lands on the documented side.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

MET_EARLY = "已实现"
AHEAD = "快于预期"
ON_SCHEDULE = "符合预期"
NEEDS_SPEEDUP = "需加快"
LAGGING = "滞后"
MOVING_AWAY = "倒退"
ACHIEVED = "已完成"
NEARLY_ACHIEVED = "基本完成"
NOT_ACHIEVED = "未完成"
NO_DATA = "数据缺失"
NEEDS_REVIEW = "待人工评定"

STATUSES = (
    MET_EARLY,
    AHEAD,
    ON_SCHEDULE,
    NEEDS_SPEEDUP,
    LAGGING,
    MOVING_AWAY,
    ACHIEVED,
    NEARLY_ACHIEVED,
    NOT_ACHIEVED,
    NO_DATA,
    NEEDS_REVIEW,
)

STATUS_EN = {
    MET_EARLY: "met early",
    AHEAD: "ahead of schedule",
    ON_SCHEDULE: "on schedule",
    NEEDS_SPEEDUP: "needs acceleration",
    LAGGING: "lagging",
    MOVING_AWAY: "moving away / worse than baseline",
    ACHIEVED: "achieved",
    NEARLY_ACHIEVED: "nearly achieved",
    NOT_ACHIEVED: "not achieved",
    NO_DATA: "no data",
    NEEDS_REVIEW: "needs reviewer's judgement",
}

# The spec words 倒退 differently in its two tables; Judgement.status_en follows the stage.
_STATUS_EN_BY_STAGE = {
    ("mid", MOVING_AWAY): "moving away",
    ("end", MOVING_AWAY): "worse than baseline",
}

# Worse is higher, within each stage's table (spec step 3); used to find the weakest stratum/unit.
_WEAKNESS = {
    MET_EARLY: 0,
    AHEAD: 1,
    ON_SCHEDULE: 2,
    NEEDS_SPEEDUP: 3,
    LAGGING: 4,
    MOVING_AWAY: 5,
    ACHIEVED: 0,
    NEARLY_ACHIEVED: 1,
    NOT_ACHIEVED: 2,
}

PLAIN_COMPARATORS = (">=", ">", "<=", "<", "about", "reach")
NUMERIC_COMPARATORS = (*PLAIN_COMPARATORS, "relative")
COMPARATORS = (*NUMERIC_COMPARATORS, "qualitative", "split")
STAGES = ("mid", "end")

_DECIMALS = 9
_REL_EPS = 1e-9

W_WORSE_THAN_BASELINE = "较基期倒退，但仍达到目标"
W_NO_BASELINE = "缺少基期值，无法计算进度（p、ρ）"
W_TARGET_EQUALS_BASELINE = "目标值与基期值相同，无法计算进度（p、ρ）"
W_RELATIVE_NO_BASELINE = "缺少基期值，无法确定相对目标"
W_MID_AT_TARGET_YEAR = "中期评估的数据年份已到目标年，仍按中期标准评定"
W_END_BEFORE_TARGET_YEAR = "终期评估的数据年份早于目标年，仍按终期标准评定"


def _as_value(value: object, name: str) -> float | None:
    """Accept int/float/Decimal/numpy numbers; None or NaN mean missing; reject the rest."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise ValueError(f"{name} must be a number or None, got {value!r}")
    x = float(value)
    if math.isnan(x):
        return None
    if math.isinf(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return x


def _is_finite_number(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real | Decimal)
        and math.isfinite(float(value))
    )


def _eps(*values: float) -> float:
    """Tolerance for 'equal in decimal': relative to the magnitudes, at least 1e-9 absolute."""
    return _REL_EPS * max(1.0, *(abs(v) for v in values))


def _round(x: float | None) -> float | None:
    """Round to 9 decimals (and turn -0.0 into 0.0) so float noise cannot cross a threshold."""
    return None if x is None else round(x, _DECIMALS) + 0.0


def _tau(tau_raw: float | None) -> float | None:
    """τ rounded, as ``_round``, one object per value: a plan's areas judged at one stage share
    a few values of τ (Guilin's 35,000 rows at 4× the preset held ≈ 1 MB of equal floats)."""
    return None if tau_raw is None else _rounded_tau(tau_raw)


@functools.lru_cache(maxsize=256)
def _rounded_tau(tau_raw: float) -> float:
    # equal arguments round alike (0.0 and -0.0 both to 0.0): keyed by value is exact
    return round(tau_raw, _DECIMALS) + 0.0


@dataclass(frozen=True)
class Thresholds:
    """Status thresholds of spec step 3; a plan's configuration may override the defaults."""

    about_tolerance: float = 0.02
    on_schedule_rho: float = 0.95
    needs_speedup_rho: float = 0.60
    nearly_done_p: float = 0.90

    def __post_init__(self) -> None:
        for name in ("about_tolerance", "on_schedule_rho", "needs_speedup_rho", "nearly_done_p"):
            value = getattr(self, name)
            if not _is_finite_number(value):
                raise ValueError(f"Thresholds.{name} must be a finite number, got {value!r}")
        if self.about_tolerance < 0:
            raise ValueError(f"Thresholds.about_tolerance must be >= 0, got {self.about_tolerance}")
        if not 0 <= self.needs_speedup_rho <= self.on_schedule_rho <= 1:
            raise ValueError(
                "Thresholds need 0 <= needs_speedup_rho <= on_schedule_rho <= 1, got "
                f"{self.needs_speedup_rho} and {self.on_schedule_rho}"
            )
        if not 0 <= self.nearly_done_p <= 1:
            raise ValueError(
                f"Thresholds.nearly_done_p must be in [0, 1], got {self.nearly_done_p}"
            )


@dataclass(frozen=True)
class TargetSpec:
    """A plan target as stated; validated on construction so a bad plan fails at load time."""

    comparator: str
    value: float | None
    year: int
    tolerance: float | None = None
    delta: float | None = None
    strata: Mapping[str, TargetSpec] | None = None

    def __post_init__(self) -> None:
        c = self.comparator
        if c not in COMPARATORS:
            raise ValueError(f"unknown comparator {c!r}; expected one of {', '.join(COMPARATORS)}")
        if isinstance(self.year, bool) or not isinstance(self.year, numbers.Integral):
            raise ValueError(f"target year must be an integer, got {self.year!r}")
        object.__setattr__(self, "year", int(self.year))
        for name in ("value", "tolerance", "delta"):
            raw = getattr(self, name)
            if raw is None:
                continue
            if not _is_finite_number(raw):
                raise ValueError(f"target {name} must be a finite number, got {raw!r}")
            object.__setattr__(self, name, float(raw))

        if c in PLAIN_COMPARATORS and self.value is None:
            raise ValueError(f"comparator {c!r} needs a numeric target value")
        if c in ("qualitative", "split") and self.value is not None:
            raise ValueError(f"comparator {c!r} takes no numeric target value, got {self.value}")
        if c == "relative" and self.delta is None:
            raise ValueError("comparator 'relative' needs delta (target = baseline + delta)")
        if c != "relative" and self.delta is not None:
            raise ValueError(f"delta only applies to comparator 'relative', not {c!r}")
        if self.tolerance is not None:
            if c != "about":
                raise ValueError(f"tolerance only applies to comparator 'about', not {c!r}")
            if self.tolerance < 0:
                raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")

        if c == "split":
            if not isinstance(self.strata, Mapping) or not self.strata:
                raise ValueError("comparator 'split' needs strata: one sub-target per stratum")
            for name, sub in self.strata.items():
                if not isinstance(sub, TargetSpec):
                    raise ValueError(f"stratum {name!r}: sub-target must be a TargetSpec")
                if sub.comparator not in NUMERIC_COMPARATORS:
                    raise ValueError(
                        f"stratum {name!r}: sub-target comparator must be numeric, "
                        f"not {sub.comparator!r}"
                    )
                if sub.year != self.year:
                    raise ValueError(
                        f"stratum {name!r}: sub-target year {sub.year} differs from {self.year}"
                    )
        elif self.strata is not None:
            raise ValueError(f"strata only apply to comparator 'split', not {c!r}")


@dataclass(frozen=True)
class Judgement:
    """The outcome for one indicator, area and evaluation year, with the numbers behind it.

    ``stage`` and ``improvement`` (d·(xc − x0), snapped to 0 within epsilon) are kept so
    ``judge_per_unit`` can recompute a status without the raw inputs.
    """

    met: bool | None
    tau: float | None
    p: float | None
    rho: float | None
    projection: float | None
    cagr: float | None
    target_value: float | None
    status: str
    status_en: str
    warnings: tuple[str, ...] = ()
    failing_units: tuple[str, ...] = ()
    strata: Mapping[str, Judgement] | None = None
    stage: str | None = None
    improvement: float | None = None
    jurisdiction_status: str | None = None
    weakest_unit: str | None = None


def is_met(
    comparator: str, observed: float, target: float, direction: int, tolerance: float
) -> bool:
    """Step 1 for a numeric target, with a relative epsilon so boundaries hold as written.

    ``relative`` expects the target already resolved (x0 + delta) and compares like ``reach``;
    ``tolerance`` (a share of the target) is only read for ``about``.
    """
    _check_direction(direction)
    if comparator not in NUMERIC_COMPARATORS:
        raise ValueError(
            f"is_met needs a numeric comparator ({', '.join(NUMERIC_COMPARATORS)}), "
            f"got {comparator!r}"
        )
    for name, value in (("observed", observed), ("target", target)):
        if not _is_finite_number(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    xc, xt = float(observed), float(target)
    eps = _eps(xc, xt)
    if comparator == "about":
        if not _is_finite_number(tolerance) or tolerance < 0:
            raise ValueError(f"'about' needs a tolerance >= 0, got {tolerance!r}")
        return abs(xc - xt) <= float(tolerance) * abs(xt) + eps
    if comparator in ("reach", "relative"):
        comparator = ">=" if direction == 1 else "<="
    if comparator == ">=":
        return xc >= xt - eps
    if comparator == ">":
        return xc > xt + eps
    if comparator == "<=":
        return xc <= xt + eps
    return xc < xt - eps  # "<"


def judge(
    *,
    baseline: tuple[int, float | None] | None,
    target: TargetSpec,
    direction: int,
    stage: str,
    observed: tuple[int, float | None] | None,
    baseline_strata: Mapping[str, float] | None = None,
    observed_strata: Mapping[str, float | None] | None = None,
    verdict: bool | None = None,
    thresholds: Thresholds = Thresholds(),
) -> Judgement:
    """Judge one indicator (steps 1–3 of the spec).

    ``baseline``/``observed`` are ``(year, value)``; a value of None or NaN means missing.
    For a ``split`` target the per-stratum values come from ``baseline_strata`` and
    ``observed_strata`` (the years from ``baseline``/``observed``). ``verdict`` is a
    reviewer's decision and only applies to ``qualitative`` targets.
    """
    _check_direction(direction)
    _check_stage(stage)
    if not isinstance(target, TargetSpec):
        raise ValueError(f"target must be a TargetSpec, got {type(target).__name__}")
    if not isinstance(thresholds, Thresholds):
        raise ValueError(f"thresholds must be a Thresholds, got {type(thresholds).__name__}")
    if verdict is not None:
        if target.comparator != "qualitative":
            raise ValueError(
                f"a reviewer's verdict only applies to qualitative targets, not {target.comparator!r}"
            )
        if not isinstance(verdict, bool):
            raise ValueError(f"verdict must be True, False or None, got {verdict!r}")

    t0, x0 = _unpack(baseline, "baseline")
    tc, xc = _unpack(observed, "observed")
    if t0 is not None and target.year <= t0:
        raise ValueError(f"target year {target.year} must be after baseline year {t0}")
    if t0 is not None and tc is not None and tc < t0:
        raise ValueError(f"observed year {tc} is before baseline year {t0}")

    tau_raw = (tc - t0) / (target.year - t0) if t0 is not None and tc is not None else None
    tau = _tau(tau_raw)
    warnings: list[str] = []
    if tau is not None and stage == "mid" and tau >= 1:
        warnings.append(W_MID_AT_TARGET_YEAR)
    if tau is not None and stage == "end" and tau < 1:
        warnings.append(W_END_BEFORE_TARGET_YEAR)

    if target.comparator == "qualitative":
        return _judge_qualitative(verdict, tau, stage, warnings)
    if target.comparator == "split":
        if observed_strata and tc is None:
            raise ValueError("observed_strata given without an observed year")
        return _judge_split(
            target,
            t0,
            tc,
            tau_raw,
            baseline_strata,
            observed_strata,
            direction,
            stage,
            thresholds,
            warnings,
        )
    return _judge_numeric(target, t0, x0, tc, xc, tau_raw, direction, stage, thresholds, warnings)


def judge_per_unit(
    area: Judgement,
    units: Mapping[str, Judgement],
    *,
    thresholds: Thresholds = Thresholds(),
) -> Judgement:
    """Apply the per-unit rule (以镇（街道）为单位…) to an area judgement.

    The indicator is met only when every unit meets it (a unit with ``met`` None counts as
    failing), and its status is the status of its weakest unit (spec, decisions: 倒退 < 滞后 <
    需加快 < 符合预期 < 快于预期 < 已实现; at end of term 倒退 < 未完成 < 基本完成 < 已完成).
    The area's own numbers stay (the jurisdiction's figure, printed beside the status), with
    its own status in ``jurisdiction_status``; ``failing_units`` are the sorted names of the
    units not met and ``weakest_unit`` the one whose status was taken. When no unit has a
    judgement, the area's own status stands. ``thresholds`` is kept for callers; unit
    statuses were already judged with them.
    """
    del thresholds  # every unit's status is already judged; nothing is recomputed here
    if not units:
        raise ValueError("judge_per_unit needs at least one unit")
    failing = tuple(sorted(name for name, unit in units.items() if unit.met is not True))

    if all(unit.met is None for unit in units.values()):
        if area.met is None:
            return replace(area, failing_units=failing)
        stage = area.stage or _common_stage(units)
        if stage not in STAGES:
            raise ValueError("cannot tell the evaluation stage: Judgement.stage is not set")
        return replace(
            area,
            jurisdiction_status=area.status,
            warnings=(*area.warnings, "各单位均无评定结果，状态按全域值评定"),
            stage=stage,
        )

    stage = area.stage or _common_stage(units)
    if stage not in STAGES:
        raise ValueError("cannot tell the evaluation stage: Judgement.stage is not set")
    met = not failing
    name, weakest = _weakest(units, stage)
    status = _met_status(stage) if met else _effective_status(weakest, stage)
    numbers = {}
    if area.met is None:  # no figure of its own: the weakest unit's numbers stand in
        numbers = {
            "tau": area.tau if area.tau is not None else weakest.tau,
            "p": weakest.p,
            "rho": weakest.rho,
            "projection": weakest.projection,
            "cagr": weakest.cagr,
            "improvement": weakest.improvement,
        }
    extra = []
    if not met:
        own = area.status if area.met is not None else "无评定结果"
        extra.append(f"状态取自最弱单位{name}（{status}）；全域自身为{own}")
    elif area.met is False:
        extra.append("全域值未达标，但各单位均达标")
    return replace(
        area,
        met=met,
        status=status,
        status_en=_status_en(status, stage),
        failing_units=failing,
        warnings=(*area.warnings, *extra),
        stage=stage,
        jurisdiction_status=area.status,
        weakest_unit=name,
        **numbers,
    )


# --- internals ---------------------------------------------------------------------------


def _judge_numeric(
    target: TargetSpec,
    t0: int | None,
    x0: float | None,
    tc: int | None,
    xc: float | None,
    tau_raw: float | None,
    direction: int,
    stage: str,
    thresholds: Thresholds,
    warnings: list[str],
) -> Judgement:
    """Steps 1–3 for one numeric target (also used for each stratum of a split target)."""
    x_star = _resolve_target(target, x0)
    tau = _tau(tau_raw)
    if xc is None or x_star is None:
        if xc is not None:  # relative target with neither baseline nor fallback value
            warnings.append(W_RELATIVE_NO_BASELINE)
        return Judgement(
            met=None,
            tau=tau,
            p=None,
            rho=None,
            projection=None,
            cagr=None,
            target_value=x_star,
            status=NO_DATA,
            status_en=_status_en(NO_DATA, stage),
            warnings=tuple(warnings),
            stage=stage,
        )

    tolerance = target.tolerance if target.tolerance is not None else thresholds.about_tolerance
    met = is_met(target.comparator, xc, x_star, direction, tolerance)

    improvement = p_raw = rho_raw = projection = cagr = None
    if x0 is None:
        warnings.append(W_NO_BASELINE)
    else:
        change = xc - x0
        if abs(change) <= _eps(xc, x0):
            change = 0.0
        improvement = direction * change
        if abs(x_star - x0) <= _eps(x_star, x0):
            warnings.append(W_TARGET_EQUALS_BASELINE)
        else:
            p_raw = improvement / abs(x_star - x0)
        if tau_raw:  # None or 0 leave ρ and the projection undefined
            if p_raw is not None:
                rho_raw = p_raw / tau_raw
            projection = x0 + change / tau_raw
        if x0 > 0 and xc > 0 and tc is not None and t0 is not None and tc > t0:
            cagr = (xc / x0) ** (1 / (tc - t0)) - 1

    p, rho = _round(p_raw), _round(rho_raw)
    imp = _round(improvement)
    if met:
        status = _met_status(stage)
        if imp is not None and imp < 0:
            warnings.append(W_WORSE_THAN_BASELINE)
    else:
        status = _not_met_status(stage, p, rho, imp, thresholds)
    return Judgement(
        met=met,
        tau=tau,
        p=p,
        rho=rho,
        projection=_round(projection),
        cagr=_round(cagr),
        target_value=x_star,
        status=status,
        status_en=_status_en(status, stage),
        warnings=tuple(warnings),
        stage=stage,
        improvement=imp,
    )


def _judge_qualitative(
    verdict: bool | None, tau: float | None, stage: str, warnings: list[str]
) -> Judgement:
    """A qualitative target is judged by a reviewer, so observed values do not matter."""
    if verdict is None:
        status = NEEDS_REVIEW
    elif verdict:
        status = _met_status(stage)
    else:
        status = LAGGING if stage == "mid" else NOT_ACHIEVED
    return Judgement(
        met=verdict,
        tau=tau,
        p=None,
        rho=None,
        projection=None,
        cagr=None,
        target_value=None,
        status=status,
        status_en=_status_en(status, stage),
        warnings=tuple(warnings),
        stage=stage,
    )


def _judge_split(
    target: TargetSpec,
    t0: int | None,
    tc: int | None,
    tau_raw: float | None,
    baseline_strata: Mapping[str, float] | None,
    observed_strata: Mapping[str, float | None] | None,
    direction: int,
    stage: str,
    thresholds: Thresholds,
    warnings: list[str],
) -> Judgement:
    """Met only when every stratum meets its own target; status from the weakest stratum."""
    assert target.strata is not None  # guaranteed by TargetSpec validation
    parts: dict[str, Judgement] = {}
    for name, sub in target.strata.items():
        x0 = _as_value((baseline_strata or {}).get(name), f"baseline_strata[{name!r}]")
        xc = _as_value((observed_strata or {}).get(name), f"observed_strata[{name!r}]")
        parts[name] = _judge_numeric(sub, t0, x0, tc, xc, tau_raw, direction, stage, thresholds, [])

    tau = _tau(tau_raw)
    if all(part.met is None for part in parts.values()):
        return Judgement(
            met=None,
            tau=tau,
            p=None,
            rho=None,
            projection=None,
            cagr=None,
            target_value=None,
            status=NO_DATA,
            status_en=_status_en(NO_DATA, stage),
            warnings=tuple(warnings),
            strata=parts,
            stage=stage,
        )

    for name, part in parts.items():
        if part.met is None:
            warnings.append(f"{name}：数据缺失，按未达标计")
        warnings.extend(f"{name}：{w}" for w in part.warnings)
    met = all(part.met is True for part in parts.values())
    _, weakest = _weakest(parts, stage)
    status = _met_status(stage) if met else _effective_status(weakest, stage)
    return Judgement(
        met=met,
        tau=tau,
        p=weakest.p,
        rho=weakest.rho,
        projection=weakest.projection,
        cagr=weakest.cagr,
        target_value=None,
        status=status,
        status_en=_status_en(status, stage),
        warnings=tuple(warnings),
        strata=parts,
        stage=stage,
        improvement=weakest.improvement,
    )


def _resolve_target(target: TargetSpec, x0: float | None) -> float | None:
    """The numeric x* actually applied: a relative target is baseline + delta when it can be."""
    if target.comparator == "relative":
        assert target.delta is not None
        return x0 + target.delta if x0 is not None else target.value
    return target.value


def _met_status(stage: str) -> str:
    return MET_EARLY if stage == "mid" else ACHIEVED


def _not_met_status(
    stage: str, p: float | None, rho: float | None, improvement: float | None, th: Thresholds
) -> str:
    """Step 3 tables for a target not met; without ρ (mid) or p (end), the direction of change."""
    pace = rho if stage == "mid" else p
    if pace is None:
        if improvement is not None and improvement < 0:
            return MOVING_AWAY
        return LAGGING if stage == "mid" else NOT_ACHIEVED
    if stage == "mid":
        if rho >= 1:
            return AHEAD
        if rho >= _round(th.on_schedule_rho):
            return ON_SCHEDULE
        if rho >= _round(th.needs_speedup_rho):
            return NEEDS_SPEEDUP
        return LAGGING if rho >= 0 else MOVING_AWAY
    if p >= _round(th.nearly_done_p):
        return NEARLY_ACHIEVED
    return NOT_ACHIEVED if p >= 0 else MOVING_AWAY


def _effective_status(judgement: Judgement, stage: str) -> str:
    """A part without a judgement (no data, no verdict) counts as not met with no progress."""
    if judgement.met is None or judgement.status not in _WEAKNESS:
        return LAGGING if stage == "mid" else NOT_ACHIEVED
    return judgement.status


def _weakest(parts: Mapping[str, Judgement], stage: str) -> tuple[str, Judgement]:
    """The part with the worst status; ties go to the lower ρ (mid) or p (end), an undefined
    one (e.g. no data) counting as highest so the numbers shown are real ones, then to the
    order given."""

    def key(item: tuple[int, tuple[str, Judgement]]) -> tuple[int, float, int]:
        index, (_, part) = item
        pace = part.rho if stage == "mid" else part.p
        return (
            -_WEAKNESS[_effective_status(part, stage)],
            pace if pace is not None else math.inf,
            index,
        )

    _, (name, part) = min(enumerate(parts.items()), key=key)
    return name, part


def _common_stage(units: Mapping[str, Judgement]) -> str | None:
    stages = {unit.stage for unit in units.values() if unit.stage is not None}
    return stages.pop() if len(stages) == 1 else None


def _status_en(status: str, stage: str) -> str:
    return _STATUS_EN_BY_STAGE.get((stage, status), STATUS_EN[status])


def _check_direction(direction: object) -> None:
    if isinstance(direction, bool) or direction not in (1, -1):
        raise ValueError(f"direction must be +1 (higher is better) or -1, got {direction!r}")


def _check_stage(stage: object) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage must be 'mid' or 'end', got {stage!r}")


def _unpack(pair: tuple[int, float | None] | None, name: str) -> tuple[int | None, float | None]:
    """(year, value) → (year, value as float); a missing or NaN value becomes None."""
    if pair is None:
        return None, None
    try:
        year, value = pair
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (year, value) pair or None, got {pair!r}") from None
    if isinstance(year, bool) or not isinstance(year, numbers.Integral):
        raise ValueError(f"{name} year must be an integer, got {year!r}")
    return int(year), _as_value(value, f"{name} value")
