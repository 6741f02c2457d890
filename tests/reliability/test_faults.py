"""Faults: the process killed during a load, the evaluation writes and a render; the database
unreachable at start; the reports folder unwritable or full; two pipelines at once. After each,
nothing stored is lost or half-written and the next normal run succeeds."""

from __future__ import annotations

import errno
import os
import random
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    CORPUS,
    ROOT,
    assert_consistent,
    assert_unchanged,
    cli_env,
    prepare_warehouse,
    run_cli,
    snapshot,
    squash,
)

pytestmark = pytest.mark.integration

CHILD = Path(__file__).with_name("fault_child.py")
PH_BASELINE = CORPUS / "baseline" / "public_health_longhu_2019.csv"


# ------------------------------------------------------------------------------------ helpers


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**(env or os.environ), "PYTHONPATH": str(ROOT)},
    )


def wait_for(proc: subprocess.Popen, prefix: str, timeout: float = 90) -> str:
    """The child's first stdout line starting with ``prefix`` (fails if it ends first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if line.startswith(prefix):
                return line.strip()
            if not line:
                break
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"child never said {prefix!r}: {out}\n{err}")


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate("go on\n", timeout=timeout)
    return proc.returncode, out + err


def fresh_connections(url: str) -> None:
    from warehouse.engine import dispose_engine

    dispose_engine(url)  # as a new process would connect


@pytest.fixture
def warehouse(db_url, corpus_plans, corpus_context):
    """A warehouse (SQLite and PostgreSQL) with the corpus baseline loaded."""
    return prepare_warehouse(db_url, corpus_plans, corpus_context)


def corrected_file(folder: Path) -> Path:
    """A corrected public-health file of 2019 and 2020 (named for both: a name of one year must
    agree with the rows): three changed values (revisions), a new year's rows and
    one bad cell (quarantine), so a load writes every kind of row."""
    text = PH_BASELINE.read_bytes().decode("utf-8-sig")
    lines = text.split("\r\n")
    new_year = [line.replace(",2019,", ",2020,") for line in lines[1:] if line]
    lines[1] = lines[1].replace(",900,", ",901,", 1)
    lines[2] = lines[2].replace(",937,", ",938,", 1)
    lines[3] = lines[3].replace(",974,", ",-974,", 1)  # rejected: negative
    new_year[0] = new_year[0].replace(",900,", ",901,", 1)
    path = folder / "public_health_longhu_2019-2020_corrected.csv"
    path.write_bytes(("\ufeff" + "\r\n".join([*lines, *new_year])).encode("utf-8"))
    return path


# ------------------------------------------------------------------------------------ a load


@pytest.mark.parametrize(
    "marker",
    ["UPDATE observation", "UPDATE source_file"],
    ids=["revising", "finishing"],  # the last: observations and quarantine rows written
)
def test_killed_during_a_load(warehouse, db_url, corpus_plans, corpus_context, tmp_path, marker):
    from flows.ingest import ingest_paths
    from warehouse.observations import observations_as_of

    file = corrected_file(tmp_path)
    before = snapshot(warehouse)
    proc = start("load", db_url, str(corpus_plans), str(file), marker)
    wait_for(proc, "AT ")
    kill(proc)

    fresh_connections(db_url)
    assert_unchanged(warehouse, before)  # not even the file's registration is left
    assert_consistent(warehouse)

    summary = ingest_paths([file], engine=warehouse, context=corpus_context)  # the next run
    assert summary.exit_code == 3
    [f] = summary.files
    assert (f.status, f.inserted, f.revised, f.rows_rejected) == ("partial", 77, 2, 1)
    now = observations_as_of(warehouse, areas=["440507001"], elements=["vacc_eligible"])
    assert list(now["value"]) == [901.0, 901.0] and list(now["revision"]) == [2, 1]
    assert_consistent(warehouse)


# ------------------------------------------------------------------------------------ evaluations


def _evaluations(engine) -> tuple[set[str], int, int]:
    from warehouse.results import load_evaluations

    rows = load_evaluations(engine, "longhu", "mid", 2018)
    return {r["status"] for r in rows}, len(rows), len({r["evaluated_at"] for r in rows})


@pytest.mark.parametrize("marker", ["DELETE FROM evaluation", "INSERT INTO evaluation"])
def test_killed_during_the_evaluation_writes(warehouse, db_url, marker):
    from tests.reliability.fault_child import evaluation_rows
    from warehouse.results import save_evaluations

    save_evaluations(warehouse, "longhu", "mid", 2018, evaluation_rows(3000, "old"))
    proc = start("evaluations", db_url, marker, "3000", "new")
    wait_for(proc, "AT ")
    kill(proc)
    fresh_connections(db_url)
    assert _evaluations(warehouse) == ({"old"}, 3000, 1)  # the old set, whole
    assert_consistent(warehouse)

    save_evaluations(warehouse, "longhu", "mid", 2018, evaluation_rows(2500, "next"))
    assert _evaluations(warehouse) == ({"next"}, 2500, 1)


def test_killed_at_random_moments_while_saving_evaluations(warehouse, db_url):
    """A child saves two sets in turn as fast as it can; killed at a random moment, the table
    holds one whole set, never a mix."""
    rng = random.Random(20161)
    seen = []
    for _ in range(3):
        proc = start("evaluations", db_url, "loop", "6000", "run")
        for _ in range(rng.randint(1, 3)):
            wait_for(proc, "SAVED")
        time.sleep(rng.uniform(0.0, 0.4))
        kill(proc)
        fresh_connections(db_url)
        statuses, n, saves = _evaluations(warehouse)
        assert len(statuses) == 1 and statuses <= {"run-a", "run-b"}, statuses
        assert (n, saves) == (6000, 1)
        assert_consistent(warehouse)
        seen.append(statuses.pop())
    assert seen


# ------------------------------------------------------------------------------------ a render


@pytest.fixture(scope="module")
def report_env(tmp_path_factory, corpus_plans, corpus_context):
    """Settings for rendering the longhu report into a reports folder that holds a previous
    report (SQLite warehouse with the corpus baseline); caches reset around the module."""
    from tests.conftest import _clear_caches

    base = tmp_path_factory.mktemp("render")
    url = f"sqlite:///{(base / 'data' / 'warehouse.sqlite').as_posix()}"
    (base / "data").mkdir()
    env = cli_env(url, base / "data", corpus_plans, base / "reports")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            if key.startswith("HEALTHPLAN_"):
                mp.setenv(key, value)
        _clear_caches()
        engine = prepare_warehouse(url, corpus_plans, corpus_context)
        from flows.evaluate import assess
        from flows.report import render_report

        files = render_report(assess("longhu", "mid"))
        yield {"env": env, "engine": engine, "files": files, "reports": base / "reports"}
        _clear_caches()
    from warehouse.engine import dispose_engine

    dispose_engine(url)


def _state(reports: Path) -> dict[str, bytes]:
    """The report files in the folder (the archive folder beside them is not a report)."""
    return {p.name: p.read_bytes() for p in sorted(reports.iterdir()) if p.is_file()}


def _complete_pdf(data: bytes) -> bool:
    return data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]


def _report_rows(engine) -> int:
    from warehouse.observations import counts

    return counts(engine)["report"]


def test_killed_during_a_render(report_env):
    """Killed while WeasyPrint lays out the PDF, after the first temporary file is written, and
    between replacing the PDF and the HTML: no report file is ever partial or missing."""
    from flows.evaluate import assess
    from flows.report import render_report

    reports = report_env["reports"]
    records = _report_rows(report_env["engine"])
    for marker in ("pdf", "fsync", "replace"):
        before = {k: v for k, v in _state(reports).items() if not k.startswith(".")}
        inodes = {k: (reports / k).stat().st_ino for k in before}
        proc = start("render", marker, env=report_env["env"])
        wait_for(proc, f"AT {marker}", timeout=120)
        if marker == "pdf":
            time.sleep(0.3)  # inside WeasyPrint's layout
        kill(proc)

        after = _state(reports)
        visible = {k: v for k, v in after.items() if not k.startswith(".")}
        assert set(visible) == set(before), "no new file, no file gone"
        pdf = next(k for k in visible if k.endswith(".pdf"))
        assert _complete_pdf(visible[pdf])
        replaced = {k for k in visible if (reports / k).stat().st_ino != inodes[k]}
        if marker == "replace":  # killed between two files: at most the PDF is new, whole
            # (the previous files' archive copies are renamed into reports/archive/ first)
            assert replaced <= {pdf}
            assert all(visible[k] == before[k] for k in visible if k != pdf)
        else:
            assert replaced == set() and visible == before  # the previous report, untouched
        # what a kill leaves: temporary files, hidden, never taken for a report
        assert all(k.startswith(".") and k.endswith(".part") for k in set(after) - set(visible))
        assert _report_rows(report_env["engine"]) == records  # nothing recorded for a dead render

    files = render_report(assess("longhu", "mid"))  # the next run
    assert _complete_pdf(files.pdf.read_bytes())
    assert _report_rows(report_env["engine"]) == records + 4  # PDF, HTML, XLSX, DOCX
    assert_consistent(report_env["engine"])


def _render_command(capsys) -> tuple[int, str]:
    from flows.report import report_command

    code = report_command("longhu", "mid", allow_incomplete=True)  # an empty warehouse here
    out = capsys.readouterr()
    return code, squash(out.out + out.err)  # rich folds lines at 80 columns here


class _DiskFull:
    """A file whose disk fills up halfway through the write."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_reports_folder_full_or_unwritable(report_env, monkeypatch, capsys):
    """The disk fills while the second file is written (half of it on disk), then the folder
    refuses new files: each time a message, exit 1, the previous report kept and no temporary
    file left; once there is room again, the next run succeeds."""
    import flows.report as report
    import writers.files as files

    reports = report_env["reports"]
    before = _state(reports)
    records = _report_rows(report_env["engine"])
    real_fdopen, opened = os.fdopen, []
    rendered = []

    def build_once(*args, **kwargs):  # the faults are in the writes: lay the PDF out once
        if not rendered:
            rendered.append(real_build(*args, **kwargs))
        return rendered[0]

    real_build = report.build_report

    def fdopen(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        opened.append(fd)
        return _DiskFull(f) if len(opened) == 2 else f

    def mkstemp(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(reports))

    for target, patch, what in [
        (files.os, ("fdopen", fdopen), "No space left on device"),
        (files.tempfile, ("mkstemp", mkstemp), "Permission denied"),
    ]:
        with monkeypatch.context() as mp:
            mp.setattr(target, *patch)
            mp.setattr(report, "build_report", build_once)
            code, out = _render_command(capsys)
        assert code == 1
        assert "report not rendered" in out and what in out, out
        assert "Traceback" not in out
        assert _state(reports) == before  # every previous file as it was, nothing added
        assert _report_rows(report_env["engine"]) == records

    code, out = _render_command(capsys)  # room again, permission back: the next run
    assert code == 0, out
    assert _report_rows(report_env["engine"]) == records + 4  # PDF, HTML, XLSX, DOCX
    assert_consistent(report_env["engine"])


def test_reports_folder_that_cannot_exist(report_env, tmp_path, monkeypatch, capsys):
    """The reports path lies under a file (through the command), or is a file: no folder can be
    made there: a message and exit 1, the file left alone; the next run elsewhere succeeds."""
    from healthplan.settings import get_settings

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports folder should be")
    env = {**report_env["env"], "HEALTHPLAN_REPORTS_DIR": str(blocker / "reports")}
    code, out = run_cli(["report", "--plan", "longhu", "--stage", "mid"], env)
    assert code == 1, out
    assert "report not rendered" in out and str(blocker) in out.replace("\n", ""), out
    assert "Traceback" not in out

    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(blocker))
    get_settings.cache_clear()
    code, out = _render_command(capsys)
    assert code == 1 and "cannot create the reports folder" in out and str(blocker) in out, out
    assert blocker.read_text() == "a file where the reports folder should be"

    monkeypatch.setenv("HEALTHPLAN_REPORTS_DIR", str(tmp_path / "reports"))
    get_settings.cache_clear()
    code, out = _render_command(capsys)  # the next run, to a folder that can be made
    assert code == 0, out
    assert (tmp_path / "reports" / "longhu_mid_2018.pdf").exists()
    monkeypatch.undo()
    get_settings.cache_clear()


