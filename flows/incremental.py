"""Work proportional to what changed: a night recomputes only the plans whose inputs changed and
re-renders only the reports whose content changed.

A plan's key covers what its compute, quality check and evaluations read: its definition files,
the observations of its formulas' elements in its areas (how many rows and the newest row: a load
never overwrites, it adds rows), the quarantine, its reviews, the code, the thresholds and the
run's parameters. A plan whose key equals the one stored by an earlier completed night, with
that night's reports still on disk, keeps that night's results.

A report's content key is a hash of what the report shows: the evaluation rows, the root area's
values up to the data year (the charts), the quality issues, the reviews, the source files of
those years, the templates and the code. It is stored with the report record (``inputs``); a
report whose key is stored with files still on disk is not rendered again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from flows.common import catalog, code_version, warehouse
from healthplan.settings import get_settings

KEY_VERSION = 1  # bump when what a key covers changes


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, default=str, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\x00")
    return h.hexdigest()


# ------------------------------------------------------------------------------ plans


def observation_tally(engine: Engine) -> pd.DataFrame:
    """Rows and newest row id per (area, element, source file), closed revisions included: one
    grouped scan. A load that changes an observation adds a row, so a changed tally is a
    changed input."""
    from warehouse.schema import observation

    o = observation.c
    keys = (o.area_code, o.element, o.source_file_id)
    stmt = sa.select(*keys, sa.func.count(), sa.func.max(o.id)).group_by(*keys)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame(rows, columns=["area_code", "element", "file", "rows", "last_id"])


def quarantine_tally(engine: Engine) -> dict[int, tuple[int, int]]:
    """Rows and newest id of the quarantine per source file: a plan's quality check names the
    files that fed it and lost rows."""
    from warehouse.schema import quarantine

    q = quarantine.c
    stmt = sa.select(q.source_file_id, sa.func.count(), sa.func.max(q.id)).group_by(
        q.source_file_id
    )
    with engine.connect() as conn:
        return {int(f): (int(n), int(last)) for f, n, last in conn.execute(stmt) if f is not None}


def definition_files(plan_id: str) -> list[Path]:
    """The definition files a plan reads: its own folder's and the shared ones (no other plan's)."""
    cat = catalog()
    root = Path(cat.plans_dir).resolve()
    others = {p for p in cat.plans if p != plan_id}
    out = []
    for path in cat.files:
        rel = Path(path).resolve().relative_to(root)
        if len(rel.parts) > 1 and rel.parts[0] in others:
            continue
        out.append(Path(path))
    return sorted(out)


def plan_elements_and_areas(plan_id: str) -> tuple[list[str], list[str]]:
    from flows.compute import plan_elements

    return plan_elements(plan_id), [a.code for a in catalog().areas(plan_id)]


def observations_token(
    tally: pd.DataFrame, quarantined: dict[int, tuple[int, int]], plan_id: str
) -> tuple[int, int, list]:
    """The plan's share of the tallies: rows and newest row id of its elements in its areas,
    and the quarantine of the files they came from."""
    elements, areas = plan_elements_and_areas(plan_id)
    mine = tally[tally["area_code"].isin(areas) & tally["element"].isin(elements)]
    if mine.empty:
        return 0, 0, []
    files = sorted({int(f) for f in mine["file"]})
    lost = [(f, *quarantined[f]) for f in files if f in quarantined]
    return int(mine["rows"].sum()), int(mine["last_id"].max()), lost


def plan_keys(plans: Iterable[str], stages: list[str], data_year: int | None) -> dict[str, str]:
    """Each plan's input key for tonight (see the module's docstring)."""
    from flows.commentary import commentary_checksum
    from flows.evaluate import settings_thresholds
    from flows.pipeline import acknowledgements
    from warehouse.results import load_reviews

    engine = warehouse()
    tally, quarantined = observation_tally(engine), quarantine_tally(engine)
    common = (KEY_VERSION, code_version(), stages, data_year, repr(settings_thresholds()))
    cat = catalog()
    return {
        p: _digest(
            common,
            cat.checksum(definition_files(p)),
            observations_token(tally, quarantined, p),
            load_reviews(engine, p),
            acknowledgements(p),
            commentary_checksum([p]),
        )
        for p in plans
    }


def _runs(engine: Engine, limit: int = 50) -> list[dict]:
    from warehouse.results import recent_runs

    out = []
    for run in recent_runs(engine, limit):
        params = run.get("parameters") or {}
        if isinstance(params, str):
            params = json.loads(params)
        if run.get("flow") == "pipeline" and run.get("outcome") == "completed":
            out.append(params)
    return out


def previous_plan_outputs(keys: Mapping[str, str]) -> dict[str, dict]:
    """The plans whose key an earlier completed night stored, with that night's statuses,
    quality counts and report paths (only where every report is still on disk)."""
    found: dict[str, dict] = {}
    for params in _runs(warehouse()):
        for plan, out in (params.get("plan_outputs") or {}).items():
            if plan in found or keys.get(plan) != out.get("key"):
                continue
            if all(Path(p).exists() for p in out.get("reports", [])):
                found[plan] = out
    return found


def plan_outputs(
    keys: Mapping[str, str], statuses: Mapping, quality: Mapping, reports: list[str]
) -> dict[str, dict]:
    """Tonight's results by plan, to be stored with the run for the nights after."""
    out = {}
    for plan, key in keys.items():
        pattern = re.compile(rf"^{re.escape(plan)}_[a-z]+_\d{{4}}(_asof\w+)?\.\w+$")
        out[plan] = {
            "key": key,
            "statuses": {k: v for k, v in statuses.items() if k.split("/")[0] == plan},
            "quality": quality.get(plan, {}),
            "reports": [p for p in reports if pattern.match(Path(p).name)],
        }
    return out


