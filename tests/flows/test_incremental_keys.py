"""The bookkeeping of work proportional to change, without a flow run."""

from __future__ import annotations

from flows.incremental import Split, merged, plan_outputs


def test_each_plan_gets_its_own_reports_even_when_one_id_begins_another():
    reports = [f"/r/{stem}.{ext}" for stem in ("gui_mid_2018", "guilin_mid_2018",
               "guilin_end_2020_asof20240301T100000") for ext in ("pdf", "html")]  # fmt: skip
    statuses = {"gui/mid": {"已实现": 1}, "guilin/mid": {"滞后": 2}, "guilin/end": {"倒退": 1}}
    out = plan_outputs({"gui": "k1", "guilin": "k2"}, statuses, {"gui": {}, "guilin": {}}, reports)
    assert out["gui"]["reports"] == ["/r/gui_mid_2018.pdf", "/r/gui_mid_2018.html"]
    assert len(out["guilin"]["reports"]) == 4
    assert out["guilin"]["statuses"] == {"guilin/mid": {"滞后": 2}, "guilin/end": {"倒退": 1}}
    assert out["gui"]["key"] == "k1"


def test_kept_plans_and_tonight_s_plans_merge_in_plan_order():
    kept = {"a": {"key": "ka", "statuses": {"a/mid": {"x": 1}}, "quality": {"warning": 2},
                  "reports": ["/r/a_mid_2018.pdf"]}}  # fmt: skip
    split = Split(keys={"a": "ka", "b": "kb"}, todo=["b"], kept=kept)
    st, q, rp = merged(split, {"b/mid": {"y": 3}}, {"b": {}}, ["/r/b_mid_2018.pdf"], ["a", "b"])
    assert st == {"a/mid": {"x": 1}, "b/mid": {"y": 3}}
    assert q == {"a": {"warning": 2}, "b": {}}
    assert rp == ["/r/a_mid_2018.pdf", "/r/b_mid_2018.pdf"]
