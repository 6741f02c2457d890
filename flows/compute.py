"""Compute each plan's indicators for every area and year: load observations, apply formulas, save.

One night loads a plan's observations and computes its indicators for compute, quality and each
evaluation stage; ``observations_and_values`` does it once and hands the same result to the
others as long as the warehouse holds the same observations for that moment.
"""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import lru_cache

import pandas as pd
from prefect import flow, task
from sqlalchemy.engine import Engine

from flows.common import catalog, warehouse
from healthplan.definitions import Catalog
from transforms.indicators import indicator_values
from warehouse.observations import observation_state, observations_as_of
from warehouse.results import save_indicator_values


def plan_elements(plan_id: str) -> list[str]:
    plan = catalog().plan(plan_id)
    return sorted(plan.elements_read())


# What compute, quality, evaluate and the report read of a plan's observations: not the
# source rows, revision or time of each (the source rows alone are half the frame).
OBSERVATION_COLUMNS = ["area_code", "year", "element", "stratum", "value", "source_file_id"]


def load_observations(engine: Engine, plan_id: str, as_of: datetime | None) -> pd.DataFrame:
    """The plan's observations as of ``as_of``: its formulas' elements in its areas, only the
    columns the flows use (OBSERVATION_COLUMNS), year and source_file_id as int32 (the frame
    is kept for the night's other steps)."""
    areas = [a.code for a in catalog().areas(plan_id)]
    return observations_as_of(
        engine,
        as_of,
        elements=plan_elements(plan_id),
        areas=areas,
        columns=OBSERVATION_COLUMNS,
        narrow=True,
    )


def compute_values(plan_id: str, observations: pd.DataFrame) -> pd.DataFrame:
    cat = catalog()
    return indicator_values(cat.plan(plan_id), cat.areas(plan_id), observations)


def observations_and_values(
    engine: Engine, plan_id: str, as_of: datetime | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan's observations as of ``as_of`` and its indicator values, loaded and computed once
    for as long as the warehouse holds the same observations at that moment (two moments with no
    load between them share them). The frames are copy-on-write views of the kept ones: a
    caller's changes stay its own.
    """
    key = (
        id(engine),
        str(engine.url),
        plan_id,
        _catalog_checksum(catalog()),
        observation_state(engine, as_of),
    )

    def load_and_compute() -> tuple[pd.DataFrame, pd.DataFrame]:
        observations = load_observations(engine, plan_id, as_of)
        values = compute_values(plan_id, observations)
        freed_memory_returned()  # the computation's own arrays are gone: kept frames stay
        # a load committed while reading: keep the result only under the state it came from
        if observation_state(engine, as_of) != key[-1]:
            raise _Changed((observations, values))
        return observations, values

    observations, values = _RECENT.get(key, load_and_compute)
    return observations.copy(deep=False), values.copy(deep=False)


def freed_memory_returned() -> bool:
    """Whether the C allocator gave the memory freed so far back to the system (glibc only).

    glibc keeps what a computation freed between the blocks still in use, for later arrays;
    an evaluation goes on to make mostly small Python objects, which do not reuse it, so most
    of it stayed resident (Guilin at 4× the preset: ≈ 11 MB, ≈ 4 MB at the evaluation's peak)."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):  # no such function, or no C library to ask
        return None


def forget_values() -> None:
    """Drop the kept observations and values (memory, or a warehouse changed behind our back)."""
    _RECENT.clear()


@lru_cache(maxsize=4)
def _catalog_checksum(cat: Catalog) -> str:
    return cat.checksum()


class _Changed(Exception):  # noqa: N818 - a result, not an error
    """A result to hand back but not to keep."""

    def __init__(self, result):
        super().__init__("observations changed while loading")
        self.result = result


class _Recent:
    """The last few results by key; a key being computed is computed once, its other callers wait.

    Thread-safe: Prefect runs tasks in threads, and the pipeline evaluates both stages of a plan
    at the same time.
    """

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()
        self._results: OrderedDict[Hashable, Future] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], tuple]) -> tuple:
        with self._lock:
            result = self._results.get(key)
            mine = result is None
            if mine:
                result = self._results[key] = Future()
                while len(self._results) > self.size:
                    self._results.popitem(last=False)
            else:
                self._results.move_to_end(key)
        if not mine:
            try:
                return result.result()
            except _Changed as e:
                return e.result
            except Exception:  # noqa: BLE001 - its maker failed: try on our own
                return _made(make)
        try:
            value = make()
        except BaseException as e:
            with self._lock:
                if self._results.get(key) is result:
                    del self._results[key]
            result.set_exception(e)
            if isinstance(e, _Changed):
                return e.result
            raise
        result.set_result(value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._results.clear()


def _made(make: Callable[[], tuple]) -> tuple:
    """``make``'s result, kept or not."""
    try:
        return make()
    except _Changed as e:
        return e.result


_RECENT = _Recent(size=2)  # a couple of plans: at 4× a plan's observations and values ≈ 150 MB


def save_values(engine: Engine, plan_id: str, values: pd.DataFrame, as_of: datetime) -> int:
    """Store the plan's values as computed from the observations as of ``as_of`` (given as
    the argument, not as two more columns of times: ≈ 3 MB for Guilin at 4× the preset)."""
    return save_indicator_values(engine, plan_id, values, as_of=as_of)


def compute_plan(plan_id: str, as_of: datetime | None = None, engine: Engine | None = None):
    """Load → Process → Save for one plan; returns the indicator values it stored."""
    engine = engine or warehouse()
    moment = as_of or datetime.now(UTC)
    _, values = observations_and_values(engine, plan_id, moment)
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
