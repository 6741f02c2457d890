"""`plan import` on the two seed plans reproduces the committed plans on every table field."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthplan.definitions import Plan, yaml_data
from transforms.plan_import import Options, draft_plan, read_document

ROOT = Path(__file__).resolve().parents[2]
SEEDS = {
    "longhu": ROOT / "plans" / "longhu" / "source.txt",
    "guilin": ROOT / "plans" / "guilin" / "source.txt",
}
# Evaluation.md (binding decisions): a target printed both as a rule and as a figure for this
# jurisdiction (在2015年基础上提高1岁（桂林78岁）) is judged by the explicit figure.
EXPLICIT_FIGURE = {("guilin", 1): {"comparator": "reach", "value": 78.0, "delta": None}}


def committed(plan_id: str) -> Plan:
    path = ROOT / "plans" / plan_id / "plan.yaml"
    return Plan.model_validate(yaml_data(path.read_text(encoding="utf-8")))


def imported(plan_id: str) -> dict:
    source = SEEDS[plan_id]
    doc = read_document(source.name, source.read_bytes())
    plan, _ = draft_plan(doc, Options(plan_id))
    return plan


def table_fields(plan_id: str, ind, table_has_baseline: bool) -> dict:
    """The fields the plan's table carries, from a committed indicator (a pydantic model)."""
    t = ind.target
    fields = {
        "number": ind.number,
        "category_zh": ind.category_zh,
        "name_zh": ind.name_zh,
        "unit": ind.unit,
        "direction": ind.direction,
        "target.text": t.text,
        "target.comparator": t.comparator,
        "target.value": t.value,
        "target.tolerance": t.tolerance,
        "target.delta": t.delta,
        "target.strata": {k: s.model_dump(exclude_none=True) for k, s in (t.strata or {}).items()}
        or None,
        "attribute": ind.attribute,
        "attribute_from_merged_cell": ind.attribute_from_merged_cell,
    }
    for key, value in EXPLICIT_FIGURE.get((plan_id, ind.number), {}).items():
        fields[f"target.{key}"] = value
    if table_has_baseline:
        b = ind.baseline
        fields |= {
            "baseline.value": b.value if b else None,
            "baseline.year": b.year if b else None,
            "baseline.text": b.text if b else None,
        }
    return fields


def draft_fields(ind: dict, table_has_baseline: bool) -> dict:
    """The same fields from an imported indicator dict."""
    t = ind["target"]
    fields = {
        "number": ind["number"],
        "category_zh": ind["category_zh"],
        "name_zh": ind["name_zh"],
        "unit": ind["unit"],
        "direction": ind["direction"],
        "target.text": t["text"],
        "target.comparator": t["comparator"],
        "target.value": t.get("value"),
        "target.tolerance": t.get("tolerance"),
        "target.delta": t.get("delta"),
        "target.strata": t.get("strata"),
        "attribute": ind.get("attribute"),
        "attribute_from_merged_cell": ind.get("attribute_from_merged_cell", False),
    }
    if table_has_baseline:
        b = ind["baseline"] or {}
        fields |= {
            "baseline.value": b.get("value"),
            "baseline.year": b.get("year"),
            "baseline.text": b.get("text"),
        }
    return fields


def differences(plan_id: str, plan: dict, table_has_baseline: bool) -> list[str]:
    """Every table field where the imported plan differs from the committed one, named."""
    drafts = {i["number"]: i for i in plan["indicators"]}
    expected = committed(plan_id).indicators
    out = [] if sorted(drafts) == [i.number for i in expected] else [f"numbers: {sorted(drafts)}"]
    for ind in expected:
        if ind.number not in drafts:
            continue
        want = table_fields(plan_id, ind, table_has_baseline)
        got = draft_fields(drafts[ind.number], table_has_baseline)
        out += [
            f"#{ind.number} {field}: imported {got[field]!r}, plan {value!r}"
            for field, value in want.items()
            if got[field] != value
        ]
    return out


@pytest.mark.parametrize("plan_id,table_has_baseline", [("longhu", True), ("guilin", False)])
def test_import_reproduces_the_committed_plan_field_by_field(plan_id, table_has_baseline):
    found = differences(plan_id, imported(plan_id), table_has_baseline)
    assert not found, "\n".join(found)


def test_a_difference_is_named_by_indicator_and_field():
    plan = imported("longhu")
    plan["indicators"][4]["attribute_from_merged_cell"] = False
    assert differences("longhu", plan, True) == [
        "#5 attribute_from_merged_cell: imported False, plan True"
    ]


def test_body_text_figures_that_restate_a_baseline_are_found():
    """Longhu: the text's differing 2015 figures, none that the committed plan does not hold."""
    expected = {i.number: i for i in committed("longhu").indicators}
    found = {}
    for ind in imported("longhu")["indicators"]:
        for fig in ind.get("text_figures", []):
            want = {(f.value, f.sentence) for f in expected[ind["number"]].text_figures}
            assert (fig["value"], fig["sentence"]) in want, (ind["number"], fig)
            found[ind["number"]] = fig
    assert {2: 1.01, 3: 0, 5: 92.03, 6: 77.58, 13: 1.47, 14: 1.1, 16: 1.43, 17: 0.3}.items() <= {
        n: f["value"] for n, f in found.items()
    }.items()
    assert found[16]["unit_note"] == expected[16].text_figures[0].unit_note


def test_without_a_baseline_column_the_text_figure_becomes_the_baseline():
    """Guilin's table has no baseline: figures read from the text match the committed ones."""
    expected = {i.number: i for i in committed("guilin").indicators}
    from_text = [i for i in imported("guilin")["indicators"] if i.get("baseline_source") == "text"]
    assert len(from_text) >= 12
    for ind in from_text:
        want = expected[ind["number"]]
        assert ind["baseline"]["value"] == want.baseline.value, ind["number"]
        assert ind["baseline"]["text"] == want.baseline.text, ind["number"]
        # the committed Guilin plan quotes the clause (up to ；), the draft the whole sentence
        assert want.baseline_sentence.strip() in ind["baseline_sentence"], ind["number"]
        assert any(r["field"] == "baseline" for r in ind["review_needed"])
