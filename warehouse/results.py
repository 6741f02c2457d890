"""Computed results and bookkeeping: indicator values, evaluations, quality issues, reviews,
reports and runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse import _sql
from warehouse._sql import (
    clean,
    collector_paused,
    insert_parts,
    insert_rows,
    raw_time,
    read_frame,
    require_aware,
    split_known,
)
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
        },
        copy=False,  # the frame's own columns where their type is already right: read only
    )
    if not _strictly_increasing(df, IV_KEY):
        dup = df.duplicated(IV_KEY, keep=False)
        if dup.any():
            examples = df.loc[dup, IV_KEY].head(5).to_dict("records")
            raise ValueError(
                f"indicator values: {int(dup.sum())} rows share a key, e.g. {examples}"
            )

    # columns stay numpy arrays, made Python values a batch at a time as they are written
    # (as lists, Guilin's 187,000 values at 4× the preset held ≈ 24 MB more)
    constants: dict[str, Any] = {"plan_id": plan_id, "computed_at": now}
    with collector_paused():  # plain values only: no cycles for the collector to find
        columns = {
            "number": df["number"].to_numpy(),
            "area_code": df["area_code"].to_numpy(),
            "year": df["year"].to_numpy(),
            "stratum": df["stratum"].to_numpy(),
            "value": _numbers(frame, "value"),
            "numerator": _numbers(frame, "numerator"),
            "denominator": _numbers(frame, "denominator"),
        }
        moment = _one_moment(frame, "as_of", default_as_of)
        if moment is None:
            columns["as_of"] = _moments(frame, "as_of", default_as_of)
        else:  # a computation's values share one as_of: one value, not one per row
            constants["as_of"] = moment
    with begin_write(engine) as conn:
        conn.execute(sa.delete(indicator_value).where(indicator_value.c.plan_id == plan_id))
        insert_rows(conn, indicator_value, columns, constants)
    return len(df)


def _strictly_increasing(frame: pd.DataFrame, key: list[str]) -> bool:
    """Whether each row's key is greater than the one before: then no two rows share one.
    Computed values come sorted by their key; this proves them unique with a few boolean
    arrays, where ``duplicated`` hashes every key (Guilin at 4× the preset: ≈ 13 MB)."""
    if len(frame) < 2:
        return True
    greater = np.zeros(len(frame) - 1, dtype=bool)  # decided by an earlier column
    tied = np.ones(len(frame) - 1, dtype=bool)  # equal in every column so far
    try:
        for column in key:
            values = frame[column].to_numpy()
            before, after = values[:-1], values[1:]
            greater |= tied & np.asarray(after > before, dtype=bool)
            tied &= np.asarray(after == before, dtype=bool)
    except TypeError:  # values that do not compare (missing among texts): not shown sorted
        return False
    return bool(greater.all())


def _numbers(frame: pd.DataFrame, name: str) -> list | np.ndarray:
    """A column's values for the driver (missing → None): plain float64 (as computed values
    are) as its numpy array, which the writer converts a batch at a time; else plain values."""
    if name not in frame.columns:
        return [None] * len(frame)
    values = frame[name]
    if values.dtype == "float64":
        return values.to_numpy()
    return [clean(v) for v in values.tolist()]


def _one_moment(frame: pd.DataFrame, name: str, default: datetime) -> datetime | None:
    """The time every row of a column of times stands for (missing → ``default``), or None
    when the rows hold different times."""
    if name not in frame.columns or frame.empty:
        return default
    values = frame[name]
    first = values.iloc[0]
    try:
        if pd.isna(first):
            return default if values.isna().all() else None
        same = bool((values == first).all())
    except (TypeError, ValueError):  # values that do not compare: row by row
        return None
    return (clean(first) or default) if same else None


def _moments(frame: pd.DataFrame, name: str, default: datetime) -> list | np.ndarray:
    """A column of times for the driver (missing → ``default``); each distinct time converted
    once (a computation stores one as_of for all its values), then shared by every row."""
    if name not in frame.columns:
        return [default] * len(frame)
    values = frame[name]
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:  # unhashable values: one by one
        return [clean(v) or default for v in values.tolist()]
    chosen = [clean(u) or default for u in uniques] + [default]  # code -1 (missing) → default
    distinct = np.empty(len(chosen), dtype=object)
    distinct[:] = chosen
    return distinct[codes]


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
    times = {"as_of", "computed_at"}
    with engine.connect() as conn:
        stmt = sa.select(*(raw_time(conn, c[n]) if n in times else c[n] for n in IV_COLUMNS))
        return read_frame(
            conn, _iv_filters(stmt, plan_id, numbers, areas, years), IV_COLUMNS, _IV_DTYPES
        )


_IV_DTYPES = {
    "number": "int64",
    "year": "int64",
    "value": "float64",
    "numerator": "float64",
    "denominator": "float64",
    "as_of": "utc",
    "computed_at": "utc",
}


def _iv_filters(stmt: sa.Select, plan_id: str, numbers, areas, years) -> sa.Select:
    c = indicator_value.c
    stmt = stmt.where(c.plan_id == plan_id)
    if numbers is not None:
        stmt = stmt.where(c.number.in_([int(n) for n in numbers]))
    if areas is not None:
        stmt = stmt.where(c.area_code.in_([str(a) for a in areas]))
    if years is not None:
        stmt = stmt.where(c.year.in_([int(y) for y in years]))
    return stmt.order_by(c.number, c.area_code, c.year, c.stratum)


# ---------------------------------------------------------------------------------- evaluations


_EVALUATION = [c.name for c in evaluation.columns]


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")


def save_evaluations(
    engine: Engine, plan_id: str, stage: str, data_year: int, rows: Iterable[dict]
) -> int:
    """Replace the evaluations of (plan, stage, data year) in one transaction.

    Keys that are not columns are kept in ``detail`` rather than dropped: the evaluation
    transform may carry more than the table names.
    """
    _check_stage(stage)
    now = utcnow()
    fixed = {"plan_id": plan_id, "stage": stage, "data_year": int(data_year)}
    with begin_write(engine) as conn, collector_paused():
        c = evaluation.c
        conn.execute(
            sa.delete(evaluation).where(
                c.plan_id == plan_id, c.stage == stage, c.data_year == int(data_year)
            )
        )
        return insert_parts(conn, evaluation, _evaluation_columns(rows, fixed, now))


# Evaluations made into stored columns at a time: a part of ≈ 1 KB a row, sent (with its
# values as the driver takes them: JSON texts …) before the next is made; 5,000 at a time held
# ≈ 4 MB more while a plan's evaluations were stored, and were stored no faster.
EVALUATION_CHUNK = 1_000


def _evaluation_columns(
    rows: Iterable[dict], fixed: dict, evaluated_at: datetime
) -> Iterator[dict[str, list]]:
    """The rows as stored, column by column, a part of rows (EVALUATION_CHUNK, or fewer when
    WRITE_CHUNK is) at a time: each row's record is made, checked and spread into the columns
    before the next, so neither a list of records (≈ 1 KB each: 39 MB for the 35,000
    evaluations of Guilin at 4× the preset) nor every row's columns exist at once."""
    chunk = min(EVALUATION_CHUNK, _sql.WRITE_CHUNK)
    columns: dict[str, list] = {}
    appends: list = []
    for i, row in enumerate(rows):
        if i % chunk == 0:
            if i:
                yield columns
            columns = {n: [] for n in _EVALUATION}
            appends = [columns[n].append for n in _EVALUATION]
        record = _evaluation_record(i, row, fixed, evaluated_at)
        for append, value in zip(appends, record.values(), strict=True):
            append(value)
    if columns:
        yield columns


