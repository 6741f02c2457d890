"""Parsing in worker processes while files are saved in order: the same warehouse, the same
summary and the same failures as parsing one file after another (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path

import pytest

from healthplan.settings import REPO_ROOT
from tests.flows.test_ingest import MCH_HEADER, STREETS, csv_bytes, mch_row, pop_rows

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
SAMPLE = REPO_ROOT / "samples" / "inbox" / "longhu"


@pytest.fixture(scope="module")
def context():
    from flows.ingest import parse_context
    from healthplan.definitions import load_catalog

    return parse_context(load_catalog(REPO_ROOT / "plans"), REPO_ROOT / "plans" / "sources")


def fresh_engine(url: str):
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade

    engine = get_engine(url)
    upgrade(engine)
    return engine


def inbox(tmp_path: Path) -> Path:
    """Two years of the sample's files plus the awkward cases, in a known order: a copy of a file
    in the same run, an unreadable workbook, a file with rejected rows, one already loaded."""
    root = tmp_path / "inbox"
    for year in ("2019", "2020"):
        shutil.copytree(SAMPLE / year, root / "a" / year)
    shutil.copy(SAMPLE / "2019" / "mch_2019.csv", root / "b_copy_of_mch_2019.csv")
    (root / "c_broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    rows = [MCH_HEADER, mch_row(STREETS[0]), mch_row("999999"), mch_row(STREETS[1], first="-7")]
    (root / "d_mch_rejects.csv").write_bytes(csv_bytes(rows, "gbk"))
    (root / "e_population.csv").write_bytes(csv_bytes(pop_rows()))
    return root


def snapshot(engine) -> dict[str, list]:
    """Every stored row that an ingest writes, in id order (timestamps are the fixed T0)."""
    from warehouse.observations import quarantined, source_files
    from warehouse.schema import observation

    with engine.connect() as conn:
        obs = conn.execute(observation.select().order_by(observation.c.id)).all()
    q = quarantined(engine).drop(columns=["created_at"])
    return {
        "source_file": records(source_files(engine)),
        "observation": [tuple(r) for r in obs],
        "quarantine": records(q),
    }


def records(frame) -> list[dict]:
    """Rows as dicts with None for missing values (NaN never equals NaN)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def results(summary) -> list[dict]:
    return [f.as_dict() for f in summary.files]


class Parses:
    """Counts the files parsed in this process (the real parse still runs)."""

    def __init__(self, monkeypatch):
        import flows.ingest as ing

        self.names: list[str] = []
        original = ing.parse_source

        def counted(src, context, current_year=None):
            self.names.append(src.name)
            return original(src, context, current_year)

        monkeypatch.setattr(ing, "parse_source", counted)


def wiped(engine):
    """The same database emptied and migrated again, so ids start over."""
    from warehouse.migrate import upgrade
    from warehouse.schema import metadata

    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    upgrade(engine)
    return engine


def test_workers_store_exactly_what_one_process_stores(tmp_path, db_url, context, monkeypatch):
    import flows.ingest as ing

    root = inbox(tmp_path)
    known = root / "a" / "2019" / "population_2019.csv"

    def run(workers: int):
        engine = wiped(fresh_engine(db_url))
        ing.ingest_paths([known], engine=engine, now=T0, context=context, workers=1)
        parses.names.clear()
        summary = ing.ingest_paths([root], engine=engine, now=T0, context=context, workers=workers)
        return summary, snapshot(engine)

    parses = Parses(monkeypatch)
    one, stored_by_one = run(1)
    assert len(parses.names) == len(one.files) - 2  # not the known file, not the copy
    monkeypatch.setattr(ing, "PARALLEL_MIN_BYTES", 0)
    two, stored_by_two = run(2)

    assert parses.names == []  # every file was parsed by a worker
    assert results(two) == results(one)
    assert two.exit_code == one.exit_code == 2
    statuses = [f.status for f in one.files]
    assert statuses.count("skipped") == 2 and "partial" in statuses and "unreadable" in statuses
    assert stored_by_two == stored_by_one


