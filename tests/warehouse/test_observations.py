"""Observation loading keeps a revision history and answers as-of queries."""

from __future__ import annotations

from datetime import timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from tests.warehouse.helpers import T0, load, obs_frame, sha
from warehouse.observations import (
    LoadStats,
    counts,
    finish_source_file,
    load_observations,
    observation_history,
    observations_as_of,
    quarantined,
    register_source_file,
    source_files,
    write_quarantine,
)


def test_first_load_inserts_everything(engine):
    frame = obs_frame()
    file_id, stats = load(engine, frame, T0)
    assert stats == LoadStats(inserted=len(frame), revised=0, unchanged=0)
    now = observations_as_of(engine)
    assert len(now) == len(frame)
    assert (now["revision"] == 1).all() and (now["source_file_id"] == file_id).all()
    assert (now["valid_from"] == pd.Timestamp(T0)).all()
    assert list(now.columns) == [
        "area_code",
        "year",
        "element",
        "stratum",
        "value",
        "source_file_id",
        "source_rows",
        "revision",
        "valid_from",
    ]
    files = source_files(engine)
    assert files.loc[0, "status"] == "loaded" and files.loc[0, "rows_loaded"] == len(frame)


def test_same_checksum_again_changes_nothing(engine):
    frame = obs_frame()
    load(engine, frame, T0, checksum=sha("file"))
    before = counts(engine)
    with engine.begin() as conn:
        file_id, already = register_source_file(
            conn,
            checksum=sha("file"),
            name="renamed.csv",
            source="x",
            layout="v2",
            encoding="gbk",
            rows_read=1,
        )
    assert already
    assert counts(engine) == before
    assert source_files(engine).loc[0, "name"] == "f.csv"


def test_reloading_the_same_values_changes_nothing(engine):
    frame = obs_frame()
    load(engine, frame, T0, name="a.csv")
    before = counts(engine)
    snapshot = observations_as_of(engine)
    # another file with the same numbers (plus float noise) is registered but adds no rows
    noisy = frame.assign(value=frame["value"] * (1 + 1e-13))
    _, stats = load(engine, noisy, T0 + timedelta(days=1), name="b.csv")
    assert stats == LoadStats(inserted=0, revised=0, unchanged=len(frame))
    after = counts(engine)
    assert after["observation"] == before["observation"]
    assert after["source_file"] == before["source_file"] + 1
    pd.testing.assert_frame_equal(observations_as_of(engine), snapshot)


def test_a_changed_value_opens_a_revision(engine):
    frame = obs_frame()
    first_id, _ = load(engine, frame, T0, name="2020.csv")
    corrected = frame.copy()
    corrected.loc[0, "value"] = 999.0
    corrected.loc[0, "source_rows"] = "7"
    t1 = T0 + timedelta(days=30)
    second_id, stats = load(engine, corrected, t1, name="2020-corrected.csv")
    assert stats == LoadStats(inserted=0, revised=1, unchanged=len(frame) - 1)
    assert counts(engine)["observation"] == len(frame) + 1

    key = frame.loc[0, ["area_code", "year", "element"]].tolist()
    history = observation_history(engine, *key)
    assert history["revision"].tolist() == [1, 2]
    assert history["value"].tolist() == [frame.loc[0, "value"], 999.0]
    assert history["file_name"].tolist() == ["2020.csv", "2020-corrected.csv"]
    assert history.loc[0, "valid_to"] == pd.Timestamp(t1) and pd.isna(history.loc[1, "valid_to"])

    def value_at(moment):
        df = observations_as_of(engine, moment, areas=[key[0]], years=[key[1]], elements=[key[2]])
        assert len(df) == 1
        return df.iloc[0]

    before = value_at(t1 - timedelta(microseconds=1))
    assert before["value"] == frame.loc[0, "value"] and before["source_file_id"] == first_id
    at = value_at(t1)
    assert at["value"] == 999.0 and at["revision"] == 2 and at["source_file_id"] == second_id
    assert at["source_rows"] == "7"
    assert value_at(t1 + timedelta(days=1))["value"] == 999.0
    assert observations_as_of(engine, T0 - timedelta(seconds=1)).empty
    # as-of with another time zone means the same instant
    shanghai = timezone(timedelta(hours=8))
    assert value_at(t1.astimezone(shanghai))["value"] == 999.0
    # a third value revises again
    third = corrected.copy()
    third.loc[0, "value"] = 1000.0
    _, stats = load(engine, third, t1 + timedelta(days=1), name="third.csv")
    assert stats.revised == 1
    assert observation_history(engine, *key)["revision"].tolist() == [1, 2, 3]