def _evaluation_record(i: int, row: dict, fixed: dict, evaluated_at: datetime) -> dict:
    """One evaluation row as stored: every column, plain values, extra keys in ``detail``."""
    known, extra = split_known(row, evaluation, "evaluation row")
    for key, value in fixed.items():
        if key in known and clean(known[key]) != value:
            raise ValueError(f"evaluation row {i}: {key}={known[key]!r}, expected {value!r}")
    if "number" not in known or "area_code" not in known:
        raise ValueError(f"evaluation row {i}: number and area_code are required")
    record = dict.fromkeys(_EVALUATION)  # in column order, absent ones None
    record.update({k: clean(v) for k, v in known.items()})
    record.update(fixed, number=int(known["number"]), evaluated_at=evaluated_at)
    record["met"] = None if record["met"] is None else bool(record["met"])
    if extra:
        detail = record["detail"] if isinstance(record["detail"], dict) else {}
        record["detail"] = {**extra, **detail}
    return record


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
    (is_open false, closed_at now), not deleted, so the history of a problem stays visible and
    ``load_quality_issues(..., as_of=)`` can tell which issues were open at a past moment. An
    issue found again after it was closed is a new row with its own detected_at. Keys that are
    not columns go into ``data``. Returns counts of opened, kept and closed issues.
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
        record.update(plan_id=plan_id, severity=severity, is_open=True, closed_at=None)
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
            conn.execute(
                sa.update(quality_issue).where(q.id.in_(stale)).values(is_open=False, closed_at=now)
            )
        if inserts:
            conn.execute(sa.insert(quality_issue), inserts)
    return {"opened": len(inserts), "kept": kept, "closed": len(stale)}