def test_few_small_files_are_parsed_in_this_process(tmp_path, db_url, context, monkeypatch):
    import flows.ingest as ing

    (tmp_path / "population_2019.csv").write_bytes(csv_bytes(pop_rows()))
    (tmp_path / "mch_2019.csv").write_bytes(csv_bytes([MCH_HEADER, mch_row(STREETS[0])], "gbk"))
    parses = Parses(monkeypatch)
    summary = ing.ingest_paths(
        [tmp_path], engine=fresh_engine(db_url), now=T0, context=context, workers=2
    )
    assert [f.status for f in summary.files] == ["loaded", "loaded"]
    assert [Path(n).name for n in parses.names] == ["mch_2019.csv", "population_2019.csv"]


def test_a_failed_save_is_that_files_failure_and_the_rest_are_stored(
    tmp_path, db_url, context, monkeypatch
):
    """An unexpected error saving one file fails that file alone, named; a warehouse that
    cannot be used at all (its connection lost) still stops the run."""
    import sqlalchemy as sa

    import flows.ingest as ing
    from warehouse.observations import source_files

    root = inbox(tmp_path)
    engine = fresh_engine(db_url)
    original = ing.save_parsed
    saved: list[str] = []
    failing: list[str] = []

    def fails_on_the_third(engine, src, parsed, now=None):
        if len(saved) == 2 and not failing:
            failing.append(src.name)
            raise RuntimeError("something odd")
        saved.append(src.name)
        return original(engine, src, parsed, now)

    monkeypatch.setattr(ing, "save_parsed", fails_on_the_third)
    monkeypatch.setattr(ing, "PARALLEL_MIN_BYTES", 0)
    summary = ing.ingest_paths([root], engine=engine, now=T0, context=context, workers=2)
    assert summary.exit_code == 2
    bad = [f for f in summary.files if f.name == failing[0]]
    assert bad[0].status == "unreadable" and "something odd" in bad[0].messages[0]
    assert "意外错误" in bad[0].messages[0]
    assert sorted(source_files(engine)["name"]) == sorted(saved) and len(saved) > 3

    def connection_lost(engine, src, parsed, now=None):
        raise sa.exc.OperationalError("INSERT …", {}, Exception("server closed the connection"))

    monkeypatch.setattr(ing, "save_parsed", connection_lost)
    with pytest.raises(sa.exc.OperationalError):
        ing.ingest_paths([root], engine=wiped(engine), now=T0, context=context, workers=2)
    assert _children() == []  # the workers are gone


def _children() -> list[int]:
    """Live worker processes: the children of multiprocessing's forkserver (which it keeps)."""
    import multiprocessing.forkserver as fs

    server = str(fs._forkserver._forkserver_pid)
    assert server != "None", "no forkserver: the workers never started"
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat[1] == server and stat[0] != "Z":
            out.append(int(pid))
    return out


def test_a_worker_that_fails_leaves_the_parse_to_a_guarded_process_of_its_own(tmp_path, context):
    from flows.ingest import Candidate, parsed_in_turn, read_ahead

    path = tmp_path / "population_2019.csv"
    path.write_bytes(csv_bytes(pop_rows()))
    ahead = read_ahead(fresh_engine(f"sqlite:///{tmp_path / 'w.sqlite'}"), Candidate(path, "p.csv"))
    broken: Future = Future()
    broken.set_exception(BrokenProcessPool("a worker was killed"))
    ahead.parsing = broken
    parsed = parsed_in_turn(ahead, context, 2025)
    assert parsed.source == "population" and len(parsed.good) > 0


def test_a_worker_reads_the_file_itself_and_refuses_a_changed_one(tmp_path, context):
    """The worker gets the path and checksum, not the bytes (they would wait in this process
    too); a file changed since it was read is not parsed as if it were the file recorded."""
    from flows.common import FILE_CHANGED, parsed_in_worker, start_parse_worker
    from flows.ingest import Candidate, parsed_in_turn, read_ahead

    path = tmp_path / "population_2019.csv"
    path.write_bytes(csv_bytes(pop_rows()))
    ahead = read_ahead(fresh_engine(f"sqlite:///{tmp_path / 'w.sqlite'}"), Candidate(path, "p.csv"))
    start_parse_worker(context.layouts, context.info)
    same = parsed_in_worker("p.csv", str(path), ahead.src.checksum, 2025)
    assert same.source == "population" and len(same.good) > 0

    def failed_in_worker():
        """A worker that failed after the bytes were let go here: read again, checked again."""
        ahead.src = type(ahead.src)(ahead.src.path, ahead.src.name, None, ahead.src.checksum)
        broken: Future = Future()
        broken.set_exception(BrokenProcessPool("a worker was killed"))
        ahead.parsing = broken
        return parsed_in_turn(ahead, context, 2025)

    assert failed_in_worker().good.equals(same.good)
    path.write_bytes(csv_bytes(pop_rows()[:-1]))
    assert parsed_in_worker("p.csv", str(path), ahead.src.checksum, 2025) == ("p.csv", FILE_CHANGED)
    changed = failed_in_worker()
    assert changed.file == "p.csv" and changed.reason == FILE_CHANGED


