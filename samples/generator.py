"""Realistic, deterministic sample statistics 2015–2020 for both plans, written as received files.

``sample_truth`` builds the numbers (area-level observations for the lowest areas and their
parents, one row per facility per year for the resources report); ``write_sample`` writes them in
each source's own layout for each year (``plans/sources/*.yaml``, read through
``healthplan.layouts`` — no column name is spelled here); ``status_coverage`` runs the real
indicator and assessment code on the truth; ``generate_command`` is what
``healthplan sample generate`` calls.

How the numbers are made (order of solving, per plan):

1. population: resident population per area and year (the 2015 total fixed by the plans' own
   per-1000 figures: Longhu 731 doctors at 1.58 ‰ → 462,658; Guilin 19,630 beds at 3.97 ‰ →
   4,945,000), births (= MCH live births; the 2015 count searched so that every birth-based rate
   the plan states rounds to its printed digits), deaths, 65+, GDP, life expectancy, TFR;
2. counts whose denominators follow from 1 (MCH, public health, surveys, family planning, hospital
   quality, expenditure), each numerator from a designed root-level path of its indicator;
3. resources: a facility register (counts as the plans state them, Chinese names, churn of
   clinics), then per year the root totals of beds/staff/visits/flags from their indicator paths,
   split to facilities by type norms and size (integers, largest remainder, with caps such as
   GPs ≤ doctors), so facilities sum to their area and areas to the root.

Every indicator has a designed path: ``RP(ρ, p)`` = pace ρ at mid-term and share p of the required
change at end of term (values follow from the plan's own baseline and target), or explicit points.
The paths are spread so that every status of the method occurs in both plans at mid and end term
(``EXPECTED`` lists the status each indicator is designed to get; ``status_coverage`` computes
them with the real ``transforms.indicators`` / ``transforms.assessment`` code and
``sample_truth`` fails loudly when a required status is absent).

Where a plan contradicts itself the sample follows its indicator table; ``CONFLICTS`` lists the
figures that could not be reproduced and why.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import math
import os
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from healthplan.definitions import Area, Catalog, Plan
from healthplan.layouts import Layout, LayoutSet

# Byte-for-byte reproducible workbooks: openpyxl's own XML writer, also when lxml is installed
# (it writes other, equally valid, bytes). Set before openpyxl is first imported.
os.environ.setdefault("OPENPYXL_LXML", "False")

DEFAULT_SEED = 20161
DEFAULT_YEARS = range(2015, 2021)
PLANS = ("longhu", "guilin")
FIXED_TIME = datetime(2021, 3, 31, 9, 0, 0)

MID_STATUSES = {
    "已实现",
    "快于预期",
    "符合预期",
    "需加快",
    "滞后",
    "倒退",
    "数据缺失",
    "待人工评定",
}
END_STATUSES = {"已完成", "基本完成", "未完成", "倒退", "数据缺失", "待人工评定"}
REQUIRED = {"mid": MID_STATUSES, "end": END_STATUSES}

# Elements written per facility in the resources report (numbers, then 是/否 flags counted).
RESOURCE_NUMBERS = (
    "beds",
    "tcm_beds",
    "doctors",
    "tcm_doctors",
    "nurses",
    "gps",
    "public_health_staff",
    "health_tech_staff",
    "health_tech_bachelor",
    "visits",
    "admissions",
)
RESOURCE_FLAGS = ("facilities_tcm_service", "facilities_up_to_standard", "facilities_nedl_used")
BASIC = ("chc", "chs", "thc", "village", "clinic")  # 基层医疗卫生机构

# File encodings as bureaus send them (per source; XLSX has none).
ENCODINGS = {
    "population": "utf-8",
    "mch": "gbk",
    "public_health": "utf-8-sig",
    "surveys": "utf-8-sig",
    "patriotic_health": "gbk",
    "family_planning": "utf-8",
}


# ------------------------------------------------------------------------------------ the design


class RP(NamedTuple):
    """Designed pace: ρ at the mid-term year, p (share of the required change) at the target year."""

    rho: float
    p: float


BASE = "baseline"  # in a points path: the plan's stated baseline value
YEAR_NOISE = 0.35  # an area's year-to-year wobble around its persistent effect (share of sigma)

# Paths of every Longhu indicator (values in the indicator's unit; intermediate years linear).
LONGHU_DESIGN: dict[int, RP | dict[int, Any]] = {
    1: RP(1.25, 1.11),
    2: {2015: BASE, 2016: 1.2, 2017: 1.6, 2018: 1.9, 2019: 1.7, 2020: 1.5},
    # 3: maternal deaths explicit (0 in 2015 as the text says, one death in 2020)
    # 4: per-town explicit (LONGHU_VACC)
    5: {2015: BASE, 2018: 74.2, 2020: 78.5},
    6: {2015: BASE, 2018: 76.0, 2020: 79.3},
    7: {2015: BASE, 2018: 94.1, 2020: 95.3},
    8: {2015: BASE, 2018: 95.5, 2020: 96.8},
    9: {2015: BASE, 2018: 93.0, 2020: 95.0},
    10: {2015: BASE, 2018: 76.5, 2020: 78.0},
    11: RP(0.75, 0.60),
    12: RP(1.40, 1.10),
    13: RP(0.97, 0.93),
    14: RP(0.80, 0.70),
    16: RP(1.50, 1.28),
    17: RP(-0.20, 0.30),
    18: RP(0.98, 0.95),
    19: RP(0.40, 0.92),
    20: RP(0.30, 0.25),
    21: RP(0.975, 0.95),
    22: {2016: 93.5, 2019: 97.2},  # household survey in 2016 and 2019 only
    23: RP(-0.30, -0.10),
    24: {2015: 82.0, 2016: 86.0, 2017: 91.0, 2018: 96.0, 2019: 96.5, 2020: 97.1},
    25: {2015: 88.0, 2016: 91.0, 2017: 95.0, 2018: 98.6, 2019: 99.0, 2020: 99.4},
    # 26: towns explicit (one of the two towns becomes a 省卫生镇 in 2019)
    27: RP(1.10, 0.92),
    28: {2015: BASE, 2016: 45, 2017: 50, 2018: 55, 2019: 69, 2020: 74},  # national standards
    29: RP(0.70, 0.93),
    30: {2015: BASE, 2018: 47.1, 2020: 48.3},
}

GUILIN_DESIGN: dict[int, RP | dict[int, Any]] = {
    1: RP(0.97, 0.92),
    2: {2015: BASE, 2018: 3.9, 2020: 3.6},
    3: {2015: BASE, 2018: 5.5, 2020: 5.1},
    # 4: maternal deaths explicit
    5: {2015: BASE, 2016: 107.8, 2017: 107.6, 2018: 107.2, 2020: 106.5},
    6: {2015: BASE, 2016: 7.9, 2017: 8.6, 2018: 7.8, 2019: 6.9, 2020: 5.8},
    7: {2015: BASE, 2016: 1.80, 2017: 1.92, 2018: 1.85, 2019: 1.76, 2020: 1.68},
    8: {2015: 93.0, 2018: 95.6, 2020: 97.6},
    9: {2015: BASE, 2018: 93.5, 2020: 94.2},
    10: {2015: 78.0, 2018: 91.5, 2020: 95.0},
    11: {2016: 1.2, 2020: 0.8},  # serosurvey in 2016 and 2020 only
    # 12: per-county explicit (GUILIN_VACC)
    13: {
        "rural": {2015: 75.0, 2018: 77.5, 2020: 79.0},
        "urban": {2015: 78.0, 2018: 80.2, 2020: 82.0},
    },
    14: {2015: 55.0, 2018: 63.0, 2020: 67.0},
    # 15, 16: county flags explicit
    17: {2015: 6.8, 2018: 13.1, 2020: 19.5},
    18: {2015: 62.0, 2018: 68.4, 2020: 71.2},
    19: {2015: 70.0, 2018: 83.0, 2020: 91.0},
    20: {2015: BASE, 2018: 96.0, 2020: 92.0},
    21: {2015: BASE, 2018: 99.98, 2020: 99.99},
    22: {2015: BASE, 2018: 97.9, 2020: 98.2},
    23: {2015: 3.8, 2018: 3.1, 2020: 2.6},
    24: {2015: 9.8, 2018: 7.9, 2020: 6.4},
    25: {2015: BASE, 2018: 95.8, 2020: 96.3},
    26: {2015: BASE, 2016: 10.9, 2017: 11.4, 2018: 11.9, 2019: 11.3, 2020: 10.9},
    27: {2015: BASE, 2018: 97.5, 2020: 98.6},
    28: {2015: 10.2, 2018: 9.2, 2020: 8.7},
    29: {2015: 2.9, 2018: 2.4, 2020: 2.1},
    30: {2015: 3.1, 2018: 2.7, 2020: 2.3},
    31: {2015: 16.0, 2018: 12.4, 2020: 10.8},
    32: {2015: 97.4, 2018: 99.3, 2020: 100.0},
    33: RP(1.20, 1.10),
    34: {2015: BASE, 2016: 1.0, 2017: 0.98, 2018: 0.97, 2019: 1.0, 2020: 1.04},
    35: RP(0.96, 0.91),
    36: RP(0.75, 0.70),
    38: RP(0.70, 0.93),
    39: {2015: 99.6, 2018: 100.0, 2020: 100.0},
    40: {2015: 82.0, 2018: 86.0, 2020: 88.0},
    41: {2015: 90.2, 2018: 93.6, 2020: 96.1},
    42: {2015: 95.3, 2018: 96.4, 2020: 97.2},
    43: {2015: 6.1, 2018: 6.5, 2020: 7.05},
    44: {2015: 33.0, 2018: 30.1, 2020: 28.3},
    45: {2015: 38.2, 2018: 41.0, 2020: 43.0},
    47: {2015: BASE, 2016: 45, 2017: 50, 2018: 55, 2019: 69, 2020: 74},
    50: {2015: 100.0, 2020: 100.0},
    51: {2015: BASE, 2018: 94.3, 2020: 100.0},
    52: {2015: 100.0, 2020: 100.0},
    53: RP(-0.30, 0.50),
    54: RP(1.30, 1.10),
    55: RP(0.40, 0.45),
}

DESIGNS = {"longhu": LONGHU_DESIGN, "guilin": GUILIN_DESIGN}

# The status each indicator is designed to get at the root (mid-term 2018, end of term 2020).
EXPECTED: dict[str, dict[int, tuple[str, str]]] = {
    "longhu": {
        1: ("快于预期", "已完成"), 2: ("已实现", "已完成"), 3: ("已实现", "倒退"),
        4: ("倒退", "倒退"), **{n: ("待人工评定", "待人工评定") for n in range(5, 11)},
        11: ("需加快", "未完成"), 12: ("快于预期", "已完成"), 13: ("符合预期", "基本完成"),
        14: ("需加快", "未完成"), 15: ("需加快", "未完成"), 16: ("快于预期", "已完成"),
        17: ("倒退", "未完成"), 18: ("符合预期", "基本完成"), 19: ("滞后", "基本完成"),
        20: ("滞后", "未完成"), 21: ("符合预期", "基本完成"), 22: ("数据缺失", "数据缺失"),
        23: ("倒退", "倒退"), 24: ("已实现", "已完成"), 25: ("快于预期", "基本完成"),
        26: ("滞后", "已完成"), 27: ("快于预期", "基本完成"), 28: ("需加快", "未完成"),
        29: ("需加快", "基本完成"), 30: ("已实现", "已完成"),
    },
    "guilin": {
        1: ("符合预期", "基本完成"), 2: ("已实现", "已完成"), 3: ("已实现", "已完成"),
        4: ("倒退", "已完成"), 5: ("待人工评定", "待人工评定"), 6: ("已实现", "已完成"),
        7: ("需加快", "倒退"), 8: ("已实现", "基本完成"), 9: ("已实现", "已完成"),
        10: ("已实现", "已完成"), 11: ("数据缺失", "已完成"), 12: ("倒退", "倒退"),
        13: ("已实现", "已完成"), 14: ("已实现", "已完成"), 15: ("快于预期", "已完成"),
        16: ("已实现", "倒退"), 17: ("已实现", "已完成"), 18: ("快于预期", "已完成"),
        19: ("已实现", "已完成"), 20: ("已实现", "已完成"), 21: ("已实现", "已完成"),
        22: ("已实现", "已完成"), 23: ("已实现", "已完成"), 24: ("已实现", "已完成"),
        25: ("已实现", "已完成"), 26: ("倒退", "已完成"), 27: ("已实现", "已完成"),
        28: ("需加快", "未完成"), 29: ("已实现", "已完成"), 30: ("符合预期", "已完成"),
        31: ("符合预期", "未完成"), 32: ("快于预期", "已完成"), 33: ("快于预期", "已完成"),
        34: ("倒退", "已完成"), 35: ("符合预期", "基本完成"), 36: ("需加快", "未完成"),
        37: ("需加快", "未完成"), 38: ("需加快", "基本完成"), 39: ("已实现", "已完成"),
        40: ("已实现", "已完成"), 41: ("快于预期", "已完成"), 42: ("已实现", "已完成"),
        43: ("需加快", "已完成"), 44: ("符合预期", "已完成"), 45: ("需加快", "未完成"),
        46: ("滞后", "倒退"), 47: ("需加快", "未完成"), 48: ("数据缺失", "数据缺失"),
        49: ("数据缺失", "数据缺失"), 50: ("已实现", "已完成"), 51: ("快于预期", "已完成"),
        52: ("已实现", "已完成"), 53: ("倒退", "未完成"), 54: ("快于预期", "已完成"),
        55: ("滞后", "未完成"),
    },
}  # fmt: skip

# Longhu #4 (以镇（街道）为单位 > 95): vaccination coverage per town/street. 2015: every unit just
# above 95 (the table's '＞95'); 2018: 鸥汀街道 falls below; 2020: 新溪镇 does.
LONGHU_VACC = {
    2015: {"440507001": 95.6, "440507002": 95.5, "440507003": 95.3, "440507004": 95.4,
           "440507005": 95.2, "440507100": 95.3, "440507101": 95.4},
    2016: {"*": 96.0},
    2017: {"*": 96.5},
    2018: {"*": 97.2, "440507005": 94.6},
    2019: {"*": 97.3},
    2020: {"*": 97.7, "440507101": 94.8},
}  # fmt: skip
# Guilin #12 (以乡（镇、街道）为单位 ≥ 90, judged per county): 2018 龙胜 below, 2020 资源 below.
GUILIN_VACC = {
    2015: {"*": 95.3},
    2016: {"*": 95.8},
    2017: {"*": 96.0},
    2018: {"*": 96.6, "450328": 89.2},
    2019: {"*": 96.0},
    2020: {"*": 94.9, "450329": 88.6},
}
# Guilin #15/#16: counties running occupational-disease surveillance / iodised-salt monitoring.
GUILIN_OCC_COUNT = {2015: 10, 2016: 11, 2017: 12, 2018: 14, 2019: 16, 2020: 17}
GUILIN_SALT_OFF = {2020: ["450332"]}  # 恭城 did not monitor in 2020

# The planted reported-rate inconsistency: 全州县's 2017 infant mortality rate as printed.
PLANTED_REPORTED = {"plan": "guilin", "area": "450324", "year": 2017, "element": "imr_reported",
                    "delta": 0.52}  # fmt: skip

# Stated figures the sample cannot or does not reproduce, and how each was resolved.
CONFLICTS: list[dict[str, str]] = [
    {"plan": "longhu", "what": "孕产妇死亡率 2015",
     "stated": "表 1.26/10万；正文 0", "sample": "0（0 例）",
     "why": "7,561 live births give 0 or ≥13.2/10万; 1.26 needs ~79,000 births. The text's 0 is used; "
            "the data-quality annex shows the table/warehouse difference."},
    {"plan": "longhu", "what": "注册护士 2015", "stated": "正文 719 人", "sample": "652 人",
     "why": "table 1.41 per 1000 and 1:0.89 to 731 doctors"},
    {"plan": "longhu", "what": "床位 2015", "stated": "正文 787 张（医院 678，基层 109；公立 67.7%）",
     "sample": "1,206 张（公立医院 958，社会办 139，基层 109）",
     "why": "table: public-hospital beds 2.07 and private beds 0.30 per 1000; 基层 109 kept"},
    {"plan": "longhu", "what": "每千人口医师/护士/床位 '目前' 1.47/1.1/1.54，全科 1.43/万",
     "stated": "正文", "sample": "1.58 / 1.41 / 2.61，全科 0.09/千",
     "why": "table baselines of 13, 14, 16 (1.54 beds < 2.07 public-hospital beds alone)"},
    {"plan": "longhu", "what": "婴儿死亡率 2015", "stated": "正文 1.01‰", "sample": "0.93‰（7 例）",
     "why": "table 0.9‰"},
    {"plan": "longhu", "what": "5岁以下儿童死亡率 2015", "stated": "正文 1.01‰",
     "sample": "1.06‰（8 例）", "why": "no integer death count gives 1.01‰ with 7,561 births"},
    {"plan": "longhu", "what": "系统管理率 2015（0-6岁儿童 95.74%，孕产妇 97.77%）",
     "stated": "正文", "sample": "92.38% / 93.06%",
     "why": "table; the text's counts 56,334 children and 7,036 women are kept as numerators"},
    {"plan": "longhu", "what": "高血压/糖尿病规范管理率 2015", "stated": "正文 92.03% / 77.58%",
     "sample": "68.93% / 73.21%", "why": "table"},
    {"plan": "longhu", "what": "诊疗人次构成 2015", "stated": "正文 医院 802,270（63.59%；公立 632,383），基层 459,273",
     "sample": "医院 524,676；基层 736,867（58.41%，其中卫生院和社区卫生服务中心 459,273）",
     "why": "table 58.41% for 基层 (which includes clinics and village stations); total 1,261,543, "
            "private hospitals 169,887 and the 459,273 of the centres are kept"},
    {"plan": "longhu", "what": "卫生技术人员 2015", "stated": "正文 1,773 人", "sample": "1,775 人",
     "why": "no integer count of bachelors out of 1,773 rounds to 32.23%"},
    {"plan": "longhu", "what": "门诊部、诊所、卫生所（室）2015", "stated": "正文 130 个",
     "sample": "235 个诊所类机构（130 个门诊部/诊所 + 105 个医务室）",
     "why": "82.62% of primary facilities needs a total of 282 (k/N rounds to 82.62 for no smaller N); "
            "with 3 CHCs, 2 THCs, 10 stations and 32 village stations (74.5% of 47 built to standard)"},
    {"plan": "longhu", "what": "居民平均就诊 2.3 次", "stated": "正文",
     "sample": "2.73 次", "why": "1,261,543 visits over the 462,658 residents the table implies"},
    {"plan": "guilin", "what": "中医床位 2015", "stated": "正文 2,405 张", "sample": "2,275 张",
     "why": "4.6 per 10,000 of the 4,945,000 residents behind 3.97 beds per 1000"},
    {"plan": "guilin", "what": "中医执业（助理）医师 2015", "stated": "正文 1,461 人（2.8/万）",
     "sample": "1,385 人", "why": "2.8 per 10,000 residents (see 54)"},
    {"plan": "guilin", "what": "全科医生 2015", "stated": "正文 1,500 人", "sample": "173 人",
     "why": "the text's own rate 0.35 per 10,000 (indicator 38's baseline)"},
    {"plan": "guilin", "what": "重点慢性病知晓率 2015（农村 75%，城镇 78%）", "stated": "正文",
     "sample": "75% / 78%（reproduced）",
     "why": "kept although far above the 2020 targets 35/60, so the split target stays met"},
]  # fmt: skip


# Stated baselines the sample does not reproduce on purpose (see CONFLICTS).
BASELINE_EXCEPTIONS = {
    (
        "longhu",
        3,
    ): "1.26/10万 needs ~79,000 births for one death; the sample has 0 deaths (the text's 0)",
}


# ------------------------------------------------------------------------------------ results


@dataclass
class Truth:
    """The generated numbers: area observations and facility rows, per plan."""

    seed: int
    scale: float
    years: tuple[int, ...]
    towns_per_county: int
    areas: dict[str, list[Area]]
    observations: pd.DataFrame  # plan, area_code, year, element, stratum, value
    facilities: pd.DataFrame  # plan, year, key, org_code, uscc, name, area_code, ownership, type, …
    planted: list[dict] = field(default_factory=list)

    def area_observations(self, plan: str) -> pd.DataFrame:
        obs = self.observations[self.observations["plan"] == plan]
        return obs.drop(columns="plan").reset_index(drop=True)

    def facility_rows(self, plan: str, year: int | None = None) -> pd.DataFrame:
        f = self.facilities[self.facilities["plan"] == plan]
        if year is not None:
            f = f[f["year"] == year]
        return f.reset_index(drop=True)

    def facility_rollup(self, plan: str) -> pd.DataFrame:
        """Facility rows summed as the parser sums them: (area, year, '<ownership>:<type>')."""
        f = self.facility_rows(plan)
        if f.empty:
            return pd.DataFrame(columns=["area_code", "year", "element", "stratum", "value"])
        f = f.assign(stratum=f["ownership"] + ":" + f["type"], facilities=1)
        cols = ["facilities", *RESOURCE_NUMBERS, *RESOURCE_FLAGS]
        g = f.groupby(["area_code", "year", "stratum"])[cols].sum().reset_index()
        long = g.melt(
            id_vars=["area_code", "year", "stratum"], var_name="element", value_name="value"
        )
        long["value"] = long["value"].astype("float64")
        return long[["area_code", "year", "element", "stratum", "value"]]

    def observations_for(self, plan: str) -> pd.DataFrame:
        """Everything the warehouse would hold for a plan: area observations + facility roll-up."""
        out = pd.concat(
            [self.area_observations(plan), self.facility_rollup(plan)], ignore_index=True
        )
        out["year"] = out["year"].astype("int64")
        return out.sort_values(["area_code", "year", "element", "stratum"], ignore_index=True)

    def digest(self) -> str:
        h = hashlib.sha256()
        for frame in (self.observations, self.facilities):
            h.update(frame.to_csv(index=False, float_format="%.6f").encode())
        return h.hexdigest()


# ------------------------------------------------------------------------------------ helpers


def interp(points: Mapping[int, float], years: Iterable[int]) -> dict[int, float]:
    """Linear between the given years, linear extrapolation outside (from the nearest two)."""
    ks = sorted(points)
    out = {}
    for y in years:
        if y in points:
            out[y] = float(points[y])
            continue
        if len(ks) == 1:
            out[y] = float(points[ks[0]])
            continue
        if y < ks[0]:
            a, b = ks[0], ks[1]
        elif y > ks[-1]:
            a, b = ks[-2], ks[-1]
        else:
            a = max(k for k in ks if k < y)
            b = min(k for k in ks if k > y)
        out[y] = points[a] + (points[b] - points[a]) * (y - a) / (b - a)
    return out


def split_int(
    total: int,
    weights: np.ndarray,
    caps: np.ndarray | None = None,
    mins: np.ndarray | None = None,
) -> np.ndarray:
    """Integers summing to ``total``, proportional to ``weights``, within [mins, caps] (largest
    remainder). Raises when the bounds make it impossible."""
    w = np.asarray(weights, dtype="float64").clip(min=0)
    n = len(w)
    total = int(total)
    lo = np.zeros(n, dtype="int64") if mins is None else np.asarray(mins, dtype="int64").copy()
    hi = None if caps is None else np.asarray(caps, dtype="int64")
    if hi is not None:
        lo = np.minimum(lo, hi)
    if n == 0:
        if total:
            raise ValueError(f"cannot split {total} over nothing")
        return lo
    rest = total - int(lo.sum())
    room = None if hi is None else (hi - lo).astype("float64")
    if rest < 0 or (room is not None and rest > room.sum() + 1e-9):
        raise ValueError(f"cannot split {total} within the bounds")
    x = np.zeros(n)
    free = w > 0 if (w > 0).any() else np.ones(n, dtype=bool)
    if room is not None:
        free &= room > 0
        if not free.any():
            free = room > 0
    remaining = float(rest)
    for _ in range(n + 1):  # water-filling against the caps
        ww = np.where(free, w if (w[free] > 0).any() else 1.0, 0.0)
        if ww.sum() <= 0:
            break
        share = remaining * ww / ww.sum()
        if room is None:
            x += share
            break
        over = free & (x + share > room)
        if not over.any():
            x += share
            break
        remaining -= float((room[over] - x[over]).sum())
        x[over] = room[over]
        free &= ~over
    base = np.floor(x + 1e-9).astype("int64")
    short = rest - int(base.sum())
    if short:
        frac = x - base
        if room is not None:
            frac = np.where(base < room, frac, -1.0)
        order = np.argsort(-frac, kind="stable")
        base[order[:short]] += 1
    return lo + base


def find_count(
    nominal: int, constraints: Sequence[tuple[float, float, float]], span: int = 400
) -> int:
    """The denominator nearest ``nominal`` for which every (rate, factor, tolerance) is reachable
    with an integer numerator: |round(rate·D/factor)·factor/D − rate| ≤ tolerance."""
    for step in range(span + 1):
        for d in (nominal + step, nominal - step) if step else (nominal,):
            if d > 0 and all(abs(round(r * d / f) * f / d - r) <= tol for r, f, tol in constraints):
                return d
    raise ValueError(f"no denominator within {span} of {nominal} satisfies {constraints}")


_NUMBER = re.compile(r"\d+(?:\.(\d+))?")


def printed_tolerance(value: float, text: str | None = None) -> float:
    """Half a unit of the stated figure's last digit: '18.93/10万' → 0.005, '95%以上' → 0.5,
    '1:0.89' → 0.005 (the printed number equal to the value, else the last one printed)."""
    numbers = list(_NUMBER.finditer(text or ""))
    m = next((m for m in numbers if abs(float(m.group(0)) - value) < 1e-9), None)
    m = m or (numbers[-1] if numbers else None)
    digits = (m.group(1) or "") if m else repr(float(value)).split(".")[1].rstrip("0")
    return 0.5 * 10 ** -len(digits) + 1e-9


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def plan_path(plan: Plan, number: int, years: Sequence[int]) -> dict[int, float]:
    """The designed value of an indicator per year, from its RP pace or explicit points."""
    spec = DESIGNS[plan.id][number]
    ind = plan.indicator(number)
    x0 = ind.baseline.value if ind.baseline else None
    if isinstance(spec, RP):
        assert x0 is not None, f"{plan.id} #{number}: a pace needs a baseline"
        t = ind.target
        xt = x0 + t.delta if t.comparator == "relative" else t.value
        gap = abs(xt - x0)
        tau = (plan.mid_term_year - plan.baseline_year) / (plan.target_year - plan.baseline_year)
        pts = {
            plan.baseline_year: x0,
            plan.mid_term_year: x0 + ind.sign * spec.rho * tau * gap,
            plan.target_year: x0 + ind.sign * spec.p * gap,
        }
    else:
        pts = {y: (x0 if v == BASE else v) for y, v in spec.items()}
    return interp(pts, years)


# ------------------------------------------------------------------------------------ names

SURNAMES_GD = list("陈林黄李张王吴刘蔡郑许杨谢周洪郭曾庄苏方马翁姚詹余沈纪柯佘蚁")
SURNAMES_GX = list("黄李莫韦覃蒋唐秦周陈廖文毛邓潘谢刘王阳石龙罗全蒙梁赵欧")
GIVEN = list("少华志明建国伟强秀英丽娟俊杰锦辉泽鸿文武德汉荣光宏亮永新思远海涛家炳")
CLINIC_KINDS = ["诊所", "诊所", "诊所", "中医诊所", "口腔诊所", "西医内科诊所", "中西医结合诊所"]
CLINIC_WORDS = ["康泰", "仁爱", "惠民", "健民", "同济", "博爱", "德馨", "仁和", "济生", "安康", "永康",
                "长寿", "杏林", "百草", "华康", "益寿", "民生", "福康", "春晖", "正和"]  # fmt: skip
INFIRMARY_ORGS = ["第{n}中学", "第{n}小学", "实验学校", "职业技术学校", "电力公司", "自来水公司",
                  "纺织厂", "食品有限公司", "玩具实业有限公司", "印刷厂", "塑料制品厂",
                  "海关", "消防大队", "看守所", "幼儿园", "敬老院", "工业园区管委会",
                  "供电局", "港务公司", "粮食储备库"]  # fmt: skip
VILLAGE_A = list("上下东西南北新大小前后中高长石黄白青龙凤马")
VILLAGE_B = ["塘", "岭", "坪", "屯", "寨", "洞", "源", "江", "口", "湾", "田", "头", "埠", "坑",
             "美", "厝", "围", "尾", "洲", "陂"]  # fmt: skip
GUILIN_TOWNS = (  # noqa: SIM905 - a word list reads best as one string
    "大圩 潮田 海洋 九屋 定江 三街 兰田 灵田 公平 青狮潭 高尚 白沙 福利 兴坪 葡萄 金宝 普益 杨堤 "
    "高田 会仙 两江 五通 四塘 南边山 茶洞 宛田 中庸 黄沙 全州 黄沙河 庙头 文桥 大西江 龙水 凤凰 "
    "才湾 绍水 咸水 安和 两河 枧塘 永岁 蕉江 东山 湘漓 界首 严关 溶江 崔家 华江 兴安 漠川 白石 "
    "永福 罗锦 百寿 苏桥 堡里 广福 龙江 三皇 灌阳 新街 文市 黄关 新圩 观音阁 水车 洞井 西山 "
    "龙胜 瓢里 三门 龙脊 平等 乐江 泗水 江底 马堤 伟江 资源 中峰 梅溪 瓜里 车田 两水 河口 平乐 "
    "二塘 沙子 同安 张家 源头 阳安 青龙 桥亭 大发 荔城 东昌 新坪 杜莫 青山 修仁 大塘 花篢 双江 "
    "马岭 蒲芦 茶城 恭城 栗木 莲花 嘉会 西岭 平安 三江 观音 龙虎 临桂 六塘 茶洞 黄沙 宛田 南边 "
    "庙岭 古竹 白竹 长岗 塘堡 石门 上塘 大境 高寨 新寨 洛清 永安 城厢 草坪 竹园 冲口 古定 桥头 "
    "大坪 山角 东岭 凤岭 白岩 长海"
).split()


@dataclass
class Namer:
    rng: np.random.Generator
    used: set[str] = field(default_factory=set)

    def unique(self, make) -> str:
        for _ in range(50):
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name
        k = 2
        while f"{name}（{k}）" in self.used:  # only when scaled far beyond the real counts
            k += 1
        self.used.add(f"{name}（{k}）")
        return f"{name}（{k}）"

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def person(self, surnames) -> str:
        return (
            self.pick(surnames)
            + self.pick(GIVEN)
            + (self.pick(GIVEN) if self.rng.random() < 0.7 else "")
        )

    def village(self) -> str:
        return self.pick(VILLAGE_A) + self.pick(VILLAGE_B)


def _org_code(rng: np.random.Generator) -> str:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "".join(chars[int(i)] for i in rng.integers(0, 10, 8))
    return body + chars[int(rng.integers(len(chars)))]


def _uscc(prefix: str, area6: str, org: str) -> str:
    check = "0123456789ABCDEFGHJKLMNPQRTUWXY"[sum(map(ord, prefix + area6 + org)) % 31]
    return prefix + area6 + org + check


# ------------------------------------------------------------------------------------ the builder


class Builder:
    """Numbers of one plan: arrays (years × lowest areas) per (element, stratum), then facilities."""

    def __init__(
        self, catalog: Catalog, plan_id: str, seed: int, scale: float, years: Sequence[int]
    ):
        self.catalog = catalog
        self.plan = catalog.plan(plan_id)
        self.areas = list(catalog.areas(plan_id))
        self.years = list(years)
        self.ny = len(self.years)
        self.yi = {y: i for i, y in enumerate(self.years)}
        parents = {a.parent for a in self.areas if a.parent}
        self.low = [a.code for a in self.areas if a.code not in parents]
        self.na = len(self.low)
        self.li = {c: i for i, c in enumerate(self.low)}
        self.parent = {a.code: a.parent for a in self.areas}
        self.names = {a.code: a.name_zh for a in self.areas}
        digest = hashlib.sha256(f"{seed}:{plan_id}".encode()).digest()
        self.rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        self.scale = scale
        self.data: dict[tuple[str, str], np.ndarray] = {}
        self.root: dict[tuple[str, str], dict[int, float]] = {}  # measures reported for the root
        self.no_parent: set[str] = set()
        self.decimals: dict[str, int] = {}
        self.facilities: list[dict] = []  # the register, filled by the plan's *_register
        self._orgs: set[str] = set()  # organisation codes drawn so far: never twice
        self.resource_frame: pd.DataFrame | None = None  # one row per facility and year
        self.planted: list[dict] = []

    # ---------------------------------------------------------------- small tools

    def path(self, number: int) -> np.ndarray:
        """An indicator's designed root value per year (designed years exact, the others wobble)."""
        spec = DESIGNS[self.plan.id][number]
        p = plan_path(self.plan, number, self.years)
        if isinstance(spec, RP):
            knots = {self.plan.baseline_year, self.plan.mid_term_year, self.plan.target_year}
        else:
            knots = set(spec)
        return self._wobble(np.array([p[y] for y in self.years]), knots)

    def points(self, pts: Mapping[int, float]) -> np.ndarray:
        p = interp(pts, self.years)
        return self._wobble(np.array([p[y] for y in self.years]), set(pts))

    def _wobble(self, values: np.ndarray, knots: set[int]) -> np.ndarray:
        """Years between the designed ones are not on a ruler: a little noise, within the range
        of the designed values (so a share stays at or below 100 %)."""
        free = np.array([y not in knots for y in self.years])
        noise = self.rng.normal(0, 1, self.ny)  # drawn always, so the stream does not depend on it
        if not free.any() or self.ny < 3:
            return values
        step = np.nanmean(np.abs(np.diff(values))) if np.isfinite(values).sum() > 1 else 0.0
        fixed = values[~free & np.isfinite(values)]
        out = values + np.where(free, noise * 0.3 * step, 0.0)
        if fixed.size:
            out = np.where(free, np.clip(out, fixed.min() - step, fixed.max() + step), out)
            if fixed.max() <= 100 < out.max():
                out = np.minimum(out, 100.0)
            out = np.maximum(out, 0.0)
        return out

    def effect(self, sigma: float) -> np.ndarray:
        """A persistent area effect (one per lowest area), centred."""
        e = self.rng.normal(0, sigma, self.na)
        return e - e.mean()

    def put(self, element: str, values: np.ndarray, stratum: str = "", decimals: int = 0) -> None:
        self.data[(element, stratum)] = np.asarray(values, dtype="float64")
        self.decimals[element] = decimals

    def get(self, element: str, stratum: str = "") -> np.ndarray:
        return self.data[(element, stratum)]

    def fitted(self, totals: np.ndarray, fit: Sequence[int]) -> np.ndarray:
        """The base-year total moved to the nearest count for which the stated base-year rate of
        every indicator in `fit` (this count its denominator) can round to its printed digits."""
        i = self.yi.get(self.plan.baseline_year)
        if not fit or i is None or np.isnan(totals[i]):
            return totals
        cons = []
        for number in fit:
            ind = self.plan.indicator(number)
            assert ind.formula is not None and ind.baseline is not None
            cons.append(
                (
                    ind.baseline.value,
                    ind.formula.factor,
                    printed_tolerance(ind.baseline.value, ind.baseline.text),
                )
            )
        out = np.array(totals, dtype="float64")
        out[i] = find_count(int(round(out[i])), cons)
        return out

    def alloc(
        self,
        totals: np.ndarray,
        weights: np.ndarray,
        caps: np.ndarray | None = None,
        fit: Sequence[int] = (),
    ) -> np.ndarray:
        """Integer totals per year split over the areas by weights (years × areas)."""
        totals = self.fitted(totals, fit)
        out = np.zeros((self.ny, self.na))
        for i in range(self.ny):
            if np.isnan(totals[i]):
                out[i] = np.nan
                continue
            w = weights[i] if weights.ndim == 2 else weights
            c = None if caps is None else caps[i]
            out[i] = split_int(int(round(totals[i])), w, c)
        return out

    def counts_like(
        self,
        per: np.ndarray,
        base: np.ndarray,
        sigma: float,
        factor: float = 1.0,
        fit: Sequence[int] = (),
    ):
        """A count with a root rate `per` (per `factor` of base), spread with area effects."""
        totals = np.round(per * np.nansum(base, axis=1) / factor)
        noise = self.rng.normal(0, sigma * YEAR_NOISE, (self.ny, self.na))
        w = base * np.exp(self.effect(sigma)[None, :] + noise)
        return self.alloc(totals, w, fit=fit)

    def rate_numerator(
        self,
        den: np.ndarray,
        rate: np.ndarray,
        factor: float,
        sigma: float = 0.15,
        cap: bool = True,
        rare: bool = False,
    ) -> np.ndarray:
        """Numerator per area so that the root ratio follows `rate` (in units of `factor`)."""
        eff = self.effect(sigma)
        out = np.full((self.ny, self.na), np.nan)
        for i in range(self.ny):
            if np.isnan(rate[i]) or np.isnan(den[i]).all():
                continue
            d = np.nan_to_num(den[i]).astype("int64")
            total = int(round(rate[i] * d.sum() / factor))
            if rare:
                w = d * np.exp(eff)
                out[i] = self.rng.multinomial(total, w / w.sum()) if total else 0
                continue
            share = rate[i] / factor
            # proportions vary on the logit scale (never above 100 %), other ratios multiplicatively
            e = eff + self.rng.normal(0, sigma * YEAR_NOISE, self.na)  # area effect + this year's
            p = _expit(_logit(share) + e) if cap and 0 < share < 1 else share * np.exp(e)
            out[i] = split_int(total, d * p, d if cap else None)
        return out

    # ---------------------------------------------------------------- observations out

    def frame(self) -> pd.DataFrame:
        kinds = {c: e.kind for c, e in self.catalog.elements.items()}
        rows = []
        for (element, stratum), arr in self.data.items():
            dec = self.decimals.get(element, 0)
            additive = kinds[element] in ("count", "amount") and element not in self.no_parent
            for i, y in enumerate(self.years):
                vals = arr[i]
                for j, code in enumerate(self.low):
                    if not np.isnan(vals[j]):
                        rows.append((code, y, element, stratum, round(float(vals[j]), dec)))
                if additive and not np.isnan(vals).all():
                    sums: dict[str, float] = {}
                    for j, code in enumerate(self.low):
                        if np.isnan(vals[j]):
                            continue
                        v = round(float(vals[j]), dec)
                        cur = self.parent.get(code)
                        while cur:
                            sums[cur] = sums.get(cur, 0.0) + v
                            cur = self.parent.get(cur)
                    rows.extend((c, y, element, stratum, round(v, dec)) for c, v in sums.items())
        for (element, stratum), by_year in self.root.items():
            dec = self.decimals.get(element, 2)
            rows.extend(
                (self.plan.jurisdiction, y, element, stratum, round(v, dec))
                for y, v in by_year.items()
                if y in self.yi
            )
        return pd.DataFrame(rows, columns=["area_code", "year", "element", "stratum", "value"])

    # ---------------------------------------------------------------- shared blocks

    def population(self, total2015: int, growth: float, shares: Mapping[str, float], drift: float):
        t = np.array([y - self.plan.baseline_year for y in self.years], dtype="float64")
        totals = np.round(total2015 * (1 + growth) ** t)
        base = np.array([shares[c] for c in self.low], dtype="float64")
        g = self.rng.normal(0, drift, self.na)
        w = base[None, :] * (1 + g[None, :]) ** t[:, None]
        pop = self.alloc(totals, w)
        self.put("pop_resident", pop)
        return pop

    def measure(
        self, element: str, root: np.ndarray, weight: np.ndarray, sigma: float, decimals: int
    ):
        """A reported measure (life expectancy, TFR): areas around the root value, the weighted
        mean equal to it; the root row states the value itself."""
        off = self.effect(sigma)
        vals = np.zeros((self.ny, self.na))
        for i in range(self.ny):
            w = weight[i] / weight[i].sum()
            o = off + self.rng.normal(0, sigma / 8, self.na)
            o -= (o * w).sum()
            vals[i] = np.round(root[i] + o, decimals)
        self.put(element, vals, decimals=decimals)
        self.no_parent.add(element)
        self.root[(element, "")] = {
            y: round(float(root[i]), decimals) for i, y in enumerate(self.years)
        }

    def scatter(
        self, counts: Mapping[int, int], weights: np.ndarray, sigma: float = 0.25
    ) -> np.ndarray:
        """Rare events: an explicit root count per year, scattered over the areas at random."""
        eff = self.effect(sigma)
        out = np.zeros((self.ny, self.na))
        for i, y in enumerate(self.years):
            total = int(counts.get(y, 0))
            w = weights[i] * np.exp(eff)
            out[i] = self.rng.multinomial(total, w / w.sum()) if total else 0
        return out

    def amounts(self, totals: np.ndarray, weights: np.ndarray, decimals: int = 2) -> np.ndarray:
        """Money per area (years × areas) summing exactly to the rounded root totals."""
        out = np.zeros((self.ny, self.na))
        for i in range(self.ny):
            w = weights[i] / weights[i].sum()
            x = np.round(round(float(totals[i]), decimals) * w, decimals)
            k = int(np.argmax(x))
            x[k] = round(round(float(totals[i]), decimals) - (x.sum() - x[k]), decimals)
            out[i] = x
        return out

    def expenditure(self, the_total: np.ndarray, shares: dict[str, np.ndarray], bphs: np.ndarray):
        """Parts of total health expenditure per area (万元, 2 decimals), matching root shares."""
        total = np.round(the_total, 2)
        self.put("the_total", total, decimals=2)
        names = list(shares)
        effs = {k: self.effect(0.08) for k in names}
        parts = {k: np.zeros((self.ny, self.na)) for k in names}
        for i in range(self.ny):
            t = total[i]
            target = np.array([shares[k][i] / 100 * t.sum() for k in names])
            m = np.array(
                [[shares[k][i] / 100 * np.exp(effs[k][j]) for k in names] for j in range(self.na)]
            )
            for _ in range(200):  # iterative proportional fitting: rows = area totals, cols = parts
                m *= (t / m.sum(axis=1))[:, None]
                m *= (target / m.sum(axis=0))[None, :]
            m *= (t / m.sum(axis=1))[:, None]
            r = np.round(m, 2)
            r[:, -1] = np.round(t - r[:, :-1].sum(axis=1), 2)
            for k_i, k in enumerate(names):
                parts[k][i] = r[:, k_i]
        for k in names:
            self.put(k, parts[k], decimals=2)
        self.put("bphs_funding_per_capita", np.repeat(bphs[:, None], self.na, axis=1))
        self.no_parent.add("bphs_funding_per_capita")
        self.root[("bphs_funding_per_capita", "")] = {
            y: float(bphs[i]) for i, y in enumerate(self.years)
        }

    def reported_rates(self, planted: Mapping | None = None):
        """The MCH report's printed rates beside their counts (root rows from the sums)."""
        b = self.get("live_births")
        for code, num, factor in (
            ("imr_reported", "infant_deaths", 1000),
            ("u5mr_reported", "under5_deaths", 1000),
            ("mmr_reported", "maternal_deaths", 100000),
        ):
            n = self.get(num)
            vals = np.round(factor * n / np.where(b > 0, b, np.nan), 2)
            if planted and planted["element"] == code and planted["plan"] == self.plan.id:
                i, j = self.yi.get(planted["year"]), self.li.get(planted["area"])
                if i is not None and j is not None:
                    vals[i, j] = round(vals[i, j] + planted["delta"], 2)
                    self.planted.append(dict(planted, reported=float(vals[i, j])))
            self.put(code, vals, decimals=2)
            self.no_parent.add(code)
            self.root[(code, "")] = {
                y: round(factor * n[i].sum() / b[i].sum(), 2) for i, y in enumerate(self.years)
            }

    def vaccination(self, design: Mapping[int, Mapping[str, float]], eligible: np.ndarray):
        done = np.zeros((self.ny, self.na))
        for i, y in enumerate(self.years):
            spec = design.get(y) or design[min(design, key=lambda k: abs(k - y))]
            for j, code in enumerate(self.low):
                r = spec.get(code, spec.get("*"))
                jitter = 0.0 if code in spec else float(self.rng.uniform(-0.25, 0.25))
                done[i, j] = min(eligible[i, j], round((r + jitter) * eligible[i, j] / 100))
        self.put("vacc_done", done)

    # ---------------------------------------------------------------- facilities

    def add_facility(self, **f) -> None:
        f.setdefault("close", None)
        f.setdefault("open", min(self.years))
        if f["open"] <= self.plan.baseline_year:  # there in the base year: there all along
            f["open"] = min(f["open"], min(self.years))
        f.setdefault("size", 1.0)
        f.setdefault("role", "")
        f["prio"] = float(self.rng.random())
        f["key"] = f"{self.plan.id}-{len(self.facilities):05d}"
        org = _org_code(self.rng)
        while org in self._orgs:  # a facility's code is its identity in every file
            org = _org_code(self.rng)
        self._orgs.add(org)
        prefix = {"public": "12", "private": "52" if f["type"] != "clinic" else "92"}[
            f["ownership"]
        ]
        f["org_code"] = f"{org[:8]}-{org[8]}"
        f["uscc"] = _uscc(prefix, f["area_code"][:6], org)
        self.facilities.append(f)

    def scaled(self, n: int) -> int:
        return n if self.scale == 1 else max(1 if n else 0, int(round(n * self.scale)))


