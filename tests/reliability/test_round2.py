"""Reliability round 2 (issue 23): no single file, string or kill takes the run down.

Class 1: a file whose parse crashes its process fails alone; class 2: any unexpected error in
one file is that file's failure; class 6: user strings are text, never markup; class 7: a
symlink out of its folder, lengths checked before the database on both backends.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    CORPUS,
    ROOT,
    assert_consistent,
    assert_unchanged,
    cli_env,
    run_cli,
    snapshot,
)

FAR_CELL = CORPUS / "files" / "resources_2019_far_cell_hidden_by_dimension.xlsx"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _inbox(tmp_path: Path, extra: Path | None = None) -> Path:
    """The corpus baseline files, plus one attack file, in a fresh inbox."""
    inbox = tmp_path / "inbox"
    shutil.copytree(CORPUS / "baseline", inbox)
    if extra is not None:
        shutil.copy(extra, inbox / extra.name)
    return inbox


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_that_aborts_the_reader_fails_alone(
    tmp_path, db_url, corpus_plans, corpus_context, monkeypatch, workers
):
    """A far cell the sheet's dimension hides aborts the XLSX reader natively (exit 134): that file fails, named,
    exit 2, and every other file of the inbox loads, with one worker or several."""
    import flows.ingest as ing
    from tests.reliability.helpers import prepare_warehouse

    engine = prepare_warehouse(db_url, corpus_plans, corpus_context)
    before = snapshot(engine)
    inbox = _inbox(tmp_path, FAR_CELL)
    for f in (CORPUS / "baseline").iterdir():  # new checksums: the other files really load
        data = f.read_bytes()
        (inbox / f.name).write_bytes(data + (b"\r\n" if f.suffix == ".csv" else b""))
    monkeypatch.setattr(ing, "PARALLEL_MIN_BYTES", 0)
    summary = ing.ingest_paths(
        [inbox], engine=engine, now=T0, context=corpus_context, workers=workers
    )
    by_name = {Path(f.name).name: f for f in summary.files}
    bad = by_name.pop(FAR_CELL.name)
    assert summary.exit_code == 2
    assert bad.status == "unreadable"
    assert "解析进程异常终止" in bad.messages[0] and "SIGABRT" in bad.messages[0]
    csvs = [f for n, f in by_name.items() if n.endswith(".csv")]
    assert csvs and all(f.status in ("loaded", "partial") for f in csvs), by_name
    assert_unchanged(engine, before, files=len(csvs), quarantine=1)
    assert_consistent(engine)


def test_parse_workers_run_under_the_configured_memory_limit(corpus_context, monkeypatch):
    """Every parse process (pool workers and the ones started for one file) has its address
    space capped at HEALTHPLAN_PARSE_MEMORY_MB, and its allocations past it fail there."""
    import subprocess
    import sys

    from flows.ingest import parse_pool
    from healthplan.settings import get_settings

    monkeypatch.setenv("HEALTHPLAN_PARSE_MEMORY_MB", "1500")
    get_settings.cache_clear()
    try:
        pool = parse_pool(2, corpus_context)
        assert pool is not None
        pid = pool.submit(os.getpid).result(timeout=120)
        limits = Path(f"/proc/{pid}/limits").read_text()
        pool.shutdown()
    finally:
        monkeypatch.delenv("HEALTHPLAN_PARSE_MEMORY_MB")
        get_settings.cache_clear()
    line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
    assert line.split()[3] == str(1500 * 2**20), line
    probe = subprocess.run(
        [sys.executable, "-c", "from flows.common import limit_memory as m; m(600); "
         "b = bytearray(900 * 2**20)"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 1 and "MemoryError" in probe.stderr


def test_a_killed_parse_is_named_by_its_signal():
    from flows.common import crashed_parse_reason

    assert "SIGKILL" in crashed_parse_reason(-9) and "137" in crashed_parse_reason(-9)
    assert "SIGABRT" in crashed_parse_reason(-6) and "134" in crashed_parse_reason(-6)
    assert "退出码 1" in crashed_parse_reason(1)


def test_file_names_the_warehouse_cannot_keep_fail_alone(
    tmp_path, db_url, corpus_plans, corpus_context
):
    """A name that is not UTF-8 bytes and a path longer than the warehouse keeps are refused
    before the database (the same on SQLite and PostgreSQL), named; the other files load."""
    from flows.ingest import ingest_paths
    from tests.reliability.helpers import prepare_warehouse

    engine = prepare_warehouse(db_url, corpus_plans, corpus_context)
    before = snapshot(engine)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = CORPUS / "baseline" / "public_health_longhu_2019.csv"
    gbk_name = os.fsdecode(b"ph_\xb5\xd8\xc7\xf8_2019.csv")  # 地区 in GBK bytes
    (inbox / gbk_name).write_bytes(good.read_bytes())
    deep = inbox
    for i in range(3):
        deep = deep / (f"{i}" * 200)
    deep.mkdir(parents=True)
    (deep / "mch_longhu_2019.csv").write_bytes(
        (CORPUS / "baseline" / "mch_longhu_2019.csv").read_bytes()
    )
    (inbox / "population_guilin_2019.csv").write_bytes(
        (CORPUS / "baseline" / "population_guilin_2019.csv").read_bytes() + b"\r\n"
    )
    summary = ingest_paths([inbox], engine=engine, now=T0, context=corpus_context)
    assert summary.exit_code == 2
    status = {f.name: (f.status, f.messages[0] if f.messages else "") for f in summary.files}
    not_utf8 = [v for k, v in status.items() if "\\xb5\\xd8" in k]
    assert not_utf8 and not_utf8[0][0] == "unreadable" and "not UTF-8" in not_utf8[0][1]
    long = [v for k, v in status.items() if "…" in k]
    assert long and long[0][0] == "unreadable" and "too long" in long[0][1]
    assert status["inbox/population_guilin_2019.csv"][0] == "loaded"
    assert_unchanged(engine, before, files=1, quarantine=2)
    import io

    from rich.console import Console

    shown = io.StringIO()
    summary.render(Console(file=shown, width=400))  # printable: no surrogate reaches the terminal
    assert "\\xb5\\xd8" in shown.getvalue()


def test_a_symlink_named_on_the_command_line_is_not_followed_out(tmp_path):
    from flows.ingest import expand_paths

    outside = tmp_path / "elsewhere" / "ph_2019.csv"
    outside.parent.mkdir()
    outside.write_text("x")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "ph_2019.csv").symlink_to(outside)
    (inbox / "linked_folder").symlink_to(outside.parent)
    found, refused = expand_paths([inbox / "ph_2019.csv"])
    assert found == []
    assert len(refused) == 1 and "symlink leads out of its folder" in refused[0].messages[0]
    found, refused = expand_paths([inbox / "linked_folder"])  # an inbox that is a link: walked
    assert [c.name for c in found] == ["linked_folder/ph_2019.csv"] and refused == []
    real = inbox / "real.csv"
    real.write_text("x")
    (inbox / "alias.csv").symlink_to(real)
    found, refused = expand_paths([inbox / "alias.csv"])
    assert [c.path for c in found] == [inbox / "alias.csv"] and refused == []


def test_an_unexpected_error_names_the_operation_not_the_sql():
    import sqlalchemy as sa

    from warehouse.engine import db_error_message, warehouse_down

    exc = sa.exc.DataError(
        "INSERT INTO source_file (name) VALUES (%(name)s)",
        {"name": "x" * 600},
        Exception("value too long for type character varying(500)"),
    )
    text = db_error_message(exc, "保存文件 / saving a file: ")
    assert text.startswith("保存文件") and "varying(500)" in text
    assert "INSERT" not in text and "xxxx" not in text
    assert not warehouse_down(exc)
    assert warehouse_down(sa.exc.OperationalError("SELECT 1", {}, Exception("closed")))


# ------------------------------------------------------------------------------------ markup


MARKUP = "[/x]"


@pytest.mark.integration
def test_user_strings_are_printed_as_text_never_markup(tmp_path):
    """A closing tag that matches nothing, in plan ids, file names, times, folder names, a
    reviewer's name and reason: every command prints it as text (no traceback), and `review`
    stores exactly what it prints."""
    from warehouse.engine import get_engine
    from warehouse.results import load_reviews

    url = f"sqlite:///{(tmp_path / 'w.sqlite').as_posix()}"
    env = cli_env(url, tmp_path / "data", ROOT / "plans", tmp_path / "reports")
    commands = [
        (["catalog", "--plan", MARKUP], 2),
        (["evaluate", "--plan", MARKUP, "--stage", "mid"], 2),
        (["quality", "--plan", MARKUP], 2),
        (["report", "--plan", MARKUP, "--stage", "mid"], 1),
        (["compute", "--plan", MARKUP], 2),
        (["evaluate", "--plan", "longhu", "--stage", "mid", "--as-of", MARKUP], 2),
        (["plan", "validate", str(tmp_path / MARKUP.strip("/[]") / "[bold]")], 2),
        (["ingest", str(tmp_path / f"a{MARKUP}.csv")], 2),
        (["db", "quarantine", "--file", MARKUP], 0),
    ]
    for args, code in commands:
        got, out = run_cli(args, env)
        assert "Traceback" not in out and "MarkupError" not in out, (args, out)
        assert got == code, (args, got, out)
        assert "[red]" not in out, (args, out)  # the intended markup still renders
    got, out = run_cli(
        ["review", "--plan", "longhu", "--indicator", "5", "--stage", "mid", "--year", "2018",
         "--verdict", "met",
         "--by", f"王{MARKUP}[bold]", "--reason", f"理由 {MARKUP}"], env,
    )  # fmt: skip
    assert got == 0 and "Traceback" not in out, out
    assert f"王{MARKUP}[bold]" in out
    (stored,) = load_reviews(get_engine(url), "longhu")
    assert stored["reviewer"] == f"王{MARKUP}[bold]" and stored["reason"] == f"理由 {MARKUP}"
    got, out = run_cli(["history"], env)
    assert got == 0 and "Traceback" not in out, out


@pytest.mark.integration
def test_review_texts_are_checked_before_storing_on_both_databases(tmp_path, db_url):
    """A reviewer's name over the column's 100 characters is refused with a message before
    anything is stored: SQLite would have kept it, PostgreSQL refused it mid-way."""
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade
    from warehouse.schema import review

    upgrade(get_engine(db_url))
    env = cli_env(db_url, tmp_path / "data", ROOT / "plans", tmp_path / "reports")
    for by in ("王" * 101, "王\x1b[2J"):
        got, out = run_cli(
            ["review", "--plan", "longhu", "--indicator", "5", "--stage", "mid", "--year", "2018",
         "--verdict", "met",
             "--by", by, "--reason", "ok"], env,
        )  # fmt: skip
        assert got == 2 and "Traceback" not in out, out
        assert "评定人" in out
    with get_engine(db_url).connect() as conn:
        assert conn.execute(review.select()).all() == []


# ------------------------------------------------------------------------------------ kill -9


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.integration
def test_render_workers_die_with_a_killed_run(tmp_path):
    """kill -9 of the process that started the render workers: the kernel ends them too
    (PR_SET_PDEATHSIG), so none lives on to replace or record a report later."""
    import time

    from tests.reliability.test_faults import kill, start, wait_for

    url = f"sqlite:///{(tmp_path / 'w.sqlite').as_posix()}"
    env = cli_env(url, tmp_path / "data", ROOT / "plans", tmp_path / "reports")
    proc = start("render_pool", url, env=env)
    line = wait_for(proc, "WORKERS", timeout=180)
    workers = [int(p) for p in line.split()[1:]]
    assert workers and all(_alive(p) for p in workers)
    kill(proc)
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers), "a render worker outlived its killed run"


def test_only_the_run_holding_the_lock_publishes(tmp_path, monkeypatch):
    """A render of a run whose lock was broken and taken by a newer run (its process killed and
    gone): it replaces no report file and records nothing (the fencing check), while the run
    that holds the lock publishes."""
    import sqlalchemy as sa

    from flows.evaluate import assess
    from flows.report import render_report
    from tests.conftest import _clear_caches
    from tests.reliability.helpers import overlay_plans, prepare_warehouse
    from warehouse.lock import LockLost, held_fence, pipeline_lock
    from warehouse.schema import pipeline_lock as lock_table
    from warehouse.schema import report, utcnow

    plans = overlay_plans(tmp_path)
    url = f"sqlite:///{(tmp_path / 'w.sqlite').as_posix()}"
    for key, value in cli_env(url, tmp_path / "data", plans, tmp_path / "reports").items():
        if key.startswith("HEALTHPLAN_"):
            monkeypatch.setenv(key, value)
    _clear_caches()
    try:
        from flows.ingest import parse_context
        from healthplan.definitions import load_catalog

        context = parse_context(load_catalog(plans), plans / "sources")
        engine = prepare_warehouse(url, plans, context)
        a = assess("longhu", "mid")
        with pipeline_lock(engine, "pipeline", "old-run:1"):
            fence = held_fence()
            assert fence is not None and fence.holder == "old-run:1"
            first = render_report(a)  # the holder publishes
            state = {p.name: p.read_bytes() for p in first.paths() if p.exists()}
            assert len(state) == 4  # PDF, HTML, XLSX, DOCX
            with engine.begin() as conn:  # the old run is presumed dead; a new one takes over
                conn.execute(sa.delete(lock_table))
                conn.execute(
                    sa.insert(lock_table).values(
                        name="pipeline", holder="new-run:2", acquired_at=utcnow()
                    )
                )
            with engine.connect() as conn:
                recorded = conn.execute(sa.select(sa.func.count()).select_from(report)).scalar()
            with pytest.raises(LockLost, match="no longer holds the pipeline lock"):
                render_report(a, fence=fence)
            assert {p.name: p.read_bytes() for p in first.paths()} == state
            with engine.connect() as conn:
                assert (
                    conn.execute(sa.select(sa.func.count()).select_from(report)).scalar()
                    == recorded
                )
            with engine.begin() as conn:
                conn.execute(sa.delete(lock_table).where(lock_table.c.holder == "new-run:2"))
    finally:
        _clear_caches()


# ------------------------------------------------------------------------------------ backup


@pytest.mark.integration
def test_backup_then_restore_reproduces_the_evaluation(tmp_path, db_url, corpus_plans):
    """`db backup`, then the warehouse changes (a corrected file revises values), then
    `db restore`: the stored values and the as-of evaluation are exactly those of the backup."""
    import json

    env = cli_env(db_url, tmp_path / "data", corpus_plans, tmp_path / "reports")
    code, out = run_cli(["ingest", str(CORPUS / "baseline")], env, timeout=300)
    assert code == 0, out
    as_of = datetime.now(UTC).isoformat()
    evaluate = ["evaluate", "--plan", "longhu", "--stage", "mid", "--year", "2019", "--as-of", as_of,
                "--format", "json"]  # fmt: skip

    def numbers() -> list[dict]:
        code, out = run_cli(evaluate, env, timeout=300)
        assert code == 0, out
        rows = json.loads(out[out.index("[") :])
        return [{k: v for k, v in r.items() if k != "judged_at"} for r in rows]

    before = numbers()
    assert any(r["value"] is not None for r in before)
    backup_file = tmp_path / "backups" / "warehouse.bak"
    code, out = run_cli(["db", "backup", str(backup_file)], env)
    assert code == 0 and backup_file.stat().st_size > 0, out
    assert "Kx9" not in out
    code, counted = run_cli(["db", "counts"], env)
    changed = tmp_path / "changed"
    changed.mkdir()
    ph = (CORPUS / "baseline" / "public_health_longhu_2019.csv").read_text(encoding="utf-8-sig")
    (changed / "public_health_longhu_2019.csv").write_text(
        ph.replace(",2400,", ",2999,"), encoding="utf-8-sig"
    )
    code, out = run_cli(["ingest", str(changed)], env)
    assert code == 0 and "2999" not in ph, out
    code, out = run_cli(["db", "counts"], env)
    assert out != counted  # the warehouse did change
    code, out = run_cli(["db", "restore", str(backup_file)], env, timeout=300)
    assert code == 0, out
    code, out = run_cli(["db", "counts"], env)
    assert json.loads(out) == json.loads(counted)
    assert numbers() == before
    code, out = run_cli(["db", "restore", str(tmp_path / "no_such.bak")], env)
    assert code == 1 and "no such backup file" in out and "Traceback" not in out


# ------------------------------------------------------------------------------------ done when


SAMPLE_LONGHU = ROOT / "samples" / "inbox" / "longhu"


def _attack_far_cell(inbox: Path) -> str:
    shutil.copy(FAR_CELL, inbox / "卫生资源年报_2019.xlsx")
    return "卫生资源年报_2019.xlsx"


def _attack_not_utf8_name(inbox: Path) -> str:
    name = os.fsdecode(b"mch_\xb5\xd8\xc7\xf8_2019.csv")
    shutil.copy(SAMPLE_LONGHU / "2019" / "mch_2019.csv", inbox / name)
    return "mch_\\xb5\\xd8\\xc7\\xf8_2019.csv"


def _attack_long_path(inbox: Path) -> str:
    deep = inbox / ("很长的文件夹名" * 12) / ("d" * 200) / ("e" * 200)  # each part ≤ 255 bytes
    deep.mkdir(parents=True)
    shutil.copy(SAMPLE_LONGHU / "2019" / "mch_2019.csv", deep / "mch_2019.csv")
    return "mch_2019.csv"


def _attack_markup(inbox: Path) -> str:
    rows = (SAMPLE_LONGHU / "2019" / "population_2019.csv").read_text("utf-8").splitlines()
    cells = rows[2].split(",")
    cells[3] = "[/x]"
    rows[2] = ",".join(cells)
    (inbox / "population_markup_2019.csv").write_text("\n".join(rows) + "\n", "utf-8")
    return "population_markup_2019.csv"


def _attack_symlink(inbox: Path) -> str:
    outside = inbox.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copy(SAMPLE_LONGHU / "2019" / "mch_2019.csv", outside / "mch_secret_2019.csv")
    (inbox / "mch_link_2019.csv").symlink_to(outside / "mch_secret_2019.csv")
    return "mch_link_2019.csv"


ATTACKS = {
    "far cell hidden by the dimension": (_attack_far_cell, 2, "解析进程异常终止"),
    "file name not UTF-8": (_attack_not_utf8_name, 2, "not UTF-8"),
    "path too long": (_attack_long_path, 2, "too long"),
    "markup in a cell": (_attack_markup, 3, "[/x]"),
    "symlink out of the inbox": (_attack_symlink, 2, "symlink leads out of the folder"),
}


@pytest.fixture(scope="module")
def loaded_pipeline(prefect_harness, tmp_path_factory):
    """One warehouse that a first `run` over the Longhu sample filled (SQLite)."""
    from tests.conftest import _clear_caches

    tmp = tmp_path_factory.mktemp("done_when")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEALTHPLAN_DATA_DIR", str(tmp / "data"))
        mp.setenv("HEALTHPLAN_REPORTS_DIR", str(tmp / "reports"))
        mp.delenv("HEALTHPLAN_DATABASE_URL", raising=False)
        _clear_caches()
        from flows.pipeline import run_command

        assert run_command(["longhu"], ["mid"], None, SAMPLE_LONGHU) == 0
        yield tmp
        _clear_caches()


@pytest.mark.integration
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_run_over_an_inbox_with_one_attack_file(loaded_pipeline, tmp_path, capsys, attack):
    """`healthplan run` over the sample inbox plus one attack file: the report is rendered again,
    the exit code is the documented one, the file is named, nothing stored before changes, no
    traceback, and the run is recorded as completed."""
    import pandas as pd

    from flows.common import warehouse
    from flows.pipeline import run_command
    from warehouse.observations import observations_as_of
    from warehouse.results import recent_runs

    make, code, fragment = ATTACKS[attack]
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLE_LONGHU, inbox)
    shown = make(inbox)
    reports = loaded_pipeline / "reports"
    for old in reports.glob("longhu_mid_*"):
        old.unlink()  # the run must render it again, not reuse it
    before = observations_as_of(warehouse())
    got = run_command(["longhu"], ["mid"], None, inbox)
    out = capsys.readouterr()
    text = out.out + out.err
    assert got == code, text
    assert shown in text and fragment in text, text
    assert "Traceback" not in text
    assert (reports / "longhu_mid_2018.pdf").exists()
    after = observations_as_of(warehouse())
    if code == 2:
        pd.testing.assert_frame_equal(after, before)
    else:  # the markup file's other cells repeat the sample's values
        assert after["value"].tolist() == before["value"].tolist()
    last = recent_runs(warehouse(), 1)[0]
    assert last["outcome"] == "completed"


@pytest.mark.integration
def test_a_failure_inside_run_is_a_message_and_a_failed_run(loaded_pipeline, monkeypatch, capfd):
    """A step of `run` that fails: one Chinese-first message (no traceback, not even Prefect's),
    exit 1, and the run recorded as failed, never left running."""
    import flows.pipeline as pipeline
    from flows.common import warehouse
    from warehouse.results import recent_runs

    def broken(plan_id, as_of=None):
        raise RuntimeError("boom [/x]")

    monkeypatch.setattr(pipeline, "compute_plan", broken)
    monkeypatch.setattr(pipeline.compute_task, "retries", 0)
    for old in (loaded_pipeline / "reports").glob("longhu_mid_*"):
        old.unlink()
    code = pipeline.run_command(["longhu"], ["mid"], None, SAMPLE_LONGHU)
    out, err = capfd.readouterr()
    assert code == 1
    # one plan's failed step is named (the other plans would still complete), as text
    assert "以下步骤失败" in err and "boom [/x]" in err
    assert "Traceback" not in out + err
    last = recent_runs(warehouse(), 1)[0]
    assert last["outcome"] == "failed" and "boom" in last["message"]


def test_a_killed_runs_record_is_closed_by_the_next_run(tmp_path):
    """A run killed with SIGKILL cannot record its end; the next run, once it holds the lock
    (so nothing else runs), marks it failed: no run stays "running" forever."""
    from warehouse.engine import get_engine
    from warehouse.lock import fail_unfinished_runs, holder_name, pipeline_lock
    from warehouse.migrate import upgrade
    from warehouse.results import recent_runs, start_run

    engine = get_engine(f"sqlite:///{(tmp_path / 'w.sqlite').as_posix()}")
    upgrade(engine)
    killed = start_run(engine, "pipeline", {})
    other = start_run(engine, "ingest", {})
    with pipeline_lock(engine, "pipeline", holder_name()):
        assert fail_unfinished_runs(engine, "pipeline") == 1
    runs = {r["id"]: r for r in recent_runs(engine, 10)}
    assert runs[killed]["outcome"] == "failed" and "interrupted" in runs[killed]["message"]
    assert runs[other]["outcome"] == "running"  # another flow's record is not this lock's


def test_serve_refuses_without_a_prefect_server(tmp_path):
    """Without PREFECT_API_URL, `serve` would use a temporary server whose history vanishes: it
    refuses with a message naming PREFECT_API_URL unless --temporary is given."""
    url = f"sqlite:///{(tmp_path / 'w.sqlite').as_posix()}"
    env = cli_env(url, tmp_path / "data", ROOT / "plans", tmp_path / "reports")
    env = {k: v for k, v in env.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # no profile setting an API either
    code, out = run_cli(["serve"], env)
    assert code == 2 and "PREFECT_API_URL" in out and "--temporary" in out, out
    assert "Traceback" not in out