def test_new_keys_and_revisions_in_one_load(engine):
    load(engine, obs_frame(n_areas=2), T0, name="a.csv")
    bigger = obs_frame(n_areas=3, base=2.0)  # all old keys change, one new area
    _, stats = load(engine, bigger, T0 + timedelta(days=1), name="b.csv")
    assert stats == LoadStats(inserted=4, revised=8, unchanged=0)
    assert len(observations_as_of(engine)) == 12
    assert len(observations_as_of(engine, T0)) == 8


def test_strata_are_separate_keys(engine):
    frame = pd.DataFrame(
        {
            "area_code": ["1", "1", "1"],
            "year": [2020, 2020, 2020],
            "element": ["beds", "beds", "beds"],
            "stratum": [None, "public", "private"],
            "value": [10, 6, 4],
            "source_rows": ["2", "3", "4"],
        }
    )
    load(engine, frame, T0)
    now = observations_as_of(engine)
    assert sorted(now["stratum"]) == ["", "private", "public"]
    assert observation_history(engine, "1", 2020, "beds", "public")["value"].tolist() == [6.0]


def test_duplicate_keys_raise(engine):
    frame = pd.concat([obs_frame(), obs_frame().head(2)], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate"):
        load(engine, frame, T0)
    assert counts(engine)["observation"] == 0 and counts(engine)["source_file"] == 0


@pytest.mark.parametrize(
    "column, bad, message",
    [
        ("value", np.nan, "finite value"),
        ("value", np.inf, "finite value"),
        ("year", 2020.5, "whole number"),
        ("area_code", None, "empty area_code"),
    ],
)
def test_invalid_frames_raise(engine, column, bad, message):
    frame = obs_frame()
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = bad
    with pytest.raises(ValueError, match=message):
        load(engine, frame, T0)


def test_missing_columns_and_naive_times_raise(engine):
    with engine.begin() as conn, pytest.raises(ValueError, match="lacks columns"):
        load_observations(conn, 1, obs_frame().drop(columns="value"), T0)
    with engine.begin() as conn, pytest.raises(ValueError, match="naive"):
        load_observations(conn, 1, obs_frame(), T0.replace(tzinfo=None))


def test_history_cannot_move_backwards(engine):
    load(engine, obs_frame(), T0, name="a.csv")
    with pytest.raises(ValueError, match="earlier"):
        load(engine, obs_frame(base=5.0), T0 - timedelta(days=1), name="b.csv")
    assert counts(engine)["observation"] == len(obs_frame())


def test_rolled_back_transaction_leaves_tables_unchanged(engine):
    load(engine, obs_frame(n_areas=2), T0, name="a.csv")
    before = counts(engine)
    snapshot = observations_as_of(engine)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), engine.begin() as conn:
        file_id, _ = register_source_file(
            conn,
            checksum=sha("b"),
            name="b.csv",
            source="s",
            layout="v1",
            encoding="utf-8",
            rows_read=1,
        )
        stats = load_observations(conn, file_id, obs_frame(n_areas=3, base=7.0), T0 + timedelta(1))
        assert stats.inserted == 4 and stats.revised == 8
        write_quarantine(conn, [{"file_name": "b.csv", "reason": "x", "source_file_id": file_id}])
        raise Boom
    assert counts(engine) == before
    pd.testing.assert_frame_equal(observations_as_of(engine), snapshot)
    # temp tables went with the transaction: the next load works on a fresh connection too
    _, stats = load(engine, obs_frame(n_areas=3, base=7.0), T0 + timedelta(days=2), name="c.csv")
    assert stats.revised == 8


def test_two_loads_in_one_transaction(engine):
    with engine.begin() as conn:
        fid, _ = register_source_file(
            conn,
            checksum=sha("x"),
            name="x.csv",
            source="s",
            layout="v1",
            encoding="utf-8",
            rows_read=24,
        )
        a = load_observations(conn, fid, obs_frame(), T0)
        b = load_observations(conn, fid, obs_frame(base=3.0), T0 + timedelta(hours=1))
    assert a.inserted == 12 and b.revised == 12
    assert len(observations_as_of(engine, T0)) == 12


def test_failed_file_can_be_loaded_again(engine):
    with engine.begin() as conn:
        fid, _ = register_source_file(
            conn,
            checksum=sha("f"),
            name="f.csv",
            source="s",
            layout="v1",
            encoding="utf-8",
            rows_read=5,
        )
        finish_source_file(conn, fid, 0, 5, "failed")
    with engine.begin() as conn:
        again, already = register_source_file(
            conn,
            checksum=sha("f"),
            name="f.csv",
            source="s",
            layout="v2",
            encoding="utf-8",
            rows_read=5,
        )
    assert again == fid and not already
    assert source_files(engine, [sha("f")]).loc[0, "status"] == "received"