# ------------------------------------------------------------------------------------ resources


class Resources:
    """Per-year facility values from root totals: allocation by type norms, size and caps."""

    def __init__(self, b: Builder):
        self.b = b
        self.reg = pd.DataFrame(b.facilities)
        self.rows: list[pd.DataFrame] = []

    def active(self, year: int) -> pd.DataFrame:
        r = self.reg
        ok = (r["open"] <= year) & (r["close"].isna() | (r["close"] > year))
        return r[ok].reset_index(drop=True)

    @staticmethod
    def weights(act: pd.DataFrame, norms: Mapping[str, float], year: int) -> np.ndarray:
        keys = act["role"].where(
            act["role"].isin(list(norms)), act["ownership"] + ":" + act["type"]
        )
        keys = keys.where(keys.isin(list(norms)), act["type"])
        n = keys.map(lambda k: norms.get(k, 0.0)).to_numpy(dtype="float64")
        growth = (1 + act["growth"].to_numpy(dtype="float64")) ** (
            year - act["open"].clip(lower=2015)
        )
        return n * act["size"].to_numpy(dtype="float64") * growth

    @staticmethod
    def flags(act: pd.DataFrame, mask: np.ndarray, k: int, order: str = "prio") -> np.ndarray:
        """1 for the k facilities of the group with the lowest priority, else 0."""
        out = np.zeros(len(act), dtype="int64")
        idx = np.flatnonzero(mask)
        k = max(0, min(int(k), len(idx)))
        chosen = idx[np.argsort(act[order].to_numpy()[idx], kind="stable")[:k]]
        out[chosen] = 1
        return out

    def emit(self, year: int, act: pd.DataFrame, values: dict[str, np.ndarray]) -> None:
        f = act[
            ["key", "org_code", "uscc", "name", "area_code", "ownership", "type", "role"]
        ].copy()
        f.insert(0, "year", year)
        for col in (*RESOURCE_NUMBERS, *RESOURCE_FLAGS):
            f[col] = np.asarray(values[col], dtype="int64")
        self.rows.append(f)

    def frame(self) -> pd.DataFrame:
        out = pd.concat(self.rows, ignore_index=True)
        out.insert(0, "plan", self.b.plan.id)
        return out


