"""Quality checks on tiny frames: each must flag the planted problem and nothing else."""

import numpy as np
import pandas as pd
import pytest

from healthplan.definitions import DataElement
from healthplan.layouts import Layout
from tests.transforms.test_indicators import AREAS, plan_with
from transforms.quality import (
    baseline_reconciliation,
    impossible_values,
    missing_values,
    modified_z_scores,
    parts_vs_total,
    printed_tolerance,
    quarantined_rows,
    rejected_elements,
    reported_vs_recomputed,
    rows_text,
    year_on_year_jumps,
)


def vals(rows):
    return pd.DataFrame(rows, columns=["number", "area_code", "year", "stratum", "value"])


IND = {
    "number": 2,
    "name_zh": "婴儿死亡率",
    "unit": "‰",
    "direction": "lower",
    "baseline": {"value": 0.9, "year": 2015, "text": "0.9"},
    "text_figures": [{"value": 1.01, "year": 2015, "sentence": "婴儿死亡率1.01‰。"}],
    "formula": {"kind": "ratio", "numerator": ["d"], "denominator": ["b"], "factor": 1000},
}


def test_printed_tolerance_follows_the_printed_decimals():
    assert printed_tolerance(0.9, "0.9") > 0.05 - 1e-12
    assert printed_tolerance(68.93, "68.93") < 0.0051
    assert printed_tolerance(95, "＞95") > 0.49


def test_baseline_reconciliation_lists_table_text_and_warehouse_side_by_side():
    plan = plan_with(IND)
    out = baseline_reconciliation(plan, vals([(2, "C", 2015, "", 0.93)]))
    assert len(out) == 1
    row = out[0]
    assert row["severity"] == "warning"
    assert row["data"]["table"] == 0.9 and row["data"]["warehouse"] == 0.93
    assert row["data"]["text_figures"][0]["value"] == 1.01
    assert "1.01" in row["detail"] and "0.9" in row["detail"]
    # within rounding of the printed 0.9 and no text figure → consistent
    ok = baseline_reconciliation(
        plan_with({**IND, "text_figures": []}), vals([(2, "C", 2015, "", 0.94)])
    )
    assert ok[0]["severity"] == "info"


def test_reported_rate_is_checked_against_its_parts():
    elements = {
        "d": DataElement(code="d", name_zh="死亡", name_en="d", unit="人", source="mch"),
        "b": DataElement(code="b", name_zh="活产", name_en="b", unit="人", source="mch"),
        "r": DataElement(
            code="r",
            name_zh="婴儿死亡率（报告）",
            name_en="r",
            unit="‰",
            source="mch",
            kind="rate",
            recompute={"kind": "ratio", "numerator": ["d"], "denominator": ["b"], "factor": 1000},
        ),
    }
    obs = pd.DataFrame(
        [
            ("T1", 2016, "d", "", 3),
            ("T1", 2016, "b", "", 1000),
            ("T1", 2016, "r", "", 3.0),
            ("T2", 2016, "d", "", 4),
            ("T2", 2016, "b", "", 1000),
            ("T2", 2016, "r", "", 0.4),
        ],
        columns=["area_code", "year", "element", "stratum", "value"],
    )
    out = reported_vs_recomputed(elements, obs, AREAS)
    assert [(o["area_code"], o["data"]["recomputed"]) for o in out] == [("T2", 4.0)]


def test_parts_not_summing_to_the_total_are_flagged():
    elements = {
        "births": DataElement(
            code="births", name_zh="出生", name_en="b", unit="人", source="population"
        )
    }
    obs = pd.DataFrame(
        [
            ("T1", 2017, "births", "", 100),
            ("T1", 2017, "births", "male", 52),
            ("T1", 2017, "births", "female", 48),
            ("T2", 2017, "births", "", 90),
            ("T2", 2017, "births", "male", 50),
            ("T2", 2017, "births", "female", 30),
        ],
        columns=["area_code", "year", "element", "stratum", "value"],
    )
    out = parts_vs_total(elements, obs)
    assert [o["area_code"] for o in out] == ["T2"]


