"""The pipeline flow end to end on the bundled sample, under the Prefect test harness."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from healthplan.settings import REPO_ROOT

pytestmark = pytest.mark.integration
INBOX = REPO_ROOT / "samples" / "inbox"
MID = {"已实现", "快于预期", "符合预期", "需加快", "滞后", "倒退", "数据缺失", "待人工评定"}
END = {"已完成", "基本完成", "未完成", "倒退", "数据缺失", "待人工评定"}


def artifacts_by_key() -> dict[str, object]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {a.key: a for a in client.read_artifacts() if a.key}


@pytest.fixture(scope="module")
def first_and_second_run(prefect_harness, tmp_path_factory):
    """Two pipeline runs on one fresh warehouse: the full one, then one with no new input."""
    import os

    from tests.conftest import _clear_caches

    tmp = tmp_path_factory.mktemp("pipeline")
    old = {k: os.environ.get(k) for k in ("HEALTHPLAN_DATA_DIR", "HEALTHPLAN_REPORTS_DIR")}
    os.environ["HEALTHPLAN_DATA_DIR"] = str(tmp / "data")
    os.environ["HEALTHPLAN_REPORTS_DIR"] = str(tmp / "reports")
    _clear_caches()
    from flows.pipeline import pipeline_flow

    t0 = time.perf_counter()
    first = pipeline_flow(inbox=str(INBOX), return_state=True)
    t1 = time.perf_counter()
    second = pipeline_flow(inbox=str(INBOX), return_state=True)
    t2 = time.perf_counter()
    yield first, second, t1 - t0, t2 - t1, tmp
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _clear_caches()


def test_pipeline_completes_with_every_status_and_writes_the_reports(first_and_second_run):
    first, _, _, _, tmp = first_and_second_run
    assert first.is_completed(), first.message
    result = first.result()
    assert not result["skipped"]
    for plan in ("longhu", "guilin"):
        assert set(result["statuses"][f"{plan}/mid"]) >= MID, result["statuses"][f"{plan}/mid"]
        assert set(result["statuses"][f"{plan}/end"]) >= END, result["statuses"][f"{plan}/end"]
    pdfs = sorted(Path(p).name for p in result["reports"] if p.endswith(".pdf"))
    assert pdfs == [
        "guilin_end_2020.pdf", "guilin_mid_2018.pdf", "longhu_end_2020.pdf", "longhu_mid_2018.pdf",
    ]  # fmt: skip
    for p in result["reports"]:
        assert Path(p).is_file() and Path(p).stat().st_size > 1000
        assert Path(p).is_relative_to(tmp / "reports")
    keys = artifacts_by_key()
    assert {"ingest-summary", "statuses", "quality", "reports"} <= set(keys)


def test_each_report_waits_for_its_plans_quality_check(first_and_second_run):
    """The quality annex lists tonight's issues: a report starts after its plan's quality check
    has stored them (they run beside the evaluation, which the report needs anyway)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    first = first_and_second_run[0]
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[first.state_details.flow_run_id])
            )
        )
    quality = {r.id: r for r in runs if r.name.startswith("quality_task")}
    reports = [r for r in runs if r.name.startswith("report_task")]
    assert len(quality) == 2 and len(reports) == 4
    for report in reports:
        waited = [i.id for i in report.task_inputs.get("wait_for", [])]
        assert len(waited) == 1 and waited[0] in quality, report.task_inputs
        assert report.start_time >= quality[waited[0]].end_time


def test_second_run_without_new_input_skips_the_unchanged_work(first_and_second_run):
    first, second, t_full, t_again, _ = first_and_second_run
    assert second.is_completed()
    again = second.result()
    assert again["skipped"] is True
    assert again["reports"] == first.result()["reports"]
    assert t_again < t_full / 3, (t_full, t_again)


def test_a_run_as_of_a_past_moment_renders_reproductions(first_and_second_run):
    """Reports of a run --as-of T are of T (file names and quality annex), as `healthplan report
    --as-of` makes them, and do not replace tonight's reports."""
    from datetime import UTC, datetime

    from flows.pipeline import pipeline_flow

    first, _, _, _, tmp = first_and_second_run
    moment = datetime.now(UTC).replace(microsecond=0)
    state = pipeline_flow(
        plans=["longhu"], stages=["mid"], as_of=moment, inbox=str(INBOX), return_state=True
    )
    assert state.is_completed(), state.message
    pdfs = [Path(p) for p in state.result()["reports"] if p.endswith(".pdf")]
    assert [p.name for p in pdfs] == [f"longhu_mid_2018_asof{moment:%Y%m%dT%H%M%S}.pdf"]
    tonight = [Path(p) for p in first.result()["reports"] if p.endswith("longhu_mid_2018.pdf")]
    assert pdfs[0].is_file() and tonight[0].is_file()