def staff_block(
    act: pd.DataFrame,
    year: int,
    totals: Mapping[str, int],
    norms: Mapping[str, Mapping[str, float]],
    mins: Mapping[str, Mapping[str, int]],
) -> dict[str, np.ndarray]:
    """Doctors, nurses, technical staff and their subsets for one year's active facilities."""
    W = Resources.weights
    out: dict[str, np.ndarray] = {}

    def floor(element: str) -> np.ndarray:
        """Minimum staff per facility (a clinic has its doctor), unless scaled-up facility counts
        would leave too little for the rest."""
        m = mins.get(element, {})
        lo = act["type"].map(lambda t: m.get(t, 0)).to_numpy(dtype="int64")
        return lo if lo.sum() <= 0.6 * totals[element] else np.zeros_like(lo)

    out["doctors"] = split_int(
        totals["doctors"], W(act, norms["doctors"], year), mins=floor("doctors")
    )
    out["nurses"] = split_int(totals["nurses"], W(act, norms["nurses"], year), mins=floor("nurses"))
    other = totals["health_tech_staff"] - out["doctors"].sum() - out["nurses"].sum()
    w_other = W(act, norms["other_tech"], year)
    out["health_tech_staff"] = out["doctors"] + out["nurses"] + split_int(other, w_other)
    cap_tech = out["health_tech_staff"]
    out["health_tech_bachelor"] = split_int(
        totals["health_tech_bachelor"], W(act, norms["bachelor"], year) * cap_tech, caps=cap_tech
    )
    out["gps"] = split_int(totals["gps"], W(act, norms["gps"], year), caps=out["doctors"])
    out["tcm_doctors"] = split_int(
        totals["tcm_doctors"], W(act, norms["tcm_doctors"], year), caps=out["doctors"]
    )
    out["public_health_staff"] = split_int(
        totals["public_health_staff"], W(act, norms["public_health_staff"], year)
    )
    return out