def test_impossible_values_and_permille_given_as_percent():
    share = {**IND, "number": 3, "unit": "%", "name_zh": "管理率"}
    plan = plan_with(IND, share)
    v = vals(
        [
            (3, "C", 2016, "", 101.5),
            (3, "C", 2017, "", 99.0),
            (2, "C", 2015, "", 4.1),
            (2, "C", 2016, "", 4.0),
            (2, "C", 2017, "", 0.39),
            (2, "C", 2018, "", 3.9),
        ]
    )
    out = impossible_values(plan, v)
    kinds = sorted((o["kind"], o["number"], o["year"]) for o in out)
    assert kinds == [("impossible_value", 3, 2016), ("permille_as_percent", 2, 2017)]


def test_modified_z_flags_one_jump_in_a_steady_series():
    z = modified_z_scores(np.array([1.0, 1.1, 0.9, 1.0, 9.0]))
    assert abs(z[-1]) > 3.5 and all(abs(z[:-1]) < 3.5)
    plan = plan_with({**IND, "unit": "%"})
    series = [
        (2, "C", y, "", v) for y, v in zip(range(2015, 2021), [50, 51, 52, 53, 80, 81], strict=True)
    ]
    out = year_on_year_jumps(plan, vals(series))
    assert [(o["year"], round(o["data"]["to"])) for o in out] == [(2019, 80)]


def test_missing_years_and_units_are_listed():
    town = {**IND, "number": 4, "level": "town"}
    plan = plan_with(IND, town)
    v = vals(
        [
            (2, "C", 2015, "", 1),
            (2, "C", 2016, "", 1),
            (4, "C", 2015, "", 1),
            (4, "C", 2016, "", 1),
            (4, "T1", 2015, "", 1),
            (4, "T1", 2016, "", 1),
        ]
    )
    out = missing_values(plan, AREAS, v, [2015, 2016])
    assert [(o["number"], o["area_code"], o["data"]["years"]) for o in out] == [
        (4, "T2", [2015, 2016])
    ]


def test_printed_tolerance_ignores_digits_of_the_unit():
    assert printed_tolerance(18.93, "18.93/10万") == pytest.approx(0.005, abs=1e-6)


def test_ordinary_bends_in_a_trend_are_not_jumps():
    plan = plan_with({**IND, "unit": "%"})
    series = [
        (2, "C", y, "", v)
        for y, v in zip(range(2015, 2021), [50, 51, 52, 53, 54.6, 55], strict=True)
    ]
    assert year_on_year_jumps(plan, vals(series)) == []


def test_a_rate_on_few_events_does_not_jump_by_chance():
    """3 → 9 infant deaths in a town of 400 births: a big modified z, but Poisson noise."""
    plan = plan_with(IND)
    deaths = [3, 3, 3, 3, 3, 9]
    rows = [
        (2, "T1", y, "", 1000 * d / 400, d, 400)
        for y, d in zip(range(2015, 2021), deaths, strict=True)
    ]
    v = pd.DataFrame(
        rows,
        columns=["number", "area_code", "year", "stratum", "value", "numerator", "denominator"],
    )
    assert year_on_year_jumps(plan, v) == []
    # the same rates on 100 times the events are a real jump
    big = v.assign(numerator=v["numerator"] * 100, denominator=v["denominator"] * 100)
    assert [o["year"] for o in year_on_year_jumps(plan, big)] == [2020]


# --------------------------------------------------------------------------- quarantined rows

DOCTORS = {"number": 1, "name_zh": "每千人医师",
           "formula": {"kind": "ratio", "numerator": ["doctors"], "denominator": ["pop"], "factor": 1000}}  # fmt: skip
BEDS = {"number": 2, "name_zh": "每千人床位",
        "formula": {"kind": "ratio", "numerator": ["beds"], "denominator": ["pop"], "factor": 1000}}  # fmt: skip
REVIEWED = {"number": 3, "name_zh": "定性指标", "formula": None}


def sourced(rows):
    return pd.DataFrame(rows, columns=["area_code", "year", "element", "stratum", "value",
                                       "source_file_id"])  # fmt: skip


