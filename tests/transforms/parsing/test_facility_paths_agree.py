"""The columnar facility path gives what the per-row reference gives, to the message.

``parse_file`` sums facility sheets column by column and sends only the rows that are not clean
through the per-row checks; ``columnar=False`` reads every row the per-row way. Both must return
the same good frame, rejects, flags and counts for the sample files, the bad-input corpus and
randomly damaged tables (odd numbers, blanks, duplicates, unknown codes, merged and error cells).
"""

from __future__ import annotations

import csv
import io
import random
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from healthplan.definitions import Area, DataElement, load_catalog
from healthplan.layouts import SourceLayouts, load_layouts
from healthplan.settings import REPO_ROOT
from transforms.parsing import CatalogInfo, Limits, UnreadableFile, parse_file

NOW = 2024
PLANS = REPO_ROOT / "plans"
CORPUS = REPO_ROOT / "tests" / "corpus"
SAMPLES = REPO_ROOT / "samples" / "inbox"


def outcome(name: str, data: bytes, layouts, info, *, columnar: bool, **kw):
    """Everything parse_file tells, or the reason it could not read the file."""
    try:
        p = parse_file(name, data, layouts, info, current_year=NOW, columnar=columnar, **kw)
    except UnreadableFile as e:
        return ("unreadable", e.reason)
    return p


def assert_same(name: str, data: bytes, layouts, info, **kw) -> object:
    new = outcome(name, data, layouts, info, columnar=True, **kw)
    old = outcome(name, data, layouts, info, columnar=False, **kw)
    if isinstance(old, tuple) or isinstance(new, tuple):
        assert new == old, name
        return new
    pd.testing.assert_frame_equal(new.good, old.good, check_exact=True, obj=name)
    assert new.rejects == old.rejects, name
    assert new.flags == old.flags, name
    assert (new.rows_read, new.rows_loaded, new.years) == (
        old.rows_read,
        old.rows_loaded,
        old.years,
    ), name
    assert (new.layout, new.sheet, new.status) == (old.layout, old.sheet, old.status), name
    return new


# ------------------------------------------------------------------------- files as received


@pytest.fixture(scope="module")
def real():
    catalog = load_catalog(PLANS)
    return load_layouts(PLANS / "sources", catalog.elements), CatalogInfo.from_catalog(catalog)


@pytest.mark.parametrize(
    "path", sorted(SAMPLES.glob("*/*/resources_*.xlsx")), ids=lambda p: f"{p.parts[-3]}-{p.stem}"
)
def test_sample_facility_files(path: Path, real):
    parsed = assert_same(path.name, path.read_bytes(), *real)
    assert parsed.rows_loaded > 0 and len(parsed.good) > 0  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The real plans plus the corpus's test-only layout (as tests/reliability reads them)."""
    plans = tmp_path_factory.mktemp("plans") / "plans"
    shutil.copytree(PLANS, plans)
    overlay = CORPUS / "plans_overlay"
    for src in overlay.rglob("*.yaml"):
        target = plans / src.relative_to(overlay)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    catalog = load_catalog(plans)
    return load_layouts(plans / "sources", catalog.elements), CatalogInfo.from_catalog(catalog)


@pytest.mark.parametrize(
    "path",
    sorted(
        p  # a workbook the reader cannot survive is never read in-process (tests/reliability)
        for p in [*(CORPUS / "files").iterdir(), *(CORPUS / "baseline").iterdir()]
        if "far_cell_hidden_by_dimension" not in p.name
    ),
    ids=lambda p: p.name,
)
def test_corpus_files(path: Path, corpus):
    assert_same(path.name, path.read_bytes(), *corpus)


# ------------------------------------------------------------------- damaged sample (real)


