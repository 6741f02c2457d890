"""Tests for transforms.evaluation: the method of spec/evaluation.md, boundary by boundary."""

from decimal import Decimal

import pytest

from transforms.evaluation import (
    STATUS_EN,
    STATUSES,
    Judgement,
    TargetSpec,
    Thresholds,
    is_met,
    judge,
    judge_per_unit,
)

# x0 = 10 (2015), target >= 110 (2020): xc = 10 + 100·p, so p and ρ read straight off xc.
BASE = (2015, 10.0)
TARGET = TargetSpec(">=", 110.0, 2020)
MID = 2018  # τ = 0.6
END = 2020  # τ = 1


def jd(xc, *, year=MID, stage="mid", target=TARGET, baseline=BASE, direction=1, **kw):
    return judge(
        baseline=baseline,
        target=target,
        direction=direction,
        stage=stage,
        observed=(year, xc),
        **kw,
    )


# --- step 3 tables -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xc", "status", "rho"),
    [
        (110.0, "已实现", 1 / 0.6),  # target met exactly
        (130.0, "已实现", 1.2 / 0.6),
        (70.0, "快于预期", 1.0),  # ρ = 1 boundary
        (90.0, "快于预期", 0.8 / 0.6),
        (67.0, "符合预期", 0.95),  # ρ = 0.95 boundary
        (68.0, "符合预期", 0.58 / 0.6),
        (46.0, "需加快", 0.60),  # ρ = 0.60 boundary
        (55.0, "需加快", 0.45 / 0.6),
        (10.0, "滞后", 0.0),  # ρ = 0 boundary
        (30.0, "滞后", 0.2 / 0.6),
        (9.0, "倒退", -0.01 / 0.6),
    ],
)
def test_mid_term_table(xc, status, rho):
    j = jd(xc)
    assert j.status == status
    assert j.tau == pytest.approx(0.6)
    assert j.rho == pytest.approx(rho)
    assert j.met is (status == "已实现")


@pytest.mark.parametrize(
    ("xc", "status", "p"),
    [
        (110.0, "已完成", 1.0),
        (120.0, "已完成", 1.1),
        (100.0, "基本完成", 0.90),  # p = 0.90 boundary
        (105.0, "基本完成", 0.95),
        (10.0, "未完成", 0.0),  # p = 0 boundary
        (60.0, "未完成", 0.5),
        (9.0, "倒退", -0.01),
    ],
)
def test_end_term_table(xc, status, p):
    j = jd(xc, year=END, stage="end")
    assert j.status == status
    assert j.tau == 1.0
    assert j.p == pytest.approx(p)
    assert j.rho == pytest.approx(p)


def test_lower_is_better_uses_direction():
    # maternal mortality: x0 = 20, target <= 12; xc = 16 → p = 0.5, ρ = 0.833 → 需加快
    j = jd(16.0, baseline=(2015, 20.0), target=TargetSpec("<=", 12.0, 2020), direction=-1)
    assert (j.p, j.status) == (pytest.approx(0.5), "需加快")
    j = jd(21.0, baseline=(2015, 20.0), target=TargetSpec("<=", 12.0, 2020), direction=-1)
    assert j.status == "倒退"
    assert j.p < 0


# --- boundaries that are not exact in binary floats ---------------------------------------

FLOAT_BASE = (2015, 2.0)
FLOAT_TARGET = TargetSpec(">=", 3.0, 2020)


@pytest.mark.parametrize(
    ("year", "xc", "stage", "status", "naive"),
    [
        # naive float value on the wrong side of the boundary → expected status
        (2017, 2.4, "mid", "快于预期", (2.4 - 2.0) / 1.0 / 0.4),  # ρ = 1
        (2018, 2.57, "mid", "符合预期", (2.57 - 2.0) / 1.0 / 0.6),  # ρ = 0.95
        (2018, 2.36, "mid", "需加快", (2.36 - 2.0) / 1.0 / 0.6),  # ρ = 0.60
        (2020, 2.9, "end", "基本完成", (2.9 - 2.0) / 1.0),  # p = 0.90
    ],
)
def test_inexact_float_boundaries_land_on_documented_side(year, xc, stage, status, naive):
    boundary = {"快于预期": 1.0, "符合预期": 0.95, "需加快": 0.60, "基本完成": 0.90}[status]
    assert naive < boundary  # the raw float would fall on the wrong side
    j = jd(xc, year=year, stage=stage, baseline=FLOAT_BASE, target=FLOAT_TARGET)
    assert j.status == status
    assert (j.rho if stage == "mid" else j.p) == boundary


