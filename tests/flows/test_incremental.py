"""Work proportional to change: a night in which one county's figures in one file changed
recomputes only the plan that reads them and re-renders only the report whose numbers changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from healthplan.settings import REPO_ROOT
from tests.flows.test_cluster import sheet_values

pytestmark = pytest.mark.integration
INBOX = REPO_ROOT / "samples" / "inbox" / "longhu"
CHANGED = Path("2020") / "population_2020.csv"


def plans_with_a_street_plan(folder: Path) -> Path:
    """The bundled plans and a plan of one street of Longhu (珠池街道), the same indicators."""
    import yaml

    plans = folder / "plans"
    shutil.copytree(REPO_ROOT / "plans", plans, ignore=shutil.ignore_patterns("_skeleton"))
    doc = yaml.safe_load((plans / "longhu" / "plan.yaml").read_text(encoding="utf-8"))
    doc.update(id="zhuchi", jurisdiction="440507001")
    (plans / "zhuchi").mkdir()
    (plans / "zhuchi" / "plan.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True),
                                                encoding="utf-8")  # fmt: skip
    shutil.copy(plans / "longhu" / "source.txt", plans / "zhuchi" / "source.txt")
    area = {"code": "440507001", "name_zh": "珠池街道", "name_en": "Zhuchi", "level": "street"}
    (plans / "zhuchi" / "areas.yaml").write_text(
        yaml.safe_dump({"jurisdiction": "440507001", "areas": [area]}, allow_unicode=True),
        encoding="utf-8",
    )
    return plans


def use(folder: Path, monkeypatch) -> None:
    from tests.conftest import _clear_caches

    monkeypatch.setenv("HEALTHPLAN_DATA_DIR", str(folder / "data"))
    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(folder / "reports"))
    _clear_caches()


def changed_street(inbox: Path) -> None:
    """新津街道's life expectancy in 2020, 76.4 → 76.9: one street, one year, one file."""
    path = inbox / CHANGED
    text = path.read_text(encoding="utf-8")
    old = "440507002,新津街道,2020,6.4734,0.6832,897,471,426,292,39.7161,76.4\n"
    assert old in text
    path.write_text(text.replace(old, old.replace(",76.4\n", ",76.9\n")), encoding="utf-8")


def work_done() -> dict[str, object]:
    """When each plan/stage was last evaluated, and how many report files were recorded."""
    from flows.common import warehouse
    from warehouse.schema import evaluation, report

    out: dict[str, object] = {}
    with warehouse().connect() as conn:
        for table, what, agg in ((evaluation, "evaluated", sa.func.max(evaluation.c.evaluated_at)),
                                 (report, "rendered", sa.func.count())):  # fmt: skip
            c = table.c
            for plan, stage, n in conn.execute(
                sa.select(c.plan_id, c.stage, agg).group_by(c.plan_id, c.stage)
            ):
                out[f"{what} {plan}/{stage}"] = n
    return out


def added(before: dict[str, object], after: dict[str, object]) -> set[str]:
    return {k for k, n in after.items() if n != before.get(k, 0)}


def test_one_changed_file_reruns_only_what_reads_it(prefect_harness, tmp_path, monkeypatch):
    from flows.pipeline import pipeline_flow

    monkeypatch.setenv("HEALTHPLAN_PLANS_DIR", str(plans_with_a_street_plan(tmp_path)))
    inbox = tmp_path / "inbox"
    shutil.copytree(INBOX, inbox)
    use(tmp_path / "nightly", monkeypatch)
    plans = ["longhu", "zhuchi"]
    first = pipeline_flow(inbox=str(inbox), plans=plans)
    assert not first["skipped"]
    before = work_done()

    changed_street(inbox)
    second = pipeline_flow(inbox=str(inbox), plans=plans)
    after = work_done()
    # the street plan does not read 新津街道: untouched; Longhu evaluated again, and only its
    # end-term report (data year 2020) rendered again
    # longhu/mid is rendered again too: its sources annex lists the changed 2020 file
    assert added(before, after) == {"evaluated longhu/mid", "evaluated longhu/end",
                                    "rendered longhu/mid", "rendered longhu/end"}  # fmt: skip
    for key in ("zhuchi/mid", "zhuchi/end", "longhu/mid"):
        assert second["statuses"][key] == first["statuses"][key]
    assert sorted(second["reports"]) == sorted(first["reports"])  # the same 16 files
    assert len(second["reports"]) == 16  # 4 reports × PDF, HTML, XLSX, DOCX

    # the same night computed from scratch gives the same statuses and the same reports
    use(tmp_path / "fresh", monkeypatch)
    fresh = pipeline_flow(inbox=str(inbox), plans=["longhu"])
    for key in ("longhu/mid", "longhu/end"):
        assert second["statuses"][key] == fresh["statuses"][key]
    assert second["quality"]["longhu"] == fresh["quality"]["longhu"]
    ours = {Path(p).name: Path(p) for p in second["reports"]}
    for p in fresh["reports"]:
        if p.endswith(".xlsx"):
            name = Path(p).name
            assert sheet_values(ours[name]) == sheet_values(Path(p)), name
    end = sheet_values(ours["longhu_end_2020.xlsx"])
    assert any(76.9 in row or "76.9" in row or "76.90" in row for r in end.values() for row in r)
