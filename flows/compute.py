"""Compute each plan's indicators for every area and year: load observations, apply formulas, save."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from prefect import flow, task
from sqlalchemy.engine import Engine

from flows.common import catalog, warehouse
from transforms.indicators import indicator_values
from warehouse.observations import observations_as_of
from warehouse.results import save_indicator_values


def plan_elements(plan_id: str) -> list[str]:
    plan = catalog().plan(plan_id)
    return sorted({e for i in plan.indicators if i.formula for e in i.formula.elements()})


def load_observations(engine: Engine, plan_id: str, as_of: datetime | None) -> pd.DataFrame:
    areas = [a.code for a in catalog().areas(plan_id)]
    return observations_as_of(engine, as_of, elements=plan_elements(plan_id), areas=areas)


def compute_values(plan_id: str, observations: pd.DataFrame) -> pd.DataFrame:
    cat = catalog()
    return indicator_values(cat.plan(plan_id), cat.areas(plan_id), observations)


def save_values(engine: Engine, plan_id: str, values: pd.DataFrame, as_of: datetime) -> int:
    frame = values.assign(as_of=as_of, computed_at=datetime.now(UTC))
    save_indicator_values(engine, plan_id, frame)
    return len(frame)


def compute_plan(plan_id: str, as_of: datetime | None = None, engine: Engine | None = None):
    """Load → Process → Save for one plan; returns the indicator values it stored."""
    engine = engine or warehouse()
    moment = as_of or datetime.now(UTC)
    values = compute_values(plan_id, load_observations(engine, plan_id, moment))
    save_values(engine, plan_id, values, moment)
    return values


@task(retries=2, retry_delay_seconds=[2, 10])
def load_task(plan_id: str, as_of: datetime | None) -> pd.DataFrame:
    return load_observations(warehouse(), plan_id, as_of)


@task
def compute_task(plan_id: str, observations: pd.DataFrame) -> pd.DataFrame:
    return compute_values(plan_id, observations)


@task(retries=2, retry_delay_seconds=[2, 10])
def save_task(plan_id: str, values: pd.DataFrame, as_of: datetime) -> int:
    return save_values(warehouse(), plan_id, values, as_of)


@flow(name="compute", log_prints=True)
def compute_flow(plans: list[str] | None = None, as_of: datetime | None = None) -> dict[str, int]:
    """Indicator values for each plan, from the observations the warehouse holds as of a moment."""
    moment = as_of or datetime.now(UTC)
    stored = {}
    for plan_id in plans or sorted(catalog().plans):
        obs = load_task(plan_id, moment)
        values = compute_task(plan_id, obs)
        stored[plan_id] = save_task(plan_id, values, moment)
    return stored