@pytest.mark.parametrize(("stage", "status"), [("mid", "滞后"), ("end", "未完成")])
def test_no_change_in_inexact_floats_is_zero_not_moving_away(stage, status):
    x0 = 0.1 + 0.2  # 0.30000000000000004
    assert 0.3 - x0 < 0
    j = jd(
        0.3,
        year=END if stage == "end" else MID,
        stage=stage,
        baseline=(2015, x0),
        target=TargetSpec(">=", 0.5, 2020),
    )
    assert j.status == status
    assert j.p == 0.0


def test_custom_thresholds_move_the_boundaries():
    th = Thresholds(on_schedule_rho=0.9, needs_speedup_rho=0.5, nearly_done_p=0.8)
    assert jd(64.0, thresholds=th).status == "符合预期"  # ρ = 0.9
    assert jd(40.0, thresholds=th).status == "需加快"  # ρ = 0.5
    assert jd(90.0, year=END, stage="end", thresholds=th).status == "基本完成"  # p = 0.8
    assert jd(64.0).status == "需加快"  # defaults unaffected


# --- worked example -----------------------------------------------------------------------


def test_worked_example_nurses_per_1000():
    j = judge(
        baseline=(2015, 2.0),
        target=TargetSpec(">=", 3.0, 2020),
        direction=1,
        stage="mid",
        observed=(2018, 1.95),
    )
    assert j.tau == 0.6
    assert j.p == -0.05
    assert j.rho == pytest.approx(-0.083, abs=5e-4)
    assert j.projection == pytest.approx(2.0 - 0.05 / 0.6)
    assert j.cagr == pytest.approx((1.95 / 2.0) ** (1 / 3) - 1)
    assert j.target_value == 3.0
    assert (j.met, j.status, j.status_en) == (False, "倒退", "moving away")


# --- step 1: comparators ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparator", "observed", "target", "expected"),
    [
        ("<", 58.0, 58.0, False),  # 58 does not satisfy < 58
        ("<", 57.9, 58.0, True),
        (">", 58.0, 58.0, False),
        (">", 58.1, 58.0, True),
        ("<=", 58.0, 58.0, True),
        ("<=", 58.1, 58.0, False),
        (">=", 58.0, 58.0, True),
        (">=", 57.9, 58.0, False),
        # 0.1 + 0.2 is 0.30000000000000004: equal to 0.3 in decimal
        (">", 0.1 + 0.2, 0.3, False),
        ("<=", 0.1 + 0.2, 0.3, True),
        ("<", 0.3, 0.1 + 0.2, False),
        (">=", 0.3, 0.1 + 0.2, True),
    ],
)
def test_is_met_plain_comparators(comparator, observed, target, expected):
    assert is_met(comparator, observed, target, 1, 0.0) is expected


@pytest.mark.parametrize(
    ("comparator", "direction", "observed", "expected"),
    [
        ("reach", 1, 90.0, True),
        ("reach", 1, 91.0, True),
        ("reach", 1, 89.9, False),
        ("reach", -1, 90.0, True),
        ("reach", -1, 89.0, True),
        ("reach", -1, 90.1, False),
        ("relative", 1, 90.0, True),
        ("relative", -1, 90.5, False),
    ],
)
def test_is_met_reach_follows_direction(comparator, direction, observed, expected):
    assert is_met(comparator, observed, 90.0, direction, 0.0) is expected


