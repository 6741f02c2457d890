"""The pipeline on a real ``distributed`` cluster: a scheduler and two workers started as separate
processes on loopback, the warehouse on PostgreSQL, the reports in one shared folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from healthplan.settings import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
INBOX = REPO_ROOT / "samples" / "inbox" / "longhu"


def sheet_values(path: Path) -> dict[str, list[tuple]]:
    """Every sheet's cells, without the cells that name when or where the file was made."""
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    out = {}
    for ws in wb.worksheets:
        if ws.title == "数据来源":  # when each file was received: differs between warehouses
            continue
        rows = []
        for row in ws.iter_rows(values_only=True):
            text = " ".join(str(c) for c in row if c is not None)
            if any(w in text for w in ("生成", "截至", "北京时间", "源文件")):
                continue
            rows.append(tuple(row))
        out[ws.title] = rows
    return out


def local_run(tmp: Path) -> dict:
    """The same night with the default thread runner on a SQLite warehouse."""
    from flows.pipeline import run_pipeline
    from tests.conftest import _clear_caches

    os.environ["HEALTHPLAN_DATA_DIR"] = str(tmp / "local-data")
    os.environ["HEALTHPLAN_REPORTS_DIR"] = str(tmp / "local-reports")
    _clear_caches()
    return run_pipeline(plans=["longhu"], inbox=INBOX)


def test_the_night_runs_on_a_process_cluster_as_it_does_locally(
    prefect_harness, postgres_url, tmp_path, monkeypatch
):
    from distributed import Client

    from benchmarks.cluster import process_cluster, worker_environment
    from flows.pipeline import run_pipeline
    from tests.conftest import _clear_caches

    for key in ("HEALTHPLAN_DATA_DIR", "HEALTHPLAN_REPORTS_DIR", "HEALTHPLAN_DATABASE_URL",
                "HEALTHPLAN_TASK_RUNNER", "HEALTHPLAN_DASK_ADDRESS"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    local = local_run(tmp_path)
    shared = tmp_path / "shared-reports"
    settings = {
        "HEALTHPLAN_DATABASE_URL": postgres_url,
        "HEALTHPLAN_DATA_DIR": str(tmp_path / "cluster-data"),
        "HEALTHPLAN_REPORTS_DIR": str(shared),
    }
    started = time.monotonic()
    with process_cluster(tmp_path / "dask", 2, worker_environment(settings)) as cluster:
        for k, v in {**settings, "HEALTHPLAN_TASK_RUNNER": "dask",
                     "HEALTHPLAN_DASK_ADDRESS": cluster.address}.items():  # fmt: skip
            monkeypatch.setenv(k, v)
        _clear_caches()
        with Client(cluster.address, timeout=60) as client:
            client.get_task_stream()  # installs the scheduler's record of every task
            pids = client.run(os.getpid)  # worker address → its process id
            t0 = time.time()
            remote = run_pipeline(plans=["longhu"], inbox=INBOX)
            stream = client.get_task_stream(start=t0)
    _clear_caches()
    assert time.monotonic() - started < 600
    assert not any(p.poll() is None for p in cluster.processes)  # all stopped

    # tasks ran in the worker processes, both of them, not in this one
    assert set(pids.values()) == set(cluster.worker_pids())
    ran_on = [rec["worker"] for rec in stream]
    assert len(ran_on) >= 6  # compute, quality, 2 evaluations, 2 reports
    assert {pids[w] for w in ran_on} == set(cluster.worker_pids())
    assert os.getpid() not in {pids[w] for w in ran_on}

    assert remote["statuses"] == local["statuses"]
    assert remote["quality"] == local["quality"]
    names = sorted(Path(p).name for p in remote["reports"])
    assert names == sorted(Path(p).name for p in local["reports"])
    assert all(Path(p).parent == shared for p in remote["reports"])
    assert not list(shared.glob("*.tmp*"))  # written atomically: no parts left behind
    for name in names:
        if name.endswith(".xlsx"):
            ours, theirs = shared / name, tmp_path / "local-reports" / name
            assert sheet_values(ours) == sheet_values(theirs), name
        if name.endswith(".pdf"):
            assert (shared / name).read_bytes()[:5] == b"%PDF-"