def rejects(rows):
    """(file id, file name, row[, field]) per rejected cell or row."""
    rows = [(*r, None) if len(r) == 3 else r for r in rows]
    return pd.DataFrame(rows, columns=["source_file_id", "file_name", "row", "field"])


RESOURCES_2018 = sourced(
    [
        ("T1", 2018, "doctors", "", 30, 7),
        ("T2", 2018, "doctors", "", 20, 7),
        ("T1", 2018, "beds", "", 90, 8),
        ("T1", 2018, "pop", "", 10_000, 9),
        ("T1", 2017, "doctors", "", 29, 6),
    ]
)


def test_indicators_fed_by_a_file_with_quarantined_rows_are_flagged_per_year_and_file():
    plan = plan_with(DOCTORS, BEDS, REVIEWED)
    out = quarantined_rows(plan, RESOURCES_2018, rejects([(7, "resources_2018.xlsx", 12),
                                                           (7, "resources_2018.xlsx", 5),
                                                           (7, "resources_2018.xlsx", 12)]))  # fmt: skip
    assert [(o["number"], o["year"], o["file_name"], o["row"]) for o in out] == [
        (1, 2018, "resources_2018.xlsx", 5)
    ]
    only = out[0]
    assert only["kind"] == "quarantined_rows" and only["severity"] == "warning"
    assert only["data"] == {"rows": [5, 12], "count": 2, "elements": ["doctors"]}
    assert "第5、12行" in only["detail"] and "2行被隔离" in only["detail"]
    # a denominator's file counts too, and a row without a number is counted
    both = quarantined_rows(plan, RESOURCES_2018, rejects([(9, "population_2018.csv", None)]))
    assert [(o["number"], o["data"]["count"], o["row"]) for o in both] == [
        (1, 1, None),
        (2, 1, None),
    ]


def test_files_without_quarantined_rows_or_not_used_raise_nothing():
    plan = plan_with(DOCTORS, BEDS)
    assert quarantined_rows(plan, RESOURCES_2018, rejects([])) == []
    assert quarantined_rows(plan, RESOURCES_2018, rejects([(99, "other.csv", 3)])) == []
    assert quarantined_rows(plan, RESOURCES_2018.iloc[:0], rejects([(7, "x.xlsx", 3)])) == []
    # every file the values come from lost rows: flagged, with the frame's narrow dtypes
    narrow = RESOURCES_2018[RESOURCES_2018["source_file_id"] == 7].astype(
        {"year": "int32", "source_file_id": "int32", "element": "category"}
    )
    assert len(quarantined_rows(plan, narrow, rejects([(7, "x.xlsx", 3)]))) == 1


def test_a_later_clean_file_for_the_same_element_and_year_settles_the_warning():
    """A corrected resubmission supplies the rejected row's value (and only what changed: the
    rest keeps the first file as its source), which settles every warning of the first file;
    until then the warning stands. A later file that was itself partly rejected, or one loaded
    before, settles nothing."""
    plan = plan_with(DOCTORS)
    corrected = pd.concat([RESOURCES_2018, sourced([("T3", 2018, "doctors", "", 5, 11)])])
    bad = rejects([(7, "resources_2018.xlsx", 5)])
    assert quarantined_rows(plan, corrected, bad) == []
    beds = plan_with(DOCTORS, BEDS)
    two = sourced([("T1", 2018, "doctors", "", 30, 7), ("T1", 2018, "beds", "", 9, 7)])
    assert len(quarantined_rows(beds, two, bad)) == 2
    fixed = pd.concat([two, sourced([("T3", 2018, "beds", "", 5, 12)])])
    assert quarantined_rows(beds, fixed, bad) == []
    assert len(quarantined_rows(plan, RESOURCES_2018, bad)) == 1
    also_bad = pd.concat([bad, rejects([(11, "resources_2018_v2.xlsx", 8)])])
    out = quarantined_rows(plan, corrected, also_bad)
    assert [(o["file_name"], o["year"]) for o in out] == [
        ("resources_2018.xlsx", 2018),
        ("resources_2018_v2.xlsx", 2018),
    ]
    earlier = sourced([("T1", 2018, "doctors", "", 30, 7), ("T3", 2018, "doctors", "", 5, 4)])
    assert len(quarantined_rows(plan, earlier, bad)) == 1  # loaded before, settles nothing