@pytest.mark.parametrize(
    ("observed", "target", "tolerance", "expected"),
    [
        (101.0, 100.0, 0.02, True),  # inside
        (102.0, 100.0, 0.02, True),  # on +2%
        (98.0, 100.0, 0.02, True),  # on −2%
        (102.5, 100.0, 0.02, False),  # outside
        (97.9, 100.0, 0.02, False),
        (0.714, 0.7, 0.02, True),  # on, though 0.714 − 0.7 > 0.7·0.02 in binary
        (0.686, 0.7, 0.02, True),
        (104.0, 100.0, 0.05, True),  # per-indicator tolerance
    ],
)
def test_is_met_about(observed, target, tolerance, expected):
    assert is_met("about", observed, target, 1, tolerance) is expected


def test_about_uses_default_or_own_tolerance():
    default = TargetSpec("about", 100.0, 2020)
    own = TargetSpec("about", 100.0, 2020, tolerance=0.05)
    assert jd(103.0, target=default, baseline=(2015, 90.0)).met is False
    assert jd(103.0, target=own, baseline=(2015, 90.0)).met is True
    wide = Thresholds(about_tolerance=0.03)
    assert jd(103.0, target=default, baseline=(2015, 90.0), thresholds=wide).met is True


@pytest.mark.parametrize(
    ("comparator", "xc", "met"),
    [(">", 110.0, False), ("<", 110.0, False), ("<=", 110.0, True), ("reach", 110.0, True)],
)
def test_judge_strict_target_equal_value(comparator, xc, met):
    j = jd(xc, target=TargetSpec(comparator, 110.0, 2020), direction=1)
    assert j.met is met
    if comparator == ">":
        assert j.status == "快于预期"  # not met, ρ = 1/0.6


# --- step 2 edge cases --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparator", "xc", "stage", "status"),
    [
        (">=", 96.0, "mid", "已实现"),
        (">=", 95.0, "end", "已完成"),
        (">=", 94.0, "mid", "倒退"),
        (">=", 94.0, "end", "倒退"),
        (">", 95.0, "mid", "滞后"),  # not met, no change
        (">", 95.0, "end", "未完成"),
    ],
)
def test_target_equal_to_baseline_has_no_p_or_rho(comparator, xc, stage, status):
    j = jd(
        xc,
        baseline=(2015, 95.0),
        target=TargetSpec(comparator, 95.0, 2020),
        stage=stage,
        year=END if stage == "end" else MID,
    )
    assert (j.p, j.rho) == (None, None)
    assert j.status == status
    assert "目标值与基期值相同，无法计算进度（p、ρ）" in j.warnings


def test_met_but_worse_than_baseline_warns():
    j = jd(99.0, baseline=(2015, 100.0), target=TargetSpec("about", 100.0, 2020))
    assert j.status == "已实现"
    assert "较基期倒退，但仍达到目标" in j.warnings
    assert jd(110.0).warnings == ()


@pytest.mark.parametrize(
    ("baseline", "xc", "stage", "status", "tau"),
    [
        (None, 50.0, "mid", "滞后", None),
        (None, 50.0, "end", "未完成", None),
        (None, 120.0, "mid", "已实现", None),
        ((2015, None), 50.0, "mid", "滞后", 0.6),
        ((2015, float("nan")), 120.0, "mid", "已实现", 0.6),
    ],
)
def test_missing_baseline(baseline, xc, stage, status, tau):
    j = jd(xc, baseline=baseline, stage=stage)
    assert j.status == status
    assert j.tau == tau
    assert (j.p, j.rho, j.projection, j.cagr) == (None, None, None, None)
    assert "缺少基期值，无法计算进度（p、ρ）" in j.warnings


@pytest.mark.parametrize("observed", [None, (2018, None), (2018, float("nan"))])
@pytest.mark.parametrize("stage", ["mid", "end"])
def test_missing_observed_is_no_data(observed, stage):
    j = judge(baseline=BASE, target=TARGET, direction=1, stage=stage, observed=observed)
    assert (j.met, j.status, j.status_en) == (None, "数据缺失", "no data")
    assert j.p is None