# ------------------------------------------------------------------------------------ Longhu

LONGHU_POP_SHARES = {"440507001": 0.148, "440507002": 0.133, "440507003": 0.118, "440507004": 0.099,
                     "440507005": 0.163, "440507100": 0.225, "440507101": 0.114}  # fmt: skip
LONGHU_VILLAGE_POP = {"440507004": 0.08, "440507005": 0.22, "440507100": 0.47, "440507101": 0.23}


def build_longhu(b: Builder) -> None:
    plan = b.plan
    years = b.years
    na = b.na
    t = np.array([y - plan.baseline_year for y in years], dtype="float64")
    # 1. population: 731 doctors at the table's 1.58 per 1000 → 462,658 residents (2015)
    pop = b.population(462_658, 0.009, LONGHU_POP_SHARES, 0.004)
    P = pop.sum(axis=1)
    b.put("pop_65plus", b.counts_like(0.072 + 0.0022 * t, pop, 0.15, fit=[10]))
    # live births: the text's 7,036 women under systematic management at the table's 93.06%
    births_root = b.points({2015: 7561, 2016: 8120, 2017: 8940, 2018: 8310, 2019: 7890, 2020: 7420})
    births = b.alloc(births_root, pop * np.exp(b.effect(0.08))[None, :])
    b.put("live_births", births)
    male = np.zeros_like(births)
    for i in range(b.ny):
        for j in range(na):
            male[i, j] = round(births[i, j] * 110 / 210 + b.rng.normal(0, 2))
    b.put("births", male, "male")
    b.put("births", births - male, "female")
    b.put("births", births)
    b.put("deaths", b.counts_like(np.full(b.ny, 4.8), pop, 0.1, 1000))
    b.put("gdp", b.counts_like(2_850_000 * 1.068**t / P, pop, 0.3))
    b.measure("life_expectancy", b.path(1), pop, 0.6, 2)

    # 2. maternal and child health
    b.put("infant_deaths", b.rate_numerator(births, b.path(2), 1000, rare=True))
    # deaths at ages 1–4: 8 under-5 deaths in all in 2015 (1.06‰; the text's 1.01‰ needs 7.6)
    older = {
        y: (8 - int(b.get("infant_deaths")[b.yi[y]].sum()))
        if y == 2015
        else int(round(0.25 * births[b.yi[y]].sum() / 1000))
        for y in years
    }
    b.put("under5_deaths", b.get("infant_deaths") + b.scatter(older, births))
    b.put("maternal_deaths", b.scatter({y: (1 if y in (2017, 2020) else 0) for y in years}, births))
    b.put(
        "hospital_deliveries",
        b.rate_numerator(births, b.points({2015: 99.95, 2018: 99.97, 2020: 99.98}), 100, 0.5),
    )
    b.put("maternal_managed", b.rate_numerator(births, b.path(8), 100, 0.2))
    c06 = b.alloc(
        b.points({2015: 60981, 2016: 61900, 2017: 63700, 2018: 64600, 2019: 65100, 2020: 64900}),
        births,
    )
    b.put("children_0_6", c06)
    b.put("children_0_6_managed", b.rate_numerator(c06, b.path(7), 100, 0.2))
    u3 = b.alloc(
        b.points({2015: 22400, 2016: 23100, 2017: 24300, 2018: 25200, 2019: 25000, 2020: 24100}),
        births,
    )
    b.put("children_under3", u3)
    b.put(
        "children_under3_managed",
        b.rate_numerator(u3, b.points({2015: 93.9, 2018: 95.2, 2020: 96.0}), 100),
    )
    ex = b.rate_numerator(c06, b.points({2015: 55.0, 2018: 57.0, 2020: 58.0}), 100, 0.1)
    b.put("under5_examined", ex)
    b.put(
        "under5_stunted",
        b.rate_numerator(ex, b.points({2015: 2.4, 2018: 2.0, 2020: 1.8}), 100, 0.2),
    )
    b.put(
        "under5_anaemic",
        b.rate_numerator(ex, b.points({2015: 6.1, 2018: 5.2, 2020: 4.6}), 100, 0.2),
    )
    peri = births + b.rate_numerator(births, np.full(b.ny, 0.35), 100, 0.3)
    b.put("perinatal_births", peri)
    b.put(
        "birth_defects",
        b.rate_numerator(peri, b.points({2015: 11.8, 2018: 12.4, 2020: 12.0}), 1000, 0.2),
    )
    target = births * 2
    b.put("birth_defect_screening_target", target)
    b.put("birth_defect_screening_done", b.rate_numerator(target, b.path(25), 100, 0.6))
    b.reported_rates()

    # 3. public health (one row per town/street)
    # children eligible for the programme: about the previous year's birth cohort
    elig = b.alloc(
        b.points({2015: 7410, 2016: 7450, 2017: 7990, 2018: 8810, 2019: 8190, 2020: 7770}), births
    )
    b.put("vacc_eligible", elig)
    b.vaccination(LONGHU_VACC, elig)
    ht = b.counts_like(0.040 * 1.03**t, pop, 0.12, fit=[5])
    b.put("hypertension_managed", ht)
    b.put("hypertension_standard", b.rate_numerator(ht, b.path(5), 100, 0.25))
    dm = b.counts_like(0.013 * 1.04**t, pop, 0.12, fit=[6])
    b.put("diabetes_managed", dm)
    b.put("diabetes_standard", b.rate_numerator(dm, b.path(6), 100, 0.25))
    tb = b.alloc(b.points({2015: 150, 2018: 138, 2020: 126}), pop, fit=[9])
    b.put("tb_registered", tb)
    b.put("tb_managed", b.rate_numerator(tb, b.path(9), 100, 0.3))
    sm = b.alloc(b.points({2015: 61, 2018: 55, 2020: 50}), pop)
    b.put("tb_smear_new", sm)
    b.put(
        "tb_smear_cured",
        b.rate_numerator(sm, b.points({2015: 90.2, 2018: 91.0, 2020: 92.0}), 100, 0.3),
    )
    b.put("elderly_managed", b.rate_numerator(b.get("pop_65plus"), b.path(10), 100, 0.2))

    # 4. surveys: households (2016, 2019 only) and pregnant couples (every year)
    hh_path = b.path(22)
    hh_years = np.array([y in LONGHU_DESIGN[22] for y in years])
    hh = b.alloc(np.where(hh_years, 1260.0, np.nan), pop)
    b.put("households_surveyed", hh)
    b.put(
        "households_within_15min",
        b.rate_numerator(hh, np.where(hh_years, hh_path, np.nan), 100, 0.5),
    )
    cp = b.alloc(np.full(b.ny, 630.0), births)
    b.put("pregnant_couples_surveyed", cp)
    b.put("pregnant_couples_eugenics_aware", b.rate_numerator(cp, b.path(24), 100, 0.4))

    # 5. patriotic health: two towns, one becomes a 省卫生镇 in 2019; village populations
    towns = np.array([1.0 if b.names[c].endswith("镇") else 0.0 for c in b.low])
    b.put("towns_total", np.repeat(towns[None, :], b.ny, axis=0))
    hyg = np.zeros((b.ny, na))
    for i, y in enumerate(years):
        if y >= 2019:
            hyg[i, b.li["440507100"]] = 1
    b.put("towns_provincial_hygienic", hyg)
    vshare = np.array([LONGHU_VILLAGE_POP.get(c, 0.0) for c in b.low])
    vp = b.alloc(np.round(200_400 * 1.006**t), np.repeat(vshare[None, :], b.ny, axis=0), fit=[27])
    b.put("village_population", vp)
    b.put("village_population_provincial_hygienic", b.rate_numerator(vp, b.path(27), 100, 0.3))

    # 6. expenditure
    the = (2_400 * 1.09**t) * P / 10_000  # 万元: about 2,400 yuan per resident in 2015
    oop = b.path(29)
    gov = b.path(30)
    b.expenditure(
        b.amounts(the, pop * np.exp(b.effect(0.1))[None, :]),
        {"the_government": gov, "the_social": 100 - gov - oop, "the_personal": oop},
        b.path(28),
    )
    longhu_resources(b, P)