def test_damaged_real_sample(real):
    """The small sample resources sheet with cells damaged at random, many times over."""
    src = SAMPLES / "longhu" / "2019" / "resources_2019.xlsx"
    rng = random.Random(7)
    for _ in range(6):
        wb = openpyxl.load_workbook(src)
        ws = wb.active
        rows = ws.max_row
        for _ in range(rng.randint(1, 25)):
            r, c = rng.randint(2, rows), rng.randint(1, ws.max_column)
            ws.cell(r, c).value = rng.choice(CELL_DAMAGE + XLSX_ONLY)
        for _ in range(rng.randint(0, 4)):  # duplicate facilities, some after a bad row
            r1, r2 = rng.randint(2, rows), rng.randint(2, rows)
            ws.cell(r2, 1).value = ws.cell(r1, 1).value
        buf = io.BytesIO()
        wb.save(buf)
        assert_same("resources_2019.xlsx", buf.getvalue(), *real, limits=Limits(max_cell_chars=40))


# -------------------------------------------------------------- random tables, own layout

AREAS = [
    Area(code="100", name_zh="市", name_en="City", level="city"),
    *(
        Area(code=c, name_zh=c, name_en=c, level="district", parent="100")
        for c in ("101", "102", "103")
    ),
]
ELEMENTS = {
    e.code: e
    for e in [
        DataElement(code="n_fac", name_zh="机构数", name_en="n", unit="个", source="fac"),
        DataElement(code="beds", name_zh="床位", name_en="beds", unit="张", source="fac"),
        DataElement(code="share", name_zh="比例", name_en="s", unit="%", source="fac", kind="rate"),
        DataElement(
            code="permil", name_zh="千分率", name_en="p", unit="‰", source="fac", kind="rate"
        ),
        DataElement(code="big", name_zh="有上限", name_en="b", unit="个", source="fac", max=1000),
        DataElement(
            code="money", name_zh="金额", name_en="m", unit="元", source="fac", kind="amount"
        ),
        DataElement(
            code="temp",
            name_zh="温度",
            name_en="t",
            unit="℃",
            source="fac",
            kind="measure",
            min=None,
        ),
        DataElement(code="low", name_zh="有下限", name_en="l", unit="个", source="fac", min=5),
        DataElement(
            code="tcm", name_zh="中医", name_en="tcm", unit="个", source="fac", kind="flag"
        ),
        DataElement(
            code="flagkind", name_zh="标志", name_en="f", unit="个", source="fac", kind="flag"
        ),
    ]
}
INFO = CatalogInfo.from_areas(ELEMENTS, AREAS)
HEADER = ["机构代码", "机构名称", "地区代码", "年份", "经济类型", "机构类别", "床位", "比例",
          "千分率", "有上限", "金额（万元）", "温度", "有下限", "中医（是/否）", "标志"]  # fmt: skip
COLUMNS = {
    "机构代码": "facility_id",
    "机构名称": {"field": "facility_name", "required": False},
    "地区代码": "area_code",
    "年份": {"field": "year", "required": False},
    "经济类型": "ownership",
    "机构类别": "type",
    "床位": "beds",
    "比例": {"element": "share", "percent": True},
    "千分率": "permil",
    "有上限": "big",
    "金额（万元）": {"element": "money", "scale": 10000},
    "温度": "temp",
    "有下限": "low",
    "中医（是/否）": {"element": "tcm", "flag": True},
    "标志": "flagkind",
}


def layout(fmt: str, columns: dict = COLUMNS) -> SourceLayouts:
    return SourceLayouts.model_validate(
        {
            "source": "fac",
            "name_zh": "机构",
            "publisher_zh": "测试局",
            "layouts": [
                {
                    "id": f"fac_{fmt}",
                    "years": [2015, None],
                    "format": fmt,
                    "shape": "facility",
                    "year_from_filename": r"((?:19|20)\d{2})",
                    "facility_count_element": "n_fac",
                    "value_maps": {
                        "ownership": {"公立": "public", "民营": "private"},
                        "type": {"医院": "hospital", "诊所": "clinic", "卫生院": "thc"},
                        "flag": {"有的": "1"},
                    },
                    "columns": columns,
                }
            ],
        }
    )


# odd cells of every kind; the last is F002 once cut at the 40-character limit of the tests
CELL_DAMAGE = [None, "", "  ", "—", "-", "N/A", "1,234", "12,34", "95%", "5‰", "0.5%", "abc",
               "#DIV/0!", -1, -0.0, 0, 4, 1e6, 1001, 99.5, 100.5, 0.1, 0.2, 0.30000000000000004,
               "１２３", " 12 ", "1e3", "是", "否", "有的", "Y", "x" * 60, "注：说明", "公立", "医院",
               "public", "101", "10 1", 101.0, "999", "合计", 2019.0, "2019年", 2030, 2010, "2019",
               "F001", " F001 ", "Ｆ００１", "0.1", "7.25", "F002" + " " * 40 + "x"]  # fmt: skip