def test_tau_zero_leaves_rho_and_projection_undefined():
    j = jd(20.0, year=2015)
    assert (j.tau, j.rho, j.projection) == (0.0, None, None)
    assert j.p == pytest.approx(0.1)
    assert j.status == "滞后"
    assert jd(5.0, year=2015).status == "倒退"


def test_cagr_only_for_positive_values():
    assert jd(12.1, baseline=(2015, 10.0), year=2017).cagr == pytest.approx(0.1)
    assert jd(12.1, baseline=(2015, 0.0), year=2017).cagr is None
    assert jd(-1.0, baseline=(2015, 10.0), year=2017).cagr is None


def test_decimal_and_int_inputs_are_accepted():
    j = jd(Decimal("67"), baseline=(2015, Decimal("10")), target=TargetSpec(">=", 110, 2020))
    assert (j.rho, j.status) == (0.95, "符合预期")


def test_stage_year_mismatch_warns():
    assert "终期评估的数据年份早于目标年，仍按终期标准评定" in jd(100.0, stage="end").warnings
    assert "中期评估的数据年份已到目标年，仍按中期标准评定" in jd(60.0, year=END).warnings


# --- relative targets ---------------------------------------------------------------------


def test_relative_target_from_baseline():
    target = TargetSpec("relative", None, 2020, delta=1.0)
    met = jd(71.0, baseline=(2015, 70.0), target=target)
    assert (met.target_value, met.met, met.status) == (71.0, True, "已实现")
    short = jd(70.5, baseline=(2015, 70.0), target=target)
    assert (short.met, short.p, short.status) == (False, 0.5, "需加快")


def test_relative_target_lower_is_better():
    target = TargetSpec("relative", None, 2020, delta=-2.0)
    j = jd(18.5, baseline=(2015, 20.0), target=target, direction=-1, year=END, stage="end")
    assert (j.target_value, j.met, j.p, j.status) == (18.0, False, 0.75, "未完成")
    assert jd(17.0, baseline=(2015, 20.0), target=target, direction=-1).met is True


def test_relative_target_baseline_wins_over_fallback_value():
    target = TargetSpec("relative", 80.0, 2020, delta=1.0)
    assert jd(71.0, baseline=(2015, 70.0), target=target).target_value == 71.0


@pytest.mark.parametrize("baseline", [None, (2015, None)])
def test_relative_target_without_baseline_uses_fallback_value(baseline):
    target = TargetSpec("relative", 71.0, 2020, delta=1.0)
    j = jd(70.0, baseline=baseline, target=target)
    assert (j.target_value, j.met, j.p, j.status) == (71.0, False, None, "滞后")


def test_relative_target_without_baseline_or_value_is_not_computable():
    j = jd(70.0, baseline=None, target=TargetSpec("relative", None, 2020, delta=1.0))
    assert (j.met, j.target_value, j.status) == (None, None, "数据缺失")
    assert "缺少基期值，无法确定相对目标" in j.warnings


# --- split targets ------------------------------------------------------------------------

SPLIT = TargetSpec(
    "split",
    None,
    2020,
    strata={"rural": TargetSpec(">=", 35.0, 2020), "urban": TargetSpec(">=", 60.0, 2020)},
)
SPLIT_BASE = {"rural": 25.0, "urban": 50.0}


def js(observed_strata, *, stage="mid", year=MID):
    return judge(
        baseline=(2015, None),
        target=SPLIT,
        direction=1,
        stage=stage,
        observed=(year, None),
        baseline_strata=SPLIT_BASE,
        observed_strata=observed_strata,
    )


def test_split_all_strata_met():
    j = js({"rural": 36.0, "urban": 61.0})
    assert (j.met, j.status, j.target_value, j.tau) == (True, "已实现", None, 0.6)
    assert j.strata["rural"].status == "已实现"
    assert j.strata["urban"].target_value == 60.0


