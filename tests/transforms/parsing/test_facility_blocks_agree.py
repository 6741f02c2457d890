"""A big facility sheet is checked block by block and never held whole: the same good values,
rejects, flags and counts as the whole read, for clean, damaged and repeated rows. Merged cells,
and a layout that only the later rows' years would choose, send the file back to the whole read.
``ROW_BLOCK_BYTES`` is made tiny so that the sample's sheets of a few KB are cut into blocks."""

from __future__ import annotations

import io
import random
from datetime import datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest

from healthplan.settings import REPO_ROOT
from transforms.parsing import UnreadableFile, facility_totals, parse_file, xlsx_table

PLANS = REPO_ROOT / "plans"
SAMPLE = REPO_ROOT / "samples" / "inbox" / "longhu" / "2019" / "resources_2019.xlsx"


@pytest.fixture
def streams(block_outcomes):
    """The block-by-block attempts' outcomes (conftest)."""
    return block_outcomes


def both_ways(
    data: bytes, layouts, info, monkeypatch, name: str = "resources_2019.xlsx", block: int = 1024
):
    """(whole read, block read) of a workbook: parse results, or the reason it is unreadable."""
    out = []
    for block_bytes in (64 << 20, block):
        monkeypatch.setattr(xlsx_table, "ROW_BLOCK_BYTES", block_bytes)
        try:
            out.append(parse_file(name, data, layouts, info, current_year=2024))
        except UnreadableFile as e:
            out.append(e.reason)
    return out


def assert_same(whole, blocks) -> None:
    assert not isinstance(whole, str), whole
    pd.testing.assert_frame_equal(blocks.good, whole.good, check_exact=True)
    assert blocks.rejects == whole.rejects
    assert blocks.flags == whole.flags
    assert (blocks.rows_read, blocks.rows_loaded, blocks.years, blocks.layout) == (
        whole.rows_read,
        whole.rows_loaded,
        whole.years,
        whole.layout,
    )


def workbook(edit) -> bytes:
    wb = openpyxl.load_workbook(SAMPLE)
    edit(wb.active)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    "path",
    sorted((REPO_ROOT / "samples" / "inbox").rglob("resources_*.xlsx")),
    ids=lambda p: f"{p.parts[-3]}-{p.stem}",
)
def test_sample_facility_files_parse_the_same_block_by_block(path, real, streams, monkeypatch):
    whole, blocks = both_ways(path.read_bytes(), *real, monkeypatch, path.name)
    assert streams == [False, True]  # the whole read's sheet is too small to cut
    assert_same(whole, blocks)


def test_damaged_rows_and_repeated_facilities_across_blocks(real, streams, monkeypatch):
    """Text in numbers, blanks, booleans, dates, unknown codes; and facilities repeated far
    apart (another block), in the same year: the later row is rejected naming the first."""
    rng = random.Random(7)

    def damage(ws):
        for _ in range(40):
            r, c = rng.randint(2, ws.max_row), rng.randint(1, ws.max_column)
            ws.cell(r, c).value = rng.choice(
                ["", "abc", -1, 1.5, True, False, datetime(2019, 5, 1), "1,234", None, "999"]
            )
        for early, late in ((3, 290), (10, 200), (40, 41)):
            ws.cell(late, 1).value = ws.cell(early, 1).value

    whole, blocks = both_ways(workbook(damage), *real, monkeypatch)
    assert streams == [False, True]
    assert_same(whole, blocks)
    duplicates = [r for r in blocks.rejects if "duplicate facility" in r.reason]
    assert any(r.row == 290 and "第 3 行" in r.reason for r in duplicates), duplicates


def test_merged_cells_send_the_file_to_the_whole_read(real, streams, monkeypatch):
    whole, blocks = both_ways(
        workbook(lambda ws: ws.merge_cells(start_row=50, start_column=3, end_row=53, end_column=3)),
        *real,
        monkeypatch,
    )
    assert streams == [False, False]
    assert_same(whole, blocks)
    assert any("merged cell" in f.reason for f in blocks.flags)


def test_a_layout_that_the_later_years_choose_sends_the_file_to_the_whole_read(
    real, streams, monkeypatch
):
    """Two layouts with the same columns: one for 2018, one from 2019. The first block holds
    only 2018 rows (and chooses the first); most rows are 2019. The whole read chooses by every
    row's year, and so must the block read."""
    layouts, info = real
    source = layouts.sources["resources"]
    v2 = next(lay for lay in source.layouts if lay.id == "resources_v2")
    split = source.model_copy(
        update={
            "layouts": [
                v2.model_copy(update={"id": "only_2018", "years": (2018, 2018)}),
                v2.model_copy(update={"id": "from_2019", "years": (2019, None)}),
            ]
        }
    )

    def years(ws):
        for r in range(2, ws.max_row + 1):
            ws.cell(r, 4).value = 2018 if r < 40 else 2019

    data = workbook(years)
    whole, blocks = both_ways(data, [split], info, monkeypatch, "resources.xlsx", block=4096)
    assert streams == [False, False]
    assert_same(whole, blocks)
    assert whole.layout == "from_2019"


def test_a_header_only_sheet_is_unreadable_either_way(real, streams, monkeypatch):
    def header_only(ws):
        ws.delete_rows(2, ws.max_row)
        for r in range(2, 400):  # blank rows that still make the sheet big enough to cut
            ws.cell(r, 25).value = ""

    whole, blocks = both_ways(workbook(header_only), *real, monkeypatch)
    assert isinstance(whole, str) and whole == blocks


def test_claimed_keys_answer_as_a_dict_of_facility_and_year():
    """The keys claimed so far, carried from block to block: one year or several."""
    claimed = facility_totals.Claimed()
    assert not claimed and claimed.get(("F1", 2019)) is None
    claimed.claim(["F1", "F2", "F3"], [2019, 2019, 2019], np.array([0, 2]), 10)
    assert claimed and claimed.get(("F1", 2019)) == 10 and claimed.get(("F3", 2019)) == 12
    assert ("F2", 2019) not in claimed and ("F1", 2018) not in claimed
    claimed[("F2", 2018)] = 40
    mixed = claimed.which(["F1", "F2", "F2", "F9"], [2019, 2018, 2019, 2019])
    assert mixed.tolist() == [True, True, False, False]
    assert claimed.which(["F3", "F4"], [2019, 2019]).tolist() == [True, False]
    claimed.claim(["A", "B"], [2020, 2021], np.array([0, 1]), 50)
    assert claimed.get(("A", 2020)) == 50 and claimed.get(("B", 2021)) == 51
    assert claimed.get(("B", 2020)) is None


def test_new_claims_tell_the_keys_claimed_before():
    """A block of one year claims its clean rows' keys in one pass; a key claimed before keeps
    its first row, and is told as claimed before."""
    claimed = facility_totals.Claimed()
    claimed[("F2", 2019)] = 5
    before = claimed.claim_new(["F1", "F2", "F3", "F4"], 2019, np.array([0, 1, 3]), 20)
    assert before.tolist() == [False, True, False, False]
    assert [claimed.get((f, 2019)) for f in ("F1", "F2", "F3", "F4")] == [20, 5, None, 23]
    everyone = claimed.claim_new(["F5", "F1"], 2019, np.array([0, 1]), 30)
    assert everyone.tolist() == [False, True] and claimed.get(("F5", 2019)) == 30
