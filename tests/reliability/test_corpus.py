"""Every bad input of tests/corpus, on SQLite and PostgreSQL: the exit code of the ingest contract
(0 loaded, 3 rows quarantined, 2 unreadable), a message naming the file, the row and the field,
and nothing stored before lost or changed. A subset goes through the `healthplan ingest` command
in a fresh process: no traceback reaches the user."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.corpus import make_corpus
from tests.reliability.helpers import (
    CORPUS,
    Entry,
    assert_unchanged,
    cli_env,
    entries,
    run_cli,
    snapshot,
    squash,
)

ENTRIES = entries()
CLI_ENTRIES = [e for e in ENTRIES if e.cli]
# On PostgreSQL the command runs for one input of each exit code (each run costs ~2 s).
PG_CLI = {next(e.id for e in CLI_ENTRIES if e.exit == code) for code in (0, 2, 3)}


def _ingest(wh, context, path: Path):
    from flows.ingest import ingest_paths

    return ingest_paths([path], engine=wh.engine, context=context)


def _text(result) -> str:
    """Everything a user is told about one file, as the summary and the quarantine show it."""
    lines = [result.name, *result.messages]
    lines += [f"{r.file} | {r.row} | {r.field} | {r.value} | {r.reason}" for r in result.rejects]
    return "\n".join(lines)


def _bookkeeping(entry: Entry) -> dict[str, int]:
    """Rows a first ingest of the input adds: its registration, its quarantined cells (or the
    one reason an unreadable file is kept for)."""
    if entry.status == "unreadable":
        return {"files": 0, "quarantine": 1}
    return {"files": 1, "quarantine": len(entry.rejects)}


# ------------------------------------------------------------------------------------ the corpus


def test_the_corpus_is_big_and_every_file_is_listed():
    listed = {e.path.resolve() for e in ENTRIES if not e.is_path}
    on_disk = set((CORPUS / "files").iterdir())
    assert len(ENTRIES) >= 30
    assert listed == on_disk, "every corpus file needs a manifest entry and the other way round"
    assert {e.exit for e in ENTRIES} == {0, 2, 3}
    for e in ENTRIES:
        assert e.zh and e.en and e.group
        assert (e.exit, e.status) in {(0, "loaded"), (3, "partial"), (2, "unreadable")}
        assert bool(e.rejects) == (e.exit == 3), e.id
        assert e.rejects or e.messages or e.exit == 0, f"{e.id}: say what the message must say"


def test_the_committed_files_are_what_the_generator_writes():
    wrong = [p for p, data in make_corpus.build().items() if p.read_bytes() != data]
    assert not wrong, f"run: uv run python tests/corpus/make_corpus.py ({wrong})"


def test_the_zip_bombs_are_small_on_disk():
    for e in ENTRIES:
        if "zip_bomb" in e.id:
            assert e.path.stat().st_size < 16_000


# ------------------------------------------------------------------------------------ in process


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_bad_input_is_reported_and_changes_nothing(entry: Entry, corpus_warehouse, corpus_context):
    from warehouse.observations import quarantined

    wh = corpus_warehouse
    before = snapshot(wh.engine)
    summary = _ingest(wh, corpus_context, entry.path)

    assert summary.exit_code == entry.exit, _text(summary.files[0])
    [result] = summary.files
    assert result.status == entry.status, _text(result)
    assert result.name == entry.name
    # the message: the file, then every rejected cell with its row, field and reason
    text = _text(result)
    for fragment in entry.messages:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    if entry.status == "unreadable":
        assert result.messages and result.rejects == []
    assert len(result.rejects) == len(entry.rejects), text
    for want in entry.rejects:
        match = [
            r
            for r in result.rejects
            if r.row == want.row and r.field == want.field and want.reason in r.reason
        ]
        assert len(match) == 1, f"no reject at row {want.row}, {want.field}: {want.reason}\n{text}"
    for r in result.rejects:
        assert r.file == entry.name and r.row is not None and r.reason
    assert result.inserted == 0 and result.revised == 0  # good cells repeat the baseline

    # nothing stored before is lost or changed; only the file and its quarantine are recorded
    assert_unchanged(wh.engine, before, **_bookkeeping(entry))
    q = quarantined(wh.engine)
    mine = q[q["file_name"] == entry.name]
    if entry.status == "unreadable":
        assert mine["row"].isna().all() and len(mine) >= 1
        assert result.messages[0] in set(mine["reason"])
    else:
        stored = mine[mine["source_file_id"] == result.file_id]
        assert sorted(zip(stored["row"], stored["field"].fillna("∅"), strict=True)) == sorted(
            (r.row, r.field or "∅") for r in result.rejects
        )

    # and the same input again changes nothing at all
    again = snapshot(wh.engine)
    second = _ingest(wh, corpus_context, entry.path)
    assert second.exit_code == (2 if entry.status == "unreadable" else 0)
    assert second.files[0].status in ("skipped", "unreadable")
    assert_unchanged(wh.engine, again)


def test_the_whole_corpus_in_one_run(db_url, corpus_plans, corpus_context, tmp_path):
    """All files of the corpus as one inbox (the nightly run's case), on a fresh warehouse."""
    from flows.ingest import ingest_paths
    from tests.reliability.helpers import prepare_warehouse

    engine = prepare_warehouse(db_url, corpus_plans, corpus_context)
    before = snapshot(engine)
    summary = ingest_paths([CORPUS / "files"], engine=engine, context=corpus_context)
    assert summary.exit_code == 2  # some file unreadable: the worst outcome decides
    by_name = {f.name: f for f in summary.files}
    files = [e for e in ENTRIES if not e.is_path]
    assert len(by_name) == len(files)
    for e in files:
        got = by_name[f"files/{e.path.name}"]
        assert (got.status, len(got.rejects)) == (e.status, len(e.rejects)), e.id
    t = summary.totals
    assert t["inserted"] == 0 and t["revised"] == 0
    assert_unchanged(
        engine,
        before,
        files=sum(_bookkeeping(e)["files"] for e in files),
        quarantine=sum(_bookkeeping(e)["quarantine"] for e in files),
    )
    markdown = summary.to_markdown()  # the Prefect artifact: every file text escaped
    assert "<script>" not in markdown and "<img" not in markdown


# ------------------------------------------------------------------------------------ the command


def _cli_params():
    """Every CLI input on SQLite; on PostgreSQL one input per exit code (the rest run in-process)."""
    for e in CLI_ENTRIES:
        yield pytest.param("sqlite", e, id=f"sqlite-{e.id}")
    for e in CLI_ENTRIES:
        if e.id in PG_CLI:
            yield pytest.param("postgresql", e, id=f"postgresql-{e.id}", marks=pytest.mark.postgres)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("cli_warehouse", "entry"), list(_cli_params()), indirect=["cli_warehouse"]
)
def test_the_command_gives_a_message_and_the_exit_code(
    entry: Entry, cli_warehouse, corpus_plans, tmp_path
):
    wh = cli_warehouse
    before = snapshot(wh.engine)
    env = cli_env(wh.url, wh.folder, corpus_plans, tmp_path / "reports")
    code, out = run_cli(["ingest", str(entry.path)], env)
    flat = squash(out)
    assert code == entry.exit, out
    assert "Traceback" not in out, out
    assert entry.name in out
    for fragment in entry.messages:
        assert squash(fragment) in flat, f"{fragment!r} not in:\n{out}"
    lines = [squash(line) for line in out.splitlines()]
    for want in entry.rejects:
        assert any(
            f" {want.row} " in line and (want.field or "—") in line and want.reason in line
            for line in lines
        ), f"row {want.row} {want.field} {want.reason!r} not on one line of:\n{out}"
    verdict = {0: "everything loaded", 3: "some rows quarantined", 2: "could not be read"}
    assert verdict[entry.exit] in out
    assert_unchanged(wh.engine, before, **_bookkeeping(entry))