def test_split_weakest_stratum_sets_status_and_numbers():
    # rural: p = 0.8, ρ = 1.33 (快于预期); urban: p = 0.4, ρ = 0.667 (需加快)
    j = js({"rural": 33.0, "urban": 54.0})
    assert j.met is False
    assert j.strata["rural"].status == "快于预期"
    assert j.strata["urban"].status == "需加快"
    assert j.status == "需加快"
    assert (j.p, j.rho, j.projection) == (
        j.strata["urban"].p,
        j.strata["urban"].rho,
        j.strata["urban"].projection,
    )
    assert j.p == pytest.approx(0.4)


def test_split_one_stratum_failing_while_other_met():
    j = js({"rural": 40.0, "urban": 49.0}, stage="end", year=END)
    assert (j.met, j.status) == (False, "倒退")
    assert j.strata["rural"].met is True


def test_split_one_stratum_missing_counts_as_not_met():
    j = js({"rural": 40.0})
    assert (j.met, j.status) == (False, "滞后")
    assert j.strata["urban"].status == "数据缺失"
    assert "urban：数据缺失，按未达标计" in j.warnings
    assert j.p is None  # weakest is the missing stratum


def test_split_missing_stratum_loses_ties_to_real_numbers():
    j = js({"rural": 27.0})  # rural ρ = 0.333 → 滞后, same rank as the missing stratum
    assert j.status == "滞后"
    assert j.rho == pytest.approx(0.2 / 0.6)


def test_split_all_strata_missing_is_no_data():
    j = js(None)
    assert (j.met, j.status) == (None, "数据缺失")
    assert set(j.strata) == {"rural", "urban"}


# --- per-unit judging ---------------------------------------------------------------------

TOWN_TARGET = TargetSpec(">=", 95.0, 2020)


def town(xc, *, stage="mid"):
    return judge(
        baseline=(2015, 85.0),
        target=TOWN_TARGET,
        direction=1,
        stage=stage,
        observed=(END if stage == "end" else MID, xc),
    )


def test_per_unit_all_units_met():
    area = town(97.0)
    j = judge_per_unit(area, {"A镇": town(96.0), "B街道": town(95.0)})
    assert (j.met, j.status, j.failing_units) == (True, "已实现", ())


def test_per_unit_status_is_the_weakest_units_even_when_the_area_is_met():
    area = town(97.0)  # met: 已实现 on its own
    j = judge_per_unit(area, {"C镇": town(90.0), "A镇": town(96.0), "B镇": town(80.0)})
    # B镇: p = (80 − 85) / 10 = −0.5 → 倒退, weaker than C镇 (ρ = 0.833 → 需加快)
    assert (j.met, j.status, j.status_en) == (False, "倒退", "moving away")
    assert (j.weakest_unit, j.jurisdiction_status) == ("B镇", "已实现")
    assert j.failing_units == ("B镇", "C镇")
    assert (j.p, j.rho) == (area.p, area.rho)  # the jurisdiction's own figure stays beside it
    assert any("B镇" in w and "已实现" in w for w in j.warnings)


def test_per_unit_end_term_takes_the_weakest_units_status():
    area = town(95.0, stage="end")  # met on its own
    j = judge_per_unit(area, {"A镇": town(96.0, stage="end"), "B镇": town(93.0, stage="end")})
    # B镇: p = 0.8 < 0.9 → 未完成 (the area's p = 1.0 would have said 基本完成)
    assert (j.met, j.status, j.failing_units) == (False, "未完成", ("B镇",))


def test_per_unit_unit_without_data_counts_as_not_achieved():
    about = TargetSpec("about", 100.0, 2020)
    area = judge(
        baseline=(2015, 90.0), target=about, direction=1, stage="end", observed=(END, 98.0)
    )
    j = judge_per_unit(area, {"A镇": town(None, stage="end"), "B镇": town(96.0, stage="end")})
    assert (area.met, j.met, j.status, j.weakest_unit) == (True, False, "未完成", "A镇")