@dataclass
class Split:
    """Tonight's plans: those to run and those whose earlier results stand."""

    keys: dict[str, str]
    todo: list[str]
    kept: dict[str, dict] = field(default_factory=dict)


def split_plans(plans: list[str], stages: list[str], data_year: int | None, fresh: bool) -> Split:
    """Which plans need tonight's work (all of them when ``fresh``: forced or as of a moment)."""
    keys = plan_keys(plans, stages, data_year)
    kept = {} if fresh else previous_plan_outputs(keys)
    return Split(keys, [p for p in plans if p not in kept], kept)


def merged(split: Split, statuses: dict, quality: dict, reports: list[str], plans: list[str]):
    """Tonight's statuses, quality and reports with the kept plans' earlier ones, in plan order."""
    st, q, rp = {}, {}, []
    ran = plan_outputs({p: split.keys[p] for p in split.todo}, statuses, quality, reports)
    for p in plans:
        out = split.kept.get(p) or ran[p]
        st.update(out["statuses"])
        q[p] = out["quality"]
        rp.extend(out["reports"])
    return st, q, rp


# ------------------------------------------------------------------------------ reports


@lru_cache(maxsize=1)
def template_version() -> str:
    from flows.report import TEMPLATES_DIR

    files = sorted(p for p in Path(TEMPLATES_DIR).rglob("*") if p.is_file())
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(TEMPLATES_DIR)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


ISSUE_FIELDS = ("kind", "severity", "number", "area_code", "year", "file_name", "row", "detail",
                "data", "acknowledged", "acknowledged_by", "acknowledge_reason")  # fmt: skip


def content_key(a, inputs) -> str:
    """What the report shows, hashed: evaluation rows, the root's values up to the data year,
    quality issues, reviews, source files of those years, definitions, templates, code."""
    from flows.evaluate import settings_thresholds

    root = inputs.plan.jurisdiction
    v = a.values
    shown = v[(v["area_code"] == root) & (v["year"] <= a.data_year)] if len(v) else v
    series = sorted(
        (int(n), str(s), int(y), None if pd.isna(x) else round(float(x), 10))
        for n, s, y, x in zip(shown["number"], shown["stratum"], shown["year"], shown["value"],
                              strict=True)
    )  # fmt: skip
    obs = a.observations  # every year's files: the report's sources annex lists them all
    used = set(obs["source_file_id"].dropna().astype(int)) if not obs.empty else set()
    files = sorted(str(f["checksum"]) for f in inputs.source_files if int(f["id"]) in used)
    s = get_settings()
    return _digest(
        KEY_VERSION,
        a.plan_id, a.stage, a.data_year,
        a.rows,
        series,
        sorted([str(i.get(k)) for k in ISSUE_FIELDS] for i in inputs.quality_issues),
        a.reviews,
        getattr(a, "goal_reviews", {}),
        getattr(inputs, "commentary", None),
        files,
        inputs.definition_checksum,
        inputs.code_version,
        template_version(),
        repr(settings_thresholds()), s.issuing_body, s.timezone,
    )  # fmt: skip


def rendered_before(a, key: str, stem: str, engine: Engine | None = None) -> list[str] | None:
    """The paths of the report with this content key (PDF, HTML, XLSX), if all are on disk
    under tonight's stem."""
    from warehouse.results import find_reports

    rows = [
        r for r in find_reports(engine or warehouse(), a.plan_id, a.stage)
        if r.get("data_year") == a.data_year and Path(r["path"]).stem == stem
    ]  # fmt: skip
    by_format: dict[str, dict] = {}
    for r in rows:  # newest first: the latest record of each format
        by_format.setdefault(r["format"], r)
    if not by_format:
        return None
    for r in by_format.values():
        inputs = r.get("inputs") or {}
        if isinstance(inputs, str):
            inputs = json.loads(inputs)
        if inputs.get("content_key") != key or not Path(r["path"]).exists():
            return None
    order = ("pdf", "html", "xlsx", "docx")
    return [by_format[f]["path"] for f in order if f in by_format]


def render_unless_unchanged(a, stem: str, as_of: datetime | None = None) -> list[str]:
    """The report's files: the earlier ones when its content key is unchanged, else rendered now
    (in the flow run's render workers when it has some)."""
    from flows.report import load_inputs, render_in_run

    if as_of is None:
        key = content_key(a, load_inputs(a, warehouse()))
        before = rendered_before(a, key, stem)
        if before is not None:
            return before
    files = render_in_run(a, stem=stem, as_of=as_of)
    return [str(p) for p in (files.pdf, files.html, files.xlsx, files.docx) if p is not None]


def with_content_key(record: dict, a, inputs) -> dict:
    """A report record's ``inputs`` with the report's content key added."""
    return {**record, "content_key": content_key(a, inputs)}