def longhu_register(b: Builder) -> None:
    n = Namer(b.rng)
    Z, XJ, JX, LX, OT, WS, XX = b.low  # noqa: N806 - the seven towns/streets
    add = b.add_facility
    g = lambda: float(b.rng.normal(0.02, 0.015))  # noqa: E731 - yearly growth of a facility
    for name, area, size in (("汕头市龙湖医院", LX, 1.45), ("汕头市龙湖区珠池医院", Z, 1.0),
                             ("汕头市龙湖区下蓬医院", OT, 0.85)):  # fmt: skip
        add(name=name, area_code=area, ownership="public", type="hospital", size=size, growth=g())
    for name, area, size, opened in (("汕头市龙湖区金霞医院", JX, 1.0, 2015),
                                     ("汕头新津妇产医院", XJ, 0.8, 2015),
                                     ("汕头市龙湖区外砂康复医院", WS, 0.6, 2015),
                                     ("汕头市龙湖区华侨医院", JX, 1.1, 2017)):  # fmt: skip
        add(
            name=name,
            area_code=area,
            ownership="private",
            type="hospital",
            size=size,
            growth=0.06,
            open=opened,
        )
    add(
        name="汕头市龙湖区国医堂中医医院",
        area_code=XJ,
        ownership="private",
        type="tcm_hospital",
        size=1.0,
        growth=0.05,
        open=2019,
    )
    for name, area in (
        ("龙湖社区卫生服务中心", LX),
        ("珠池社区卫生服务中心", Z),
        ("下蓬社区卫生服务中心", OT),
    ):
        add(
            name=f"汕头市龙湖区{name}",
            area_code=area,
            ownership="public",
            type="chc",
            size=float(b.rng.uniform(0.8, 1.2)),
            growth=g(),
        )
    for name, area in (("外砂镇卫生院", WS), ("新溪镇卫生院", XX)):
        add(
            name=f"汕头市龙湖区{name}",
            area_code=area,
            ownership="public",
            type="thc",
            size=float(b.rng.uniform(0.9, 1.2)),
            growth=g(),
        )
    streets = [Z, XJ, JX, LX, OT]
    for k in range(b.scaled(10)):
        add(
            name=f"龙湖区第{k + 1}社区卫生服务站",
            area_code=streets[k % 5],
            ownership="public",
            type="chs",
            size=float(b.rng.lognormal(0, 0.25)),
            growth=g(),
        )
    for k in range(b.scaled(2)):  # new residential districts get their stations in 2019
        add(
            name=f"龙湖区第{11 + k}社区卫生服务站",
            area_code=[JX, XJ][k % 2],
            ownership="public",
            type="chs",
            size=0.8,
            growth=0.0,
            open=2019,
        )
    for area, count in ((WS, 18), (XX, 10), (OT, 4)):
        town = b.names[area]
        for _ in range(b.scaled(count)):
            add(
                name=n.unique(lambda t=town: f"{t}{n.village()}村卫生站"),
                area_code=area,
                ownership="public",
                type="village",
                size=float(b.rng.lognormal(0, 0.3)),
                growth=0.0,
            )
    clinic_areas = b.low
    cw = np.array([LONGHU_POP_SHARES[c] for c in clinic_areas])

    def clinic_area():
        return clinic_areas[int(b.rng.choice(len(clinic_areas), p=cw / cw.sum()))]

    def clinic_name():
        if b.rng.random() < 0.2:
            return n.unique(lambda: f"汕头龙湖{n.pick(CLINIC_WORDS)}门诊部")
        return n.unique(lambda: n.person(SURNAMES_GD) + n.pick(CLINIC_KINDS))

    for _ in range(b.scaled(130)):  # 门诊部、个体诊所
        opened, closed = 2015, None
        if b.rng.random() < 0.14:
            closed = int(b.rng.integers(2016, 2021))
        add(
            name=clinic_name(),
            area_code=clinic_area(),
            ownership="private",
            type="clinic",
            size=float(b.rng.lognormal(0, 0.5)),
            growth=0.01,
            close=closed,
            role="private_clinic",
        )
    for y in range(2016, 2021):  # new private clinics
        for _ in range(b.scaled(7)):
            add(
                name=clinic_name(),
                area_code=clinic_area(),
                ownership="private",
                type="clinic",
                size=float(b.rng.lognormal(0, 0.5)),
                growth=0.01,
                open=y,
                role="private_clinic",
            )
    for k in range(b.scaled(105)):  # 医务室 of schools, factories and institutions
        org = n.pick(INFIRMARY_ORGS).format(n=int(b.rng.integers(1, 20)))
        own = "public" if k % 3 else "private"
        prefix = "汕头市龙湖区" if own == "public" else "汕头市"
        add(
            name=n.unique(
                lambda o=org, p=prefix: (
                    f"{p}{o}医务室"
                    if b.rng.random() < 0.5
                    else f"{p}{n.pick(CLINIC_WORDS)}{o}医务室"
                )
            ),
            area_code=clinic_area(),
            ownership=own,
            type="clinic",
            size=float(b.rng.lognormal(-0.3, 0.4)),
            growth=0.0,
            role="infirmary",
        )
    add(
        name="汕头市龙湖区疾病预防控制中心",
        area_code=JX,
        ownership="public",
        type="phi",
        role="cdc",
        size=1.0,
        growth=0.0,
    )
    add(
        name="汕头市龙湖区卫生监督所",
        area_code=JX,
        ownership="public",
        type="phi",
        role="supervision",
        size=1.0,
        growth=0.0,
    )


LONGHU_NORMS = {
    "doctors": {
        "public:hospital": 115,
        "private:hospital": 16,
        "private:tcm_hospital": 12,
        "chc": 9,
        "thc": 16,
        "chs": 2,
        "village": 0.3,
        "clinic": 1.0,
        "cdc": 14,
        "supervision": 2,
    },
    "nurses": {
        "public:hospital": 140,
        "private:hospital": 20,
        "private:tcm_hospital": 12,
        "chc": 9,
        "thc": 18,
        "chs": 1.5,
        "village": 0.0,
        "clinic": 0.35,
        "cdc": 3,
        "supervision": 0,
    },
    "other_tech": {
        "public:hospital": 60,
        "private:hospital": 9,
        "private:tcm_hospital": 6,
        "chc": 6,
        "thc": 9,
        "chs": 0.6,
        "village": 0.1,
        "clinic": 0.2,
        "cdc": 25,
        "supervision": 14,
    },
    "bachelor": {
        "public:hospital": 1.3,
        "private:hospital": 1.0,
        "private:tcm_hospital": 1.0,
        "chc": 0.9,
        "thc": 0.7,
        "chs": 0.6,
        "village": 0.2,
        "clinic": 0.6,
        "cdc": 1.4,
        "supervision": 1.5,
    },
    "gps": {"chc": 5, "thc": 6, "chs": 1.2, "public:hospital": 1.5},
    "tcm_doctors": {
        "public:hospital": 10,
        "private:hospital": 1,
        "private:tcm_hospital": 20,
        "chc": 2,
        "thc": 2,
        "chs": 0.3,
        "clinic": 0.2,
    },
    "public_health_staff": {"cdc": 62, "supervision": 24, "chc": 9, "thc": 10},
}
LONGHU_MINS = {"doctors": {"hospital": 5, "tcm_hospital": 5, "chc": 2, "thc": 3, "clinic": 1},
               "nurses": {"hospital": 5, "tcm_hospital": 5, "chc": 1, "thc": 2}}  # fmt: skip


def longhu_resources(b: Builder, P: np.ndarray) -> None:
    longhu_register(b)
    R = Resources(b)
    reg = R.reg
    reg["growth"] = reg["growth"].astype("float64")
    pyr = dict(zip(b.years, P, strict=True))
    paths = {
        n: dict(zip(b.years, b.path(n), strict=True))
        for n in (11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 23)
    }
    for y in b.years:
        act = R.active(y)
        typ = act["type"].to_numpy()
        own = act["ownership"].to_numpy()
        tau = y - b.plan.baseline_year
        W = R.weights
        v: dict[str, np.ndarray] = {}
        # beds: public hospitals (#11), private (#12), township/community centres (109 in 2015)
        beds = np.zeros(len(act), dtype="int64")
        pub_h = (own == "public") & np.isin(typ, ["hospital", "tcm_hospital"])
        priv_h = (own == "private") & np.isin(typ, ["hospital", "tcm_hospital"])
        centres = np.isin(typ, ["chc", "thc"])
        sz = act["size"].to_numpy() * (1 + act["growth"].to_numpy()) ** max(tau, 0)
        beds[pub_h] = split_int(round(paths[11][y] * pyr[y] / 1000), sz[pub_h])
        beds[priv_h] = split_int(round(paths[12][y] * pyr[y] / 1000), sz[priv_h])
        beds[centres] = split_int(
            round(109 * 1.045**tau), sz[centres] * np.where(typ[centres] == "thc", 1.6, 1.0)
        )
        v["beds"] = beds
        tcm_w = np.where(
            typ == "tcm_hospital", 0.6, np.where(pub_h, 0.04, np.where(centres, 0.05, 0.0))
        )
        v["tcm_beds"] = np.minimum(beds, np.round(beds * tcm_w)).astype("int64")
        P_y = pyr[y]
        tech_per = interp({2015: 1775 / 462_658 * 1000, 2018: 4.45, 2020: 4.95}, [y])[y]
        totals = {
            "doctors": round(paths[13][y] * P_y / 1000),
            "nurses": round(paths[14][y] * P_y / 1000),
            "health_tech_staff": 1775 if y == 2015 else round(tech_per * P_y / 1000),
            "gps": round(paths[16][y] * P_y / 1000),
            "tcm_doctors": round((0.22 + 0.012 * tau) * P_y / 1000),
            "public_health_staff": round(paths[17][y] * P_y / 1000),
        }
        totals["health_tech_bachelor"] = round(paths[18][y] / 100 * totals["health_tech_staff"])
        v.update(staff_block(act, y, totals, LONGHU_NORMS, LONGHU_MINS))
        # visits: total; private (#20) and primary (#23) shares; 2015 counts from the text
        V = round(1_261_543 * 1.032**tau)
        priv = round(paths[20][y] / 100 * V)
        prim = round(paths[23][y] / 100 * V)
        pp = 36_501 if y == 2015 else round(priv * (0.177 - 0.004 * tau))  # private clinics
        pn = priv - pp  # private hospitals (169,887 in 2015)
        bp = prim - pp  # public primary care
        bn = V - priv - bp  # public hospitals (phi report no visits)
        visits = np.zeros(len(act), dtype="int64")
        basic = np.isin(typ, BASIC)
        m_pp, m_pn = (own == "private") & basic, (own == "private") & ~basic
        m_bp, m_bn = (
            (own == "public") & basic,
            (own == "public") & np.isin(typ, ["hospital", "tcm_hospital"]),
        )
        vnorm = {"chc": 95_000, "thc": 60_000, "chs": 5_200, "village": 3_900, "clinic": 600,
                 "infirmary": 500, "private_clinic": 280, "hospital": 1.0, "tcm_hospital": 1.0}  # fmt: skip
        vw = W(act, vnorm, y)
        visits[m_pp] = split_int(pp, vw[m_pp])
        visits[m_pn] = split_int(pn, sz[m_pn])
        if y == 2015:  # the text: 459,273 visits to the township and community health centres
            cc = m_bp & centres
            visits[cc] = split_int(459_273, vw[cc])
            visits[m_bp & ~centres] = split_int(bp - 459_273, vw[m_bp & ~centres])
        else:
            visits[m_bp] = split_int(bp, vw[m_bp])
        visits[m_bn] = split_int(bn, sz[m_bn])
        v["visits"] = visits
        adm = np.zeros(len(act), dtype="int64")
        hosp = np.isin(typ, ["hospital", "tcm_hospital"])
        # the text (2015): hospitals 22,235 admissions — public 17,257, private 4,978
        adm_pub = round(17_257 * 1.03**tau)
        adm_priv = round(22_235 * 1.04**tau) - adm_pub if tau else 4_978
        adm[pub_h] = split_int(adm_pub, beds[pub_h])
        adm[priv_h] = split_int(adm_priv, beds[priv_h])
        adm[centres] = split_int(round(2_185 * 1.02**tau), beds[centres])
        v["admissions"] = adm
        # flags: TCM services in primary care (#21), centres/stations built to standard (#19)
        n_basic = int(basic.sum())
        order_tcm = act["prio"] + np.select(
            [centres, typ == "chs", typ == "village"], [-3.0, -2.0, -1.0], 0.0
        )
        act = act.assign(order_tcm=order_tcm)
        tcm = R.flags(act, basic, round(paths[21][y] / 100 * n_basic), "order_tcm")
        tcm[hosp] = 1
        v["facilities_tcm_service"] = tcm
        std_grp = np.isin(typ, ["chc", "chs", "thc", "village"])
        act = act.assign(order_std=act["prio"] + np.where(centres, -2.0, 0.0))
        std = R.flags(act, std_grp, round(paths[19][y] / 100 * int(std_grp.sum())), "order_std")
        std[hosp | (typ == "phi")] = 1
        std[typ == "clinic"] = (act["prio"].to_numpy()[typ == "clinic"] < 0.7).astype("int64")
        v["facilities_up_to_standard"] = std
        nedl = ((own == "public") & (typ != "phi")) | (hosp & (own == "private"))
        nedl |= (typ == "clinic") & (act["prio"].to_numpy() < 0.3)
        v["facilities_nedl_used"] = nedl.astype("int64")
        R.emit(y, act, v)
    b.resource_frame = R.frame()


# ------------------------------------------------------------------------------------ Guilin

# 2015 resident population by district/county (thousands; scaled to the 4,945,000 total)
GUILIN_POP = {"450302": 162, "450303": 172, "450304": 270, "450305": 302, "450311": 98, "450312": 498,
              "450321": 310, "450323": 380, "450324": 800, "450325": 380, "450326": 270,
              "450327": 280, "450328": 170, "450329": 172, "450330": 420, "450331": 372,
              "450332": 280}  # fmt: skip
GUILIN_URBAN = {"450302": 0.97, "450303": 0.95, "450304": 0.9, "450305": 0.88, "450311": 0.35,
                "450312": 0.55, "450321": 0.38, "450323": 0.36, "450324": 0.32, "450325": 0.38,
                "450326": 0.33, "450327": 0.28, "450328": 0.25, "450329": 0.27, "450330": 0.3,
                "450331": 0.36, "450332": 0.3}  # fmt: skip
GUILIN_CORE = ("450302", "450303", "450304", "450305")
GUILIN_THC = {"450311": 3, "450312": 11, "450321": 10, "450323": 13, "450324": 18, "450325": 11,
              "450326": 11, "450327": 10, "450328": 10, "450329": 7, "450330": 11, "450331": 14,
              "450332": 10}  # fmt: skip
GUILIN_TERTIARY = ("450302", "450303", "450304", "450305", "450312")


