"""Observations read with only some columns are the full read narrowed to them, as of any
moment (current rows and closed rows merged in key order)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from tests.warehouse.helpers import T0, load, obs_frame
from warehouse.observations import ASOF_COLUMNS, KEY, observations_as_of

MOMENTS = (None, T0, T0 + timedelta(hours=12), T0 + timedelta(days=2))


@pytest.fixture
def revised(engine):
    """Observations loaded at T0, a third of them revised a day later, some keys added."""
    frame = obs_frame(n_areas=5, years=(2019, 2020, 2021))
    frame.loc[::4, "stratum"] = "female"
    load(engine, frame, T0, name="a.csv")
    changed = frame.assign(value=frame["value"] + 1).iloc[::3]
    added = obs_frame(n_areas=2, years=(2022,), elements=("nurses",))
    load(engine, pd.concat([changed, added]), T0 + timedelta(days=1), name="b.csv")
    return engine


@pytest.mark.parametrize(
    "columns",
    [
        ["value", "source_file_id", "area_code", "year", "element", "stratum"],
        ["valid_from", "revision"],  # without the key, by which the rows are still ordered
        ASOF_COLUMNS,
    ],
)
def test_some_columns_are_the_full_read_narrowed(revised, columns):
    order = [c for c in ASOF_COLUMNS if c in columns]
    for moment in MOMENTS:
        full = observations_as_of(revised, moment)
        got = observations_as_of(revised, moment, columns=columns)
        assert list(got.columns) == order
        pd.testing.assert_frame_equal(got, full[order])


def test_rows_visible_as_of_a_moment_come_in_key_order(revised):
    """Between the two loads the closed rows are the ones visible; after, the current ones."""
    before = observations_as_of(revised, T0 + timedelta(hours=12), columns=[*KEY, "revision"])
    after = observations_as_of(revised, T0 + timedelta(days=2), columns=[*KEY, "revision"])
    assert (before["revision"] == 1).all() and (after["revision"] == 2).any()
    assert len(after) == len(before) + 2  # the added keys
    for frame in (before, after):
        keys = list(frame[KEY].itertuples(index=False))
        assert keys == sorted(keys)


def test_unknown_or_no_columns_are_refused(engine):
    with pytest.raises(ValueError, match="source_row"):
        observations_as_of(engine, columns=["value", "source_row"])
    with pytest.raises(ValueError, match="columns"):
        observations_as_of(engine, columns=[])
