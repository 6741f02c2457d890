"""Printed cells of a plan's indicator table read as values: targets, baselines, units, direction.

Pure functions of strings. Each returns what it read and, separately, the review items for what
it had to guess (``{"field", "why_zh", "why_en"}``), so that a draft plan says where a person must
look before the plan is used.
"""

from __future__ import annotations

import re
import unicodedata

NUMBER = r"[-+]?\d+(?:\.\d+)?"
# Units a printed value may carry after its number; stripped before reading the number.
VALUE_UNITS = r"(?:%|‰|‱|岁|元|天|日|张|床|人|名|个|所|项|次|/10万|/万|/千)"
# Chinese names of the comparators, as they are printed before or after a number.
PREFIX_COMPARATORS = {
    "≥": ">=",
    ">=": ">=",
    "不低于": ">=",
    "不少于": ">=",
    "≤": "<=",
    "<=": "<=",
    "不高于": "<=",
    "不超过": "<=",
    ">": ">",
    "高于": ">",
    "<": "<",
    "低于": "<",
}
SUFFIX_COMPARATORS = {"以上": ">=", "以下": "<=", "左右": "about"}
INCLUSIVE_NOTES = {"以上": "“以上”含本数", "以下": "“以下”含本数"}
RISE_WORDS = ("提高", "增加", "上升", "增长", "提升")
FALL_WORDS = ("降低", "下降", "减少", "减低", "缩小")
# A plan's table names strata in a split target (农村35城镇60); the keys the formulas use.
STRATUM_KEYS = {
    "农村": "rural",
    "城镇": "urban",
    "城市": "urban",
    "男性": "male",
    "女性": "female",
    "男": "male",
    "女": "female",
}
# Words in an indicator's name that make lower values better (mortality, incidence, costs …).
LOWER_IS_BETTER = (
    "死亡率",
    "发生率",
    "发病率",
    "患病率",
    "携带率",
    "感染率",
    "再住院率",
    "住院日",
    "个人卫生支出",
    "自付",
    "抗菌药物使用率",
    "生长迟缓率",
    "低体重",
    "肥胖率",
    "吸烟率",
    "性别比",
    "自然增长率",
    "剖宫产率",
    "药占比",
    "等待时间",
    "费用增长",
)
# Units of rates that are mostly deaths or cases (lower is better) when the name says nothing.
LOWER_UNITS = ("‰", "/10万", "1/10万", "/万")
# Units by convention for names that print none (a ratio of nurses to doctors, a sex ratio).
UNIT_CONVENTIONS = (
    ("医护比", "护士/医师"),
    ("床护比", "护士/床"),
    ("性别比", "女=100"),
    ("总和生育率", ""),
)
# Words of a printed unit; a trailing bracket holding one of them is the indicator's unit.
UNIT_WORDS = "%％‰‱岁元天日张床人名个所项次万千倍年米时分钟公斤"
PER_POPULATION = (
    (re.compile(r"^每(?:10|十)万(?:名)?(?:常住)?(?:人口|居民)"), "10万人口"),
    (re.compile(r"^每万(?:名)?(?:常住)?(?:人口|居民)"), "万人口"),
    (re.compile(r"^每千(?:名)?(?:常住)?(?:人口|居民)"), "千人口"),
)
COUNT_UNITS = {"人": "人", "名": "人", "张": "张", "床": "张", "个": "个", "所": "所"}


def review(field: str, why_zh: str, why_en: str) -> dict:
    """One thing the importer guessed and a person must confirm."""
    return {"field": field, "why_zh": why_zh, "why_en": why_en}


def clean(text: str | None) -> str:
    """A cell's text with full-width ASCII folded and ends stripped (CJK kept as printed)."""
    return (text or "").replace("\u3000", " ").strip()


