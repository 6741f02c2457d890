"""The report context: counts, generated sentences, ordering and formatting, from a tiny plan."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from healthplan.definitions import Area, Plan
from transforms.assessment import assess_plan
from transforms.evaluation import Thresholds
from transforms.report_context import (
    DASH,
    STATUS_STYLE,
    build_context,
    fmt,
    fmt_pct,
    strip_ordinal,
    with_delta_unit,
)

AREAS = [
    Area(code="D", name_zh="示例区", name_en="Demo District", level="district"),
    Area(code="S1", name_zh="东街道", name_en="East", level="street", parent="D"),
    Area(code="T1", name_zh="北镇", name_en="North", level="town", parent="D"),
    Area(code="T2", name_zh="南镇", name_en="South", level="town", parent="D"),
]

BASE = {"category_en": "c", "name_en": "x", "formula": None}


def ind(number, category, name, unit, direction, base, target, attribute, **extra):
    return {
        **BASE,
        "number": number,
        "category_zh": category,
        "name_zh": name,
        "unit": unit,
        "direction": direction,
        "baseline": None if base is None else {"value": base, "year": 2015, "text": str(base)},
        "target": {**target, "year": 2020},
        "attribute": attribute,
        **extra,
    }


def demo_plan(**overrides) -> Plan:
    indicators = [
        # the spec's worked example: x0 = 2.0, target ≥ 3.0, xc = 1.95 → τ 0.6, p −0.05, ρ −0.083
        ind(
            1,
            "一、卫生资源",
            "注册护士",
            "人/千人口",
            "higher",
            2.0,
            {"text": "≥3.0", "comparator": ">=", "value": 3.0},
            "约束性",
        ),
        # ρ = 0.75 → 需加快; needs 27.5 a year against 15 achieved
        ind(
            2,
            "一、卫生资源",
            "床位使用率",
            "%",
            "higher",
            10.0,
            {"text": "≥110", "comparator": ">=", "value": 110},
            "约束性",
        ),
        # lower is better, p = 0.8, ρ = 1.33 → 快于预期; the text states a different 2015 figure
        ind(
            3,
            "一、卫生资源",
            "个人卫生支出占比",
            "%",
            "lower",
            20.0,
            {"text": "＜10", "comparator": "<", "value": 10},
            "预期性",
            text_figures=[
                {"value": 21.5, "year": 2015, "sentence": "2015年个人卫生支出占比21.5%。"}
            ],
        ),
        # p = 0.2, ρ = 0.33 → 滞后
        ind(
            4,
            "二、公共卫生",
            "健康档案建档率",
            "%",
            "higher",
            50.0,
            {"text": "60", "comparator": "reach", "value": 60},
            "指导性",
            decimals=1,
        ),
        ind(
            5,
            "二、公共卫生",
            "高血压患者规范管理率",
            "%",
            "higher",
            68.93,
            {"text": "达国家要求", "comparator": "qualitative"},
            "约束性",
        ),
        ind(
            6,
            "二、公共卫生",
            "每千人口执业药师",
            "人",
            "higher",
            0.2,
            {"text": "≥0.4", "comparator": ">=", "value": 0.4},
            "预期性",
        ),
        # judged per town/street: the district meets it, one town does not
        ind(
            7,
            "二、公共卫生",
            "以镇（街道）为单位疫苗接种率",
            "%",
            "higher",
            93.0,
            {"text": "＞95", "comparator": ">", "value": 95},
            "约束性",
            level="town",
        ),
        ind(
            8,
            "三、保障",
            "以镇（街道）为单位疫苗接种率",
            "%",
            "higher",
            1.0,
            {"text": "2", "comparator": "reach", "value": 2},
            None,
            decimals=0,
        ),
    ]
    fields = dict(
        id="demo",
        title_zh="示例区卫生健康“十三五”规划",
        title_en="Demo plan",
        short_title_zh="示例规划",
        jurisdiction="D",
        issuing_body_zh="示例区卫生健康局",
        period_start=2016,
        period_end=2020,
        baseline_year=2015,
        target_year=2020,
        mid_term_year=2018,
        indicators=indicators,
    )
    fields.update(overrides)
    return Plan(**fields)


def demo_values(plan: Plan | None = None) -> pd.DataFrame:
    series = {
        1: {2015: 2.0, 2016: 2.02, 2017: 1.98, 2018: 1.95},
        2: {2015: 10.5, 2016: 25.0, 2017: 40.0, 2018: 55.0},  # warehouse 2015 ≠ the plan's 10
        3: {2015: 20.0, 2016: 17.0, 2017: 14.5, 2018: 12.0},
        4: {2015: 50.0, 2016: 50.5, 2017: 51.2, 2018: 52.0},
        8: {2015: 1.0, 2016: 1.5, 2017: 2.1, 2018: 2.5},
        7: {2015: 93.0, 2016: 94.0, 2017: 95.2, 2018: 96.0},
    }
    rows = [("D", n, y, v) for n, s in series.items() for y, v in s.items()]
    rows += [
        ("S1", 7, 2015, 94.0), ("S1", 7, 2018, 97.0),
        ("T1", 7, 2015, 92.0), ("T1", 7, 2018, 96.5),
        ("T2", 7, 2015, 91.0), ("T2", 7, 2018, 90.0),
    ]  # fmt: skip
    return pd.DataFrame(
        [
            {
                "plan_id": "demo",
                "number": n,
                "area_code": a,
                "year": y,
                "stratum": "",
                "value": v,
                "numerator": None,
                "denominator": None,
            }
            for a, n, y, v in rows
        ]  # fmt: skip
    )


ISSUES = [
    {"kind": "year_on_year_jump", "severity": "warning", "number": 2, "area_code": "D",
     "year": 2018, "file_name": "beds_2018.csv", "row": 7, "detail": "床位使用率较上年跳升37%"},
    {"kind": "impossible_value", "severity": "error", "number": 2, "area_code": "T1",
     "year": 2012, "file_name": "old.csv", "row": 3, "detail": "2012年出现负值"},
    {"kind": "baseline_reconciliation", "severity": "warning", "number": 3, "area_code": "D",
     "year": 2015, "file_name": None, "row": None, "detail": "shown in the baseline table"},
]  # fmt: skip

SOURCES = [
    {"id": 1, "checksum": "a" * 64, "name": "resources_2018.xlsx", "source": "resources",
     "layout": "resources_v2", "received_at": datetime(2019, 2, 1, 8, 30, tzinfo=UTC),
     "rows_loaded": 120},
]  # fmt: skip

AS_OF = datetime(2019, 3, 1, 2, 0, tzinfo=UTC)


def demo_context(stage="mid", plan=None, values=None, **kw):
    plan = plan or demo_plan()
    values = demo_values(plan) if values is None else values
    year = 2018 if stage == "mid" else 2020
    rows = assess_plan(plan, AREAS, values, stage, year)
    kw.setdefault("with_charts", False)
    kw.setdefault("source_files", SOURCES)
    ctx = build_context(
        plan,
        rows,
        values,
        stage=stage,
        data_year=year,
        as_of=AS_OF,
        areas=AREAS,
        quality_issues=ISSUES,
        issued_on=date(2019, 3, 15),
        code_version="abc123",
        definition_checksum="f" * 64,
        **kw,
    )
    return ctx, rows


@pytest.fixture(scope="module")
def mid():
    return demo_context("mid")


def table_row(ctx, number):
    return next(r for c in ctx["table"]["categories"] for r in c["rows"] if r["number"] == number)


# ------------------------------------------------------------------------------ formatting


def test_numbers_are_formatted_to_their_decimals_and_missing_is_a_dash():
    assert fmt(None) == DASH
    assert fmt(float("nan")) == DASH
    assert fmt(1.955, 1) == "2.0"
    assert fmt(2.5, 0) == "3" and fmt(0.525, 2) == "0.53" and fmt(-0.0835, 3) == "-0.084"
    assert fmt(-0.0001, 2) == "0.00"  # never '-0.00'
    assert fmt(80, 0) == "80"
    assert fmt_pct(0.0321) == "3.2%"
    assert strip_ordinal("三、卫生资源") == "卫生资源"
    assert with_delta_unit("15.30", "%") == "15.30个百分点"
    assert with_delta_unit("0.62", "人/千人口") == "0.62人/千人口"


def test_worked_example_is_printed_with_the_numbers_behind_it(mid):
    ctx, _ = mid
    r = table_row(ctx, 1)
    assert (r["baseline"], r["baseline_year"], r["target"], r["value"]) == (
        "2.00",
        "2015",
        "≥3.0",
        "1.95",
    )
    assert (r["tau"], r["p"], r["rho"]) == ("0.60", "-0.050", "-0.083")
    assert r["projection"] == "1.92"  # 2.0 + (1.95 − 2.0) / 0.6
    assert r["status"] == "倒退" and r["symbol"] == STATUS_STYLE["倒退"][0]
    assert r["raw"]["rho"] == pytest.approx(-0.05 / 0.6)
    # decimals follow the indicator: 1 for indicator 4, 0 for indicator 8
    assert table_row(ctx, 4)["value"] == "52.0"
    assert table_row(ctx, 8)["value"] == "3"  # 2.5 to 0 decimals, half up
    assert table_row(ctx, 6)["value"] == DASH and table_row(ctx, 6)["rho"] == DASH


def test_statuses_of_the_demo_plan(mid):
    ctx, _ = mid
    statuses = {r["number"]: r["status"] for c in ctx["table"]["categories"] for r in c["rows"]}
    assert statuses[1] == "倒退"
    assert statuses[2] == "需加快"
    assert statuses[3] == "快于预期"
    assert statuses[4] == "滞后"
    assert statuses[5] == "待人工评定"
    assert statuses[6] == "数据缺失"
    assert statuses[8] == "已实现"


def test_table_is_grouped_by_category_in_plan_order(mid):
    ctx, _ = mid
    cats = ctx["table"]["categories"]
    assert [c["name"] for c in cats] == ["一、卫生资源", "二、公共卫生", "三、保障"]
    assert [r["number"] for c in cats for r in c["rows"]] == list(range(1, 9))
    assert (
        table_row(ctx, 8)["attribute"] == DASH and table_row(ctx, 8)["attribute_label"] == "未注明"
    )


def test_footnotes_name_failing_units_and_warnings(mid):
    ctx, _ = mid
    notes = [f["text"] for f in ctx["table"]["footnotes"] if 7 in f["numbers"]]
    assert notes == [
        "以镇（街道）为单位考核，未达标：南镇；状态取最弱单位南镇的状态，全域自身为已实现"
    ]
    for f in ctx["table"]["footnotes"]:
        assert all(f["id"] in table_row(ctx, n)["notes"] for n in f["numbers"])
    texts = [f["text"] for f in ctx["table"]["footnotes"]]
    assert len(texts) == len(set(texts))  # the same note is printed once, for all its indicators


# ------------------------------------------------------------------------------ 一、overview


def test_counts_by_status_and_by_attribute(mid):
    ctx, rows = mid
    ov = ctx["overview"]
    root = Counter(r["status"] for r in rows if r["area"] == "D")
    assert ov["counts"] == dict(root)
    assert sum(c["count"] for c in ov["by_status"]) == 8 == ov["total"]
    assert [a["attribute"] for a in ov["by_attribute"]] == ["约束性", "预期性", "指导性", "未注明"]
    binding = ov["by_attribute"][0]
    assert binding["total"] == 4
    assert sum(c["count"] for c in binding["cells"]) == 4
    # the mid-term statuses in the method's order, with the zero ones kept for the table
    assert [s["status"] for s in ov["status_order"]][:6] == [
        "已实现", "快于预期", "符合预期", "需加快", "滞后", "倒退",
    ]  # fmt: skip


def test_narrative_is_generated_from_the_counts(mid):
    ctx, rows = mid
    text = "".join(ctx["overview"]["narrative"])
    counts = Counter(r["status"] for r in rows if r["area"] == "D")
    assert "8项主要指标中" in text
    for status, n in counts.items():
        assert f"{status}{n}项" in text
    assert "时间进度为60%" in text
    assert "约束性指标4项中" in text
    assert (
        "倒退2项（“注册护士”、“以镇（街道）为单位疫苗接种率”）" in text
    )  # indicators behind schedule are named
    assert "南镇" in text  # per-unit failures are named
    assert "按最弱单位南镇评定为倒退" in text  # and the status they give the indicator


def test_narrative_changes_with_the_numbers():
    better = demo_values()
    better.loc[(better["number"] == 1) & (better["year"] == 2018), "value"] = 3.1
    ctx, _ = demo_context(values=better)
    text = "".join(ctx["overview"]["narrative"])
    assert (
        "已实现2项" in text and "倒退1项（“以镇（街道）为单位疫苗接种率”）" in text
    )  # 7: its weakest town


# ------------------------------------------------------------------------------ 三、problems


def test_binding_indicators_not_on_track_come_first(mid):
    ctx, _ = mid
    p = ctx["problems"]
    assert p["sections"][0]["key"] == "binding"
    # 7: the district is on pace (ρ ≥ 1), but its weakest town moves away: 倒退
    assert [i["number"] for i in p["binding"]] == [1, 2, 7]
    assert p["sections"][0]["title"].startswith("（一）")
    assert [i["number"] for i in p["other"]] == [4]
    order = [s["key"] for s in p["sections"]]
    assert order.index("binding") < order.index("other")
    # 5 awaits a reviewer: named apart, not counted among the judged ones
    assert p["intro"] == (
        "已评估的3项约束性指标中，3项未达到时间进度要求（“注册护士”、“床位使用率”、“以镇（街道）为单位疫苗接种率”），"
        "首先列出。约束性指标“高血压患者规范管理率”待人工评定，暂不计入（见下文）。"
    )
    # the qualitative binding indicator is not judged lagging, but listed as not assessable
    assert [i["number"] for i in p["unknown"]] == [5, 6]
    units = p["units"][0]
    assert units["number"] == 7 and "南镇90.00%" in units["text"]
    facts = p["binding"][1]["text"]
    assert "完成进度45.0%" in facts and "进度比0.75" in facts and "难以达到目标" in facts


def test_binding_problems_at_end_of_term_are_every_judged_one_not_achieved():
    ctx, rows = demo_context("end", values=demo_values().assign(year=lambda f: f["year"] + 2))
    binding = [i["number"] for i in ctx["problems"]["binding"]]
    statuses = {r["number"]: r["status"] for r in rows if r["area"] == "D"}
    assert statuses[5] == "待人工评定"
    assert binding == [n for n in (1, 2, 7) if statuses[n] != "已完成"]
    # awaiting a reviewer is not "not achieved": named apart in the sentence
    intro = ctx["problems"]["intro"]
    assert intro.startswith(f"已评估的3项约束性指标中，{len(binding)}项未达到规划目标要求")
    assert "约束性指标“高血压患者规范管理率”待人工评定" in intro and "4项约束性指标中" not in intro


def test_custom_thresholds_change_the_binding_list_and_the_method_table():
    ctx, _ = demo_context(thresholds=Thresholds(on_schedule_rho=0.7, needs_speedup_rho=0.5))
    assert [i["number"] for i in ctx["problems"]["binding"]] == [1, 7]  # 7: weakest town 倒退
    conditions = [c for _, c in ctx["appendix"]["method"]["mid_table"]]
    assert "0.70 ≤ ρ < 1" in conditions and "0.50 ≤ ρ < 0.70" in conditions


# ------------------------------------------------------------------------------ 四、suggestions


def test_suggestions_are_computed_from_the_numbers(mid):
    ctx, _ = mid
    groups = ctx["suggestions"]["groups"]
    assert [g["title"] for g in groups] == ["（一）卫生资源", "（二）公共卫生"]
    items = {i["number"]: i["text"] for g in groups for i in g["entries"]}
    # 2: 110 − 55 = 55 to go in 2 years → 27.50 a year, against (55 − 10) / 3 = 15.00 so far
    assert "尚差55.00个百分点" in items[2]
    assert "2019—2020年需年均提高27.50个百分点" in items[2]
    assert "较此前年均提高15.00个百分点需加快（约为此前的1.8倍）" in items[2]
    # 1 moved away: the change needed and the wrong-way change so far
    assert "需年均提高" in items[1] and "此前年均降低0.02人/千人口，需扭转方向" in items[1]
    # 7: the district meets it, a town does not
    assert "南镇90.00%" in items[7]
    data = "".join(ctx["suggestions"]["data_items"])
    assert "“每千人口执业药师”（指标6）缺少2018年数据" in data
    assert "“高血压患者规范管理率”（指标5）为定性目标" in data


# ------------------------------------------------------------------------------ 五、areas


def test_per_unit_tables_and_status_matrix(mid):
    ctx, rows = mid
    areas = ctx["areas"]
    assert areas["present"] and not areas["area_tables"]  # a district with towns: no county tables
    (t,) = areas["unit_tables"]
    assert t["number"] == 7
    assert [r["area"] for r in t["rows"]] == ["东街道", "北镇", "南镇"]
    south = t["rows"][2]
    assert south["met"] == "未达标" and south["value"] == "90.00"
    m = areas["matrix"]
    assert [c["name"] for c in m["columns"]] == ["示例区", "东街道", "北镇", "南镇"]
    assert len(m["rows"]) == 8 and all(len(r["cells"]) == 4 for r in m["rows"])


def test_a_city_gets_one_table_per_county():
    areas = [
        Area(code="C", name_zh="示例市", name_en="C", level="city"),
        Area(code="K1", name_zh="甲县", name_en="K1", level="county", parent="C"),
        Area(code="K2", name_zh="乙区", name_en="K2", level="district", parent="C"),
    ]
    plan = demo_plan(
        jurisdiction="C", indicators=[i.model_dump() for i in demo_plan().indicators[:4]]
    )
    values = demo_values().replace({"area_code": {"D": "C", "S1": "K1", "T1": "K2"}})
    values = values[values["area_code"].isin(["C", "K1", "K2"])]
    rows = assess_plan(plan, areas, values, "mid", 2018)
    ctx = build_context(plan, rows, values, stage="mid", data_year=2018, as_of=AS_OF, areas=areas,
                        with_charts=False)  # fmt: skip
    assert [t["name"] for t in ctx["areas"]["area_tables"]] == ["甲县", "乙区"]
    assert len(ctx["areas"]["area_tables"][0]["rows"]) == 4


# ------------------------------------------------------------------------------ 六、quality, appendix


def test_baseline_reconciliation_shows_table_text_and_warehouse(mid):
    ctx, _ = mid
    q = ctx["quality"]
    by_number = {b["number"]: b for b in q["baselines"]}
    assert by_number[2]["warehouse"] == "10.50" and by_number[2]["table"] == "10.0"
    assert by_number[3]["text"] == "21.5（2015年）"
    assert 1 not in by_number  # identical
    assert "评估采用规划所列基期值" in q["baseline_summary"]
    assert "规划未列基期值的采用报送数据2015年值" in q["baseline_summary"]


def test_only_open_issues_touching_reported_numbers_are_listed(mid):
    ctx, _ = mid
    q = ctx["quality"]
    assert [i["detail"] for i in q["issues"]] == ["床位使用率较上年跳升37%"]
    assert q["issues"][0]["severity"] == "警告" and q["issues"][0]["area"] == "示例区"
    assert "另有1条不涉及本报告数字" in q["issues_summary"]


def test_cover_appendix_and_toc(mid):
    ctx, _ = mid
    c = ctx["cover"]
    assert c["title"] == "示例区卫生健康“十三五”规划" and c["subtitle"] == "中期评估报告"
    assert c["data_year"] == "2018年" and c["issued_on"] == "2019年3月15日"
    assert c["as_of"] == "2019年3月1日 10:00（北京时间）"
    assert c["issuing_body"] == "示例区卫生健康局"
    app = ctx["appendix"]
    assert app["sources"][0]["checksum"] == "a" * 12
    assert app["sources"][0]["name"] == "resources_2018.xlsx"
    assert app["code_version"] == "abc123" and app["definition_checksum"] == "f" * 12
    ids = [e["id"] for e in ctx["toc"]]
    assert ids[:3] == ["sec-overview", "sec-achievements", "sec-table"]
    titles = [e["title"] for e in ctx["toc"] if e["level"] == 1]
    assert titles[:5] == [
        "一、基本情况", "二、主要成效", "三、主要指标完成情况", "四、存在问题及原因分析",
        "五、下一步工作建议",
    ]  # fmt: skip
    assert [t.split("　")[0] for t in titles[5:]] == ["附件1", "附件2", "附件3", "附件4", "附件5"]


def test_the_source_list_counts_the_rows_each_file_lost_to_the_quarantine():
    """The local time without the zone (the column header names it), rows loaded and
    quarantined per file, and a sentence pointing to the quality section when any were."""
    ctx, _ = demo_context()
    app = ctx["appendix"]
    assert app["sources"][0]["received_at"] == "2019年2月1日 16:30"
    assert app["sources_zone"] == "北京时间"
    assert app["sources"][0]["rows_rejected"] == "—"  # not recorded
    assert "隔离" not in app["sources_summary"]
    partial = [{**SOURCES[0], "rows_rejected": 0}, {**SOURCES[0], "id": 2, "rows_rejected": 3},
               {**SOURCES[0], "id": 3, "rows_rejected": 2}]  # fmt: skip
    app = demo_context(source_files=pd.DataFrame(partial))[0]["appendix"]
    assert [s["rows_rejected"] for s in app["sources"]] == ["0", "3", "2"]
    assert app["sources_summary"] == (
        "本报告所用数据来自以下3个已入库文件（按入库顺序）。其中2个文件共有5行未通过核验而被单独存放，"
        "未计入合计；受影响的指标见附件“数据质量说明”。"
    )


def test_settings_issuing_body_overrides_the_plans():
    ctx, _ = demo_context(issuing_body="示例市卫生健康委员会")
    assert ctx["cover"]["issuing_body"] == "示例市卫生健康委员会"


def test_hostile_text_stays_plain_data_in_the_context():
    evil = '<img src="file:///etc/passwd">'
    plan = demo_plan()
    first = plan.indicators[0].model_copy(update={"name_zh": evil})
    plan = plan.model_copy(update={"indicators": [first, *plan.indicators[1:]]})
    ctx, _ = demo_context(plan=plan)
    assert table_row(ctx, 1)["name"] == evil  # escaping is the template's job, not mangling here


def test_charts_for_numeric_indicators_with_data_only():
    ctx, _ = demo_context(with_charts=True)
    charted = [c["number"] for cat in ctx["charts"]["categories"] for c in cat["entries"]]
    assert charted == [1, 2, 3, 4, 7, 8]
    assert ctx["charts"]["skipped"] == ["定性目标：指标5", "无数据：指标6"]
    svg = ctx["charts"]["categories"][0]["entries"][0]["svg"]
    assert svg.startswith("<svg") and "目标≥3.0" in svg


def test_charts_show_only_years_up_to_the_data_year():
    # a mid-term report rendered once later years are in: its charts show what its tables judge
    values = demo_values()
    later = values["year"] > 2015
    values.loc[(values["number"] == 1) & later, "year"] += 2  # indicator 1: 2015, then 2018–2020
    values.loc[values["number"] == 8, "year"] += 4  # indicator 8: only 2019 onwards
    ctx, _ = demo_context(with_charts=True, values=values)
    entries = {c["number"]: c for cat in ctx["charts"]["categories"] for c in cat["entries"]}
    assert 8 not in entries and "8" in ctx["charts"]["skipped"][-1]
    svg = entries[1]["svg"]
    # 2016's 2.02 is read as 2018 now, the last year drawn; 1.98 and 1.95 are 2019 and 2020
    assert ">2.02<" in svg and ">1.98<" not in svg and ">1.95<" not in svg


def test_chinese_ordinals_for_numbered_subsections():
    from transforms.report_context import cn_ordinal

    assert [cn_ordinal(n) for n in (1, 9, 10, 11, 20, 35)] == [
        "一",
        "九",
        "十",
        "十一",
        "二十",
        "三十五",
    ]


def test_end_of_term_suggestions_give_the_gap_and_the_pace_achieved():
    values = demo_values().assign(year=lambda f: f["year"] + 2)  # the same path, read as 2017–2020
    ctx, _ = demo_context("end", values=values)
    items = {i["number"]: i["text"] for g in ctx["suggestions"]["groups"] for i in g["entries"]}
    # 2: 110 − 55 = 55 short; (55 − 10) / 5 = 9.00 a year over the period → about 6.1 more years
    assert "尚差55.00个百分点" in items[2]
    assert "规划期年均提高9.00个百分点，按此速度尚需约6.1年" in items[2]
    assert "下一规划期" in ctx["suggestions"]["intro"]
    text = "".join(ctx["overview"]["narrative"])
    assert "未完成目标" in text and "时间进度要求" not in text


# ------------------------------------------------------------------------------ issue 19


def _sentences(ctx) -> list[str]:
    """Every generated sentence of the body: overview, problems, suggestions, achievements."""
    out = list(ctx["overview"]["narrative"]) + [ctx["problems"]["intro"]]
    out += [e["text"] for s in ctx["problems"]["sections"] for e in s["entries"]]
    out += [ctx["suggestions"]["intro"], *ctx["suggestions"]["data_items"]]
    out += [e["text"] for g in ctx["suggestions"]["groups"] for e in g["entries"]]
    return out


def _with_values(plan, fill) -> pd.DataFrame:
    v = demo_values(plan)
    return v.assign(value=fill(v))


@pytest.mark.parametrize(
    "case",
    ["no data at all", "everything at target", "nothing moved", "end of term, no data"],
)
def test_no_sentence_speaks_of_zero_indicators(case):
    plan = demo_plan()
    stage = "end" if case.startswith("end") else "mid"
    if case in ("no data at all", "end of term, no data"):
        values = demo_values(plan).iloc[0:0]
    elif case == "everything at target":
        values = _with_values(plan, lambda v: v["value"].where(v["year"] < 2016, 1e6))
    else:
        base = demo_values(plan)
        first = base[base["year"] == 2015].set_index(["number", "area_code", "stratum"])["value"]
        values = base.assign(
            value=[first.get((n, a, s), x) for n, a, s, x in
                   zip(base["number"], base["area_code"], base["stratum"], base["value"], strict=True)]
        )  # fmt: skip
    ctx, _ = demo_context(stage, plan=plan, values=values)
    for sentence in _sentences(ctx):
        assert not re.search(r"(?<![\d.])0项|的0|，0个", sentence), (case, sentence)
    # and the sentences of 主要成效 (written in the template) get facts, never an empty list
    ach = ctx["achievements"]
    assert all(g["entries"] for g in ach["groups"])


def test_the_summary_names_indicators_by_name(mid):
    ctx, _ = mid
    text = "".join(ctx["overview"]["narrative"])
    assert "“注册护士”" in text and "“床位使用率”" in text
    assert "指标1、" not in text and "（指标" not in text


def test_the_body_has_no_latin_words_and_no_zone_name(mid):
    ctx, _ = mid
    body = _sentences(ctx) + [c["label"] for c in ctx["table"]["columns"]]
    body += [ctx["cover"]["as_of"], ctx["cover"]["issued_on"]]
    for text in body:
        assert not re.search(r"[A-Za-z]{2,}|[τρ]", text), text
    assert ctx["cover"]["as_of"].endswith("（北京时间）")


def test_a_zone_other_than_beijing_is_named_by_its_offset():
    from transforms.report_format import zone_name

    assert zone_name("Asia/Shanghai") == "北京时间"
    assert zone_name("Asia/Kolkata") == "协调世界时+5:30"
    assert zone_name("UTC") == "协调世界时+0"


def test_achievements_list_what_is_ahead_with_measured_change(mid):
    ctx, rows = mid
    ach = ctx["achievements"]
    ahead = {
        r["number"] for r in rows if r["area"] == "D" and r["status"] in ("已实现", "快于预期")
    }
    first = ach["groups"][0]
    assert first["title"].startswith("（一）")
    assert {e["number"] for e in first["entries"]} == ahead
    assert ach["count"] == len(ahead)
    for e in first["entries"]:
        assert e["value"] != DASH


def test_commentary_goes_beside_its_indicator_and_a_changed_status_is_flagged():
    from transforms.commentary import parse_commentary

    text = (
        "## 总体\n总体平稳。\n"
        "## 指标1 注册护士\n<!-- 状态：滞后 -->\n招聘受限。\n"  # indicator 1 is 倒退 now
        "## 指标3\n<!-- 状态：快于预期 -->\n保持投入。\n"  # not among the problems
    )
    commentary = parse_commentary(text, {i.number for i in demo_plan().indicators})
    ctx, _ = demo_context("mid", commentary=commentary)
    assert ctx["overview"]["commentary"][0]["runs"][0]["text"] == "总体平稳。"
    placed = [e for s in ctx["problems"]["sections"] for e in s["entries"] if e["commentary"]]
    assert [e["number"] for e in placed] == [1]
    assert placed[0]["commentary"][0]["runs"][0]["text"] == "招聘受限。"
    notes = ctx["indicator_notes"]["entries"]
    assert [e["number"] for e in notes] == [3]
    stale = ctx["appendix"]["commentary_check"]["stale"]
    assert len(stale) == 1 and "“滞后”" in stale[0] and "“倒退”" in stale[0]
    assert "indicator_notes" in ctx["headings"]["table_sub"]


def issue18_context() -> dict:
    """The demo context from tiny inline rows carrying every key issue 18 adds."""
    plan = demo_plan()
    values = demo_values(plan)
    rows = assess_plan(plan, AREAS, values, "mid", 2018)
    extra = {
        1: {"baseline_source": "规划正文", "inferred": [{"field": "target", "why": "正文写明“翻一番”"}]},
        2: {"override": {"id": 7, "verdict": "达到", "by": "李四", "reason": "专项核查",
                         "at": datetime(2019, 2, 2, 1, 0, tzinfo=UTC), "computed_status": "滞后"}},
        3: {"projection_note": "按近两年速度推算", "jurisdiction_value": 95.5,
            "jurisdiction_status": "达标", "weakest_unit": "南镇"},
    }  # fmt: skip
    rows = [{**r, **extra.get(r["number"], {})} if r["area"] == "D" else r for r in rows]
    ctx = build_context(
        plan, rows, values, stage="mid", data_year=2018, as_of=AS_OF, areas=AREAS,
        with_charts=False, text_goals=[{"text": "建成区域医疗中心", "target": "建成",
                                        "status": "待人工评定", "review": None}],
        review_history=[{"number": 5, "verdict": True, "by": "张三", "reason": "抽查",
                         "at": datetime(2019, 2, 20, 1, 0, tzinfo=UTC)}],
        acknowledged_issues=[{"kind": "year_on_year_jump", "number": 2, "detail": "修正Z值4.2 / jump",
                              "by": "王五", "reason": "口径调整"}],
        incomplete=True, incomplete_counts={"缺少数据的指标": 2},
    )  # fmt: skip
    return ctx


def test_issue_18_keys_are_rendered_where_they_belong():
    """Tiny inline rows carrying the keys helpers of issue 18 add: each shows up."""
    ctx = issue18_context()
    by_number = {}
    for f in ctx["table"]["footnotes"]:
        for n in f["numbers"]:
            by_number.setdefault(n, []).append(f["text"])
    assert any("基期值取自规划正文" in t for t in by_number[1])
    assert any("目标值系按规划推定：正文写明“翻一番”" in t for t in by_number[1])
    assert any("人工调整：按数据评定为“滞后”，调整为" in t and "（李四" in t and "专项核查" in t
               for t in by_number[2])  # fmt: skip
    assert any("按近两年速度推算" in t for t in by_number[3])
    assert any("全域数值95.50（达标），最薄弱单位为南镇" in t for t in by_number[3])
    assert table_row(ctx, 2)["overridden"] and table_row(ctx, 1)["baseline_source"] == "规划正文"
    assert ctx["text_goals"][0]["text"] == "建成区域医疗中心"
    assert ctx["appendix"]["review_history"][0]["by"] == "张三"
    ack = ctx["appendix"]["acknowledged"][0]
    assert ack["detail"] == "波动程度4.2" and ack["by"] == "王五"
    assert ctx["incomplete"]["present"] and "缺少数据的指标2项" in ctx["incomplete"]["text"]
    assert "数据不完整" in ctx["cover"]["running_head"]