def build_guilin(b: Builder) -> None:
    plan = b.plan
    years = b.years
    na = b.na
    t = np.array([y - plan.baseline_year for y in years], dtype="float64")
    shares = {c: v / sum(GUILIN_POP.values()) for c, v in GUILIN_POP.items()}
    # 1. population: 19,630 beds at 3.97 per 1000 (and 2.19 doctors, 2.51 nurses) → 4,945,000
    pop = b.population(4_945_000, 0.0055, shares, 0.003)
    P = pop.sum(axis=1)
    b.put("pop_65plus", b.counts_like(0.105 + 0.003 * t, pop, 0.12))
    # births: the 2015 count for which IMR 4.13, U5MR 5.92, MMR 18.93 (12 deaths), hospital
    # deliveries 99.99, systematic management 97.61 and newborn screening 95.83 all round right
    base = {n: plan.indicator(n).baseline for n in (2, 3, 4, 21, 22, 27)}
    cons = [(base[n].value, f, printed_tolerance(base[n].value, base[n].text))
            for n, f in ((2, 1000), (3, 1000), (4, 100000), (21, 100), (22, 100), (27, 100))]  # fmt: skip
    b15 = find_count(63_400, cons)
    births_root = b.points(
        {2015: b15, 2016: 68_500, 2017: 71_000, 2018: 66_000, 2019: 61_500, 2020: 57_800}
    )
    births = b.alloc(births_root, pop * np.exp(b.effect(0.1))[None, :])
    b.put("live_births", births)
    sr = b.path(5)
    female = np.zeros_like(births)
    for i in range(b.ny):
        f_total = round(births[i].sum() * 100 / (100 + sr[i]))
        female[i] = split_int(f_total, births[i])
    b.put("births", births - female, "male")
    b.put("births", female, "female")
    b.put("births", births)
    ni_root = np.round(b.path(6) * P / 1000)
    deaths_root = births.sum(axis=1) - ni_root
    old = b.get("pop_65plus")
    deaths = b.alloc(deaths_root, old * np.exp(b.effect(0.05))[None, :])
    b.put("deaths", deaths)
    b.put("natural_increase", births - deaths)
    b.put(
        "gdp", b.counts_like(19_430_000 * 1.07**t / P, pop * np.exp(b.effect(0.35))[None, :], 0.0)
    )
    b.measure("life_expectancy", b.path(1), pop, 0.9, 2)
    b.measure("tfr", b.path(7), pop, 0.08, 2)

    # 2. maternal and child health
    b.put("infant_deaths", b.rate_numerator(births, b.path(2), 1000, rare=True))
    b.put(
        "under5_deaths",
        b.get("infant_deaths") + b.rate_numerator(births, b.path(3) - b.path(2), 1000, rare=True),
    )
    b.put(
        "maternal_deaths",
        b.scatter({2015: 12, 2016: 13, 2017: 12, 2018: 13, 2019: 11, 2020: 9}, births),
    )
    b.put("hospital_deliveries", b.rate_numerator(births, b.path(21), 100, 0.5))
    b.put("maternal_managed", b.rate_numerator(births, b.path(22), 100, 0.2))
    b.put("newborns_screened", b.rate_numerator(births, b.path(27), 100, 0.3))
    # children 0–6: seven birth cohorts, so it moves slowly with the two-child wave
    c06 = b.alloc(
        b.points(
            {
                2015: 431_600,
                2016: 437_900,
                2017: 446_800,
                2018: 454_300,
                2019: 457_600,
                2020: 454_900,
            }
        ),
        births,
    )
    b.put("children_0_6", c06)
    b.put(
        "children_0_6_managed",
        b.rate_numerator(c06, b.points({2015: 92.8, 2018: 93.9, 2020: 94.6}), 100),
    )
    u3 = b.alloc(
        b.points(
            {
                2015: 190_500,
                2016: 193_000,
                2017: 199_800,
                2018: 203_900,
                2019: 197_600,
                2020: 186_100,
            }
        ),
        births,
    )
    b.put("children_under3", u3)
    b.put("children_under3_managed", b.rate_numerator(u3, b.path(25), 100, 0.2))
    ex = b.rate_numerator(c06, b.points({2015: 66.0, 2018: 68.0, 2020: 70.0}), 100, 0.1)
    b.put("under5_examined", ex)
    b.put("under5_stunted", b.rate_numerator(ex, b.path(23), 100, 0.25))
    hb = b.rate_numerator(ex, b.points({2015: 84.0, 2018: 87.0, 2020: 89.0}), 100, 0.2)
    b.put("under5_hb_tested", hb)
    b.put("under5_anaemic", b.rate_numerator(hb, b.path(24), 100, 0.25))
    peri_root = np.round(births.sum(axis=1) * 1.005)
    if 2015 in b.yi:
        bd = plan.indicator(26).baseline
        peri_root[b.yi[2015]] = find_count(
            int(peri_root[b.yi[2015]]), [(bd.value, 1000, printed_tolerance(bd.value, bd.text))]
        )
    peri = births + b.alloc(peri_root - births.sum(axis=1), births)
    b.put("perinatal_births", peri)
    b.put("birth_defects", b.rate_numerator(peri, b.path(26), 1000, 0.2))
    pre = b.counts_like(0.0078 * 1.015**t, pop, 0.15, fit=[20])
    b.put("preconception_target", pre)
    b.put("preconception_examined", b.rate_numerator(pre, b.path(20), 100, 0.06, cap=False))
    th = b.alloc(
        b.points({2015: 152, 2018: 158, 2020: 141}), births * np.exp(b.effect(0.2))[None, :]
    )
    b.put("thalassemia_severe", th)
    b.put("thalassemia_intervened", b.rate_numerator(th, b.path(10), 100, 0.3))
    b.reported_rates(PLANTED_REPORTED)

    # 3. public health
    prev = {
        y: births_root[b.yi[y - 1]] if y - 1 in b.yi else births_root[b.yi[y]] * 0.97 for y in years
    }
    elig = b.alloc(np.array([round(prev[y] * 0.99) for y in years], dtype="float64"), births)
    b.put("vacc_eligible", elig)
    b.vaccination(GUILIN_VACC, elig)
    ht = b.counts_like(0.046 * 1.03**t, pop, 0.12)
    dm = b.counts_like(0.015 * 1.045**t, pop, 0.12)
    b.put("hypertension_managed", ht)
    b.put("diabetes_managed", dm)
    std = b.rate_numerator(ht + dm, b.path(14), 100, 0.15)
    ht_std = np.minimum(ht, np.round(std * ht / (ht + dm)))
    b.put("hypertension_standard", ht_std)
    b.put("diabetes_standard", std - ht_std)
    tb = b.alloc(
        b.points({2015: 3010, 2018: 2760, 2020: 2480}), pop * np.exp(b.effect(0.2))[None, :]
    )
    b.put("tb_registered", tb)
    b.put(
        "tb_managed", b.rate_numerator(tb, b.points({2015: 91.5, 2018: 93.0, 2020: 94.5}), 100, 0.2)
    )
    sm = b.alloc(b.points({2015: 1100, 2018: 980, 2020: 860}), tb, fit=[9])
    b.put("tb_smear_new", sm)
    b.put("tb_smear_cured", b.rate_numerator(sm, b.path(9), 100, 0.3))
    b.put("elderly_managed", b.rate_numerator(old, b.path(18), 100, 0.2))
    nd = b.alloc(b.points({2015: 1820, 2018: 1940, 2020: 1760}), pop)
    b.put("notifiable_cases_due", nd)
    b.put("notifiable_cases_reported", b.rate_numerator(nd, b.path(8), 100, 0.2))
    occ = np.zeros((b.ny, na))
    order = np.argsort(b.rng.random(na))
    for i, y in enumerate(years):
        k = GUILIN_OCC_COUNT.get(
            y, GUILIN_OCC_COUNT[min(GUILIN_OCC_COUNT, key=lambda x: abs(x - y))]
        )
        occ[i, order[:k]] = 1
    b.put("occ_disease_surveillance", occ)
    salt = np.ones((b.ny, na))
    for y, off in GUILIN_SALT_OFF.items():
        if y in b.yi:
            for c in off:
                salt[b.yi[y], b.li[c]] = 0
    b.put("iodised_salt_monitoring", salt)
    b.no_parent.update({"occ_disease_surveillance", "iodised_salt_monitoring"})
    ww = b.alloc(b.points({2015: 812, 2018: 846, 2020: 861}), pop * np.exp(b.effect(0.3))[None, :])
    b.put("water_works_total", ww)
    b.put("water_works_monitored", b.rate_numerator(ww, b.path(19), 100, 0.4))

    # 4. surveys
    hb_years = np.array([y in GUILIN_DESIGN[11] for y in years])
    tested = b.alloc(np.where(hb_years, 3_240.0, np.nan), pop)
    b.put("hbsag_tested_under15", tested)
    b.put(
        "hbsag_positive_under15",
        b.rate_numerator(tested, np.where(hb_years, b.path(11), np.nan), 100, rare=True),
    )
    chronic_years = np.array([y in (2015, 2018, 2020) for y in years])
    urban = np.array([GUILIN_URBAN[c] for c in b.low])
    for stratum, share in (("rural", 1 - urban), ("urban", urban)):
        n = 2_400.0 if stratum == "rural" else 1_600.0
        srv = b.alloc(np.where(chronic_years, n, np.nan), pop * share[None, :])
        b.put("chronic_info_surveyed", srv, stratum)
        path = b.points(GUILIN_DESIGN[13][stratum])
        b.put(
            "chronic_info_aware",
            b.rate_numerator(srv, np.where(chronic_years, path, np.nan), 100, 0.15),
            stratum,
        )
    lit = b.alloc(np.full(b.ny, 8_160.0), pop)
    b.put("health_literacy_surveyed", lit)
    b.put("health_literacy_adequate", b.rate_numerator(lit, b.path(17), 100, 0.25))

    # 5. hospital quality (tertiary hospitals in the core districts and 临桂区)
    tert = np.array([1.0 if c in GUILIN_TERTIARY else 0.0 for c in b.low]) * np.array(
        [
            {"450302": 3, "450303": 1.2, "450304": 1.6, "450305": 1.8, "450312": 0.8}.get(c, 0)
            for c in b.low
        ]
    )
    tw = np.repeat(tert[None, :], b.ny, axis=0)
    tw[:, b.li["450312"]] *= np.where(np.array(years) >= 2018, 2.0, 1.0)
    disc = b.alloc(b.points({2015: 182_000, 2018: 215_000, 2020: 208_000}), tw)
    b.put("tertiary_discharges", disc)
    b.put("tertiary_discharge_bed_days", b.rate_numerator(disc, b.path(28), 1, 0.05, cap=False))
    hosp_w = pop * np.exp(b.effect(0.2))[None, :]
    hm = b.alloc(b.points({2015: 655_000, 2018: 742_000, 2020: 731_000}), hosp_w)
    b.put("hai_monitored_patients", hm)
    b.put("hai_cases", b.rate_numerator(hm, b.path(29), 100, 0.2))
    rd = b.alloc(b.points({2015: 648_000, 2018: 736_000, 2020: 724_000}), hosp_w)
    b.put("readmission_index_discharges", rd)
    b.put("readmissions_30d", b.rate_numerator(rd, b.path(30), 100, 0.2))
    rx = b.alloc(np.full(b.ny, 20_400.0), pop)
    b.put("outpatient_rx_sampled", rx)
    b.put("outpatient_rx_antibiotic", b.rate_numerator(rx, b.path(31), 100, 0.2))

    # 6. family planning
    fe = b.counts_like(0.0122 * 1.05**t, pop, 0.15)
    b.put("fp_reward_entitled", fe)
    b.put("fp_reward_paid", b.rate_numerator(fe, b.path(39), 100, 0.3))
    mt = b.counts_like(0.018 * 1.01**t, pop * np.where(urban > 0.5, 2.0, 1.0)[None, :], 0.1)
    b.put("migrant_fp_target", mt)
    b.put("migrant_fp_served", b.rate_numerator(mt, b.path(40), 100, 0.15))
    du = b.counts_like(np.full(b.ny, 0.243), pop, 0.05)
    b.put("pop_info_due_update", du)
    b.put("pop_info_updated_timely", b.rate_numerator(du, b.path(41), 100, 0.2))
    ck = b.alloc(np.full(b.ny, 51_000.0), pop, fit=[42])
    b.put("pop_info_checked", ck)
    b.put("pop_info_accurate", b.rate_numerator(ck, b.path(42), 100, 0.2))

    # 7. expenditure (#43–46): shares of GDP and of the total
    gdp = b.get("gdp")
    the = gdp.sum(axis=1) * b.path(43) / 100
    oop, gov = b.path(44), b.path(45)
    b.expenditure(
        b.amounts(the, gdp * np.exp(b.effect(0.1))[None, :]),
        {"the_government": gov, "the_social": 100 - gov - oop, "the_personal": oop},
        b.path(47),
    )
    guilin_resources(b, P)