def folded(text: str) -> str:
    """NFKC form without spaces, to compare and parse (≥, ＞, ％ become ASCII-ish forms)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


def number_of(text: str) -> float | None:
    m = re.search(NUMBER, text)
    return float(m.group()) if m else None


def decimals_of(*texts: str | None) -> int:
    """How many decimals the printed numbers use (at least 1, at most 2)."""
    places = [len(m.group(1)) for t in texts if t for m in re.finditer(r"\d\.(\d+)", folded(t))]
    return min(max(places, default=2), 2) if places else 2


# ---------------------------------------------------------------- names and units


def split_name_unit(printed: str) -> tuple[str, str | None]:
    """The name without its trailing unit in brackets, and that unit (None when none is printed)."""
    name = clean(printed)
    m = re.search(r"[（(]([^（）()]{1,10})[）)]$", name)
    if m and any(ch in UNIT_WORDS for ch in m.group(1)):
        return name[: m.start()].rstrip(), m.group(1).strip()
    return name, None


def normalized_unit(unit: str) -> str:
    unit = unit.strip().replace("％", "%")
    return "%" if unit == "百分比" else unit


def unit_for(name: str, printed_unit: str | None, target_text: str) -> tuple[str, list[dict]]:
    """The indicator's unit: the printed one, per population when the name says 每千/每万人口."""
    if printed_unit and re.fullmatch(r"[-—–－/／]+", printed_unit.strip()):
        printed_unit = None
    if printed_unit:
        unit = normalized_unit(printed_unit)
        for pattern, per in PER_POPULATION:
            if pattern.search(name) and unit in COUNT_UNITS:
                return f"{COUNT_UNITS[unit]}/{per}", []
        return unit, []
    for word, unit in UNIT_CONVENTIONS:
        if word in name:
            why = f"表中未印单位，按“{word}”的惯例记为“{unit or '无量纲'}”"
            return unit, [review("unit", why, f"no unit printed; '{unit}' by convention")]
    if re.match(r"^1\s*[:：∶]", folded(target_text)):
        why = "表中未印单位，目标为比例“1:x”，记为“护士/医师”"
        return "护士/医师", [review("unit", why, "no unit printed; a 1:x ratio")]
    return "", [review("unit", "表中未印单位，请补充", "no unit printed; please supply one")]


def judged_level(name: str, jurisdiction_level: str) -> tuple[str, list[dict]]:
    """'town' for 以镇（街道）为单位…, 'county' for 以县（区）为单位… in a city, else 'area'."""
    f = folded(name)
    if re.search(r"以(?:乡|镇|街道)", f) and "为单位" in f:
        return "town", []
    if re.search(r"以县", f) and "为单位" in f:
        if jurisdiction_level in ("district", "county"):
            why = "“以县（区）为单位”，本地区即为县（区），按全域评价"
            return "area", [review("level", why, "judged per county: the jurisdiction is one")]
        return "county", []
    return "area", []


def direction_for(
    name: str, comparator: str, delta: float | None, unit: str = ""
) -> tuple[str, list[dict]]:
    """higher/lower: from the comparator or a relative change when printed, else guessed from
    the name (死亡率, 发生率 …) or the unit (‰ and /10万 rates are mostly deaths and cases)."""
    if comparator in (">=", ">"):
        return "higher", []
    if comparator in ("<=", "<"):
        return "lower", []
    if comparator == "relative" and delta:
        return ("higher" if delta > 0 else "lower"), []
    hit = next((w for w in LOWER_IS_BETTER if w in name), None)
    if hit:
        why = f"方向按名称中的“{hit}”推定为越低越好"
        return "lower", [review("direction", why, f"lower is better, guessed from '{hit}'")]
    if unit.strip() in LOWER_UNITS:
        why = f"方向按单位“{unit}”（多为死亡率、发病率）推定为越低越好"
        return "lower", [review("direction", why, f"lower is better, guessed from the unit {unit}")]
    why = "目标未写明方向，按名称推定为越高越好"
    return "higher", [review("direction", why, "higher is better, guessed from the name")]


# ---------------------------------------------------------------- baselines


def baseline_figure(printed: str, year: int | None) -> tuple[dict | None, list[dict]]:
    """The baseline as {value, year, text}; None for '-' or a blank cell."""
    text = clean(printed)
    f = folded(text)
    if not f or re.fullmatch(r"[-—–/／无－]+", f):
        return None, []
    ratio = re.match(r"^1[:：∶](" + NUMBER + ")", f)
    value = float(ratio.group(1)) if ratio else number_of(f)
    if value is None:
        why = f"基期值“{text}”不是数字"
        return {"value": None, "year": year, "text": text}, [
            review("baseline", why, "baseline is not a number")
        ]
    items = []
    if re.search(r"[<>≤≥]|以上|以下|左右|不低于|不高于", f):
        why = f"基期值“{text}”为界值或约数，按{value:g}计"
        items.append(review("baseline", why, f"baseline '{text}' is a bound, stored as {value:g}"))
    return {"value": value, "year": year, "text": text}, items
