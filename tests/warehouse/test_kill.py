"""A load killed with SIGKILL mid-transaction leaves the warehouse exactly as it was."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.warehouse.helpers import T0, big_frame, load
from warehouse.engine import dispose_engine
from warehouse.observations import counts, observations_as_of, source_files

N_ROWS = 300_000
ROOT = Path(__file__).resolve().parents[2]


def _wait_for(proc: subprocess.Popen, marker: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if line.strip() == marker:
                return
            if not line:
                break
    proc.kill()
    pytest.fail(f"child never reached {marker!r}: {proc.stderr.read()}")


@pytest.mark.parametrize("marker", ["stage", "merge"])
def test_sigkill_mid_load_leaves_the_warehouse_unchanged(engine, db_url, marker):
    # what the warehouse holds before: a smaller load the big one would partly revise
    load(engine, big_frame(5_000), T0, name="small.csv")
    before_counts = counts(engine)
    before_rows = observations_as_of(engine)
    before_files = source_files(engine)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("kill_child.py")),
            db_url,
            str(N_ROWS),
            marker,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    _wait_for(proc, marker)
    time.sleep(0.05)  # let the statement get going
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    assert "COMMITTED" not in out

    dispose_engine(db_url)  # fresh connections, as a new process would have
    assert counts(engine) == before_counts
    pd.testing.assert_frame_equal(observations_as_of(engine), before_rows)
    pd.testing.assert_frame_equal(source_files(engine), before_files)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"

    # and the next load goes through
    _, stats = load(engine, big_frame(N_ROWS, base=5.0), T0 + timedelta(days=1), name="big.csv")
    assert (stats.inserted, stats.revised, stats.unchanged) == (N_ROWS - 5_000, 5_000, 0)
    assert counts(engine)["observation"] == N_ROWS + 5_000
