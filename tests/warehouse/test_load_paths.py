"""Every path of load_observations stores the same rows: all-new keys go straight into the table,
re-issued keys through the staged merge, and a mix falls back from one to the other."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from healthplan.settings import REPO_ROOT
from tests.warehouse.helpers import T0, big_frame, load, obs_frame, sha
from warehouse.observations import (
    LoadStats,
    counts,
    load_observations,
    observation_history,
    observations_as_of,
    register_source_file,
)


def _register(conn, name: str) -> int:
    file_id, _ = register_source_file(
        conn, checksum=sha(name), name=name, source="s", layout="v1", encoding="utf-8", rows_read=1
    )
    return file_id


def _key(frame: pd.DataFrame, i: int) -> list:
    return frame.loc[i, ["area_code", "year", "element"]].tolist()


def test_first_load_stores_every_column(engine):
    frame = obs_frame(n_areas=4)
    frame.loc[3, "source_rows"] = None
    file_id, stats = load(engine, frame, T0, name="first.csv")
    assert stats == LoadStats(inserted=len(frame), revised=0, unchanged=0)
    now = observations_as_of(engine)
    expected = frame.sort_values(["area_code", "year", "element"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        now[["area_code", "year", "element", "stratum", "value"]],
        expected[["area_code", "year", "element", "stratum", "value"]],
    )
    assert now["source_rows"].tolist() == expected["source_rows"].tolist()
    assert (now["source_file_id"] == file_id).all() and (now["revision"] == 1).all()
    assert (now["valid_from"] == pd.Timestamp(T0)).all()


def test_reload_identical_then_changed(engine):
    frame = obs_frame()
    load(engine, frame, T0, name="a.csv")
    snapshot = observations_as_of(engine)
    _, stats = load(engine, frame, T0 + timedelta(days=1), name="again.csv")
    assert stats == LoadStats(inserted=0, revised=0, unchanged=len(frame))
    pd.testing.assert_frame_equal(observations_as_of(engine), snapshot)
    changed = frame.assign(value=frame["value"] + 1)
    t2 = T0 + timedelta(days=2)
    second_id, stats = load(engine, changed, t2, name="changed.csv")
    assert stats == LoadStats(inserted=0, revised=len(frame), unchanged=0)
    now = observations_as_of(engine)
    assert (now["revision"] == 2).all() and (now["source_file_id"] == second_id).all()
    pd.testing.assert_frame_equal(observations_as_of(engine, t2 - timedelta(seconds=1)), snapshot)


@pytest.mark.parametrize("batch", [10_000, 4])
def test_mixed_load_whose_sampled_keys_are_new(engine, batch, monkeypatch):
    # the first, middle and last keys are new, so the load starts on the all-new path and has
    # to fall back to the merge for the two keys in between that exist already (SQLite inserts
    # a batch of rows a statement: with 4, the existing keys fall in two of three batches)
    import warehouse.observations as wo

    monkeypatch.setattr(wo, "INSERT_BATCH", batch)
    frame = obs_frame(n_areas=3)  # 12 rows; sampled: 0, 6, 11
    old = frame.loc[[2, 9]].copy()
    first_id, _ = load(engine, old, T0, name="old.csv")
    mixed = frame.copy()
    mixed.loc[9, "value"] = 555.0
    mixed.loc[9, "source_rows"] = "99"
    t1 = T0 + timedelta(days=1)
    second_id, stats = load(engine, mixed, t1, name="mixed.csv")
    assert stats == LoadStats(inserted=10, revised=1, unchanged=1)
    assert counts(engine)["observation"] == 13
    now = observations_as_of(engine).set_index(["area_code", "year", "element"])
    assert now.loc[tuple(_key(frame, 2)), "source_file_id"] == first_id  # unchanged: untouched
    assert now.loc[tuple(_key(frame, 9)), "value"] == 555.0
    history = observation_history(engine, *_key(frame, 9))
    assert history["revision"].tolist() == [1, 2]
    assert history["source_rows"].tolist() == [frame.loc[9, "source_rows"], "99"]
    assert history["file_name"].tolist() == ["old.csv", "mixed.csv"]
    assert (observations_as_of(engine)["source_file_id"] == second_id).sum() == 11
    assert len(observations_as_of(engine, T0)) == 2


def test_backwards_history_in_a_mixed_load_writes_nothing(engine):
    frame = obs_frame(n_areas=3)
    load(engine, frame.loc[[9]], T0, name="old.csv")
    before = observations_as_of(engine)
    earlier = frame.assign(value=frame["value"] + 1)
    with engine.begin() as conn:
        file_id = _register(conn, "earlier.csv")
        with pytest.raises(ValueError, match="earlier"):
            load_observations(conn, file_id, earlier, T0 - timedelta(days=1))
        # the caller's transaction goes on: none of the new keys were kept, the next load works
        assert conn.exec_driver_sql("SELECT count(*) FROM observation").scalar() == 1
        stats = load_observations(conn, file_id, earlier, T0 + timedelta(days=1))
    assert stats == LoadStats(inserted=11, revised=1, unchanged=0)
    assert len(observations_as_of(engine, T0)) == 1
    pd.testing.assert_frame_equal(observations_as_of(engine, T0), before)


def test_duplicates_in_a_file_of_new_keys_raise(engine):
    frame = pd.concat([obs_frame(), obs_frame().iloc[[5]]], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate"):
        load(engine, frame, T0)
    assert counts(engine)["observation"] == 0


def test_several_staged_loads_in_one_transaction(engine):
    frame = obs_frame()
    with engine.begin() as conn:
        file_id = _register(conn, "x.csv")
        results = [
            load_observations(
                conn, file_id, frame.assign(value=frame["value"] + k), T0 + timedelta(hours=k)
            )
            for k in range(4)
        ]
        same = frame.head(3).assign(value=frame["value"].head(3) + 3)
        results.append(load_observations(conn, file_id, same, T0 + timedelta(hours=5)))
    assert results[0] == LoadStats(12, 0, 0)
    assert all(r == LoadStats(0, 12, 0) for r in results[1:4])
    assert results[4] == LoadStats(0, 0, 3)
    assert (observations_as_of(engine)["revision"] == 4).all()
    for k in range(4):
        values = observations_as_of(engine, T0 + timedelta(hours=k))["value"]
        assert sorted(values) == sorted(frame["value"] + k)


def test_staged_loads_in_consecutive_transactions_on_one_connection(engine):
    # PostgreSQL keeps its stage table for the connection: each transaction sees only its rows
    frame = obs_frame()
    load(engine, frame, T0, name="a.csv")
    with engine.connect() as conn:
        for k in range(1, 4):
            with conn.begin():
                file_id = _register(conn, f"r{k}.csv")
                part = frame.iloc[: 3 * k].assign(value=frame["value"].iloc[: 3 * k] + k)
                stats = load_observations(conn, file_id, part, T0 + timedelta(days=k))
            assert stats == LoadStats(0, 3 * k, 0)
    assert counts(engine)["observation"] == 12 + 3 + 6 + 9


@pytest.mark.postgres
def test_postgresql_merge_probes_the_index_whatever_the_statistics(postgres_url):
    """The staged merge must not hash-join every current row, even on a never-analyzed table."""
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade
    from warehouse.observations import _SQL, _prepare, _stage

    engine = get_engine(postgres_url)
    upgrade(engine)
    load(engine, big_frame(20_000), T0, name="a.csv")
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM pg_statistic WHERE starelid = 'observation'::regclass")
        _stage(conn, _prepare(big_frame(5_000, base=2.0)))
        for name in ("tally", "insert_new", "revised"):
            statement = _SQL["postgresql"][name]
            sql = str(statement.compile(dialect=conn.dialect))
            plan = "\n".join(
                r[0]
                for r in conn.exec_driver_sql(
                    "EXPLAIN " + sql.replace("CREATE TEMPORARY TABLE _obs_revised AS ", ""),
                    {"t": T0, "file_id": 1},
                )
            )
            assert "Hash" not in plan and "Seq Scan on observation" not in plan, (name, plan)
            assert "uq_observation_current" in plan, (name, plan)
        conn.rollback()


@pytest.mark.postgres
def test_postgresql_statistics_follow_growth(postgres_url):
    """ANALYZE once after loads (an ingest run's) that grew the table by more than half, not
    after smaller ones, and not file by file."""
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade
    from warehouse.observations import refresh_statistics

    engine = get_engine(postgres_url)
    upgrade(engine)

    def known() -> float:
        with engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'observation'::regclass"
            ).scalar()

    never = known()
    _, stats = load(engine, big_frame(1_000), T0, name="a.csv")
    assert known() == never  # a load alone leaves them
    assert refresh_statistics(engine, stats.inserted) and known() == 1_000
    _, stats = load(engine, big_frame(1_400), T0 + timedelta(days=1), name="b.csv")
    assert stats == LoadStats(400, 0, 1_000)
    assert not refresh_statistics(engine, stats.inserted) and known() == 1_000
    _, stats = load(engine, big_frame(2_400), T0 + timedelta(days=2), name="c.csv")
    assert refresh_statistics(engine, stats.inserted) and known() == 2_400
    assert not refresh_statistics(engine, 0)


def test_an_ingest_run_refreshes_the_statistics_once(postgres_url, tmp_path, monkeypatch):
    import warehouse.observations as wo
    from flows.ingest import ingest_paths, parse_context
    from healthplan.definitions import load_catalog
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade

    engine = get_engine(postgres_url)
    upgrade(engine)
    calls = []
    original = wo.refresh_statistics
    monkeypatch.setattr(wo, "refresh_statistics", lambda b, n: calls.append(n) or original(b, n))
    plans = REPO_ROOT / "plans"
    context = parse_context(load_catalog(plans), plans / "sources")
    summary = ingest_paths(
        [REPO_ROOT / "samples" / "inbox" / "longhu" / "2019"],
        engine=engine,
        context=context,
        workers=1,
    )
    added = sum(f.inserted for f in summary.files)
    assert calls == [added] and added > 0
    with engine.connect() as conn:
        assert (
            conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'observation'::regclass"
            ).scalar()
            == counts(engine)["observation"]
        )