# ------------------------------------------------------------------------------------ the database


def test_database_unreachable_at_start_then_back(tmp_path, corpus_plans):
    """Retries, then one clear message and exit 4; the next run against a reachable warehouse
    succeeds."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    secret = "Tr0ub4dor-3"
    url = f"postgresql+psycopg://healthplan:{secret}@127.0.0.1:{port}/healthplan"
    env = cli_env(url, tmp_path / "data", corpus_plans, tmp_path / "reports")
    started = time.monotonic()
    code, out = run_cli(["ingest", str(PH_BASELINE)], env)
    took = time.monotonic() - started
    assert code == 4, out
    assert "warehouse unavailable" in out and "after 4 attempts" in out, out
    assert f"healthplan:***@127.0.0.1:{port}" in out.replace("\n", "")
    assert secret not in out and "Traceback" not in out
    assert took > 3.0  # 0.5 + 1 + 2 s of backoff between the four attempts

    good = f"sqlite:///{(tmp_path / 'data' / 'warehouse.sqlite').as_posix()}"
    code, out = run_cli(["db", "upgrade"], {**env, "HEALTHPLAN_DATABASE_URL": good})
    assert code == 0 and "warehouse up to date" in out, out  # the database is back


# ------------------------------------------------------------------------------------ two pipelines


@pytest.fixture
def inbox(tmp_path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    corrected_file(folder)
    return folder


def _lock_rows(engine) -> int:
    from warehouse.observations import counts

    return counts(engine)["pipeline_lock"]


def test_two_pipelines_at_once(warehouse, db_url, corpus_plans, inbox, capsys):
    """While one pipeline (a child process) holds the lock, a second one started as
    `healthplan run` starts it (no waiting) is refused with the holder's name, and one told to
    wait runs after the first; a run killed holding the lock does not block the next one. The
    warehouse stays consistent."""
    import threading

    from tests.reliability.fault_child import pipeline

    def here(wait: float) -> int:  # the locked section in this process
        try:
            pipeline(db_url, str(corpus_plans), str(inbox), wait, 0)
        except SystemExit as e:
            return int(e.code)
        return 0

    def child() -> subprocess.Popen:  # holds the lock until told to go on
        return start("pipeline", db_url, str(corpus_plans), str(inbox), "0", "-1")

    first = child()
    wait_for(first, "SAVED")
    assert here(0) == 5
    out = capsys.readouterr().out
    assert f"is held by {socket.gethostname()}:{first.pid}" in out and "try again later" in out
    waited = []
    waiting = threading.Thread(target=lambda: waited.append(here(60)))
    waiting.start()
    time.sleep(0.5)
    assert waiting.is_alive()  # still waiting for the lock
    code, out = finish(first)
    assert code == 0 and "DONE 3" in out, out  # the inbox's file: loaded, one row quarantined
    waiting.join(60)
    assert waited == [0] and "DONE 0" in capsys.readouterr().out  # the file already loaded
    fresh_connections(db_url)
    statuses, n, saves = _evaluations(warehouse)
    assert (statuses, n, saves) == ({f"pid{os.getpid()}"}, 400, 1)  # one run's set, whole
    assert _lock_rows(warehouse) == 0
    assert_consistent(warehouse)

    killed = child()
    wait_for(killed, "SAVED")
    kill(killed)
    fresh_connections(db_url)
    assert _lock_rows(warehouse) == 1  # a killed run cannot release its lock …
    assert here(0) == 0  # … the next run takes it over at once
    fresh_connections(db_url)
    assert _lock_rows(warehouse) == 0
    assert_consistent(warehouse)
