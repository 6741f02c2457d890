"""`healthplan template` and `healthplan ingest --plan`: templates out, filled files back in."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from flows.cli import app
from tests.flows.template_filling import fill_source_template

pytestmark = pytest.mark.integration
runner = CliRunner()


def monitoring_file(out: Path) -> Path:
    return next(out.glob("*指标监测表.xlsx"))


def fill_monitoring(path: Path, values: dict[tuple[str, int, str], dict[int, float]]) -> None:
    """Fill the monitoring sheet: ``values[(sheet, number, 分组)] = {year: value}``."""
    book = load_workbook(path)
    for ws in book.worksheets:
        if ws.title == "填表说明":
            continue
        rows = list(ws.iter_rows(values_only=True))
        header = list(rows[1])
        years = {int(str(h)[:4]): j for j, h in enumerate(header) if str(h)[:4].isdigit()}
        for i, row in enumerate(rows[2:], start=3):
            key = (ws.title, row[0], row[4] or "")
            for year, v in values.get(key, {}).items():
                ws.cell(row=i, column=years[year] + 1, value=v)
    book.save(path)


def test_filled_templates_for_longhu_ingest_with_exit_0(isolated):
    from flows.common import catalog
    from flows.ingest import parse_context

    out = isolated / "templates"
    result = runner.invoke(
        app, ["template", "--plan", "longhu", "--out", str(out), "--year", "2019"]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert "卫生资源年报_2019.xlsx" in names and "妇幼卫生年报_2019.csv" in names
    book = load_workbook(out / "卫生资源年报_2019.xlsx")
    assert book.sheetnames == ["卫生资源年报", "填表说明"]
    layouts = parse_context().layouts
    expected = set(layouts.layout_for("resources", 2019).required_headers())
    assert expected <= {c.value for c in book.worksheets[0][1]}
    sources = [p for p in out.iterdir() if p.suffix in (".csv", ".xlsx") and "监测表" not in p.name]
    for path in sources:
        fill_source_template(path, layouts, catalog().elements)
    blank = monitoring_file(out)
    (isolated / "sheets").mkdir()
    moved = blank.rename(isolated / "sheets" / blank.name)
    result = runner.invoke(app, ["ingest", str(out)])
    assert result.exit_code == 0, result.output
    assert "全部入库" in result.output

    # the monitoring sheet: 76.8 reported for 2019 where the counts give another value
    fill_monitoring(moved, {("龙湖区", 1, ""): {2019: 76.8}, ("珠池街道", 4, ""): {2019: 97.5}})
    result = runner.invoke(app, ["ingest", str(moved), "--plan", "longhu"])
    assert result.exit_code == 0, result.output
    from flows.quality import check_plan

    issues = [i for i in check_plan("longhu") if i["kind"] == "reported_vs_computed"]
    got = sorted((i["number"], i["area_code"], i["year"], i["data"]["reported"]) for i in issues)
    assert got == [(1, "440507", 2019, 76.8), (4, "440507001", 2019, 97.5)]
    # the filled counts: vaccinated = eligible in 珠池街道, i.e. 100 % computed
    assert next(i for i in issues if i["number"] == 4)["data"]["computed"] == pytest.approx(100)
    assert "监测表报告值76.8" in issues[0]["detail"]


def test_a_sheet_with_an_unmatched_row_is_refused_whole_and_revisions_are_kept(isolated):
    from flows.common import warehouse
    from healthplan.definitions import reported_element
    from warehouse.observations import observations_as_of

    out = isolated / "t"
    assert runner.invoke(app, ["template", "--plan", "longhu", "--out", str(out)]).exit_code == 0
    sheet = monitoring_file(out)
    fill_monitoring(sheet, {("龙湖区", 2, ""): {2016: 1.1, 2017: 1.0}})
    book = load_workbook(sheet)
    book["龙湖区"].append([99, "", "每千人口口腔医师数", "人", "", "", "", "", 0.3])
    book.save(sheet)
    result = runner.invoke(app, ["ingest", str(sheet), "--plan", "longhu"])
    assert result.exit_code == 3, result.output
    assert "龙湖区!C33" in result.output and "整表未入库" in result.output
    element = reported_element("longhu", 2)
    assert observations_as_of(warehouse(), None, elements=[element]).empty

    book = load_workbook(sheet)
    book["龙湖区"].delete_rows(33)
    book.save(sheet)
    assert runner.invoke(app, ["ingest", str(sheet), "--plan", "longhu"]).exit_code == 0
    fill_monitoring(sheet, {("龙湖区", 2, ""): {2017: 0.8}})  # a corrected sheet
    assert runner.invoke(app, ["ingest", str(sheet), "--plan", "longhu"]).exit_code == 0
    obs = observations_as_of(warehouse(), None, elements=[element])
    assert sorted(zip(obs["year"], obs["value"], strict=True)) == [(2016, 1.1), (2017, 0.8)]
    row = obs[obs["year"] == 2017].iloc[0]
    assert (
        row["revision"] == 2 and row["source_rows"] == "龙湖区!K4"
    )  # 2017: column K, indicator 2: row 4


def test_a_year_no_layout_reads_gets_the_monitoring_sheet_and_a_note(isolated):
    out = isolated / "old"
    result = runner.invoke(
        app, ["template", "--plan", "longhu", "--out", str(out), "--year", "2005"]
    )
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["龙湖区卫生计生“十三五”规划_指标监测表.xlsx"]
    assert "卫生资源年报：没有适用于2005年的报表版式" in result.output


def test_an_unreadable_monitoring_sheet_exits_2_and_keeps_its_reason(isolated):
    from flows.common import warehouse
    from warehouse.observations import quarantined

    bad = isolated / "监测表.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    result = runner.invoke(app, ["ingest", str(bad), "--plan", "longhu"])
    assert result.exit_code == 2, result.output
    rows = quarantined(warehouse())
    assert list(rows["file_name"]) == ["监测表.xlsx"] and rows["row"].isna().all()