XLSX_ONLY = [True, False, datetime(2019, 5, 1), 12, "=1+1", "#N/A"]


def base_rows(rng: random.Random, n: int, year_column: bool) -> list[list[object]]:
    rows = []
    for i in range(n):
        rows.append(
            [
                f"F{i:03d}",
                f"机构{i}",
                rng.choice(["101", "102", "103"]),
                2019 if year_column else None,
                rng.choice(["公立", "民营"]),
                rng.choice(["医院", "诊所", "卫生院"]),
                float(rng.randint(0, 300)),
                rng.choice([0.1, 12.5, 33.3, 99.9, 100.0, 0.7]),
                rng.choice([1.5, 2.25, 0.3]),
                float(rng.randint(0, 1000)),
                rng.choice([0.1, 1.23, 12.0, 0.07]),
                rng.choice([-3.5, 0.0, 21.7]),
                float(rng.randint(5, 50)),
                rng.choice(["是", "否", None]),
                rng.choice(["是", "否", "1", "0"]),
            ]
        )
    return rows


def damage(rng: random.Random, rows: list[list[object]], values: list[object]) -> None:
    n = len(rows)
    for _ in range(rng.randint(0, 30)):
        rows[rng.randrange(n)][rng.randrange(len(HEADER))] = rng.choice(values)
    for _ in range(rng.randint(0, 5)):  # the same facility twice, or the same id in other words
        a, b = rng.randrange(n), rng.randrange(n)
        rows[b][0] = rng.choice([rows[a][0], f" {rows[a][0]} "])
    for _ in range(rng.randint(0, 3)):
        pos = rng.randrange(n)
        rows.insert(pos, rng.choice([[], [None] * 5, ["注：本表为测试"], [None, "只有名称"]]))
        n += 1
    if rng.random() < 0.3:
        rows.append(["合计", None, None, None, None, None, 10])


