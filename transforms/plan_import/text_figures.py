"""Baseline figures the plan's body text states for its indicators (text_figures).

A sentence about the baseline year (or 目前, “now”) that names an indicator and puts a number
right after the name — 婴儿死亡率1.01‰, 孕产妇死亡率为0, 医师数由1.39人增加到2.19人 — or lists
several (A、B、C分别是1.47、0.3、1.1) states that indicator's baseline. Only figures that differ
from the table are kept; where the table has no baseline column every figure found is kept.
"""

from __future__ import annotations

import re

from transforms.plan_import.values import NUMBER

NUM_UNIT = rf"({NUMBER})\s*(%|％|‰|/10万|岁|元|人|名|张|天|个)?"
QUALIFIERS = re.compile(
    r"^以(?:乡|镇|县|区|街道)[^为]{0,8}为单位|^每(?:千|万|10万|十万)名?常住人口|^每(?:千|万)人口"
)
CHANGE = re.compile(
    rf"^[^，。；\d]{{0,4}}?(?:由|从)(?:(?:19|20)\d\d年的?)?{NUMBER}[^，。；]{{0,10}}?"
    rf"(?:到|至)(?:(?:19|20)\d\d年的?)?{NUM_UNIT}"
)
DIRECT = re.compile(rf"^(?:(?!分别)[^，。；、和及与\d]){{0,6}}?{NUM_UNIT}(?![\d年])")
PER_WORD = re.compile(r"每(?:千|万|10万|十万)名?(?:常住)?(?:人口|居民)")
LIST = re.compile(
    r"(?P<items>[^，。；：:]+?)分别(?:是|为|达到|达|由|从)?(?:(?:19|20)\d\d年的?)?"
    rf"(?:[^，。；]*?(?:到|至)(?:(?:19|20)\d\d年的?)?)?(?P<nums>{NUMBER}[^，。；]*)"
)


def normalized(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("医生", "医师").replace("(", "（").replace(")", "）")


def keys_of(name: str) -> list[str]:
    """The forms of an indicator's name to look for in the text (qualifiers dropped)."""
    key = normalized(name)
    keys = [key]
    short = QUALIFIERS.sub("", key)
    if short != key:
        keys.append(short)
    if short.endswith("数") and len(short) > 3:
        keys.append(short[:-1])
    return [k for k in keys if len(k) >= 3]


def sentences(body: str, year: int | None) -> list[str]:
    """Sentences about the baseline year or the present (目前)."""
    out = []
    for raw in re.split(r"(?<=。)|\n", body):
        s = raw.strip()
        if s and ((year and str(year) in s) or "目前" in s or "现状" in s):
            out.append(s)
    return out


def list_figures(text: str):
    """Names listed before 分别 and as many numbers: (item, last item, value, unit, text before)."""
    for m in LIST.finditer(text):
        items = [i for i in re.split(r"[、和及与]", m.group("items")) if i]
        nums = re.findall(NUM_UNIT, m.group("nums"))
        nums = [n for n in nums if not re.fullmatch(r"(19|20)\d\d", n[0])][: len(items)]
        if len(items) >= 2 and len(nums) == len(items):
            for item, (value, unit) in zip(items, nums, strict=True):
                before = text[: m.start("items")] + m.group("items").split(item)[0]
                yield item, items[-1], float(value), unit or None, before


def in_list(key: str, item: str, last: str) -> bool:
    """The key is in the item, or the item ends the key's head and the last item its tail
    (高血压患者、2型糖尿病患者规范管理率 names 高血压患者规范管理率)."""
    if key in item:
        return True
    return any(item.endswith(key[:j]) and last.endswith(key[j:]) for j in range(2, len(key) - 1))


def figure_in(sentence: str, keys: list[str], per_population: bool):
    """(value, unit, text before the name) for the first statement of the indicator, or None."""
    text = normalized(sentence)
    for key in keys:
        for m in re.finditer(re.escape(key), text):
            before = text[: m.start()]
            if per_population and not PER_WORD.search(before + key):
                continue
            rest = text[m.end() :]
            hit = CHANGE.match(rest) or DIRECT.match(rest)
            if hit:
                return float(hit.group(1)), hit.group(2) or None, before
    for key in keys:
        for item, last, value, unit, before in list_figures(text):
            if in_list(key, item, last) and (not per_population or PER_WORD.search(before + item)):
                return value, unit, before
    return None


def figures_for(name: str, unit: str, body_sentences: list[str], year: int) -> list[dict]:
    """Every figure the text states for the indicator, with its sentence, first one per sentence."""
    out = []
    per_population = bool(PER_WORD.match(normalized(name)))
    for s in body_sentences:
        hit = figure_in(s, keys_of(name), per_population)
        if hit is None:
            continue
        value, _, before = hit
        fig = {"value": value, "year": year, "sentence": s}
        note = unit_note(unit, before, value)
        if note:
            fig["unit_note"] = note
        out.append(fig)
    return out


def unit_note(unit: str, before: str, value: float) -> str | None:
    """A note when the text states a per-10 000 figure for a per-1000 indicator."""
    words = PER_WORD.findall(before)
    if unit.endswith("/千人口") and words and words[-1].startswith("每万"):
        per = unit.split("/")[0]
        return f"每万常住人口（{per}/万人口）；折合{value / 10:g}{unit}"
    return None


def text_figures(indicators: list[dict], body: str, year: int | None) -> None:
    """Add text_figures to the indicators whose text figure differs from the table's baseline."""
    if not year:
        return
    found_sentences = sentences(body, year)
    for ind in indicators:
        figures = figures_for(ind["name_zh"], ind["unit"], found_sentences, year)
        base = ind.get("baseline") or {}
        if base.get("value") is not None:
            figures = [f for f in figures if abs(f["value"] - base["value"]) > 1e-9]
        if figures:
            ind["text_figures"] = figures
