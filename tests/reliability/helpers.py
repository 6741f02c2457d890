"""Shared pieces of the reliability tests: the corpus manifest, the plans folder with the
test-only share layout, warehouse snapshots and the CLI run as a user runs it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
MANIFEST = CORPUS / "manifest.yaml"
BOOKKEEPING = ("source_file", "quarantine")  # the only tables a bad input may add rows to


# ------------------------------------------------------------------------------------ manifest


@dataclass(frozen=True)
class Expected:
    """One quarantined cell a manifest entry expects."""

    row: int
    field: str | None
    reason: str


@dataclass(frozen=True)
class Entry:
    id: str
    given: str  # the path as handed to ingest (relative to the corpus folder)
    is_path: bool
    group: str
    zh: str
    en: str
    exit: int
    status: str
    rejects: tuple[Expected, ...]
    messages: tuple[str, ...]
    cli: bool = False
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def path(self) -> Path:
        # a '..' path must reach ingest as written: no resolve(), no normpath()
        return Path(str(CORPUS) + "/" + self.given)

    @property
    def name(self) -> str:
        """The name ingest records and shows: the file name, or the path as given."""
        return str(self.path) if self.is_path else self.path.name


def _rows(spec: Any) -> list[int]:
    if isinstance(spec, int):
        return [spec]
    first, _, last = str(spec).partition("-")
    return list(range(int(first), int(last or first) + 1))


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def entries() -> list[Entry]:
    out = []
    for item in load_manifest()["inputs"]:
        given = item.get("file") or item["path"]
        rejects = []
        for r in item.get("rejects") or []:
            fields = r["field"] if isinstance(r.get("field"), list) else [r.get("field")]
            rejects += [Expected(row, f, r["reason"]) for row in _rows(r["row"]) for f in fields]
        out.append(
            Entry(
                id=Path(given).name if "file" in item else "path:" + given,
                given=given,
                is_path="path" in item,
                group=item["group"],
                zh=item["zh"],
                en=item["en"],
                exit=int(item["exit"]),
                status=item["status"],
                rejects=tuple(rejects),
                messages=tuple(item.get("messages") or ()),
                cli=bool(item.get("cli")),
                raw=item,
            )
        )
    return out


# ------------------------------------------------------------------------------------ plans


def overlay_plans(dest: Path) -> Path:
    """The real plans folder plus the test-only share layout (tests/corpus/plans_overlay)."""
    plans = dest / "plans"
    shutil.copytree(ROOT / "plans", plans)
    overlay = CORPUS / load_manifest()["overlay"]
    for src in overlay.rglob("*.yaml"):
        target = plans / src.relative_to(overlay)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    return plans


def prepare_warehouse(url: str, plans: Path, context: Any) -> Any:
    """A migrated warehouse holding the catalog's definitions and the corpus baseline."""
    from flows.common import definition_rows
    from flows.ingest import ingest_paths
    from healthplan.definitions import load_catalog
    from warehouse.definitions import sync_definitions
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade

    engine = get_engine(url)
    upgrade(engine)
    sync_definitions(engine, **definition_rows(load_catalog(plans)))
    summary = ingest_paths([CORPUS / load_manifest()["baseline"]], engine=engine, context=context)
    assert summary.exit_code == 0, summary.as_dict()
    assert all(f.status == "loaded" for f in summary.files), summary.as_dict()
    return engine


# ------------------------------------------------------------------------------------ snapshots


@dataclass
class Snapshot:
    observations: Any  # observations_as_of(engine): one row per key with value and revision
    counts: dict[str, int]


def snapshot(engine: Any) -> Snapshot:
    from warehouse.observations import counts, observations_as_of

    return Snapshot(observations_as_of(engine), counts(engine))


def assert_unchanged(engine: Any, before: Snapshot, *, files: int = 0, quarantine: int = 0) -> None:
    """Everything stored before is still there, unchanged; only bookkeeping rows were added."""
    import pandas as pd

    after = snapshot(engine)
    pd.testing.assert_frame_equal(after.observations, before.observations)
    others = {k: v for k, v in after.counts.items() if k not in BOOKKEEPING}
    assert others == {k: v for k, v in before.counts.items() if k not in BOOKKEEPING}
    assert after.counts["source_file"] - before.counts["source_file"] == files
    assert after.counts["quarantine"] - before.counts["quarantine"] == quarantine


# ------------------------------------------------------------------------------------ the CLI


def cli_env(url: str, data_dir: Path, plans: Path, reports: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHPLAN_")}
    env.update(
        HEALTHPLAN_DATA_DIR=str(data_dir),
        HEALTHPLAN_DATABASE_URL=url,
        HEALTHPLAN_PLANS_DIR=str(plans),
        HEALTHPLAN_REPORTS_DIR=str(reports),
        PYTHONPATH=str(ROOT),
        COLUMNS="2000",  # rich folds long cells at 80 columns when not on a terminal
        NO_COLOR="1",
        **extra,
    )
    env.pop("HEALTHPLAN_DEBUG", None)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """`healthplan ARGS` in a fresh process: (exit code, stdout + stderr)."""
    proc = subprocess.run(
        [sys.executable, "-c", "from flows.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr


def squash(text: str) -> str:
    """Output with runs of white space as one space (rich pads and aligns cells)."""
    return re.sub(r"\s+", " ", text)


# ------------------------------------------------------------------------------------ consistency


def assert_consistent(engine: Any) -> None:
    """The warehouse invariants a crash must not break.

    No half-registered file, every observation from a loaded file, each key's revisions 1…n
    with one current row and no gaps in time, one save per evaluation set, no lock left behind,
    and on SQLite a clean integrity and foreign-key check.
    """
    import sqlalchemy as sa

    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        q = conn.exec_driver_sql
        assert q("SELECT count(*) FROM source_file WHERE status NOT IN "
                 "('loaded', 'partial', 'failed')").scalar() == 0  # fmt: skip
        assert q("SELECT count(*) FROM observation o JOIN source_file f ON f.id = o.source_file_id"
                 " WHERE f.status NOT IN ('loaded', 'partial')").scalar() == 0  # fmt: skip
        history = q(
            "SELECT area_code, year, element, stratum, revision, valid_from, valid_to "
            "FROM observation ORDER BY area_code, year, element, stratum, revision"
        ).all()
        previous = None
        for row in history:
            key = tuple(row[:4])
            if previous is None or tuple(previous[:4]) != key:
                assert row.revision == 1, row
            else:
                assert row.revision == previous.revision + 1, row
                assert previous.valid_to is not None, (previous, row)
                assert str(previous.valid_to)[:19] == str(row.valid_from)[:19], (previous, row)
            previous = row
        current = q(
            "SELECT area_code, year, element, stratum, count(*) FROM observation "
            "WHERE valid_to IS NULL GROUP BY area_code, year, element, stratum HAVING count(*) > 1"
        ).all()
        assert current == []
        mixed = q(
            "SELECT plan_id, stage, data_year, count(DISTINCT evaluated_at) FROM evaluation "
            "GROUP BY plan_id, stage, data_year HAVING count(DISTINCT evaluated_at) > 1"
        ).all()
        assert mixed == [], "an evaluation set mixes two saves"
        assert conn.execute(sa.text("SELECT count(*) FROM pipeline_lock")).scalar() == 0