def test_per_unit_weakest_unit_moving_away():
    about = TargetSpec("about", 100.0, 2020)
    area = judge(
        baseline=(2015, 100.0), target=about, direction=1, stage="end", observed=(END, 99.0)
    )
    unit = judge(
        baseline=(2015, 100.0), target=about, direction=1, stage="end", observed=(END, 90.0)
    )
    assert (area.met, area.p) == (True, None)
    j = judge_per_unit(area, {"A镇": unit})
    assert (j.met, j.status, j.status_en) == (False, "倒退", "worse than baseline")
    assert any("A镇" in w for w in j.warnings)


def test_per_unit_area_not_met_takes_the_weakest_unit_not_its_own_pace():
    area = town(90.0)  # p = 0.5, ρ = 0.833 → 需加快 on its own
    j = judge_per_unit(area, {"A镇": town(96.0), "B镇": town(88.0)})
    # B镇: p = 0.3, ρ = 0.5 → 滞后
    assert (j.met, j.status, j.failing_units) == (False, "滞后", ("B镇",))
    assert j.jurisdiction_status == "需加快"


def test_per_unit_all_units_met_though_the_area_is_not():
    area = town(94.0)
    j = judge_per_unit(area, {"A镇": town(96.0), "B镇": town(95.0)})
    assert (j.met, j.status, j.jurisdiction_status) == (True, "已实现", "快于预期")


def test_per_unit_units_without_data_leave_the_areas_status():
    area = town(90.0)
    j = judge_per_unit(area, {"A镇": town(None), "B镇": town(None)})
    assert (j.met, j.status) == (area.met, area.status)
    assert any("均无评定结果" in w for w in j.warnings)


def test_per_unit_missing_unit_counts_as_failing():
    j = judge_per_unit(town(97.0), {"A镇": town(96.0), "B镇": town(None)})
    assert (j.met, j.failing_units) == (False, ("B镇",))


def test_per_unit_area_missing_uses_weakest_unit():
    j = judge_per_unit(town(None), {"A镇": town(96.0), "B镇": town(88.0), "C镇": town(None)})
    assert (j.met, j.status) == (False, "滞后")  # B镇: ρ = 0.5
    assert j.rho == pytest.approx(0.5)
    assert j.failing_units == ("B镇", "C镇")
    ok = judge_per_unit(town(None), {"A镇": town(96.0)})
    assert (ok.met, ok.status) == (True, "已实现")


def test_per_unit_everything_missing_stays_no_data():
    j = judge_per_unit(town(None), {"A镇": town(None), "B镇": town(None)})
    assert (j.met, j.status) == (None, "数据缺失")


def test_per_unit_needs_units_and_stage():
    with pytest.raises(ValueError, match="at least one unit"):
        judge_per_unit(town(97.0), {})
    bare = Judgement(True, 0.6, 1.2, 2.0, None, None, 95.0, "已实现", "met early")
    with pytest.raises(ValueError, match="stage"):
        judge_per_unit(
            bare,
            {"A镇": Judgement(None, None, None, None, None, None, None, "数据缺失", "no data")},
        )


# --- qualitative targets ------------------------------------------------------------------

QUAL = TargetSpec("qualitative", None, 2020)


@pytest.mark.parametrize(
    ("verdict", "stage", "met", "status"),
    [
        (None, "mid", None, "待人工评定"),
        (None, "end", None, "待人工评定"),
        (True, "mid", True, "已实现"),
        (True, "end", True, "已完成"),
        (False, "mid", False, "滞后"),
        (False, "end", False, "未完成"),
    ],
)
def test_qualitative(verdict, stage, met, status):
    j = judge(
        baseline=(2015, None), target=QUAL, direction=1, stage=stage, observed=None, verdict=verdict
    )
    assert (j.met, j.status, j.target_value) == (met, status, None)


# --- labels -------------------------------------------------------------------------------


def test_every_status_has_an_english_label_and_moving_away_follows_stage():
    assert set(STATUS_EN) == set(STATUSES)
    assert len(STATUSES) == 11
    assert jd(9.0, year=END, stage="end").status_en == "worse than baseline"
    assert jd(9.0).status_en == "moving away"


