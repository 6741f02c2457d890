"""Child processes for test_faults: real work that announces where it is, so the test can SIGKILL
it at that very point. Each pauses after its announcement (the kill lands while the transaction
or the write is open) unless the marker is 'none'.

usage:
  fault_child.py load URL PLANS FILE MARKER       ingest FILE; pause at the SQL statement MARKER
  fault_child.py evaluations URL MARKER N TAG     save N evaluation rows with status TAG; pause
                                                  at MARKER ('DELETE …', 'INSERT …'), or 'loop':
                                                  save TAG-a and TAG-b alternately forever
  fault_child.py render MARKER                    render the longhu mid-term report (settings from
                                                  the environment); MARKER: pdf | fsync | replace
  fault_child.py pipeline URL PLANS INBOX WAIT HOLD
                                                  the pipeline's locked section: ingest INBOX and
                                                  save evaluations under the pipeline lock, then
                                                  hold it HOLD seconds (< 0: until a stdin line)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

PAUSE = 120  # seconds an announced child waits for its SIGKILL


def say(text: str) -> None:
    print(text, flush=True)


def pause_at(engine, prefix: str) -> None:
    """Announce and pause just before the first statement starting with ``prefix`` runs."""
    import sqlalchemy as sa

    @sa.event.listens_for(engine, "before_cursor_execute")
    def announce(conn, cursor, statement, parameters, context, executemany):
        if statement.strip().upper().startswith(prefix.upper()):
            say(f"AT {prefix}")
            time.sleep(PAUSE)


def evaluation_rows(n: int, tag: str) -> list[dict]:
    areas = ["440507", "440507001", "440507002", "440507003", "440507004", "440507005",
             "440507100", "440507101"]  # fmt: skip
    return [
        {"number": i // len(areas) + 1, "area_code": areas[i % len(areas)], "status": tag,
         "value": float(i), "met": i % 2 == 0, "warnings": [tag]}
        for i in range(n)
    ]  # fmt: skip


def load(url: str, plans: str, file: str, marker: str) -> None:
    from flows.ingest import ingest_paths, parse_context
    from healthplan.definitions import load_catalog
    from warehouse.engine import get_engine

    engine = get_engine(url)
    if marker != "none":
        pause_at(engine, marker)
    context = parse_context(load_catalog(Path(plans)), Path(plans) / "sources")
    summary = ingest_paths([Path(file)], engine=engine, context=context)
    say(f"DONE {summary.exit_code}")


def evaluations(url: str, marker: str, n: int, tag: str) -> None:
    from warehouse.engine import get_engine
    from warehouse.results import save_evaluations

    engine = get_engine(url)
    if marker == "loop":
        sets = [
            (f"{tag}-a", evaluation_rows(n, f"{tag}-a")),
            (f"{tag}-b", evaluation_rows(n, f"{tag}-b")),
        ]
        i = 0
        while True:
            name, rows = sets[i % 2]
            save_evaluations(engine, "longhu", "mid", 2018, rows)
            say(f"SAVED {name}")
            i += 1
    if marker != "none":
        pause_at(engine, marker)
    save_evaluations(engine, "longhu", "mid", 2018, evaluation_rows(n, tag))
    say("DONE")


def render(marker: str) -> None:
    import flows.report as report
    from flows.evaluate import assess

    if marker == "pdf":
        real_pdf = report.render_pdf

        def announced(*args, **kwargs):
            say("AT pdf")
            return real_pdf(*args, **kwargs)

        report.render_pdf = announced
    real_write = report.write_atomically

    def write(contents):
        # patched only while the report's files are written (other code may fsync or replace)
        if marker == "fsync":
            real_fsync = os.fsync

            def fsync(fd):
                real_fsync(fd)
                say("AT fsync")  # the first temporary file is written; nothing replaced yet
                time.sleep(PAUSE)

            os.fsync = fsync
        elif marker == "replace":
            real_replace = os.replace

            def replace(src, dst):
                real_replace(src, dst)
                say("AT replace")  # the PDF is in place; the HTML and XLSX not yet
                time.sleep(PAUSE)

            os.replace = replace
        return real_write(contents)

    report.write_atomically = write
    files = report.render_report(assess("longhu", "mid"))
    say(f"DONE {files.pdf}")


def pipeline(url: str, plans: str, inbox: str, wait: float, hold: float) -> None:
    from flows.ingest import ingest_paths, parse_context
    from healthplan.definitions import load_catalog
    from warehouse.engine import get_engine
    from warehouse.lock import LockHeld, holder_name, pipeline_lock
    from warehouse.results import save_evaluations

    engine = get_engine(url)
    context = parse_context(load_catalog(Path(plans)), Path(plans) / "sources")
    try:
        with pipeline_lock(engine, "pipeline", holder_name(), wait, poll_seconds=0.2):
            say("LOCKED")
            summary = ingest_paths([Path(inbox)], engine=engine, context=context)
            save_evaluations(
                engine, "longhu", "mid", 2018, evaluation_rows(400, f"pid{os.getpid()}")
            )
            say("SAVED")
            if hold < 0:
                sys.stdin.readline()  # hold the lock until the test says go on
            else:
                time.sleep(hold)
            say(f"DONE {summary.exit_code}")
    except LockHeld as e:  # what `healthplan run` prints, and its exit code
        say(str(e))
        sys.exit(5)


def render_pool(url: str) -> None:
    """Render workers started as a pipeline run starts them, then this process waits to be
    killed: its workers must die with it."""
    from flows.report import RenderPool

    pool = RenderPool(2, url, Path(os.environ["HEALTHPLAN_REPORTS_DIR"]))
    pool._executor.submit(int).result()
    say("WORKERS " + " ".join(str(pid) for pid in pool._executor._processes))
    time.sleep(600)


def main(argv: list[str]) -> None:
    what, args = argv[0], argv[1:]
    if what == "load":
        load(*args)
    elif what == "evaluations":
        evaluations(args[0], args[1], int(args[2]), args[3])
    elif what == "render":
        render(args[0])
    elif what == "render_pool":
        render_pool(args[0])
    elif what == "pipeline":
        pipeline(args[0], args[1], args[2], float(args[3]), float(args[4]))
    else:
        raise SystemExit(f"unknown child {what!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
