"""Rows of a judged plan hold their keys in one shared table: the same dicts, less memory."""

import sys

from tests.transforms.test_assessment import ROW_KEYS, _values
from transforms.assessment import ValueLookup, compact


def test_compact_rows_are_equal_dicts_of_their_own_and_smaller():
    plain = [{key: [i] if key == "warnings" else i for key in ROW_KEYS} for i in range(3)]
    rows = [compact(r) for r in plain]
    assert rows == plain and all(type(r) is dict and list(r) == ROW_KEYS for r in rows)
    assert sys.getsizeof(rows[1]) < sys.getsizeof(plain[1]) / 2
    rows[0]["status"] = "改"
    rows[0]["extra"] = 1
    del rows[0]["plan"]
    assert rows[1] == plain[1] and list(rows[2]) == ROW_KEYS
    assert compact({"a": 1, "b": 2}) == {"a": 1, "b": 2}  # other keys: a table of their own


def test_value_lookup_series_oldest_first():
    lookup = ValueLookup(_values().sample(frac=1, random_state=1))
    series = lookup.series(1, "T1")
    assert list(series) == [2015, 2016, 2017, 2018]
    assert series == {y: lookup.get(1, "T1", y) for y in series}
    assert lookup.series(1, "nowhere") == {} and lookup.get(2, "T1", 2015) is None


def test_value_lookup_read_a_few_rows_at_a_time_holds_every_value(monkeypatch):
    from transforms import assessment

    monkeypatch.setattr(assessment, "LOOKUP_CHUNK", 2)
    values = _values()
    values.loc[values.index[1], "value"] = float("nan")
    lookup = ValueLookup(values, years={2015, 2018})
    held = 0
    for r in values.itertuples():
        wanted = r.year in (2015, 2018) and r.value == r.value
        assert lookup.get(r.number, r.area_code, r.year, r.stratum) == (r.value if wanted else None)
        held += wanted
    assert held > 2 * assessment.LOOKUP_CHUNK
