"""Helpers shared by the warehouse modules."""

from __future__ import annotations

import gc

import pytest

from warehouse._sql import clean, collector_paused


def test_collector_paused_restores_the_collector():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_clean_keeps_its_answers_on_the_fast_path():
    import numpy as np
    import pandas as pd

    cases = [
        (None, None),
        (float("nan"), None),
        (1.5, 1.5),
        (float("inf"), float("inf")),
        ("x", "x"),
        (3, 3),
        (True, True),
        ([1], [1]),
        (np.float64(2.5), 2.5),
        (np.float64("nan"), None),
        (np.int64(4), 4),
        (np.bool_(True), True),
        (pd.NA, None),
        (pd.NaT, None),
    ]
    for value, expected in cases:
        got = clean(value)
        assert got == expected and type(got) is type(expected), (value, got)
