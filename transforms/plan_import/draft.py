"""A read document turned into a draft plan: plan.yaml's data, the areas stub, the review list.

The plan's title, area and years come from the document (its first lines, the table caption,
the header's 十三五/2020年), unless the caller gives them; what is guessed is listed in the plan's
and each indicator's ``review_needed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from transforms.plan_import.grid import Document, PlanImportError
from transforms.plan_import.rows import ORDINAL, Context, indicators_of
from transforms.plan_import.text_figures import text_figures
from transforms.plan_import.values import review

PLACEHOLDER_CODE = "000000"
AREA_LEVELS = (("区", "district"), ("县", "county"), ("旗", "county"), ("市", "city"))


@dataclass(frozen=True)
class Options:
    plan_id: str
    area_code: str | None = None
    area_name: str | None = None
    baseline_year: int | None = None
    target_year: int | None = None


def title_of(doc: Document) -> str | None:
    """The plan's title: its first lines up to the one ending in 规划, joined."""
    parts: list[str] = []
    for line in doc.body.splitlines():
        t = re.sub(r"\s+", "", line)
        if not t:
            continue
        parts.append(t)
        joined = "".join(parts)
        if re.search(r"规划(?:（[^）]*）)?$", joined) and len(joined) <= 60:
            return joined
        if len(joined) > 60:
            break
    m = re.search(r"([^\s，。]{2,40}?规划)(?:主要指标|指标)", doc.body)
    return m.group(1) if m else None


def area_of(title: str | None) -> str | None:
    m = re.match(r"^(.*?[省市区县旗州盟])(?=卫生|人民政府|“|\"|国民|健康|十)", title or "")
    return m.group(1) if m else None


def level_of(area_name: str) -> str:
    return next((lvl for suffix, lvl in AREA_LEVELS if area_name.endswith(suffix)), "district")


def period_of(title: str | None, header_target: int | None) -> tuple[int | None, int | None]:
    """(first, last) year of the plan period, from 十N五 or (2021—2025年) or the table's year."""
    t = title or ""
    m = re.search(r"((?:19|20)\d\d)\s*[-—–~至]+\s*((?:19|20)\d\d)", t)
    if m:
        return int(m.group(1)), int(m.group(2))
    end = next((y for k, y in ORDINAL.items() if k in t), None) or header_target
    return (end - 4, end) if end else (None, None)


def short_title(title: str) -> str:
    return title.replace("卫生和计划生育事业发展", "卫生计生").replace(
        "卫生健康事业发展", "卫生健康"
    )


def draft_plan(doc: Document, opts: Options) -> tuple[dict, dict]:
    """(plan data, areas data) for the document's indicator table."""
    title = title_of(doc)
    plan_review: list[dict] = []
    grid = best_table(doc)
    _, cols = indicators_of(grid, Context(None, 9999, "district"))
    first, last = period_of(title, cols.target_year)
    target_year = opts.target_year or cols.target_year or last
    baseline_year = opts.baseline_year or cols.baseline_year or (first - 1 if first else None)
    if not target_year or not baseline_year:
        raise PlanImportError(
            "无法从标题或表头判断基期年和目标年，请用 --baseline-year 和 --target-year 指定 / "
            "cannot tell the baseline and target years; give --baseline-year and --target-year"
        )
    area_name = opts.area_name or area_of(title)
    if not area_name:
        area_name = "某地"
        plan_review.append(
            review("jurisdiction", "标题中未找到地区名称，请用 --area-name 指定", "no area name")
        )
    level = level_of(area_name)
    ctx = Context(baseline_year, target_year, level)
    indicators, _ = indicators_of(grid, ctx)
    text_figures(indicators, doc.body, baseline_year)
    move_text_baselines(indicators, "baseline" in cols.roles)
    plan_review += plan_guesses(opts, title)
    title = title or f"{area_name}卫生健康规划"
    plan = {
        "id": opts.plan_id,
        "title_zh": title,
        "title_en": f"Health plan of {area_name} ({baseline_year + 1}–{target_year})",
        "short_title_zh": short_title(title),
        "jurisdiction": opts.area_code or PLACEHOLDER_CODE,
        "issuing_body_zh": f"{area_name}卫生健康{'委员会' if level == 'city' else '局'}",
        "period_start": first if first and not opts.target_year else target_year - 4,
        "period_end": target_year,
        "baseline_year": baseline_year,
        "target_year": target_year,
        "mid_term_year": baseline_year + (target_year - baseline_year + 1) // 2,
        "source_document": None,
        "review_needed": plan_review,
        "indicators": indicators,
        "text_goals": [],
    }
    areas = {
        "jurisdiction": plan["jurisdiction"],
        "areas": [
            {
                "code": plan["jurisdiction"],
                "name_zh": area_name,
                "name_en": area_name,
                "level": level,
            }
        ],
    }
    return plan, areas


def plan_guesses(opts: Options, title: str | None) -> list[dict]:
    items = [
        review(
            "title_en",
            "英文标题、指标英文名暂用占位或中文，请翻译",
            "English names are placeholders",
        ),
        review(
            "issuing_body_zh",
            "发布单位按地区名称推定，请核对",
            "issuing body guessed from the area",
        ),
        review(
            "mid_term_year",
            "中期评估年按规划期中点推定，请核对",
            "mid-term year: middle of the period",
        ),
    ]
    if not opts.area_code:
        why = f"未给出地区代码，暂用{PLACEHOLDER_CODE}；请用 --area-code 指定并在 areas.yaml 中补充下辖地区"
        items.insert(0, review("jurisdiction", why, "no area code given; placeholder used"))
    if not title:
        items.append(review("title_zh", "未找到规划标题，请补充", "no title found"))
    return items


def best_table(doc: Document):
    """The document's indicator table: the readable table with the most rows."""
    readable = []
    for grid in doc.tables:
        try:
            readable.append((len(indicators_of(grid, Context(None, 9999, "district"))[0]), grid))
        except PlanImportError:
            continue
    if not readable:
        raise PlanImportError(
            f"文件中未找到指标表（需有“指标”和“目标”列）/ no indicator table found in the {doc.kind} document"
        )
    return max(readable, key=lambda pair: pair[0])[1]


def move_text_baselines(indicators: list[dict], table_has_baseline: bool) -> None:
    """Without a baseline column, a single figure the text states becomes the baseline."""
    if table_has_baseline:
        return
    for ind in indicators:
        figures = ind.get("text_figures", [])
        values = {f["value"] for f in figures}
        if ind["baseline"] is None and len(values) == 1:
            f = figures[0]
            text = printed_figure(f["value"], f["sentence"])
            ind["baseline"] = {"value": f["value"], "year": f["year"], "text": text}
            ind["baseline_source"] = "text"
            ind["baseline_sentence"] = f["sentence"]
            why = "规划表无基期值，取自正文，请核对"
            ind["review_needed"] = [r for r in ind["review_needed"] if r["field"] != "baseline"] + [
                review("baseline", why, "baseline read from the body text")
            ]


def printed_figure(value: float, sentence: str) -> str:
    """The figure as the sentence prints it, with its unit and 左右/以上 (4.13‰, 108左右)."""
    number = f"{value:g}"
    m = re.search(
        rf"(?<![\d.]){re.escape(number)}(?:\s*(?:%|％|‰|/10万|岁|元|人|名|张|天|个))?(?:左右|以上)?",
        sentence,
    )
    return m.group().replace(" ", "") if m else number
