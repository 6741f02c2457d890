"""Computed results and bookkeeping: indicator values, evaluations, quality issues, reviews,
reports and runs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse._sql import clean, frame_from_rows, require_aware, split_known
from warehouse.engine import begin_write
from warehouse.schema import (
    REPORT_FORMATS,
    RUN_OUTCOMES,
    SEVERITIES,
    STAGES,
    evaluation,
    indicator_value,
    quality_issue,
    report,
    review,
    run,
    utcnow,
)

# ---------------------------------------------------------------------------------- indicator values

IV_KEY = ["number", "area_code", "year", "stratum"]
IV_COLUMNS = [c.name for c in indicator_value.columns]


def save_indicator_values(
    engine: Engine, plan_id: str, frame: pd.DataFrame, *, as_of: datetime | None = None
) -> int:
    """Replace the plan's indicator values with ``frame`` in one transaction; returns the count.

    Columns: number, area_code, year, value, and optionally stratum, numerator, denominator,
    as_of (else the ``as_of`` argument, else now). Other columns are ignored.
    """
    missing = [c for c in ("number", "area_code", "year", "value") if c not in frame.columns]
    if missing:
        raise ValueError(f"indicator value frame lacks columns {missing}")
    if "plan_id" in frame.columns and (frame["plan_id"] != plan_id).any():
        raise ValueError(f"indicator value frame holds rows of plans other than {plan_id!r}")
    now = utcnow()
    default_as_of = require_aware(as_of, "as_of") if as_of is not None else now
    df = pd.DataFrame(
        {
            "number": frame["number"].astype("int64"),
            "area_code": frame["area_code"].astype(str),
            "year": frame["year"].astype("int64"),
            "stratum": frame["stratum"].fillna("").astype(str) if "stratum" in frame else "",
        }
    )
    dup = df.duplicated(IV_KEY, keep=False)
    if dup.any():
        examples = df.loc[dup, IV_KEY].head(5).to_dict("records")
        raise ValueError(f"indicator values: {int(dup.sum())} rows share a key, e.g. {examples}")

    def column(name: str, default: Any = None) -> list:
        if name not in frame.columns:
            return [default] * len(df)
        return [clean(v) for v in frame[name].tolist()]

    as_of_values = [v or default_as_of for v in column("as_of")]
    records = [
        {
            "plan_id": plan_id,
            "number": number,
            "area_code": area_code,
            "year": year,
            "stratum": stratum,
            "value": value,
            "numerator": numerator,
            "denominator": denominator,
            "as_of": row_as_of,
            "computed_at": now,
        }
        for number, area_code, year, stratum, value, numerator, denominator, row_as_of in zip(
            df["number"].tolist(),
            df["area_code"].tolist(),
            df["year"].tolist(),
            df["stratum"].tolist(),
            column("value"),
            column("numerator"),
            column("denominator"),
            as_of_values,
            strict=True,
        )
    ]
    with begin_write(engine) as conn:
        conn.execute(sa.delete(indicator_value).where(indicator_value.c.plan_id == plan_id))
        if records:
            conn.execute(sa.insert(indicator_value), records)
    return len(records)


def load_indicator_values(
    engine: Engine,
    plan_id: str,
    *,
    numbers: Iterable[int] | None = None,
    areas: Iterable[str] | None = None,
    years: Iterable[int] | None = None,
) -> pd.DataFrame:
    """The plan's indicator values, ordered by number, area, year, stratum."""
    c = indicator_value.c
    stmt = sa.select(indicator_value).where(c.plan_id == plan_id)
    if numbers is not None:
        stmt = stmt.where(c.number.in_([int(n) for n in numbers]))
    if areas is not None:
        stmt = stmt.where(c.area_code.in_([str(a) for a in areas]))
    if years is not None:
        stmt = stmt.where(c.year.in_([int(y) for y in years]))
    stmt = stmt.order_by(c.number, c.area_code, c.year, c.stratum)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    dtypes = {
        "number": "int64",
        "year": "int64",
        "value": "float64",
        "numerator": "float64",
        "denominator": "float64",
        "as_of": "utc",
        "computed_at": "utc",
    }
    return frame_from_rows(rows, IV_COLUMNS, dtypes)


# ---------------------------------------------------------------------------------- evaluations


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")