def test_run_history_records_both_runs(first_and_second_run):
    from flows.common import warehouse
    from warehouse.results import recent_runs

    runs = [r for r in recent_runs(warehouse(), 10) if r["flow"] == "pipeline"]
    assert [r["outcome"] for r in runs[:2]] == ["completed", "completed"]


def test_served_deployments_carry_the_cron_schedules_and_time_zone(monkeypatch):
    from healthplan.settings import get_settings

    monkeypatch.setenv("HEALTHPLAN_NIGHTLY_CRON", "0 2 * * *")
    get_settings.cache_clear()
    from flows.pipeline import deployments

    deps = {d.name: d for d in deployments()}
    assert set(deps) == {"nightly", "mid-term-report", "end-term-report"}
    nightly = deps["nightly"].schedules[0].schedule
    assert nightly.cron == "0 2 * * *"
    assert nightly.timezone == "Asia/Shanghai"
    for name in ("mid-term-report", "end-term-report"):
        assert deps[name].schedules[0].schedule.timezone == "Asia/Shanghai"
    assert deps["mid-term-report"].parameters["stages"] == ["mid"]
    get_settings.cache_clear()


def test_a_second_pipeline_is_refused_while_one_holds_the_lock(prefect_harness, isolated):
    from flows.common import warehouse
    from flows.pipeline import pipeline_flow
    from warehouse.lock import pipeline_lock
    from warehouse.observations import counts

    before = counts(warehouse())
    with pipeline_lock(warehouse(), "pipeline", "another-run"):
        state = pipeline_flow(inbox=str(INBOX), return_state=True)
    assert state.is_failed()
    assert "another-run" in state.message or "another-run" in str(
        state.result(raise_on_failure=False)
    )
    assert counts(warehouse()) == before  # nothing written by the refused run


def test_the_fan_out_runs_on_a_dask_task_runner(prefect_harness, isolated, monkeypatch):
    """Scale-out path: HEALTHPLAN_TASK_RUNNER=dask runs the per-plan fan-out on a local cluster."""
    from prefect_dask import DaskTaskRunner

    from flows.pipeline import run_pipeline, task_runner
    from healthplan.settings import get_settings

    monkeypatch.setenv("HEALTHPLAN_TASK_RUNNER", "dask")
    get_settings.cache_clear()
    runner = task_runner()
    assert isinstance(runner, DaskTaskRunner)
    assert runner.cluster_kwargs.get("processes") is False  # threads: no server per worker
    result = run_pipeline(plans=["longhu"], stages=["mid"], inbox=INBOX / "longhu")
    assert result["statuses"]["longhu/mid"]
    assert set(result["statuses"]["longhu/mid"]) >= MID
    assert [Path(p).name for p in result["reports"] if p.endswith(".pdf")] == [
        "longhu_mid_2018.pdf"
    ]


def test_run_names_what_the_ingest_could_not_take_and_exits_with_its_code(
    prefect_harness, isolated, tmp_path, capsys
):
    """`healthplan run` on an inbox with a damaged cell and an unreadable file: the reports are
    still written, the summary names both files (the cell by row, column and value), and the exit
    code is the ingest's (2: a file could not be read)."""
    import shutil

    from flows.pipeline import run_command

    inbox = tmp_path / "inbox"
    shutil.copytree(INBOX / "longhu", inbox / "longhu")
    path = inbox / "longhu" / "2018" / "population_2018.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[2].split(",")
    cells[3] = "不详"
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (inbox / "longhu" / "2018" / "notes.xlsx").write_bytes(b"not a workbook")

    code = run_command(["longhu"], ["mid"], None, inbox)
    out = capsys.readouterr().out
    assert code == 2
    assert "43 个文件 files，已入库 41 · 部分入库 1 · 已跳过 0 · 无法读取 1；隔离 1 行" in out
    assert (
        "inbox/longhu/2018/population_2018.csv：部分入库 partial，隔离 1 行：第3行 常住人口（万人）「不详」"
        in out
    )
    assert "inbox/longhu/2018/notes.xlsx：无法读取 unreadable：" in out
    assert "healthplan db quarantine" in out and "healthplan quality --plan longhu" in out
    assert (isolated / "reports" / "longhu_mid_2018.pdf").exists()