def guilin_register(b: Builder) -> None:
    n = Namer(b.rng)
    add = b.add_facility
    names = b.names
    g = lambda: float(b.rng.normal(0.015, 0.01))  # noqa: E731
    short = {
        c: names[c].replace("各族自治县", "").replace("瑶族自治县", "").rstrip("区县")
        for c in b.low
    }
    city_hosp = [("桂林市人民医院", "450302", 3.0), ("桂林医学院附属医院", "450302", 3.4),
                 ("桂林市第二人民医院", "450303", 2.0), ("南溪山医院", "450304", 2.6),
                 ("桂林市第三人民医院", "450305", 1.2), ("桂林市第四人民医院", "450304", 0.6),
                 ("桂林市社会福利医院", "450305", 0.7), ("桂林市妇女儿童医院", "450305", 1.0),
                 ("桂林市第五人民医院", "450303", 0.5)]  # fmt: skip
    for name, area, size in city_hosp:
        add(name=name, area_code=area, ownership="public", type="hospital", size=size, growth=g())
    add(
        name="桂林市临桂区人民医院",
        area_code="450312",
        ownership="public",
        type="hospital",
        size=1.4,
        growth=0.05,
    )
    add(
        name="桂林市临桂区第二人民医院",
        area_code="450312",
        ownership="public",
        type="hospital",
        size=0.5,
        growth=g(),
    )
    add(
        name="桂林市雁山区人民医院",
        area_code="450311",
        ownership="public",
        type="hospital",
        size=0.35,
        growth=g(),
    )
    counties = [c for c in b.low if c not in GUILIN_CORE and c not in ("450311", "450312")]
    second = ("450324", "450323", "450330", "450331", "450325", "450321", "450332", "450326")
    for c in counties:
        size = GUILIN_POP[c] / 380
        add(
            name=f"{names[c]}人民医院",
            area_code=c,
            ownership="public",
            type="hospital",
            size=size,
            growth=g(),
        )
        if c in second:
            add(
                name=f"{names[c]}第二人民医院" if c != "450325" else "兴安县界首中心医院",
                area_code=c,
                ownership="public",
                type="hospital",
                size=0.35,
                growth=g(),
            )
    tcm = [
        ("桂林市中医医院", "450302", 2.2),
        ("桂林市中西医结合医院", "450305", 1.0),
        ("桂林市临桂区中医医院", "450312", 0.6),
    ] + [
        (f"{names[c]}中医医院" if c != "450325" else "兴安县界首中西医结合医院", c, 0.55)
        for c in ("450321", "450323", "450324", "450325", "450326", "450327", "450330", "450331")
    ]
    for name, area, size in tcm:
        add(
            name=name,
            area_code=area,
            ownership="public",
            type="tcm_hospital",
            size=size,
            growth=g(),
        )
    core_w = np.array(
        [GUILIN_POP[c] * (3 if c in GUILIN_CORE else 1) for c in b.low], dtype="float64"
    )

    def area_by(weights):
        return b.low[int(b.rng.choice(len(b.low), p=weights / weights.sum()))]

    words = ["和平", "康复", "骨伤", "眼科", "妇产", "仁爱", "华山", "瑞康", "同济", "爱尔眼科", "美年",
             "东方", "桂康", "博爱", "平安"]  # fmt: skip
    for k in range(b.scaled(15)):
        area = area_by(core_w)
        typ = "tcm_hospital" if k in (3, 11) else "hospital"
        add(
            name=n.unique(
                lambda a=area, typ=typ: (
                    f"桂林{n.pick(words)}{'中医' if typ == 'tcm_hospital' else ''}医院"
                    if a in GUILIN_CORE
                    else f"{short[a]}{n.pick(words)}医院"
                )
            ),
            area_code=area,
            ownership="private",
            type=typ,
            size=float(b.rng.uniform(0.15, 0.45)),
            growth=0.07,
        )
    for y, count in ((2016, 1), (2017, 2), (2018, 2), (2019, 2), (2020, 2)):
        for _ in range(b.scaled(count)):
            area = area_by(core_w)
            add(
                name=n.unique(lambda a=area: f"{short[a]}{n.pick(words)}医院"),
                area_code=area,
                ownership="private",
                type="hospital",
                size=float(b.rng.uniform(0.15, 0.4)),
                growth=0.08,
                open=y,
            )
    # township health centres, community health centres and stations
    town_pool = itertools.cycle(GUILIN_TOWNS)
    towns_of: dict[str, list[str]] = {}
    for c, count in GUILIN_THC.items():
        for k in range(b.scaled(count)):
            town = next(town_pool)
            towns_of.setdefault(c, []).append(town)
            kind = "中心卫生院" if k == 0 else "卫生院"
            add(
                name=n.unique(lambda c=c, t=town, kd=kind: f"{names[c]}{t}镇{kd}"),
                area_code=c,
                ownership="public",
                type="thc",
                size=float(b.rng.lognormal(0, 0.35)) * (1.5 if k == 0 else 1),
                growth=g(),
            )
    chc_areas = [("450302", "public"), ("450302", "public"), ("450303", "public"), ("450303", "public"),
                 ("450304", "public"), ("450304", "private"), ("450305", "public"), ("450305", "public"),
                 ("450305", "private"), ("450312", "public"), ("450311", "public")]  # fmt: skip
    streets = ["秀峰", "丽君", "甲山", "叠彩", "北门", "大河", "象山", "南门", "平山", "二里", "东江", "七星",
               "穿山", "漓东", "临桂", "良丰"]  # fmt: skip
    for k, (c, own) in enumerate(chc_areas):
        add(
            name=f"桂林市{names[c]}{streets[k]}社区卫生服务中心"
            if own == "public"
            else f"桂林{n.pick(words)}社区卫生服务中心",
            area_code=c,
            ownership=own,
            type="chc",
            size=float(b.rng.uniform(0.7, 1.3)),
            growth=g(),
        )
    for k in range(b.scaled(2)):
        add(
            name=f"桂林市临桂区{['西城', '金水'][k % 2]}社区卫生服务中心",
            area_code="450312",
            ownership="public",
            type="chc",
            size=0.8,
            growth=0.0,
            open=2018,
        )
    chs_w = np.array(
        [GUILIN_POP[c] * (4 if c in GUILIN_CORE else (2 if c == "450312" else 0.25)) for c in b.low]
    )
    for k in range(b.scaled(58)):
        area = area_by(chs_w)
        own = "private" if k % 7 == 3 else "public"
        add(
            name=n.unique(lambda a=area: f"{names[a]}{n.village()}社区卫生服务站"),
            area_code=area,
            ownership=own,
            type="chs",
            size=float(b.rng.lognormal(0, 0.3)),
            growth=0.0,
        )
    for y in range(2016, 2021):
        for _ in range(b.scaled(3)):
            area = area_by(chs_w)
            add(
                name=n.unique(lambda a=area: f"{names[a]}{n.village()}社区卫生服务站"),
                area_code=area,
                ownership="public",
                type="chs",
                size=0.7,
                growth=0.0,
                open=y,
            )
    rural = np.array([GUILIN_POP[c] * (1 - GUILIN_URBAN[c]) for c in b.low])
    vil = split_int(b.scaled(3504), rural)
    for j, c in enumerate(b.low):
        for _ in range(int(vil[j])):
            closed = int(b.rng.integers(2016, 2021)) if b.rng.random() < 0.012 else None
            own = "private" if b.rng.random() < 0.144 else "public"
            add(
                name=n.unique(
                    lambda c=c: (
                        f"{names[c]}{n.pick(towns_of[c])}镇{n.village()}村卫生室"
                        if c in towns_of
                        else f"{names[c]}{n.village()}村卫生室"
                    )
                ),
                area_code=c,
                ownership=own,
                type="village",
                size=float(b.rng.lognormal(0, 0.35)),
                growth=0.0,
                close=closed,
            )
    clin_w = np.array([GUILIN_POP[c] * (1 + GUILIN_URBAN[c]) for c in b.low])
    for k in range(b.scaled(1507)):
        area = area_by(clin_w)
        infirmary = k % 14 == 0
        closed = int(b.rng.integers(2016, 2021)) if b.rng.random() < 0.12 else None
        if infirmary:
            org = n.pick(INFIRMARY_ORGS).format(n=int(b.rng.integers(1, 19)))
            add(
                name=n.unique(lambda a=area, o=org: f"{names[a]}{o}医务室"),
                area_code=area,
                ownership="public",
                type="clinic",
                role="infirmary",
                size=float(b.rng.lognormal(-0.3, 0.4)),
                growth=0.0,
                close=closed,
            )
        else:
            menzhen = k in (1, 2) or b.rng.random() < 0.1
            add(
                name=n.unique(
                    lambda a=area, m=menzhen: (
                        f"桂林{short[a]}{n.pick(CLINIC_WORDS)}门诊部"
                        if m
                        else n.person(SURNAMES_GX) + n.pick(CLINIC_KINDS)
                    )
                ),
                area_code=area,
                ownership="private",
                type="clinic",
                role="clinic_beds" if k in (1, 2) else "private_clinic",
                size=float(b.rng.lognormal(0, 0.5)),
                growth=0.01,
                close=closed,
            )
    for y in range(2016, 2021):
        for _ in range(b.scaled(40)):
            area = area_by(clin_w)
            add(
                name=n.unique(lambda: n.person(SURNAMES_GX) + n.pick(CLINIC_KINDS)),
                area_code=area,
                ownership="private",
                type="clinic",
                role="private_clinic",
                size=float(b.rng.lognormal(0, 0.5)),
                growth=0.01,
                open=y,
            )
    # professional public-health institutions: 13 CDCs, 13 MCH, 14 supervision institutes
    with_cdc = ["450312", *counties]
    add(
        name="桂林市疾病预防控制中心",
        area_code="450305",
        ownership="public",
        type="phi",
        role="cdc",
        size=2.5,
        growth=0.0,
    )
    add(
        name="桂林市妇幼保健院",
        area_code="450305",
        ownership="public",
        type="phi",
        role="mch",
        size=2.5,
        growth=0.02,
    )
    add(
        name="桂林市卫生计生监督所",
        area_code="450305",
        ownership="public",
        type="phi",
        role="supervision",
        size=2.0,
        growth=0.0,
    )
    for c in with_cdc:
        size = GUILIN_POP[c] / 380
        add(
            name=f"{names[c]}疾病预防控制中心",
            area_code=c,
            ownership="public",
            type="phi",
            role="cdc",
            size=size,
            growth=0.0,
        )
        add(
            name=f"{names[c]}妇幼保健院",
            area_code=c,
            ownership="public",
            type="phi",
            role="mch",
            size=size,
            growth=0.02,
        )
        add(
            name=f"{names[c]}卫生计生监督所",
            area_code=c,
            ownership="public",
            type="phi",
            role="supervision",
            size=size,
            growth=0.0,
        )
    add(
        name="桂林市雁山区卫生计生监督所",
        area_code="450311",
        ownership="public",
        type="phi",
        role="supervision",
        size=0.3,
        growth=0.0,
    )


GUILIN_NORMS = {
    "beds": {
        "public:hospital": 300,
        "private:hospital": 290,
        "public:tcm_hospital": 170,
        "private:tcm_hospital": 200,
        "thc": 18,
        "chc": 12,
        "mch": 62,
        "clinic_beds": 15,
    },
    "doctors": {
        "public:hospital": 118,
        "private:hospital": 95,
        "tcm_hospital": 70,
        "thc": 11.5,
        "chc": 14,
        "chs": 1.6,
        "village": 0.09,
        "clinic": 1.0,
        "mch": 30,
        "cdc": 12,
        "supervision": 3,
    },
    "nurses": {
        "public:hospital": 165,
        "private:hospital": 120,
        "tcm_hospital": 90,
        "thc": 10,
        "chc": 14,
        "chs": 1.2,
        "village": 0.02,
        "clinic": 0.45,
        "mch": 42,
        "cdc": 3,
    },
    "other_tech": {
        "public:hospital": 70,
        "private:hospital": 40,
        "tcm_hospital": 40,
        "thc": 7,
        "chc": 7,
        "chs": 0.5,
        "village": 0.4,
        "clinic": 0.3,
        "mch": 22,
        "cdc": 45,
        "supervision": 16,
    },
    "bachelor": {
        "public:hospital": 1.5,
        "private:hospital": 1.0,
        "tcm_hospital": 1.3,
        "thc": 0.6,
        "chc": 0.9,
        "chs": 0.7,
        "village": 0.1,
        "clinic": 0.5,
        "mch": 1.3,
        "cdc": 1.4,
        "supervision": 1.5,
    },
    "gps": {"thc": 6, "chc": 8, "chs": 1.5, "public:hospital": 1.0},
    "tcm_doctors": {
        "tcm_hospital": 60,
        "public:hospital": 5,
        "private:hospital": 2,
        "thc": 1.6,
        "chc": 2,
        "chs": 0.3,
        "clinic": 0.25,
        "village": 0.02,
        "mch": 1,
    },
    "public_health_staff": {"cdc": 85, "mch": 60, "supervision": 45, "thc": 10, "chc": 8},
    "tcm_beds": {
        "public:tcm_hospital": 0.8,
        "private:tcm_hospital": 0.8,
        "public:hospital": 0.01,
        "private:hospital": 0.01,
        "thc": 0.08,
        "chc": 0.05,
    },
    "visits": {
        "public:hospital": 120_000,
        "private:hospital": 70_000,
        "tcm_hospital": 100_000,
        "thc": 28_000,
        "chc": 45_000,
        "chs": 7_000,
        "village": 2_300,
        "clinic": 3_800,
        "infirmary": 1_500,
        "mch": 110_000,
    },
    "admissions": {
        "hospital": 32,
        "tcm_hospital": 30,
        "thc": 14,
        "chc": 6,
        "mch": 35,
        "clinic_beds": 10,
    },
}
GUILIN_MINS = {"doctors": {"hospital": 8, "tcm_hospital": 8, "chc": 3, "thc": 3, "clinic": 1},
               "nurses": {"hospital": 8, "tcm_hospital": 8, "chc": 2, "thc": 2}}  # fmt: skip


def guilin_resources(b: Builder, P: np.ndarray) -> None:
    guilin_register(b)
    R = Resources(b)
    R.reg["growth"] = R.reg["growth"].astype("float64")
    pyr = dict(zip(b.years, P, strict=True))
    paths = {
        n: dict(zip(b.years, b.path(n), strict=True))
        for n in (32, 33, 34, 35, 36, 38, 51, 53, 54, 55)
    }
    for y in b.years:
        act = R.active(y)
        typ = act["type"].to_numpy()
        own = act["ownership"].to_numpy()
        role = act["role"].to_numpy()
        tau = y - b.plan.baseline_year
        W = R.weights
        P_y = pyr[y]
        v: dict[str, np.ndarray] = {}
        beds_total = 19_630 if y == 2015 else round(paths[36][y] * P_y / 1000)
        bw = W(act, GUILIN_NORMS["beds"], y)
        bw = np.where(own == "private", bw * (1 + 0.12) ** max(tau, 0), bw)
        v["beds"] = split_int(beds_total, bw)
        v["tcm_beds"] = split_int(
            round(paths[54][y] * P_y / 10_000),
            v["beds"] * W(act, GUILIN_NORMS["tcm_beds"], y),
            caps=v["beds"],
        )
        tech_per = interp({2015: 6.06, 2018: 6.6, 2020: 7.3}, [y])[y]
        totals = {
            "doctors": round(paths[33][y] * P_y / 1000),
            "nurses": round(paths[35][y] * P_y / 1000),
            "health_tech_staff": round(tech_per * P_y / 1000),
            "gps": round(paths[38][y] * P_y / 10_000),
            "tcm_doctors": round(paths[55][y] * P_y / 10_000),
            "public_health_staff": round(paths[34][y] * P_y / 1000),
        }
        totals["health_tech_bachelor"] = round(
            interp({2015: 27.5, 2020: 35.0}, [y])[y] / 100 * totals["health_tech_staff"]
        )
        v.update(staff_block(act, y, totals, GUILIN_NORMS, GUILIN_MINS))
        v["visits"] = split_int(
            30_903_200 if y == 2015 else round(30_903_200 * 1.035**tau),
            W(act, GUILIN_NORMS["visits"], y),
        )
        v["admissions"] = split_int(
            671_800 if y == 2015 else round(671_800 * 1.04**tau),
            v["beds"] * W(act, GUILIN_NORMS["admissions"], y),
        )
        # flags: TCM services (#50–53), NEDL in government primary care (#32), built to standard
        tcm = np.zeros(len(act), dtype="int64")
        tcm[np.isin(typ, ["chc", "chs", "hospital", "tcm_hospital"])] = 1
        tcm[role == "mch"] = 1
        thc = typ == "thc"
        tcm |= R.flags(act, thc, round(paths[51][y] / 100 * int(thc.sum())))
        vil = typ == "village"
        tcm |= R.flags(act, vil, round(paths[53][y] / 100 * int(vil.sum())))
        tcm |= ((typ == "clinic") & (act["prio"].to_numpy() < 0.4)).astype("int64")
        v["facilities_tcm_service"] = tcm
        gov = (own == "public") & np.isin(typ, ["chc", "chs", "thc", "village"])
        nedl = R.flags(act, gov, round(paths[32][y] / 100 * int(gov.sum())))
        nedl |= ((own == "public") & np.isin(typ, ["hospital", "tcm_hospital"])).astype("int64")
        nedl |= (
            (own == "private")
            & np.isin(typ, ["chc", "chs", "village"])
            & (act["prio"].to_numpy() < 0.5)
        ).astype("int64")
        v["facilities_nedl_used"] = nedl
        std = np.zeros(len(act), dtype="int64")
        std[np.isin(typ, ["hospital", "tcm_hospital", "phi", "chc"])] = 1
        for kind, rate in (
            ("thc", 0.70 + 0.05 * tau),
            ("chs", 0.80 + 0.034 * tau),
            ("village", 0.60 + 0.06 * tau),
            ("clinic", 0.55),
        ):
            m = typ == kind
            std |= R.flags(act, m, round(min(rate, 1.0) * int(m.sum())))
        v["facilities_up_to_standard"] = std
        R.emit(y, act, v)
    b.resource_frame = R.frame()


BUILDERS = {"longhu": build_longhu, "guilin": build_guilin}


# ------------------------------------------------------------------------------------ synthetic towns


def _add_towns(b: Builder, obs: pd.DataFrame, fac: pd.DataFrame, per: int):
    """Benchmarks only: N synthetic towns under each lowest district/county; counts split, measures
    and flags copied, facilities moved to a town. Returns (areas, observations, facilities)."""
    levels = {a.code: a.level for a in b.areas}
    if not per or not any(levels[c] in ("district", "county") for c in b.low):
        return b.areas, obs, fac
    rng = np.random.default_rng(b.rng.integers(2**63))
    towns: dict[str, list[str]] = {}
    areas = list(b.areas)
    for c in b.low:
        towns[c] = [f"{c}{k + 101:03d}" for k in range(per)]
        areas.extend(
            Area(
                code=t,
                name_zh=f"{b.names[c]}第{k + 1}镇",
                name_en=f"Town {k + 1} of {c}",
                level="town",
                parent=c,
            )
            for k, t in enumerate(towns[c])
        )
    kinds = {c: e.kind for c, e in b.catalog.elements.items()}
    low = obs[obs["area_code"].isin(b.low)]
    rest = obs[~obs["area_code"].isin(b.low)]
    parts = [rest, low]  # the former lowest rows stay as the towns' parent totals
    shares = {c: rng.dirichlet(np.full(per, 4.0)) for c in b.low}
    for r in low.itertuples(index=False):
        if kinds[r.element] in ("count", "amount") and r.element not in b.no_parent:
            dec = b.decimals.get(r.element, 0)
            if dec:
                vals = np.round(r.value * shares[r.area_code], dec)
                vals[-1] = round(r.value - vals[:-1].sum(), dec)
            else:
                vals = split_int(int(round(r.value)), shares[r.area_code])
        else:
            vals = np.full(per, r.value)
        parts.append(
            pd.DataFrame(
                {
                    "area_code": towns[r.area_code],
                    "year": r.year,
                    "element": r.element,
                    "stratum": r.stratum,
                    "value": vals,
                }
            )
        )
    obs = pd.concat(parts, ignore_index=True)
    moved = fac["key"].map(lambda k: int(hashlib.md5(k.encode()).hexdigest(), 16) % per)
    fac = fac.assign(area_code=[towns[a][m] for a, m in zip(fac["area_code"], moved, strict=True)])
    return areas, obs, fac