def save_evaluations(
    engine: Engine, plan_id: str, stage: str, data_year: int, rows: list[dict]
) -> int:
    """Replace the evaluations of (plan, stage, data year) in one transaction.

    Keys that are not columns are kept in ``detail`` rather than dropped: the evaluation
    transform may carry more than the table names.
    """
    _check_stage(stage)
    now = utcnow()
    fixed = {"plan_id": plan_id, "stage": stage, "data_year": int(data_year)}
    records = []
    for i, row in enumerate(rows):
        known, extra = split_known(row, evaluation, "evaluation row")
        for key, value in fixed.items():
            if key in known and clean(known[key]) != value:
                raise ValueError(f"evaluation row {i}: {key}={known[key]!r}, expected {value!r}")
        if "number" not in known or "area_code" not in known:
            raise ValueError(f"evaluation row {i}: number and area_code are required")
        record = {c.name: clean(known.get(c.name)) for c in evaluation.columns}
        record.update(fixed, number=int(known["number"]), evaluated_at=now)
        record["met"] = None if record["met"] is None else bool(record["met"])
        if extra:
            detail = record["detail"] if isinstance(record["detail"], dict) else {}
            record["detail"] = {**extra, **detail}
        records.append(record)
    with begin_write(engine) as conn:
        c = evaluation.c
        conn.execute(
            sa.delete(evaluation).where(
                c.plan_id == plan_id, c.stage == stage, c.data_year == int(data_year)
            )
        )
        if records:
            conn.execute(sa.insert(evaluation), records)
    return len(records)


def load_evaluations(
    engine: Engine,
    plan_id: str,
    stage: str,
    data_year: int | None = None,
    area_code: str | None = None,
) -> list[dict]:
    """Evaluations of a plan and stage (every data year when ``data_year`` is None)."""
    _check_stage(stage)
    c = evaluation.c
    stmt = sa.select(evaluation).where(c.plan_id == plan_id, c.stage == stage)
    if data_year is not None:
        stmt = stmt.where(c.data_year == int(data_year))
    if area_code is not None:
        stmt = stmt.where(c.area_code == str(area_code))
    stmt = stmt.order_by(c.data_year, c.number, c.area_code)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


# ---------------------------------------------------------------------------------- quality issues

_ISSUE_IDENTITY = ("kind", "number", "area_code", "year", "file_name", "row", "detail")


def replace_quality_issues(engine: Engine, plan_id: str | None, rows: list[dict]) -> dict[str, int]:
    """Make ``rows`` the open issues of a plan (None = issues tied to no plan).

    An issue found again keeps its first detected_at; one no longer found is closed
    (is_open false), not deleted, so the history of a problem stays visible. Keys that are not
    columns go into ``data``. Returns counts of opened, kept and closed issues.
    """
    now = utcnow()
    new = []
    for i, row in enumerate(rows):
        known, extra = split_known(row, quality_issue, "quality issue")
        if not known.get("kind"):
            raise ValueError(f"quality issue {i}: kind is required")
        severity = known.get("severity", "warning")
        if severity not in SEVERITIES:
            raise ValueError(f"quality issue {i}: severity must be one of {SEVERITIES}")
        record = {c.name: clean(known.get(c.name)) for c in quality_issue.columns}
        record.pop("id")
        record.update(plan_id=plan_id, severity=severity, is_open=True)
        record["detected_at"] = record["detected_at"] or now
        if extra:
            data = record["data"] if isinstance(record["data"], dict) else {}
            record["data"] = {**extra, **data}
        new.append(record)
    q = quality_issue.c
    same_plan = q.plan_id.is_(None) if plan_id is None else q.plan_id == plan_id
    with begin_write(engine) as conn:
        open_rows = conn.execute(
            sa.select(q.id, *(q[k] for k in _ISSUE_IDENTITY)).where(same_plan, q.is_open)
        ).all()
        existing: dict[tuple, list[int]] = {}
        for r in open_rows:
            existing.setdefault(tuple(r[1:]), []).append(r[0])
        inserts, kept = [], 0
        for record in new:
            ids = existing.get(tuple(record[k] for k in _ISSUE_IDENTITY))
            if ids:
                issue_id = ids.pop(0)
                conn.execute(
                    sa.update(quality_issue)
                    .where(q.id == issue_id)
                    .values(severity=record["severity"], data=record["data"])
                )
                kept += 1
            else:
                inserts.append(record)
        stale = [i for ids in existing.values() for i in ids]
        if stale:
            conn.execute(sa.update(quality_issue).where(q.id.in_(stale)).values(is_open=False))
        if inserts:
            conn.execute(sa.insert(quality_issue), inserts)
    return {"opened": len(inserts), "kept": kept, "closed": len(stale)}


_SEVERITY_ORDER = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # error first


