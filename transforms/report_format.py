"""Formatting and status vocabulary shared by the report's context builders (pure).

Numbers are formatted here (to the indicator's decimals, rounded half up; '—' when missing),
moments in the bureau's zone named in words (北京时间 for UTC+8), statuses with their symbols,
and every fixed label the templates and writers print (``LABELS``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pandas as pd

from healthplan.definitions import Indicator
from transforms.evaluation import (
    ACHIEVED,
    AHEAD,
    LAGGING,
    MET_EARLY,
    MOVING_AWAY,
    NEARLY_ACHIEVED,
    NEEDS_REVIEW,
    NEEDS_SPEEDUP,
    NO_DATA,
    NOT_ACHIEVED,
    ON_SCHEDULE,
    PLAIN_COMPARATORS,
    Thresholds,
    is_met,
)

DASH = "—"
DEFAULT_THRESHOLDS = Thresholds()
ATTRIBUTES = ("约束性", "预期性", "指导性")
NO_ATTRIBUTE = "未注明"
CN_NUMERALS = "一二三四五六七八九十"

# Symbol + colour class per status: the symbol carries the meaning in black-and-white prints.
# Every symbol is in Noto Sans CJK SC (checked by the tests: no .notdef).
STATUS_STYLE: dict[str, tuple[str, str]] = {
    MET_EARLY: ("✓", "st-met"),
    ACHIEVED: ("✓", "st-met"),
    AHEAD: ("▲", "st-ahead"),
    ON_SCHEDULE: ("●", "st-ok"),
    NEEDS_SPEEDUP: ("◆", "st-warn"),
    NEARLY_ACHIEVED: ("◐", "st-warn"),
    LAGGING: ("▼", "st-bad"),
    NOT_ACHIEVED: ("▽", "st-bad"),
    MOVING_AWAY: ("×", "st-away"),
    NO_DATA: ("○", "st-none"),
    NEEDS_REVIEW: ("？", "st-review"),
}
STATUS_ORDER = {
    "mid": (
        MET_EARLY,
        AHEAD,
        ON_SCHEDULE,
        NEEDS_SPEEDUP,
        LAGGING,
        MOVING_AWAY,
        NO_DATA,
        NEEDS_REVIEW,
    ),
    "end": (ACHIEVED, NEARLY_ACHIEVED, NOT_ACHIEVED, MOVING_AWAY, NO_DATA, NEEDS_REVIEW),
}
GOOD = {MET_EARLY, AHEAD, ON_SCHEDULE, ACHIEVED}
CONCERN = {NEEDS_SPEEDUP, NEARLY_ACHIEVED}
BAD = {LAGGING, MOVING_AWAY, NOT_ACHIEVED}
UNKNOWN = {NO_DATA, NEEDS_REVIEW}

LEVEL_ZH = {"city": "市", "district": "区", "county": "县", "town": "镇", "street": "街道"}
JUDGED_ZH = {"area": "全区", "county": "县（区）", "town": "镇（街道）"}
# A change of a share is in percentage (permille) points, not in per cent.
DELTA_UNIT = {"%": "个百分点", "‰": "个千分点"}
MAX_ISSUES = 200
# Where a baseline came from (issue 18's rows): the plan's table first, then its text, then data.
BASELINE_SOURCES = ("规划表", "规划正文", "数据仓库")
BASELINE_SOURCE_ZH = {"规划表": "规划表", "规划正文": "规划正文", "数据仓库": "报送的基期年数据"}
FIELD_ZH = {
    "baseline": "基期值",
    "target": "目标值",
    "comparator": "目标的比较关系",
    "direction": "指标方向",
    "unit": "计量单位",
    "year": "年份",
    "attribute": "指标属性",
    "baseline.year": "基期年份",
}
# Words from the engine that a reader of the report should not see, in plain words instead.
PLAIN_WORDS = (
    ("（p、ρ）", ""),
    ("数据仓库", "报送数据"),
    ("修正Z值", "波动程度"),
)

LABELS = {
    "page_before": "第 ",  # footer: 第 X 页　共 Y 页
    "page_between": " 页　共 ",
    "page_after": " 页",
    "toc": "目　录",
    "report": "报告",
    "data_year": "数据年份",
    "as_of": "数据截至",
    "issued_on": "印发日期",
    "issuing_body": "编制单位",
    "overview": "一、基本情况",
    "overview_status": "按评估状态",
    "overview_attribute": "按指标属性",
    "achievements": "二、主要成效",
    "table": "三、主要指标完成情况",
    "table_main": "（一）主要指标完成情况表",
    "charts": "（二）主要指标走势",
    "text_goals": "仅在规划正文中提出的目标",
    "indicator_notes": "有关指标情况说明",
    "problems": "四、存在问题及原因分析",
    "problems_binding": "约束性指标未达进度要求",
    "problems_other": "其他滞后或倒退的指标",
    "problems_concern": "需加快推进的指标",
    "problems_units": "分单位考核未达标",
    "problems_unknown": "无法按数值评估的指标",
    "suggestions": "五、下一步工作建议",
    "annexes": "附件",
    "areas": "分地区情况",
    "areas_matrix": "各地区评估状态一览",
    "quality": "数据质量说明",
    "quality_baseline": "（一）基期值核对",
    "quality_issues": "（二）涉及报告数字的未关闭数据质量问题",
    "appendix_method": "评估方法",
    "appendix_sources": "数据来源",
    "appendix_version": "数据时点与版本",
    "review_history": "人工评定与调整记录",
    "acknowledged": "已确认的数据问题",
    "commentary_check": "评述核对",
    "incomplete": "数据不完整",
    "commentary_cause": "原因分析与对策",
    "status": "状态",
    "count": "项数",
    "total": "合计",
    "attribute": "属性",
    "number": "序号",
    "indicator": "指标名称（单位）",
    "indicator_short": "指标",
    "area": "地区",
    "notes": "注",
    "none": "无。",
    "legend": "状态图例",
    "chart_legend_series": "实际值",
    "chart_legend_target": "目标值",
    "chart_legend_path": "基期至目标的直线进度",
    "chart_legend_year": "评估数据年份",
    "no_data": "无数据",
    "met": "达标",
    "not_met": "未达标",
    "symbol": "符号",
    "meaning": "含义",
    "condition": "条件",
    "file_name": "文件名",
    "source": "来源",
    "layout": "报表格式",
    "checksum": "文件指纹（前12位）",
    "received_at": "接收时间",
    "rows_loaded": "载入行数",
    "rows_rejected": "隔离行数",
    "severity": "级别",
    "kind": "类别",
    "year": "年份",
    "row": "行",
    "detail": "说明",
    "baseline_table": "规划表基期值",
    "baseline_text": "规划正文数字",
    "baseline_warehouse": "报送数据基期年值",
    "difference": "差异",
    "code_version": "程序版本",
    "definition_checksum": "规划定义文件指纹",
    "generated_at": "生成时间",
    "reviews": "本报告采用的人工评定与调整",
    "reviewer": "评定人",
    "reviewed_at": "评定时间",
    "verdict": "结论",
    "reason": "理由",
}

TABLE_COLUMNS = [
    {"key": "number", "label": "序号", "cls": "c-num"},
    {"key": "name", "label": "指标名称（单位）", "cls": "c-name"},
    {"key": "attribute", "label": "属性", "cls": "c-attr"},
    {"key": "baseline", "label": "基期值（年份）", "cls": "c-val"},
    {"key": "target", "label": "规划目标", "cls": "c-target"},
    {"key": "value", "label": "现值", "cls": "c-val"},
    {"key": "tau", "label": "时间进度", "cls": "c-ratio"},
    {"key": "p", "label": "完成进度", "cls": "c-ratio"},
    {"key": "rho", "label": "进度比", "cls": "c-ratio"},
    {"key": "projection", "label": "目标年预测值", "cls": "c-val"},
    {"key": "cagr", "label": "年均增速", "cls": "c-ratio"},
    {"key": "status", "label": "状态", "cls": "c-status"},
]


# ------------------------------------------------------------------------------ formatting


def _num(v: object) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt(v: object, decimals: int = 2) -> str:
    """A number to fixed decimals, rounded half up; '—' when missing; never '-0.00'."""
    x = _num(v)
    if x is None:
        return DASH
    d = max(0, int(decimals))
    # Half up on the decimal digits as printed (四舍五入): 2.5 → 3, 0.525 → 0.53, where binary
    # floats and round-half-even would give 2 and 0.52.
    q = Decimal(repr(x)).quantize(Decimal(1).scaleb(-d), rounding=ROUND_HALF_UP)
    s = f"{q:f}"
    if s.startswith("-") and q == 0:
        s = s[1:]
    return s


def fmt_pct(v: object, decimals: int = 1) -> str:
    x = _num(v)
    return DASH if x is None else fmt(x * 100, decimals) + "%"


def fmt_date(d: date | datetime | None) -> str:
    return DASH if d is None else f"{d.year}年{d.month}月{d.day}日"


def zone_name(tz: str, at: datetime | None = None) -> str:
    """The zone in words a reader knows: 北京时间 for UTC+8 (China's one zone), else 'UTC+h:mm'
    written out in Chinese ('协调世界时+5:30'), never an IANA name such as 'Asia/Shanghai'."""
    offset = (at or datetime(2020, 1, 1)).replace(tzinfo=ZoneInfo(tz)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if minutes == 8 * 60:
        return "北京时间"
    sign = "+" if minutes >= 0 else "−"
    h, m = divmod(abs(minutes), 60)
    return f"协调世界时{sign}{h}" + (f":{m:02d}" if m else "")


def fmt_moment(moment: datetime | None, tz: str, zone: bool = True) -> str:
    """Local date and time to the minute, '2019年3月1日 10:00'; ``zone``: followed by the zone
    in words (left out in a table column whose header names it)."""
    if moment is None:
        return DASH
    local = moment.astimezone(ZoneInfo(tz)) if moment.tzinfo else moment
    text = f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return text + (f"（{zone_name(tz, local.replace(tzinfo=None))}）" if zone else "")


def numbers_text(numbers: Iterable[int]) -> str:
    return "、".join(str(n) for n in numbers)


def cn_ordinal(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 20 → 二十, 35 → 三十五 (1…99)."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CN_NUMERALS[tens - 1] + "十")
    return head + (CN_NUMERALS[ones - 1] if ones else "")


def strip_ordinal(category: str) -> str:
    """'三、卫生资源' → '卫生资源' (for use inside a sentence)."""
    return re.sub(rf"^[{CN_NUMERALS}]+[、.．]\s*", "", category).strip()


def strip_ordinal_paren(title: str) -> str:
    """'（二）主要指标走势' → '主要指标走势' (to number it again where it is placed)."""
    return re.sub(rf"^（[{CN_NUMERALS}]+）", "", title).strip()


def with_unit(text: str, unit: str) -> str:
    if text == DASH or not unit:
        return text
    return f"{text}{unit}" if not re.match(r"^[A-Za-z]", unit) else f"{text} {unit}"


def with_delta_unit(text: str, unit: str) -> str:
    """A difference or a yearly change: '15.30个百分点' for a share in %, else with the unit."""
    return (
        f"{text}{DELTA_UNIT[unit]}"
        if unit in DELTA_UNIT and text != DASH
        else with_unit(text, unit)
    )


def plain_words(text: str) -> str:
    """A message from the engine for the report: its Chinese part (before ' / English'), with
    engineering words in plain words."""
    text = str(text).split(" / ")[0].strip()
    for word, plain in PLAIN_WORDS:
        text = text.replace(word, plain)
    return text


def verdict_zh(verdict: object) -> str:
    """A reviewer's verdict in words: True/'met'/'达到' → 达到, False/… → 未达到; a status name
    (an override may set one) is kept as it is."""
    if isinstance(verdict, bool):
        return "达到" if verdict else "未达到"
    text = str(verdict or "").strip()
    return {
        "met": "达到",
        "not_met": "未达到",
        "not-met": "未达到",
        "true": "达到",
        "false": "未达到",
    }.get(text.lower(), text or "未注明")


def status_view(status: str) -> dict:
    symbol, css = STATUS_STYLE.get(status, ("·", "st-none"))
    return {"status": status, "symbol": symbol, "css": css}


def attribute_of(ind: Indicator) -> str:
    return ind.attribute or NO_ATTRIBUTE


# ------------------------------------------------------------------------------ helpers


def _series(
    values: pd.DataFrame | None, number: int, area: str, stratum: str = ""
) -> dict[int, float]:
    if values is None or values.empty:
        return {}
    v = values[
        (values["number"] == number)
        & (values["area_code"] == area)
        & (values["stratum"] == stratum)
    ]
    out = {}
    for y, x in zip(v["year"], v["value"], strict=True):
        fx = _num(x)
        if fx is not None:
            out[int(y)] = fx
    return out


def _projection_meets(row: Mapping, ind: Indicator, th: Thresholds) -> bool | None:
    proj, target = _num(row.get("projection")), _num(row.get("target"))
    comp = row.get("comparator")
    if proj is None or target is None:
        return None
    if comp == "relative":
        comp = "reach"
    if comp not in PLAIN_COMPARATORS:
        return None
    tol = ind.target.tolerance if ind.target.tolerance is not None else th.about_tolerance
    return is_met(comp, proj, target, ind.sign, tol)


def _is_binding_problem(row: Mapping, ind: Indicator, stage: str, th: Thresholds) -> bool:
    """Spec step 4: a binding indicator not met with ρ < on-schedule (end of term: not 已完成)."""
    if ind.attribute != "约束性":
        return False
    if row["status"] in UNKNOWN:
        return False  # not judged: awaiting a reviewer or data, named apart (never "not achieved")
    if stage == "end":
        return row["status"] != ACHIEVED
    if row.get("met") is True:
        return False
    rho = _num(row.get("rho"))
    if row.get("jurisdiction_status"):  # per unit: the weakest unit's status, not the area's ρ
        return row["status"] in CONCERN | BAD
    if rho is not None:
        return rho < th.on_schedule_rho
    return row["status"] in CONCERN | BAD


def _count_phrase(counts: Mapping[str, int], order: Sequence[str]) -> str:
    return "、".join(f"{s}{counts[s]}项" for s in order if counts.get(s))
