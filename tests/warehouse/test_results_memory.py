"""Indicator values are checked and stored the same whatever path the save takes: keys shown
unique by their order or hashed, one as_of for all rows or one per row."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from tests.warehouse.helpers import T0
from warehouse.results import _strictly_increasing, load_indicator_values, save_indicator_values


def _frame(keys) -> pd.DataFrame:
    number, area, year, stratum = zip(*keys, strict=True)
    return pd.DataFrame(
        {"number": number, "area_code": area, "year": year, "stratum": stratum,
         "value": np.arange(len(keys), dtype=float)}
    )  # fmt: skip


SORTED = [(1, "a", 2020, ""), (1, "a", 2020, "f"), (1, "a", 2021, ""), (1, "b", 2015, ""),
          (2, "a", 2015, "")]  # fmt: skip


def test_strictly_increasing_keys():
    key = ["number", "area_code", "year", "stratum"]
    assert _strictly_increasing(_frame(SORTED), key)
    assert not _strictly_increasing(_frame(SORTED[::-1]), key)
    assert not _strictly_increasing(_frame([SORTED[0], SORTED[0]]), key)
    with_missing = _frame(SORTED).astype({"area_code": object})
    with_missing.loc[2, "area_code"] = None
    assert not _strictly_increasing(with_missing, key)  # does not compare: not shown sorted


@pytest.mark.parametrize("keys", [[*SORTED, SORTED[-1]], [SORTED[2], *SORTED]])
def test_shared_keys_are_refused_sorted_or_not(engine, keys):
    with pytest.raises(ValueError, match="share a key"):
        save_indicator_values(engine, "p", _frame(keys), as_of=T0)
    assert load_indicator_values(engine, "p").empty


def test_one_as_of_for_all_rows_is_stored_as_the_argument_or_a_column_stores_it(engine):
    frame = _frame(SORTED)
    save_indicator_values(engine, "p", frame, as_of=T0)
    by_argument = load_indicator_values(engine, "p")
    save_indicator_values(engine, "p", frame.assign(as_of=T0))
    pd.testing.assert_frame_equal(
        load_indicator_values(engine, "p").drop(columns="computed_at"),
        by_argument.drop(columns="computed_at"),
    )
    later = T0 + timedelta(hours=1)
    mixed = frame.assign(as_of=[T0, later, None, T0, later])
    save_indicator_values(engine, "p", mixed, as_of=T0 - timedelta(days=1))
    stored = load_indicator_values(engine, "p")["as_of"].tolist()
    assert stored == [T0, later, T0 - timedelta(days=1), T0, later]
