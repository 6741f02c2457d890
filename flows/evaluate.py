"""Judge each plan's indicators by the method, for a stage and data year, and store the verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from prefect import flow, task
from sqlalchemy.engine import Engine

from flows.common import catalog, warehouse
from flows.compute import observations_and_values
from healthplan.settings import get_settings
from transforms.assessment import PER_UNIT_KEYS, assess_plan, check_data_year, data_year_for
from transforms.evaluation import Thresholds
from transforms.reviews import applicable_goal_reviews, applicable_reviews, review_standings
from warehouse.results import load_reviews, save_evaluations


def settings_thresholds() -> Thresholds:
    s = get_settings()
    return Thresholds(
        about_tolerance=s.about_tolerance,
        on_schedule_rho=s.on_schedule_rho,
        needs_speedup_rho=s.needs_speedup_rho,
        nearly_done_p=s.nearly_done_p,
    )


@dataclass
class Assessment:
    """One plan judged at one stage: the rows, and everything needed to reproduce them."""

    plan_id: str
    stage: str
    data_year: int
    as_of: datetime
    observations: pd.DataFrame
    values: pd.DataFrame
    rows: list[dict]
    reviews: dict[int, dict] = field(default_factory=dict)  # the verdicts applied, by number
    review_history: list[dict] = field(default_factory=list)  # every review then, with its state
    goal_reviews: dict[str, dict] = field(default_factory=dict)  # text goals' verdicts, by code

    def root_rows(self) -> list[dict]:
        root = catalog().plan(self.plan_id).jurisdiction
        return [r for r in self.rows if r["area"] == root]

    def source_file_ids(self) -> list[int]:
        if self.observations.empty:
            return []
        return sorted({int(i) for i in self.observations["source_file_id"].dropna()})


def assess(
    plan_id: str,
    stage: str,
    data_year: int | None = None,
    as_of: datetime | None = None,
    area: str | None = None,
    engine: Engine | None = None,
) -> Assessment:
    """Load as of a moment → compute indicators → judge; nothing is written."""
    engine = engine or warehouse()
    plan = catalog().plan(plan_id)
    moment = as_of or datetime.now(UTC)
    year = check_data_year(plan, stage, data_year or data_year_for(plan, stage))
    obs, values = observations_and_values(engine, plan_id, moment)
    recorded = load_reviews(engine, plan_id, as_of=moment)
    reviews = applicable_reviews(plan, recorded, stage, year)
    rows = assess_plan(
        plan,
        catalog().areas(plan_id),
        values,
        stage,
        year,
        reviews=reviews,
        thresholds=settings_thresholds(),
        only_area=area,
    )
    history = review_standings(plan, recorded)
    goals = applicable_goal_reviews(plan, recorded, stage, year)
    return Assessment(plan_id, stage, year, moment, obs, values, rows, reviews, history, goals)


def save_assessment(a: Assessment, engine: Engine | None = None) -> int:
    """Store the verdicts; returns how many. The rows are made one at a time as they are
    stored, not all at once (≈ 30 MB for the 35,000 rows of Guilin at 4× the preset)."""
    engine = engine or warehouse()
    now = datetime.now(UTC)
    rows = (
        {
            "plan_id": a.plan_id,
            "number": r["number"],
            "area_code": r["area"],
            "stage": a.stage,
            "data_year": a.data_year,
            "as_of": a.as_of,
            "value": r["value"],
            "baseline": r["baseline"],
            "target": r["target"],
            "comparator": r["comparator"],
            "met": r["met"],
            "tau": r["tau"],
            "p": r["p"],
            "rho": r["rho"],
            "projection": r["projection"],
            "cagr": r["cagr"],
            "status": r["status"],
            "status_en": r["status_en"],
            "failing_units": r["failing_units"],
            "warnings": r["warnings"],
            "detail": {
                "baseline_year": r["baseline_year"],
                "target_text": r["target_text"],
                "judged_at": r["judged_at"],
                "strata": r["strata"],
                "baseline_source": r["baseline_source"],
                "projection_note": r["projection_note"],
                "inferred": r["inferred"],
                **{k: r.get(k) for k in PER_UNIT_KEYS},
                "review": r.get("review"),
                "override": r.get("override"),
            },
            "evaluated_at": now,
        }
        for r in a.rows
    )
    return save_evaluations(engine, a.plan_id, a.stage, a.data_year, rows)


def retry_on_transient(task, task_run, state) -> bool:
    """Retry only what may pass on a second try (file-system, network or database connection
    errors); a deterministic error fails the task at once, with its message."""
    from sqlalchemy.exc import OperationalError

    from warehouse.engine import WarehouseUnavailable

    try:
        state.result()
    except (OSError, OperationalError, WarehouseUnavailable):
        return True
    except Exception:  # noqa: BLE001 - any other error is deterministic: do not retry
        return False
    return False


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_on_transient)
def assess_task(plan_id: str, stage: str, data_year: int | None, as_of: datetime | None):
    return assess(plan_id, stage, data_year, as_of)


@task(retries=2, retry_delay_seconds=[2, 10], retry_condition_fn=retry_on_transient)
def save_assessment_task(a: Assessment) -> int:
    return save_assessment(a)


@flow(name="evaluate", log_prints=True)
def evaluate_flow(
    plans: list[str] | None = None,
    stages: list[str] | None = None,
    data_year: int | None = None,
    as_of: datetime | None = None,
) -> dict[str, dict[str, int]]:
    """Statuses per plan and stage; counts of each status are the flow's result. A plan whose
    evaluation fails does not stop the others: the flow fails at the end, naming each."""
    out: dict[str, dict[str, int]] = {}
    failed: list[str] = []
    for plan_id in plans or sorted(catalog().plans):
        for stage in stages or ["mid", "end"]:
            try:
                a = assess_task(plan_id, stage, data_year, as_of)
                save_assessment_task(a)
            except Exception as e:  # noqa: BLE001 - named below; the other plans go on
                failed.append(f"{plan_id}/{stage}: {type(e).__name__}: {e}")
                continue
            counts: dict[str, int] = {}
            for r in a.root_rows():
                counts[r["status"]] = counts.get(r["status"], 0) + 1
            out[f"{plan_id}/{stage}"] = counts
            # stored and counted: its rows may go before the next stage's are made (≈ 20 MB
            # for Guilin at 4× the preset)
            del a
    if failed:
        raise EvaluationFailed(
            f"评估失败 / evaluation failed（{len(failed)}）：" + "；".join(failed), out
        )
    return out


class EvaluationFailed(Exception):
    """Some plans' evaluations failed (the others were stored): ``statuses`` holds those."""

    def __init__(self, message: str, statuses: dict[str, dict[str, int]]):
        super().__init__(message, statuses)
        self.message, self.statuses = message, statuses

    def __str__(self) -> str:
        return self.message
