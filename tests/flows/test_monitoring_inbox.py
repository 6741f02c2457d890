"""The plain `healthplan ingest` (and so `run`) takes a plan's monitoring sheet that no source
layout reads: by the plan it names (file name, title row) or, naming none, by the one plan all its
rows match; a sheet two plans could own is refused naming both."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from flows.cli import app
from tests.flows.test_templates import fill_monitoring, monitoring_file

pytestmark = pytest.mark.integration
runner = CliRunner()


def write_csv(path: Path, rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def stored(source: str = "monitoring") -> list[tuple]:
    from flows.common import warehouse

    with warehouse().connect() as c:
        return c.execute(
            text(
                "select f.name, o.element, o.year, o.value from observation o "
                "join source_file f on f.id = o.source_file_id where f.source = :s "
                "and o.valid_to is null order by f.name, o.element, o.year"
            ),
            {"s": source},
        ).all()


def ingest(*paths: Path):
    return runner.invoke(app, ["ingest", *map(str, paths)])


def test_a_filled_template_in_a_folder_loads_by_the_plan_its_name_and_title_give(isolated):
    out = isolated / "templates"
    result = runner.invoke(app, ["template", "--plan", "longhu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    sheet = monitoring_file(out)
    fill_monitoring(sheet, {("龙湖区", 1, ""): {2019: 79.1}})
    inbox = isolated / "inbox"
    inbox.mkdir()
    sheet.rename(inbox / sheet.name)
    result = ingest(inbox)
    assert result.exit_code == 0, result.output
    assert "无法读取" not in result.output
    rows = stored()
    assert len(rows) == 1 and rows[0][2:] == (2019, pytest.approx(79.1))
    assert rows[0][0].endswith("指标监测表.xlsx")


def test_a_sheet_naming_no_plan_loads_for_the_one_plan_every_row_matches(isolated):
    from flows.common import catalog

    longhu = catalog().plan("longhu")
    own = [i for i in longhu.indicators if i.target.comparator != "split"][:3]
    rows = [["序号", "指标名称", "2019年"]] + [[i.number, i.name_zh, 10 + k] for k, i in
                                              enumerate(own)]  # fmt: skip
    result = ingest(write_csv(isolated / "in" / "监测表2019.csv", rows))
    assert result.exit_code == 0, result.output
    assert sorted(v for *_, v in stored()) == [10, 11, 12]


def test_a_sheet_two_plans_could_own_is_refused_naming_both(isolated):
    rows = [["指标名称", "2019"], ["婴儿死亡率", 3.1]]
    result = ingest(write_csv(isolated / "in" / "监测表.csv", rows))
    assert result.exit_code == 2, result.output
    flat = result.output.replace("\n", "").replace("│", "").replace(" ", "")
    assert "可能属于多个规划（guilin、longhu）" in flat and "--plan" in flat
    assert stored() == []
    # The plan id in the file name settles it.
    result = ingest(write_csv(isolated / "in2" / "longhu_监测表.csv", rows))
    assert result.exit_code == 0, result.output
    from flows.common import catalog

    longhu = catalog().plan("longhu")
    imr = next(i for i in longhu.indicators if i.name_zh == "婴儿死亡率")
    element = longhu.reported_element(imr)
    assert [r[1:] for r in stored()] == [(element, 2019, pytest.approx(3.1))]


def test_a_sheet_matching_no_plan_stays_unreadable_with_a_hint(isolated):
    rows = [["序号", "指标名称", "2019"], [1, "不存在的指标", 5]]
    result = ingest(write_csv(isolated / "in" / "别的表.csv", rows))
    assert result.exit_code == 2, result.output
    flat = result.output.replace("\n", "").replace("│", "").replace(" ", "")
    assert "没有匹配的版式" in flat and "像是指标监测表" in flat
    assert stored() == []


def test_a_sheet_named_for_a_plan_with_a_wrong_row_is_refused_whole_with_the_row(isolated):
    rows = [["序号", "指标名称", "2019"], [1, "婴儿死亡率", 3.1], [2, "不存在的指标", 5]]
    result = ingest(write_csv(isolated / "in" / "longhu_监测表.csv", rows))
    assert result.exit_code == 3, result.output
    assert "不存在的指标" in result.output
    assert stored() == []