# ------------------------------------------------------------------------------------ the truth


def sample_truth(
    catalog: Catalog,
    *,
    seed: int = DEFAULT_SEED,
    scale: float = 1.0,
    years: Iterable[int] = DEFAULT_YEARS,
    towns_per_county: int = 0,
    check: bool = True,
) -> Truth:
    """The sample's numbers for both plans. Same seed → identical output.

    ``scale`` multiplies facilities per area (totals stay, so rates and statuses do too; the 2015
    figures that depend on facility counts are exact at scale 1 only); ``towns_per_county`` adds
    synthetic town-level areas under each district/county (benchmarks only). With ``check`` the
    designed status coverage is verified with the real method and a missing status raises.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    years = tuple(sorted(set(years)))
    obs_frames, fac_frames, areas, planted = [], [], {}, []
    for plan_id in PLANS:
        if plan_id not in catalog.plans:
            continue
        b = Builder(catalog, plan_id, seed, scale, years)
        BUILDERS[plan_id](b)
        obs = b.frame()
        fac = b.resource_frame
        plan_areas, obs, fac = _add_towns(b, obs, fac, towns_per_county)
        areas[plan_id] = plan_areas
        obs.insert(0, "plan", plan_id)
        obs_frames.append(obs)
        fac_frames.append(fac)
        planted.extend(b.planted)
    observations = pd.concat(obs_frames, ignore_index=True)
    observations["year"] = observations["year"].astype("int64")
    observations = observations.sort_values(
        ["plan", "area_code", "year", "element", "stratum"], ignore_index=True
    )
    facilities = pd.concat(fac_frames, ignore_index=True)
    truth = Truth(seed, scale, years, towns_per_county, areas, observations, facilities, planted)
    if check and not towns_per_county and {2015, 2018, 2020} <= set(years):
        check_status_coverage(catalog, truth)
    return truth


def status_rows(catalog: Catalog, truth: Truth) -> list[dict]:
    """Root-level assessment rows of both plans at mid and end term, by the real method."""
    from transforms.assessment import assess_plan
    from transforms.indicators import indicator_values

    rows = []
    for plan_id, areas in truth.areas.items():
        plan = catalog.plan(plan_id)
        values = indicator_values(plan, areas, truth.observations_for(plan_id))
        for stage in ("mid", "end"):
            rows.extend(
                r for r in assess_plan(plan, areas, values, stage) if r["area"] == plan.jurisdiction
            )
    return rows


def status_coverage(catalog: Catalog, truth: Truth) -> dict[tuple[str, str], set[str]]:
    """(plan, stage) → the statuses that occur among the plan's indicators (root rows)."""
    out: dict[tuple[str, str], set[str]] = {}
    for r in status_rows(catalog, truth):
        out.setdefault((r["plan"], r["stage"]), set()).add(r["status"])
    return out


def status_counts(catalog: Catalog, truth: Truth) -> dict[tuple[str, str], Counter]:
    out: dict[tuple[str, str], Counter] = {}
    for r in status_rows(catalog, truth):
        out.setdefault((r["plan"], r["stage"]), Counter())[r["status"]] += 1
    return out


def check_status_coverage(catalog: Catalog, truth: Truth) -> None:
    """Fail loudly when a status the method has is missing for a plan and stage."""
    cov = status_coverage(catalog, truth)
    missing = {
        f"{plan}/{stage}": sorted(REQUIRED[stage] - cov.get((plan, stage), set()))
        for plan in truth.areas
        for stage in ("mid", "end")
        if REQUIRED[stage] - cov.get((plan, stage), set())
    }
    if missing:
        raise AssertionError(f"样例数据缺少状态 / the sample misses statuses: {missing}")


def baseline_check(catalog: Catalog, truth: Truth) -> list[dict]:
    """Each indicator's warehouse 2015 value against the plan's stated baseline (printed digits)."""
    from transforms.indicators import indicator_values

    out = []
    for plan_id, areas in truth.areas.items():
        plan = catalog.plan(plan_id)
        values = indicator_values(plan, areas, truth.observations_for(plan_id))
        v = values[
            (values["area_code"] == plan.jurisdiction)
            & (values["year"] == plan.baseline_year)
            & (values["stratum"] == "")
        ].set_index("number")["value"]
        for ind in plan.indicators:
            if ind.baseline is None or ind.baseline.value is None or ind.formula is None:
                continue
            got = float(v[ind.number]) if ind.number in v.index else None
            tol = printed_tolerance(ind.baseline.value, ind.baseline.text)
            out.append(
                {
                    "plan": plan_id,
                    "number": ind.number,
                    "stated": ind.baseline.value,
                    "text": ind.baseline.text,
                    "value": got,
                    "tolerance": tol,
                    "ok": got is not None and abs(got - ind.baseline.value) <= tol,
                    "exception": BASELINE_EXCEPTIONS.get((plan_id, ind.number)),
                }
            )
    return out


# ------------------------------------------------------------------------------------ writing


@dataclass
class WrittenFile:
    path: Path
    plan: str
    year: int
    source: str
    layout: str
    rows: int
    bytes: int


def _fmt(value: float, decimals: int) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if decimals == 0:
        return int(round(value))
    return round(float(value), decimals)


def _column_decimals(col, element_decimals: int) -> int:
    if col.scale != 1.0:
        return max(element_decimals, round(math.log10(col.scale)))
    return element_decimals


def _inverse_maps(layout: Layout, plan_id: str) -> dict[str, dict[str, str]]:
    inv: dict[str, dict[str, str]] = {}
    for what, mapping in layout.value_maps.items():
        inv[what] = {}
        for src, ours in mapping.items():
            inv[what].setdefault(ours, src)
    if plan_id == "longhu" and "卫生站" in layout.value_maps.get("type", {}):
        inv["type"]["village"] = "卫生站"  # what Longhu calls its village health stations
    return inv


def _long_rows(
    layout: Layout,
    obs: pd.DataFrame,
    names: Mapping[str, str],
    decimals: Mapping[str, int],
    area_order: Sequence[str],
    flags: set[str],
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a long layout: one row per area, each column from a field or element."""
    have = {(e, s) for e, s in zip(obs["element"], obs["stratum"], strict=True)}
    headers: list[str] = []
    cols = []
    for header, col in layout.columns.items():
        if col.element is not None and (col.element, col.stratum or "") not in have:
            if col.required:
                raise ValueError(f"layout {layout.id}: no values for required column {header}")
            continue
        headers.append(header)
        cols.append(col)
    cells = {
        (a, e, s): v
        for a, e, s, v in zip(
            obs["area_code"], obs["element"], obs["stratum"], obs["value"], strict=True
        )
    }
    year = int(obs["year"].iloc[0])
    rows = []
    present = set(obs["area_code"])
    for area in area_order:
        if area not in present:
            continue
        row = []
        for col in cols:
            if col.field == "area_code":
                row.append(area)
            elif col.field == "area_name":
                row.append(names[area])
            elif col.field == "year":
                row.append(year)
            else:
                v = cells.get((area, col.element, col.stratum or ""))
                if v is None:
                    row.append(None)
                elif col.element in flags:
                    row.append("是" if v >= 0.5 else "否")
                else:
                    dec = _column_decimals(col, decimals.get(col.element, 0))
                    row.append(_fmt(v / col.scale, dec))
        rows.append(row)
    return headers, rows


OUTPATIENT_DEPT = "门诊部"
USCC_FROM = 2018  # the form that renamed its columns also switched to 统一社会信用代码 as the id


def _facility_rows(
    layout: Layout, fac: pd.DataFrame, plan_id: str
) -> tuple[list[str], list[list[Any]]]:
    inv = _inverse_maps(layout, plan_id)
    headers = list(layout.columns)
    id_col = "org_code" if layout.years[0] < USCC_FROM else "uscc"
    rows = []
    for r in fac.itertuples(index=False):
        row = []
        for col in layout.columns.values():
            f = col.field
            if f == "facility_id":
                row.append(getattr(r, id_col))
            elif f == "facility_name":
                row.append(r.name)
            elif f == "area_code":
                row.append(r.area_code)
            elif f == "year":
                row.append(int(r.year))
            elif f == "ownership":
                row.append(inv["ownership"][r.ownership])
            elif f == "type":
                t = inv["type"][r.type]
                if (
                    r.type == "clinic"
                    and r.name.endswith(OUTPATIENT_DEPT)
                    and (layout.value_maps["type"].get(OUTPATIENT_DEPT) == "clinic")
                ):
                    t = OUTPATIENT_DEPT  # 门诊部 are reported under their own category name
                row.append(t)
            elif col.flag:
                row.append("是" if getattr(r, col.element) else "否")
            else:
                row.append(int(getattr(r, col.element)))
        rows.append(row)
    return headers, rows


def _csv_bytes(headers: list[str], rows: list[list[Any]], encoding: str) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(headers)
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    text = buf.getvalue()
    if encoding == "utf-8-sig":
        return codecs.BOM_UTF8 + text.encode("utf-8")
    return text.encode(encoding)


def _xlsx_bytes(headers: list[str], rows: list[list[Any]], sheet: str, title: str | None) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    wb.properties.creator = "healthplan sample"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    ws = wb.create_sheet(sheet)
    if title:
        ws.append([title])
    ws.append(headers)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return _normalize_zip(buf.getvalue())


def _normalize_zip(data: bytes) -> bytes:
    """The same workbook with fixed member dates and timestamps, so regenerating is byte-identical."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)",
                    rb"\g<1>" + stamp + rb"\g<2>",
                    content,
                )
            info = zipfile.ZipInfo(item.filename, date_time=FIXED_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, content)
    return out.getvalue()


SOURCE_SHEETS = {"resources": "机构年报"}
TITLES = {
    "expenditure": "{area}{year}年卫生费用核算表",
    "medical_quality": "{area}{year}年医疗质量监测汇总表",
}


def write_sample(
    truth: Truth, catalog: Catalog, layouts: LayoutSet, out_dir: Path
) -> list[WrittenFile]:
    """One file per plan, year and source, in the source's layout for that year:
    ``out_dir/<plan>/<year>/<source>_<year>.<csv|xlsx>``."""
    out_dir = Path(out_dir)
    written: list[WrittenFile] = []
    decimals = {"pop_resident": 0, "life_expectancy": 2, "tfr": 2, "the_total": 2, "the_government": 2,
                "the_social": 2, "the_personal": 2, "imr_reported": 2, "u5mr_reported": 2,
                "mmr_reported": 2}  # fmt: skip
    flags = {c for c, e in catalog.elements.items() if e.kind == "flag"}
    for plan_id, areas in truth.areas.items():
        names = {a.code: a.name_zh for a in areas}
        order = [a.code for a in areas]
        obs = truth.area_observations(plan_id)
        obs = obs.assign(source=obs["element"].map(lambda e: catalog.elements[e].source))
        for year in truth.years:
            folder = out_dir / plan_id / str(year)
            year_obs = obs[obs["year"] == year]
            for source, part in year_obs.groupby("source", sort=True):
                layout = layouts.layout_for(source, year)
                headers, rows = _long_rows(layout, part, names, decimals, order, flags)
                written.append(
                    _write(
                        folder,
                        plan_id,
                        year,
                        source,
                        layout,
                        headers,
                        rows,
                        names[catalog.plan(plan_id).jurisdiction],
                    )
                )
            fac = truth.facility_rows(plan_id, year)
            if not fac.empty:
                layout = layouts.layout_for("resources", year)
                headers, rows = _facility_rows(layout, fac, plan_id)
                written.append(
                    _write(
                        folder,
                        plan_id,
                        year,
                        "resources",
                        layout,
                        headers,
                        rows,
                        names[catalog.plan(plan_id).jurisdiction],
                    )
                )
    return written


def _write(
    folder: Path,
    plan_id: str,
    year: int,
    source: str,
    layout: Layout,
    headers,
    rows,
    root_name: str,
) -> WrittenFile:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source}_{year}.{layout.format}"
    if layout.format == "csv":
        data = _csv_bytes(headers, rows, ENCODINGS.get(source, "utf-8"))
    else:
        title = TITLES.get(source, "").format(area=root_name, year=year) or None
        if layout.header_row > 1 and not title:
            title = f"{root_name}{year}年{source}"
        sheet = layout.sheet or SOURCE_SHEETS.get(source, "Sheet1")
        data = _xlsx_bytes(headers, rows, sheet, title if layout.header_row > 1 else None)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return WrittenFile(path, plan_id, year, source, layout.id, len(rows), len(data))


# ------------------------------------------------------------------------------------ CLI


def generate_command(out: Path, scale: float, seed: int) -> int:
    """``healthplan sample generate``: build, verify and write the sample; print what was written."""
    from rich.console import Console
    from rich.markup import escape

    from healthplan.definitions import load_catalog
    from healthplan.layouts import load_layouts

    console = Console(highlight=False)
    catalog = load_catalog()
    layouts = load_layouts(elements=catalog.elements)
    truth = sample_truth(catalog, seed=seed, scale=scale)
    out = Path(out)
    written = write_sample(truth, catalog, layouts, out)
    console.print(f"样例数据 sample data → {escape(str(out))}（seed {seed}，scale {scale:g}）")
    for w in written:
        console.print(
            f"  写入 wrote {escape(str(w.path.relative_to(out)))}"
            f"（{w.layout}，{w.rows:,} 行 rows，{w.bytes:,} 字节 bytes）"
        )
    for (plan, stage), c in sorted(status_counts(catalog, truth).items()):
        shown = "，".join(f"{s} {n}" for s, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
        console.print(f"状态 statuses {plan}/{stage}: {shown}")
    for p in truth.planted:
        console.print(
            f"预置差错 planted: {p['plan']} {p['area']} {p['year']} {p['element']} "
            f"报告值 reported {p['reported']:g}（重算值 +{p['delta']:g} / recomputed + {p['delta']:g}）"
        )
    total = sum(w.bytes for w in written)
    rows = sum(w.rows for w in written)
    console.print(
        f"共 {len(written)} 个文件，{rows:,} 行，{total / 2**20:.2f} MB"
        f" / {len(written)} files, {rows:,} rows, {total / 2**20:.2f} MB"
    )
    return 0