def test_an_unguarded_script_does_not_ingest_again_in_its_workers(tmp_path):
    """A script without `if __name__ == "__main__":` is run again by every worker as it starts;
    there the ingest refuses, the workers fail, and the script's own run parses by itself."""
    root = inbox(tmp_path)
    db = tmp_path / "w.sqlite"
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            import flows.ingest as ing
            from healthplan.definitions import load_catalog
            from warehouse.engine import get_engine
            from warehouse.migrate import upgrade

            ing.PARALLEL_MIN_BYTES = 0
            engine = get_engine("sqlite:///{db.as_posix()}")
            upgrade(engine)
            plans = Path({str(REPO_ROOT / "plans")!r})
            context = ing.parse_context(load_catalog(plans), plans / "sources")
            summary = ing.ingest_paths([Path({str(root)!r})], engine=engine, context=context,
                                       workers=2)
            print("EXIT", summary.exit_code, len(summary.files))
            """
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr
    printed = [line for line in proc.stdout.splitlines() if line.startswith("EXIT")]
    assert len(printed) == 1 and printed[0].startswith("EXIT 2 ")  # the ingest ran once
    assert "ingest called while a parse worker starts" in proc.stderr


def test_workers_start_only_when_there_is_parsing_to_overlap(tmp_path):
    from flows.ingest import PARALLEL_MIN_BYTES, Candidate, FileAhead, SourceBytes, worth_workers

    def file(size: int) -> FileAhead:
        src = SourceBytes(tmp_path / "f.csv", "f.csv", b"x" * size, "0" * 64)
        return FileAhead(Candidate(src.path, src.name), src=src)

    big = PARALLEL_MIN_BYTES + 1
    assert not worth_workers([file(big)])
    assert not worth_workers([file(3 * big), file(1000), file(2000)])  # one workbook to parse
    assert worth_workers([file(big), file(big)])
    assert worth_workers([file(big), *(file(PARALLEL_MIN_BYTES // 4) for _ in range(4))])


def test_workers_end_when_the_main_process_is_killed(tmp_path):
    """SIGKILL leaves a process pool's workers waiting for work forever (each holds the write
    end of its own queue); ours watch the main process and end with it, and the forkserver too."""
    import signal
    import time

    root = inbox(tmp_path)
    script = tmp_path / "killed.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import multiprocessing.forkserver as fs
            import sys
            import time
            from pathlib import Path

            import flows.ingest as ing
            from healthplan.definitions import load_catalog
            from warehouse.engine import get_engine
            from warehouse.migrate import upgrade

            def stuck(engine, src, parsed, now=None):
                print("SERVER", fs._forkserver._forkserver_pid, flush=True)
                time.sleep(120)

            if __name__ == "__main__":
                ing.PARALLEL_MIN_BYTES = 0
                ing.save_parsed = stuck
                engine = get_engine("sqlite:///{(tmp_path / "w.sqlite").as_posix()}")
                upgrade(engine)
                plans = Path({str(REPO_ROOT / "plans")!r})
                context = ing.parse_context(load_catalog(plans), plans / "sources")
                ing.ingest_paths([Path({str(root)!r})], engine=engine, context=context, workers=2)
            """
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("SERVER"), line
        server = int(line.split()[1])
        left = [server, *_children_of(server)]
        assert len(left) == 3  # the forkserver and two workers
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 20
    while (alive := [p for p in left if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive == []


def _children_of(pid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[1] == str(pid):
                out.append(int(p))
    return out


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