_SEVERITY_ORDER = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # error first


def load_quality_issues(
    engine: Engine,
    plan_id: str | None,
    open_only: bool = True,
    as_of: datetime | None = None,
) -> list[dict]:
    """A plan's quality issues, errors first: open now, or with ``as_of`` open at that moment
    (detected by then and not yet closed), so a report reproduced as of it lists what it did.

    Issues closed before closed_at was recorded (revision 0002: is_open false, closed_at NULL)
    are left out of an ``as_of`` answer: when they closed is unknown. With ``open_only`` false,
    ``as_of`` only limits the answer to the issues detected by then. Each row also tells
    whether it is ``acknowledged`` (by then, for the numbers it now holds) or ``reopened``.
    """
    q = quality_issue.c
    stmt = sa.select(quality_issue).where(
        q.plan_id.is_(None) if plan_id is None else q.plan_id == plan_id
    )
    if as_of is not None:
        stmt = stmt.where(q.detected_at <= require_aware(as_of, "as_of"))
        if open_only:
            stmt = stmt.where(
                sa.or_(
                    sa.and_(q.is_open, q.closed_at.is_(None)),
                    q.closed_at > as_of,
                )
            )
    elif open_only:
        stmt = stmt.where(q.is_open)
    with engine.connect() as conn:
        rows = [
            _mark_acknowledged(dict(r._mapping), as_of) for r in conn.execute(stmt.order_by(q.id))
        ]
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