def test_rows_text_names_the_first_rows_and_says_there_are_more():
    assert rows_text([3]) == "第3行"
    assert rows_text(list(range(1, 13))) == "第1、2、3、4、5、6、7、8、9、10行等"


PER_AREA = Layout.model_validate(
    {
        "id": "resources_v1",
        "years": [2015, None],
        "format": "csv",
        "shape": "long",
        "columns": {
            "代码": "area_code",
            "年份": "year",
            "医师数（人）": {"element": "doctors", "aliases": ["执业医师"]},
            "床位": "beds",
        },
    }
)


def test_rejected_cells_of_a_row_per_area_file_touch_only_their_elements():
    assert rejected_elements(PER_AREA, ["医师数(人)", " 执业医师 "]) == {"doctors"}
    assert rejected_elements(PER_AREA, ["床位", "医师数（人）"]) == {"beds", "doctors"}
    # a bad area or year, a duplicate row, an unknown column: the whole row was lost
    assert rejected_elements(PER_AREA, ["床位", "代码"]) is None
    assert rejected_elements(PER_AREA, [None]) is None
    assert rejected_elements(PER_AREA, ["其他"]) is None
    assert rejected_elements(None, ["床位"]) is None
    facility = PER_AREA.model_copy(update={"shape": "facility"})
    assert rejected_elements(facility, ["床位"]) is None


def test_a_rejected_value_cell_flags_only_the_indicators_of_its_element():
    plan = plan_with(DOCTORS, BEDS)
    same_file = sourced([("T1", 2018, "doctors", "", 30, 7), ("T1", 2018, "beds", "", 90, 7)])
    cell = rejects([(7, "resources_2018.csv", 4, "床位")])
    assert [o["number"] for o in quarantined_rows(plan, same_file, cell, {7: PER_AREA})] == [2]
    row = rejects([(7, "resources_2018.csv", 4, "代码")])
    assert [o["number"] for o in quarantined_rows(plan, same_file, row, {7: PER_AREA})] == [1, 2]
    assert [o["number"] for o in quarantined_rows(plan, same_file, cell)] == [1, 2]


def test_no_plan_baseline_is_never_called_consistent():
    no_base = plan_with({**IND, "baseline": None, "text_figures": []})
    [row] = baseline_reconciliation(no_base, vals([(2, "C", 2015, "", 0.93)]))
    assert "基期值一致" not in row["detail"]
    assert row["detail"].startswith("规划未列基期值，未作核对；评估采用数据仓库2015年值0.93")
    nothing = plan_with({**IND, "text_figures": []})
    [row] = baseline_reconciliation(nothing, vals([(2, "C", 2016, "", 0.93)]))
    assert "基期值一致" not in row["detail"] and "未作核对" in row["detail"]
    consistent = baseline_reconciliation(nothing, vals([(2, "C", 2015, "", 0.9)]))
    assert consistent[0]["detail"].startswith("基期值一致")


def test_a_target_with_two_readings_is_listed_for_the_annex():
    from transforms.quality import target_other_readings

    plan = plan_with(
        {
            **IND,
            "unit": "岁",
            "direction": "higher",
            "baseline": {"value": 77.88, "year": 2015},
            "target": {
                "text": "在2015年基础上提高1岁（桂林78岁）",
                "comparator": "reach",
                "value": 78,
                "year": 2020,
                "other_reading": {"comparator": "relative", "delta": 1, "note_zh": "另一读法"},
            },
        }
    )
    [row] = target_other_readings(plan)
    assert (row["kind"], row["number"], row["severity"]) == ("target_other_reading", 2, "info")
    assert "按写明的数值78评估" in row["detail"] and "78.88" in row["detail"]
    assert target_other_readings(plan_with(IND)) == []
