"""A printed target (≥77, 7.5 以下, 1：1.2, 95左右, 农村35城镇60, 在2015年基础上提高1岁（桂林78岁）,
达国家要求 …) read as the Target the plan model holds, with what had to be guessed."""

from __future__ import annotations

import re

from transforms.plan_import.values import (
    FALL_WORDS,
    INCLUSIVE_NOTES,
    NUMBER,
    PREFIX_COMPARATORS,
    RISE_WORDS,
    STRATUM_KEYS,
    SUFFIX_COMPARATORS,
    VALUE_UNITS,
    clean,
    folded,
    review,
)

PREFIXES = "|".join(sorted(map(re.escape, PREFIX_COMPARATORS), key=len, reverse=True))
SUFFIXES = "|".join(SUFFIX_COMPARATORS)
PLAIN = re.compile(
    rf"^(?P<pre>{PREFIXES})?(?P<num>{NUMBER}){VALUE_UNITS}?(?P<suf>{SUFFIXES})?{VALUE_UNITS}?$"
)
ABOUT_TOLERANCE = re.compile(rf"^(?P<num>{NUMBER}){VALUE_UNITS}?±(?P<tol>{NUMBER}){VALUE_UNITS}?$")
RATIO = re.compile(rf"^1[:：∶](?P<num>{NUMBER})$")
RANGE = re.compile(rf"^(?P<low>{NUMBER}){VALUE_UNITS}?[-—–~～至](?P<high>{NUMBER}){VALUE_UNITS}?$")
STRATUM = re.compile(
    rf"(?P<label>[\u4e00-\u9fff]{{1,6}}?)(?P<pre>{PREFIXES})?(?P<num>{NUMBER}){VALUE_UNITS}?"
    rf"(?P<suf>{SUFFIXES})?[，,、；;]?"
)
RELATIVE = re.compile(
    r"(?:在|比|较)(?P<year>(?:19|20)\d\d)年?(?:[（(](?P<base>" + NUMBER + r")[^）)]*[）)])?"
    r"(?:的)?(?:基础上|水平上)?(?:再)?(?P<verb>" + "|".join(RISE_WORDS + FALL_WORDS) + r")"
    r"(?P<delta>" + NUMBER + r")(?P<unit>个百分点|%|‰|岁|元|天)?"
)
EXPLICIT = re.compile(r"[（(](?P<label>[^（）()\d]*)(?P<num>" + NUMBER + r")[^（）()]*[）)]\s*$")


def read_target(printed: str, year: int, higher: bool) -> tuple[dict, dict, list[dict]]:
    """The target as {text, comparator, value, …}, facts for the caller ({'baseline'} when a
    relative target prints the base figure) and the review items."""
    text = clean(printed)
    f = folded(text)
    base = {"text": text}
    for reader in (_plain, _ratio, _about_tolerance, _relative, _range, _split):
        found = reader(f, higher)
        if found is not None:
            target, facts, items = found
            return {**base, **target, "year": year}, facts, items
    if re.search(r"\d", f):
        why = f"目标“{text}”未能识别，暂按定性目标处理，请改写"
        return (
            {**base, "comparator": "qualitative", "year": year},
            {},
            [review("target", why, "target not understood; treated as qualitative")],
        )
    return {**base, "comparator": "qualitative", "year": year}, {}, []


def _plain(f: str, higher: bool):
    m = PLAIN.match(f)
    if not m:
        return None
    value = float(m.group("num"))
    pre, suf = m.group("pre"), m.group("suf")
    if pre:
        return {"comparator": PREFIX_COMPARATORS[pre], "value": value}, {}, []
    if suf:
        target = {"comparator": SUFFIX_COMPARATORS[suf], "value": value}
        if suf in INCLUSIVE_NOTES:
            target["note_zh"] = INCLUSIVE_NOTES[suf]
        return target, {}, []
    return {"comparator": "reach", "value": value}, {}, []


def _ratio(f: str, higher: bool):
    m = RATIO.match(f)
    return ({"comparator": "reach", "value": float(m.group("num"))}, {}, []) if m else None


def _about_tolerance(f: str, higher: bool):
    m = ABOUT_TOLERANCE.match(f)
    if not m:
        return None
    value, tol = float(m.group("num")), float(m.group("tol"))
    return {"comparator": "about", "value": value, "tolerance": round(tol / value, 6)}, {}, []


def _relative(f: str, higher: bool):
    m = RELATIVE.search(f)
    if not m:
        return None
    sign = 1 if m.group("verb") in RISE_WORDS else -1
    delta = sign * float(m.group("delta"))
    facts = {"baseline": float(m.group("base"))} if m.group("base") else {}
    items = []
    if m.group("unit") == "%":
        why = "“%”按百分点计；若指相对变化（如降低10%即乘0.9），请改写"
        items.append(review("target", why, "'%' read as percentage points"))
    explicit = EXPLICIT.search(f[m.end() :])
    if explicit:
        value = float(explicit.group("num"))
        rule = f[: m.end()]
        note = (
            f"表中目标既写规则“{rule}”，又写明数值{value:g}；按写明的数值评估"
            f"（另一读法：基期值{delta:+g}）"
        )
        why = "目标同时写规则与数值，按数值评估，请核对"
        items.append(review("target", why, "a rule and a figure; the figure is judged"))
        target = {"comparator": "reach", "value": value, "note_zh": note}
        return target, {**facts, "delta": delta}, items
    return {"comparator": "relative", "delta": delta}, {**facts, "delta": delta}, items


def _range(f: str, higher: bool):
    m = RANGE.match(f)
    if not m:
        return None
    low, high = float(m.group("low")), float(m.group("high"))
    value = low if higher else high
    comparator = ">=" if higher else "<="
    note = (
        f"目标为区间{m.group('low')}—{m.group('high')}，按{'下' if higher else '上'}限{value:g}计"
    )
    why = "目标为区间，按方向取一端，请核对"
    return (
        {"comparator": comparator, "value": value, "note_zh": note},
        {},
        [review("target", why, "a range; one end taken by the direction")],
    )


def _split(f: str, higher: bool):
    parts = list(STRATUM.finditer(f))
    if len(parts) < 2 or "".join(p.group() for p in parts) != f:
        return None
    strata: dict[str, dict] = {}
    for i, p in enumerate(parts, 1):
        label = p.group("label")
        comparator = _stratum_comparator(p.group("pre"), p.group("suf"), higher)
        strata[STRATUM_KEYS.get(label, f"s{i}")] = {
            "label_zh": label,
            "comparator": comparator,
            "value": float(p.group("num")),
        }
    labels = "、".join(s["label_zh"] for s in strata.values())
    values = "、".join(f"{s['value']:g}" for s in strata.values())
    note = f"{labels}分别达到{values}，均达到方为完成"
    items = []
    if any(k.startswith("s") and k[1:].isdigit() for k in strata):
        why = "分层名称不在常用列表中，分层代号为s1、s2…，请改为公式所用代号"
        items.append(review("target.strata", why, "unknown stratum names; keys s1, s2 …"))
    return {"comparator": "split", "strata": strata, "note_zh": note}, {}, items


def _stratum_comparator(pre: str | None, suf: str | None, higher: bool) -> str:
    if pre:
        return PREFIX_COMPARATORS[pre]
    if suf:
        return SUFFIX_COMPARATORS[suf]
    return ">=" if higher else "<="
