"""A plan's observations and indicators are loaded and computed once per warehouse state:
compute, quality and both evaluation stages share them; a load, or another moment, does not."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from healthplan.settings import REPO_ROOT
from tests.warehouse.helpers import load, obs_frame

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=30)
SAMPLE = REPO_ROOT / "samples" / "inbox" / "longhu"


@pytest.fixture
def warehouse(isolated, db_url, monkeypatch):
    """The longhu sample loaded at T0 into a fresh warehouse (SQLite and PostgreSQL)."""
    from flows import compute
    from flows.common import warehouse as configured
    from flows.ingest import ingest_paths
    from tests.conftest import _clear_caches

    monkeypatch.setenv("HEALTHPLAN_DATABASE_URL", db_url)
    _clear_caches()
    compute.forget_values()
    engine = configured()
    summary = ingest_paths([SAMPLE], engine=engine, now=T0, workers=1)
    assert summary.exit_code == 0
    yield engine
    compute.forget_values()


@pytest.fixture
def loads(monkeypatch) -> list[tuple]:
    """Every time observations are read from the warehouse (the real read still runs)."""
    from flows import compute

    calls: list[tuple] = []
    original = compute.load_observations

    def counted(engine, plan_id, as_of):
        calls.append((plan_id, as_of))
        return original(engine, plan_id, as_of)

    monkeypatch.setattr(compute, "load_observations", counted)
    return calls


def uncached(engine, plan_id: str, as_of):
    """The plan's observations read in full (every column, int64 numbers), narrowed to the
    flows' columns and int32 years and file ids afterwards, and the values computed from the
    full-width numbers."""
    from flows.common import catalog
    from flows.compute import OBSERVATION_COLUMNS, compute_values, plan_elements
    from warehouse.observations import observations_as_of

    areas = [a.code for a in catalog().areas(plan_id)]
    obs = observations_as_of(engine, as_of, elements=plan_elements(plan_id), areas=areas)
    obs = obs[OBSERVATION_COLUMNS]
    values = compute_values(plan_id, obs)
    return obs.astype({"year": "int32", "source_file_id": "int32"}), values


def revise_one_value(engine, at: datetime) -> dict:
    """A corrected file for one observation the plan uses, loaded at ``at``."""
    from flows.compute import plan_elements
    from warehouse.observations import observations_as_of

    obs = observations_as_of(engine, elements=plan_elements("longhu"))
    row = obs[obs["value"] > 0].iloc[0]
    frame = pd.DataFrame([{**row[["area_code", "year", "element", "stratum"]].to_dict(),
                           "value": row["value"] * 2, "source_rows": "2"}])  # fmt: skip
    load(engine, frame, at, name="corrected.csv")
    return row.to_dict()


def test_compute_quality_and_both_stages_load_once(warehouse, loads):
    from flows.compute import compute_plan
    from flows.evaluate import assess
    from flows.quality import check_plan

    values = compute_plan("longhu")
    issues = check_plan("longhu")
    mid, end = assess("longhu", "mid"), assess("longhu", "end")
    assert len(loads) == 1  # four moments, no load between them: one read

    obs, expected = uncached(warehouse, "longhu", None)
    pd.testing.assert_frame_equal(values, expected)
    pd.testing.assert_frame_equal(mid.values, expected)
    pd.testing.assert_frame_equal(end.observations, obs)
    assert issues  # the sample has its deliberate quality problems
    # only the columns the flows use are read; the report still finds the files behind them
    assert "source_rows" not in end.observations.columns
    assert end.source_file_ids() == sorted(set(obs["source_file_id"])) != []


def test_save_assessment_stores_every_row(warehouse):
    from flows.evaluate import assess, save_assessment
    from warehouse.results import load_evaluations

    a = assess("longhu", "mid")
    assert save_assessment(a) == len(a.rows) > 0
    stored = load_evaluations(warehouse, "longhu", "mid", a.data_year)
    assert sorted((r["number"], r["area_code"], r["status"]) for r in stored) == sorted(
        (r["number"], r["area"], r["status"]) for r in a.rows
    )


def test_a_new_load_is_seen_at_once(warehouse, loads):
    from flows.evaluate import assess

    before = assess("longhu", "mid")
    changed = revise_one_value(warehouse, T1)
    after = assess("longhu", "mid")
    assert len(loads) == 2
    pd.testing.assert_frame_equal(after.values, uncached(warehouse, "longhu", None)[1])
    key = ["area_code", "year", "element", "stratum"]
    o = after.observations.set_index(key)["value"]
    k = tuple(changed[c] for c in key)
    assert o[k] == 2 * before.observations.set_index(key)["value"][k]


def test_a_past_moment_gets_its_own_values_and_shares_them(warehouse, loads):
    from flows.evaluate import assess

    original = assess("longhu", "end")
    revise_one_value(warehouse, T1)
    then = assess("longhu", "end", as_of=T0 + timedelta(hours=1))
    later_then = assess("longhu", "end", as_of=T1 - timedelta(hours=1))
    now = assess("longhu", "end")
    # the past moments see what the warehouse held before the correction: the first result
    assert len(loads) == 2
    pd.testing.assert_frame_equal(then.values, original.values)
    pd.testing.assert_frame_equal(later_then.values, original.values)
    assert not now.observations.equals(original.observations)
    pd.testing.assert_frame_equal(now.values, uncached(warehouse, "longhu", None)[1])
    empty = assess("longhu", "end", as_of=T0 - timedelta(days=1))
    assert empty.observations.empty and len(loads) == 3


def test_callers_cannot_change_what_others_get(warehouse):
    from flows.compute import observations_and_values

    obs, values = observations_and_values(warehouse, "longhu", None)
    kept_obs, kept_values = obs.copy(), values.copy()
    obs.loc[:, "value"] = -1.0
    obs["extra"] = 1
    del values["numerator"]
    values.iloc[0, values.columns.get_loc("value")] = 123.0
    with pytest.raises(ValueError, match="read-only"):
        observations_and_values(warehouse, "longhu", None)[0]["value"].to_numpy()[0] = 5.0
    again_obs, again_values = observations_and_values(warehouse, "longhu", None)
    pd.testing.assert_frame_equal(again_obs, kept_obs)
    pd.testing.assert_frame_equal(again_values, kept_values)


def test_threads_asking_at_once_share_one_load(warehouse, loads):
    from flows.compute import observations_and_values

    start = threading.Barrier(3)
    got: list[pd.DataFrame] = []

    def ask():
        start.wait()
        got.append(observations_and_values(warehouse, "longhu", None)[1])

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(got) == 3
    for values in got[1:]:
        pd.testing.assert_frame_equal(values, got[0])


def test_only_a_couple_of_results_are_kept(warehouse, loads):
    from flows import compute

    for hours in (1, 2, 3):  # three different states: three loads of one row each
        load(warehouse, obs_frame(n_areas=1, base=hours), T1 + timedelta(hours=hours), f"{hours}")
        compute.observations_and_values(warehouse, "longhu", None)
    assert len(compute._RECENT._results) == 2
    compute.observations_and_values(warehouse, "longhu", T0 + timedelta(hours=1))
    assert len(loads) == 4


def test_observation_state_changes_exactly_when_what_is_visible_changes(db_url):
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade
    from warehouse.observations import observation_state

    engine = get_engine(db_url)
    upgrade(engine)
    empty = observation_state(engine)
    assert observation_state(engine, T0) == empty == (0, 0, None, None)
    load(engine, obs_frame(), T0)
    assert observation_state(engine, T0 - timedelta(seconds=1)) == empty
    first = observation_state(engine, T0 + timedelta(hours=1))
    assert observation_state(engine, T0 + timedelta(days=1)) == first == observation_state(engine)

    load(engine, obs_frame(base=5.0), T1)  # every value revised
    assert observation_state(engine, T0 + timedelta(hours=1)) == first  # the past is unchanged
    assert observation_state(engine) != first
    revised = observation_state(engine, T1)
    assert revised == observation_state(engine)

    load(engine, obs_frame(elements=("new",)), T0 + timedelta(hours=2))  # backdated, new keys
    assert observation_state(engine, T0 + timedelta(hours=1)) == first
    assert observation_state(engine, T0 + timedelta(hours=3)) != first
    assert observation_state(engine) != revised