def issue_fingerprint(issue: dict) -> str:
    """The numbers an issue is about (its detail and data) as one hash: an acknowledgement holds
    while they stay the same, and the issue reopens when they change."""
    text = json.dumps(
        {"detail": issue.get("detail"), "data": issue.get("data")},
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _mark_acknowledged(row: dict, moment: datetime | None) -> dict:
    """Add ``acknowledged`` (a person's acknowledgement holds for the numbers as they are) and
    ``reopened`` (it was acknowledged, but its numbers changed since) to a stored issue."""
    at = row.get("acknowledged_at")
    given = at is not None and (moment is None or at <= moment)
    same = given and row.get("acknowledged_fingerprint") == issue_fingerprint(row)
    row["acknowledged"] = bool(same)
    row["reopened"] = bool(given and not same)
    return row


def acknowledge_quality_issue(
    engine: Engine, issue_id: int, by: str, reason: str, *, at: datetime | None = None
) -> dict:
    """Record that a person looked at an open issue and accepts it (DHIS2's follow-up): who,
    when, why, and the numbers it was about; returns the issue as stored now."""
    if not by or not str(by).strip():
        raise ValueError("确认需要确认人 / an acknowledgement needs --by")
    if not reason or not str(reason).strip():
        raise ValueError("确认需要理由 / an acknowledgement needs --reason")
    q = quality_issue.c
    with begin_write(engine) as conn:
        row = conn.execute(sa.select(quality_issue).where(q.id == int(issue_id))).first()
        if row is None:
            raise ValueError(
                f"没有编号为 {issue_id} 的质量问题 / no quality issue with id {issue_id}"
            )
        if not row.is_open:
            raise ValueError(
                f"质量问题 {issue_id} 已关闭（不再出现），无需确认 / issue {issue_id} is closed"
            )
        values = {
            "acknowledged_at": require_aware(at, "at") if at else utcnow(),
            "acknowledged_by": str(by).strip(),
            "acknowledge_reason": str(reason).strip(),
            "acknowledged_fingerprint": issue_fingerprint(dict(row._mapping)),
        }
        conn.execute(sa.update(quality_issue).where(q.id == int(issue_id)).values(**values))
    return _mark_acknowledged({**dict(row._mapping), **values}, None)


# ---------------------------------------------------------------------------------- reviews


class ReviewError(ValueError):
    """A review that cannot be recorded or withdrawn as asked (no such id, already withdrawn …)."""


def add_review(
    engine: Engine,
    plan_id: str,
    number: int | None,
    verdict: bool,
    reviewer: str,
    reason: str | None,
    *,
    stage: str,
    data_year: int,
    override: bool = False,
    reviewed_at: datetime | None = None,
    goal: str | None = None,
) -> dict:
    """Record a person's verdict for one indicator, or one text goal (``goal``, its code), for
    one stage and data year (``override``: an explicit adjustment of a numeric result); the
    stored row is returned."""
    _check_stage(stage)
    if not reviewer or not str(reviewer).strip():
        raise ReviewError("a review needs the reviewer's name")
    if (number is None) == (goal is None):
        raise ReviewError("a review is for exactly one indicator number or one text goal code")
    record = {
        "plan_id": plan_id,
        "number": None if number is None else int(number),
        "goal": goal,
        "verdict": bool(verdict),
        "reviewer": str(reviewer).strip(),
        "reason": reason,
        "reviewed_at": require_aware(reviewed_at, "reviewed_at") if reviewed_at else utcnow(),
        "stage": stage,
        "data_year": int(data_year),
        "override": bool(override),
    }
    with begin_write(engine) as conn:
        review_id = conn.execute(sa.insert(review).values(**record).returning(review.c.id)).scalar()
    return {"id": int(review_id), **record, "withdrawn_at": None, "withdrawn_by": None,
            "withdraw_reason": None}  # fmt: skip


def withdraw_review(
    engine: Engine,
    review_id: int,
    by: str | None,
    reason: str | None,
    *,
    at: datetime | None = None,
) -> dict:
    """Mark a verdict withdrawn (kept, never deleted); returns the row as stored now."""
    c = review.c
    with begin_write(engine) as conn:
        row = conn.execute(sa.select(review).where(c.id == int(review_id))).first()
        if row is None:
            raise ReviewError(f"没有编号为 {review_id} 的评定 / no review with id {review_id}")
        if row.withdrawn_at is not None:
            raise ReviewError(
                f"评定 {review_id} 已于 {row.withdrawn_at:%Y-%m-%d %H:%M} UTC 撤回 / "
                f"review {review_id} was already withdrawn"
            )
        values = {
            "withdrawn_at": require_aware(at, "at") if at else utcnow(),
            "withdrawn_by": (by or "").strip() or None,
            "withdraw_reason": reason,
        }
        conn.execute(sa.update(review).where(c.id == int(review_id)).values(**values))
    return {**dict(row._mapping), **values}


def load_reviews(engine: Engine, plan_id: str, as_of: datetime | None = None) -> list[dict]:
    """Every review of a plan recorded by ``as_of`` (None = now), oldest first, withdrawn ones
    included; a withdrawal after ``as_of`` is not shown (the review was in force then)."""
    c = review.c
    stmt = sa.select(review).where(c.plan_id == plan_id)
    if as_of is not None:
        stmt = stmt.where(c.reviewed_at <= require_aware(as_of, "as_of"))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt.order_by(c.reviewed_at, c.id))]
    if as_of is not None:
        for r in rows:
            if r["withdrawn_at"] is not None and r["withdrawn_at"] > as_of:
                r.update(withdrawn_at=None, withdrawn_by=None, withdraw_reason=None)
    return rows


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