def load_quality_issues(engine: Engine, plan_id: str | None, open_only: bool = True) -> list[dict]:
    """A plan's quality issues, errors first."""
    q = quality_issue.c
    stmt = sa.select(quality_issue).where(
        q.plan_id.is_(None) if plan_id is None else q.plan_id == plan_id
    )
    if open_only:
        stmt = stmt.where(q.is_open)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt.order_by(q.id))]
    return sorted(
        rows,
        key=lambda r: (
            _SEVERITY_ORDER.get(r["severity"], 9),
            r["kind"],
            r["number"] is None,
            r["number"] or 0,
            r["area_code"] or "",
            r["year"] or 0,
            r["id"],
        ),
    )


# ---------------------------------------------------------------------------------- reviews


def add_review(
    engine: Engine,
    plan_id: str,
    number: int,
    verdict: bool,
    reviewer: str,
    reason: str | None,
    *,
    reviewed_at: datetime | None = None,
) -> dict:
    """Record a person's verdict on a qualitative target; the stored row is returned."""
    if not reviewer or not str(reviewer).strip():
        raise ValueError("a review needs the reviewer's name")
    record = {
        "plan_id": plan_id,
        "number": int(number),
        "verdict": bool(verdict),
        "reviewer": str(reviewer).strip(),
        "reason": reason,
        "reviewed_at": require_aware(reviewed_at, "reviewed_at") if reviewed_at else utcnow(),
    }
    with begin_write(engine) as conn:
        review_id = conn.execute(sa.insert(review).values(**record).returning(review.c.id)).scalar()
    return {"id": int(review_id), **record}


def latest_reviews(engine: Engine, plan_id: str, as_of: datetime | None = None) -> dict[int, dict]:
    """The latest verdict per indicator number, as it stood at ``as_of`` (None = now)."""
    c = review.c
    stmt = sa.select(review).where(c.plan_id == plan_id)
    if as_of is not None:
        stmt = stmt.where(c.reviewed_at <= require_aware(as_of, "as_of"))
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(c.reviewed_at, c.id)).all()
    return {r.number: dict(r._mapping) for r in rows}


# ---------------------------------------------------------------------------------- reports


def record_report(engine: Engine, **row: Any) -> int:
    """Record a rendered report (plan_id, stage, format, path, …); returns its id."""
    known, extra = split_known(row, report, "report")
    if extra or "id" in known:
        raise ValueError(f"report: unknown keys {sorted(extra) or ['id']}")
    for key in ("plan_id", "stage", "format", "path"):
        if not known.get(key):
            raise ValueError(f"report: {key} is required")
    if known["format"] not in REPORT_FORMATS:
        raise ValueError(f"report format must be one of {REPORT_FORMATS}")
    record = {k: clean(v) for k, v in known.items()}
    record["path"] = str(record["path"])
    record.setdefault("created_at", utcnow())
    with begin_write(engine) as conn:
        return int(conn.execute(sa.insert(report).values(**record).returning(report.c.id)).scalar())


def find_reports(
    engine: Engine, plan_id: str | None = None, stage: str | None = None
) -> list[dict]:
    """Recorded reports, newest first."""
    c = report.c
    stmt = sa.select(report)
    if plan_id is not None:
        stmt = stmt.where(c.plan_id == plan_id)
    if stage is not None:
        stmt = stmt.where(c.stage == stage)
    with engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(stmt.order_by(c.created_at.desc(), c.id.desc()))
        ]


# ---------------------------------------------------------------------------------- runs


def start_run(engine: Engine, flow: str, parameters: dict | None) -> int:
    """Record that a flow started; returns the run id for finish_run."""
    with begin_write(engine) as conn:
        return int(
            conn.execute(
                sa.insert(run)
                .values(flow=flow, started_at=utcnow(), parameters=parameters, outcome="running")
                .returning(run.c.id)
            ).scalar()
        )


def finish_run(
    engine: Engine,
    run_id: int,
    outcome: str,
    message: str | None = None,
    *,
    parameters: dict | None = None,
) -> None:
    """Record how a run ended; ``parameters``, if given, replaces the stored ones (e.g. to add
    what the run found)."""
    if outcome not in RUN_OUTCOMES or outcome == "running":
        raise ValueError(f"outcome must be 'completed' or 'failed', got {outcome!r}")
    values = {"outcome": outcome, "message": message, "finished_at": utcnow()}
    if parameters is not None:
        values["parameters"] = parameters
    with begin_write(engine) as conn:
        result = conn.execute(sa.update(run).where(run.c.id == int(run_id)).values(**values))
        if result.rowcount != 1:
            raise ValueError(f"no run with id {run_id}")


def recent_runs(engine: Engine, limit: int = 20) -> list[dict]:
    """The latest runs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(run).order_by(run.c.started_at.desc(), run.c.id.desc()).limit(limit)
        )
        return [dict(r._mapping) for r in rows]
