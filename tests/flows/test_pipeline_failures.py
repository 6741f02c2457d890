"""One failing plan never stops another: a real pipeline run with three plans as data, one whose
evaluation fails (a threshold setting the method refuses), one with no data for its years, one
sound. The sound one's reports are rendered; the run fails naming the broken one; the plan
without data is skipped with a named warning; a deterministic error is not retried."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.flows.test_third_plan import third_plan  # noqa: F401 - the fixture, used below

pytestmark = pytest.mark.integration


def copy_plan(plans_dir: Path, new_id: str, change) -> None:
    """plans/third copied as plans/<new_id> (same areas and data), its plan.yaml changed."""
    folder = plans_dir / new_id
    shutil.copytree(plans_dir / "third", folder)
    (folder / "elements.yaml").unlink()  # the element is defined once, by third
    data = yaml.safe_load((folder / "plan.yaml").read_text(encoding="utf-8"))
    data["id"] = new_id
    change(data)
    (folder / "plan.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def broken(data: dict) -> None:
    # accepted when the plan is read, refused by the method: 0 <= needs_speedup <= on_schedule
    data["thresholds"] = {"on_schedule_rho": 0.5, "needs_speedup_rho": 0.9}


def no_sources(data: dict) -> None:
    for indicator in data["indicators"]:
        indicator["formula"] = None


@pytest.fixture
def three_plans(third_plan):  # noqa: F811 - the imported fixture
    plans_dir = third_plan / "plans"
    copy_plan(plans_dir, "broken", broken)
    copy_plan(plans_dir, "nodata", no_sources)
    from tests.conftest import _clear_caches

    _clear_caches()
    return third_plan


def _task_runs(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        only = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        return client.read_task_runs(flow_run_filter=only)


def test_a_failing_plan_fails_its_own_tasks_and_the_others_are_reported(three_plans, capsys):
    from flows.pipeline import PipelineFailed, pipeline_flow, run_command

    inbox = str(three_plans / "inbox")
    state = pipeline_flow(plans=["broken", "nodata", "third"], inbox=inbox, return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, PipelineFailed)
    result = error.result
    # the sound plan: evaluated and reported
    pdfs = sorted(Path(p).name for p in result["reports"] if p.endswith(".pdf"))
    assert pdfs == ["third_end_2025.pdf", "third_mid_2023.pdf"]
    assert all(Path(p).is_file() for p in result["reports"])
    # the broken plan: both stages named, with the method's message
    assert [f.split(" ")[0] for f in result["failures"]] == ["broken/mid", "broken/end"]
    assert all("needs_speedup_rho" in f for f in result["failures"])
    assert "broken/mid" in str(error) and "2 项失败" in str(error)
    # the plan without data: evaluated, its reports skipped with a named warning
    assert set(result["statuses"]) == {"nodata/mid", "nodata/end", "third/mid", "third/end"}
    assert [s.split("：")[0] for s in result["skipped_reports"]] == ["nodata/mid", "nodata/end"]
    assert "数据不完整" in result["skipped_reports"][0]
    # a deterministic error is not retried
    runs = _task_runs(state.state_details.flow_run_id)
    failed = [r for r in runs if r.state.is_failed()]
    assert len(failed) == 2 and all(r.name.startswith("evaluate_task") for r in failed)
    assert all(r.run_count == 1 for r in failed)
    from flows.common import warehouse
    from warehouse.results import recent_runs

    last = recent_runs(warehouse(), 1)[0]
    assert last["outcome"] == "failed" and "broken/mid" in last["message"]

    # `healthplan run`: the same, with an exit code that says something failed
    capsys.readouterr()
    code = run_command(["broken", "nodata", "third"], None, None, Path(inbox))
    out = capsys.readouterr()
    assert code == 1
    assert (
        "以下步骤失败，其余规划已完成" in out.err and "broken/mid 评估 evaluation 失败" in out.err
    )
    assert "未生成报告 / report skipped: nodata/mid" in out.out
    assert "third_mid_2023.pdf" in out.out

    # the evaluate flow alone: the sound plan's evaluation is stored, the broken one named
    from flows.evaluate import EvaluationFailed, evaluate_flow
    from warehouse.results import load_evaluations

    state = evaluate_flow(plans=["broken", "third"], stages=["mid"], return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, EvaluationFailed) and "broken/mid" in str(error)
    assert set(error.statuses) == {"third/mid"}
    assert load_evaluations(warehouse(), "third", "mid", 2023)