def test_quarantine_rows_are_written(engine):
    with engine.begin() as conn:
        fid, _ = register_source_file(
            conn,
            checksum=sha("q"),
            name="q.csv",
            source="s",
            layout="v1",
            encoding="gbk",
            rows_read=3,
        )
        written = write_quarantine(
            conn,
            [
                {
                    "source_file_id": fid,
                    "file_name": "q.csv",
                    "checksum": sha("q"),
                    "row": 3,
                    "field": "value",
                    "value": "n/a",
                    "reason": "不是数字 not a number",
                },
                {"file_name": "q.csv", "row": np.int64(5), "value": 12.5, "reason": "negative"},
            ],
        )
        finish_source_file(conn, fid, 1, 2, "partial")
    assert written == 2
    rows = quarantined(engine)
    assert rows["reason"].tolist() == ["不是数字 not a number", "negative"]
    assert rows["row"].tolist() == [3, 5] and rows["value"].tolist() == ["n/a", "12.5"]
    assert len(quarantined(engine, fid)) == 1
    with engine.begin() as conn, pytest.raises(ValueError, match="unknown keys"):
        write_quarantine(conn, [{"file_name": "q.csv", "reason": "x", "colour": "red"}])


def test_quarantined_rows_of_several_files_in_the_order_written(engine, monkeypatch):
    """Files' rejected rows, however many ids are asked for (bound a few per statement)."""
    import warehouse.observations as observations

    ids = []
    with engine.begin() as conn:
        for k in range(5):
            fid, _ = register_source_file(conn, checksum=sha(f"f{k}"), name=f"f{k}.csv",
                                          source="s", layout="v1", encoding="utf-8", rows_read=9)  # fmt: skip
            ids.append(fid)
        write_quarantine(conn, [{"source_file_id": ids[k % 5], "file_name": f"f{k % 5}.csv",
                                 "row": k, "reason": "x"} for k in range(10)])  # fmt: skip
    monkeypatch.setattr(observations, "IDS_PER_STATEMENT", 2)
    rows = quarantined(engine, file_ids=[ids[4], ids[0], ids[2], 10_000])
    assert rows["row"].tolist() == [0, 2, 4, 5, 7, 9]
    assert set(rows["source_file_id"]) == {ids[0], ids[2], ids[4]}
    assert quarantined(engine, file_ids=[]).empty
    latest = quarantined(engine, file_ids=ids, latest=3)
    assert latest["row"].tolist() == [7, 8, 9]
    assert quarantined(engine, name_contains="f1", latest=1)["row"].tolist() == [6]
    assert quarantined(engine, name_contains="%").empty  # a pattern character is a character
    assert quarantined(engine, latest=0).empty
    assert len(quarantined(engine, file_ids=ids[:2], latest=50)) == 4  # fewer than asked for


def test_empty_frame_is_a_no_op(engine):
    _, stats = load(engine, obs_frame().head(0), T0)
    assert stats == LoadStats(0, 0, 0)
    empty = observations_as_of(engine)
    assert empty.empty and str(empty["valid_from"].dt.tz) == "UTC"
    assert list(empty.columns)[:4] == ["area_code", "year", "element", "stratum"]


def test_as_of_filters(engine):
    load(engine, obs_frame(), T0)
    assert set(observations_as_of(engine, elements=["pop"])["element"]) == {"pop"}
    assert len(observations_as_of(engine, areas="110100", years=[2020])) == 2
    assert observations_as_of(engine, elements=[]).empty


def test_narrow_read_holds_whole_numbers_as_int32_and_the_same_rows(engine):
    load(engine, obs_frame(), T0)
    revised = obs_frame().assign(value=lambda f: f["value"] + 1).head(3)
    load(engine, revised, T0 + timedelta(days=1), name="b.csv")
    for moment in (None, T0 + timedelta(hours=1)):
        wide = observations_as_of(engine, moment)
        narrow = observations_as_of(engine, moment, narrow=True)
        whole = ["year", "source_file_id", "revision"]
        assert narrow[whole].dtypes.tolist() == ["int32"] * 3
        assert wide[whole].dtypes.tolist() == ["int64"] * 3
        pd.testing.assert_frame_equal(narrow, wide.astype(dict.fromkeys(whole, "int32")))
    some = observations_as_of(engine, columns=["value", "year"], narrow=True)
    assert some.dtypes.tolist() == ["int32", "float64"]
