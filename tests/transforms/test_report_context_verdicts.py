"""What the report context carries of the method's binding decisions: where x0 comes from,
per-unit indicators by their weakest unit, inferred values, projections and text goals."""

from __future__ import annotations

from healthplan.definitions import Plan
from tests.transforms.test_report_context import demo_context, demo_plan, demo_values, table_row


def _notes(ctx, number: int) -> list[str]:
    return [f["text"] for f in ctx["table"]["footnotes"] if number in f["numbers"]]


def test_a_warehouse_baseline_is_used_and_said_so():
    data = demo_plan().model_dump()
    data["indicators"][3]["baseline"] = None  # indicator 4: no baseline in the plan
    ctx, rows = demo_context(plan=Plan(**data), with_charts=True)
    row = table_row(ctx, 4)
    assert (row["baseline"], row["baseline_source"]) == ("50.0", "数据仓库")
    assert "规划未列基期值，基期值取自报送的2015年数据" in _notes(ctx, 4)
    assert row["p"] != "—"  # judged against the warehouse's x0
    svg = next(
        e["svg"] for c in ctx["charts"]["categories"] for e in c["entries"] if e["number"] == 4
    )
    assert "基期（报送数据）" in svg
    svg1 = next(
        e["svg"] for c in ctx["charts"]["categories"] for e in c["entries"] if e["number"] == 1
    )
    assert "基期（规划表）" in svg1


def test_per_unit_row_and_sentences_name_the_weakest_unit():
    ctx, _ = demo_context()
    row = table_row(ctx, 7)
    assert (row["status"], row["weakest_unit"], row["jurisdiction_status"]) == (
        "倒退",
        "南镇",
        "已实现",
    )
    assert row["jurisdiction_value"] == "96.00"
    units = ctx["problems"]["units"][0]
    assert "指标状态取最弱单位南镇的状态（倒退），全域自身为已实现。" in units["text"]


def test_inferred_values_are_footnoted():
    data = demo_plan().model_dump()
    data["indicators"][0]["baseline_source"] = "text"
    data["indicators"][0]["inferred"] = [{"field": "baseline", "why_zh": "按单位笔误读作每千人口"}]
    data["indicators"][1]["attribute_from_merged_cell"] = True
    ctx, _ = demo_context(plan=Plan(**data))
    assert "基期值系按规划推定：规划表未列基期值，取自规划正文" in _notes(ctx, 1)
    assert "基期值系按规划推定：按单位笔误读作每千人口" in _notes(ctx, 1)
    assert "指标属性系按规划推定：指标属性单元格空白，取自表中上方的合并单元格" in _notes(ctx, 2)
    assert [i["field"] for i in table_row(ctx, 1)["inferred"]] == ["baseline", "baseline"]


def test_a_projection_out_of_range_is_footnoted_not_printed():
    values = demo_values()
    values.loc[(values["number"] == 3) & (values["year"] == 2018), "value"] = 5.0
    ctx, rows = demo_context(values=values)  # 3: a share falling 20 → 5 projects to −5
    r3 = next(r for r in rows if r["number"] == 3 and r["area"] == "D")
    assert r3["projection"] is None
    assert table_row(ctx, 3)["projection"] == "—"
    assert "目标年预测：按直线外推将超出合理范围（不低于0），不作预测" in _notes(ctx, 3)
    assert "预计为-" not in "".join(
        i["text"] for s in ctx["problems"]["sections"] for i in s["entries"]
    )


def test_text_goals_are_in_the_context_and_the_report():
    from flows.report import render_html

    data = demo_plan().model_dump()
    data["text_goals"] = [
        {
            "code": "T1",
            "name_zh": "县域内就诊率",
            "name_en": "x",
            "unit": "%",
            "direction": "higher",
            "target": {"text": "90%左右", "comparator": "about", "value": 90, "year": 2020},
            "sentence": "将县域内就诊率提高到90%左右。",
        }
    ]
    ctx, _ = demo_context(plan=Plan(**data))
    (goal,) = ctx["text_goals"]
    assert {k: goal[k] for k in ("goal", "name", "unit", "text", "target", "status")} == {
        "goal": "T1",
        "name": "县域内就诊率",
        "unit": "%",
        "text": "将县域内就诊率提高到90%左右。",
        "target": "90%左右",
        "status": "待人工评定",
    }
    assert goal["related_indicator"] is None and goal["review"] == "—"  # no verdict yet
    html = render_html(ctx)
    assert "仅在规划正文中提出的目标" in html and "县域内就诊率" in html
    assert any(t["id"] == "sec-text-goals" for t in ctx["toc"])
    plain, _ = demo_context()
    assert plain["text_goals"] == [] and "仅在规划正文中提出的目标" not in render_html(plain)