def csv_bytes(rows: list[list[object]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([["" if c is None else c for c in row] for row in rows])
    return buf.getvalue().encode("utf-8")


@pytest.mark.parametrize("seed", range(40))
def test_random_csv_tables(seed: int):
    rng = random.Random(seed)
    year_column = rng.random() < 0.7
    rows = base_rows(rng, rng.randint(1, 80), year_column)
    damage(rng, rows, CELL_DAMAGE)
    for _ in range(rng.randint(0, 3)):  # rows cut short or with an unquoted comma
        row = rows[rng.randrange(len(rows))]
        if rng.random() < 0.5:
            del row[rng.randint(0, len(row)) :]
        else:
            row.extend(["1", "234"][: rng.randint(1, 2)])
    header = list(HEADER) if year_column else [h for h in HEADER if h != "年份"]
    if not year_column:
        rows = [[c for i, c in enumerate(r) if i != 3] for r in rows]
    data = csv_bytes([header, *rows])
    limits = Limits(max_cell_chars=40)
    assert_same(f"fac_{2019}.csv", data, [layout("csv")], INFO, limits=limits)


def xlsx_bytes(rng: random.Random, rows: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    for _ in range(rng.randint(0, 3)):  # merged cells, over fields and over elements
        col = rng.randrange(len(HEADER)) + 1
        first = rng.randint(2, max(2, len(rows)))
        last = min(first + rng.randint(1, 3), len(rows) + 1)
        if last > first:
            ws.merge_cells(start_row=first, start_column=col, end_row=last, end_column=col)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def assert_same_on_a_damaged_xlsx_table(rng: random.Random) -> None:
    """A random facility table with damaged cells, as XLSX: both paths give the same result."""
    rows = base_rows(rng, rng.randint(1, 80), year_column=True)
    damage(rng, rows, CELL_DAMAGE + XLSX_ONLY)
    data = xlsx_bytes(rng, rows)
    assert_same("fac_2019.xlsx", data, [layout("xlsx")], INFO, limits=Limits(max_cell_chars=40))


@pytest.mark.parametrize("seed", range(40))
def test_random_xlsx_tables(seed: int):
    assert_same_on_a_damaged_xlsx_table(random.Random(1000 + seed))


def test_clean_table_sums_decimals_in_row_order():
    """Sums of decimals match the per-row sums bit for bit (bincount adds in row order)."""
    rng = random.Random(3)
    rows = base_rows(rng, 500, year_column=True)
    for row in rows:
        row[2], row[4], row[5] = "101", "公立", "医院"  # one group
        row[10] = rng.choice([0.1, 0.2, 0.3, 1e-7, 123.456789])
        row[11] = rng.uniform(-1e6, 1e6)  # large sums: a different order shows in the 9th place
    rows[0][11], rows[1][11], rows[2][11] = 1e16, 1.0, -1e16  # in row order the 1 is lost
    parsed = assert_same("fac_2019.csv", csv_bytes([HEADER, *rows]), [layout("csv")], INFO)
    assert parsed.rejects == [] and parsed.rows_loaded == 500  # type: ignore[union-attr]
    total = 0.0
    for row in rows:
        total += float(row[11])  # type: ignore[arg-type]
    g = parsed.good  # type: ignore[union-attr]
    assert g.loc[g.element == "temp", "value"].tolist() == [round(total, 9)]


def test_two_columns_of_one_element_are_summed_as_before():
    """Two columns feeding one element: the per-row order of the sum is kept (no columnar sums)."""
    columns = dict(COLUMNS)
    columns["有下限"] = "beds"
    rows = base_rows(random.Random(5), 30, year_column=True)
    assert_same("fac_2019.csv", csv_bytes([HEADER, *rows]), [layout("csv", columns)], INFO)


# ------------------------------------------------------------- formula and error cell marks


@pytest.mark.parametrize("mark", [b"<f>1+1</f>", b'<c r="A1" t="e"><v>#N/A</v></c>', b"<x:f>"])
@pytest.mark.parametrize("offset", [0, 1, 2, 4])
def test_zip_check_marks_sheets_with_formulas_even_across_its_read_chunks(mark, offset):
    """The zip check reads members in 1 MiB chunks; a mark split between two still counts."""
    from transforms.parsing import DEFAULT_LIMITS
    from transforms.parsing.xlsx_zip import check_zip

    sheet = b" " * ((1 << 20) - offset) + mark + b" " * 100
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # no ratio to refuse
        z.writestr("xl/workbook.xml", b"<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", sheet)
        z.writestr("xl/worksheets/sheet2.xml", b" " * (2 << 20))
    _, marked = check_zip("x.xlsx", buf.getvalue(), DEFAULT_LIMITS)
    assert marked == {"xl/worksheets/sheet1.xml"}


# ------------------------------------------------------------------- the columnar path's parts


@pytest.mark.parametrize("seed", range(6))
def test_groups_too_many_to_number_are_keyed_per_row(seed: int, monkeypatch):
    """A block's (area, year, ownership, type) combinations are numbered as one int64; where
    they could not be, each row's key is made as it is: the same groups either way."""
    from transforms.parsing import facility_totals

    monkeypatch.setattr(facility_totals, "MAX_GROUP_NUMBER", 0)
    assert_same_on_a_damaged_xlsx_table(random.Random(2000 + seed))


def test_few_distinct_cells_tell_one_from_true():
    """1.0 == True: where a column holds both, cells are told apart by type too."""
    from transforms.parsing.table import Cells

    mixed = Cells([1.0, True, 1.0, "是", True], few=True)
    codes, distinct = mixed.coded()
    assert codes.tolist() == [0, 1, 0, 2, 1] and distinct == [1.0, True, "是"]
    assert [type(c) for c in distinct] == [float, bool, str] and mixed.types == {float, bool, str}
    texts = Cells(["是", "否", "是", ""], few=True)
    assert texts.coded()[0].tolist() == [0, 1, 0, 2] and texts.types == {str}
    assert Cells(["x" * 50, "y"], few=True).long_text(40).tolist() == [True, False]