# --- input validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"comparator": "~", "value": 1.0, "year": 2020}, "unknown comparator"),
        ({"comparator": "split", "value": None, "year": 2020}, "needs strata"),
        ({"comparator": "split", "value": None, "year": 2020, "strata": {}}, "needs strata"),
        ({"comparator": "relative", "value": None, "year": 2020}, "needs delta"),
        ({"comparator": ">=", "value": None, "year": 2020}, "numeric target value"),
        ({"comparator": ">=", "value": float("nan"), "year": 2020}, "finite number"),
        ({"comparator": "qualitative", "value": 1.0, "year": 2020}, "takes no numeric"),
        ({"comparator": "about", "value": 1.0, "year": 2020, "tolerance": -0.1}, ">= 0"),
        ({"comparator": ">=", "value": 1.0, "year": 2020, "tolerance": 0.1}, "only applies"),
        ({"comparator": ">=", "value": 1.0, "year": 2020, "delta": 1.0}, "only applies"),
        ({"comparator": ">=", "value": 1.0, "year": "2020"}, "integer"),
        (
            {"comparator": ">=", "value": 1.0, "year": 2020, "strata": {"a": TARGET}},
            "only apply to comparator 'split'",
        ),
        (
            {"comparator": "split", "value": None, "year": 2020, "strata": {"a": QUAL}},
            "must be numeric",
        ),
        (
            {
                "comparator": "split",
                "value": None,
                "year": 2020,
                "strata": {"a": TargetSpec(">=", 1.0, 2025)},
            },
            "differs",
        ),
    ],
)
def test_target_spec_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TargetSpec(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": 0}, "direction"),
        ({"direction": 2}, "direction"),
        ({"direction": True}, "direction"),
        ({"stage": "final"}, "stage"),
        ({"baseline": (2020, 1.0)}, "after baseline year"),
        ({"baseline": (2019, 1.0), "year": 2018}, "before baseline year"),
        ({"baseline": (2015, "1.0")}, "must be a number"),
        ({"baseline": 2015}, r"\(year, value\) pair"),
        ({"verdict": True}, "qualitative"),
        ({"target": ">= 3"}, "TargetSpec"),
    ],
)
def test_judge_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        jd(50.0, **kwargs)


def test_split_observed_strata_need_an_observed_year():
    with pytest.raises(ValueError, match="observed year"):
        judge(
            baseline=(2015, None),
            target=SPLIT,
            direction=1,
            stage="mid",
            observed=None,
            observed_strata={"rural": 30.0},
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("qualitative", 1.0, 1.0, 1, 0.0), "numeric comparator"),
        (("split", 1.0, 1.0, 1, 0.0), "numeric comparator"),
        ((">=", 1.0, 1.0, -2, 0.0), "direction"),
        ((">=", None, 1.0, 1, 0.0), "observed"),
        ((">=", 1.0, float("nan"), 1, 0.0), "target"),
        (("about", 1.0, 1.0, 1, -0.5), "tolerance"),
    ],
)
def test_is_met_validation(args, message):
    with pytest.raises(ValueError, match=message):
        is_met(*args)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"about_tolerance": -0.01},
        {"on_schedule_rho": 0.5, "needs_speedup_rho": 0.6},
        {"on_schedule_rho": 1.2},
        {"nearly_done_p": 1.5},
        {"nearly_done_p": float("nan")},
    ],
)
def test_thresholds_validation(kwargs):
    with pytest.raises(ValueError, match="Thresholds"):
        Thresholds(**kwargs)


def test_judgements_of_one_stage_share_their_tau():
    first, second = jd(60.0), jd(90.0, baseline=(2015, 20.0))
    assert first.tau == 0.6 and first.tau is second.tau
    assert js({"rural": 36.0, "urban": 61.0}).tau is first.tau
    assert jd(60.0, year=2016).tau == 0.2 and jd(60.0, year=2015).tau == 0.0
