"""`healthplan plan import`: a plan document to a plans/NAME/ folder that validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.plans import import_command, validate_command
from healthplan.definitions import Plan, load_catalog, yaml_data
from tests.fixtures.plan_docx import COUNTY_EXPECTED, county_plan_docx
from transforms.plan_import import Options

runner = CliRunner()
SEED = Path(__file__).resolve().parents[2] / "plans" / "longhu" / "source.txt"


@pytest.fixture
def county_docx(tmp_path: Path) -> Path:
    path = tmp_path / "青山县卫生健康十四五规划.docx"
    county_plan_docx(path)
    return path


def load(folder: Path) -> Plan:
    return Plan.model_validate(yaml_data((folder / "plan.yaml").read_text(encoding="utf-8")))


def test_county_plan_docx_imports_to_a_plan_that_validates(county_docx, tmp_path, capsys):
    plans = tmp_path / "plans"
    rc = import_command(county_docx, Options("qingshan", area_code="999903"), plans)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "已写入草稿" in out and "校验通过" in out and "待核对" in out
    folder = plans / "qingshan"
    assert sorted(p.name for p in folder.iterdir()) == [
        "areas.yaml",
        "elements.yaml",
        "plan.yaml",
        "source.docx",
    ]
    plan = load(folder)
    assert (plan.title_zh, plan.jurisdiction) == ("青山县卫生健康事业发展“十四五”规划", "999903")
    assert (plan.period_start, plan.baseline_year, plan.mid_term_year, plan.target_year) == (
        2021,
        2020,
        2023,
        2025,
    )
    catalog = load_catalog(plans)
    assert catalog.areas("qingshan")[0].level == "county"
    by_number = {i.number: i for i in plan.indicators}
    assert sorted(by_number) == list(range(1, 18))
    for number, (comparator, value, extra) in COUNTY_EXPECTED.items():
        ind = by_number[number]
        assert (ind.target.comparator, ind.target.value) == (comparator, value), number
        assert ind.formula is not None and ind.formula.kind == "reported", number
        check_extra(ind, extra)
    infant = by_number[2]
    assert [(f.value, f.year) for f in infant.text_figures] == [(3.9, 2020)]


def check_extra(ind, extra: dict) -> None:
    n = ind.number
    if "delta" in extra:
        assert ind.target.delta == extra["delta"], n
    if "direction" in extra:
        assert ind.direction == extra["direction"], n
    if "attribute" in extra:
        assert ind.attribute == extra["attribute"], n
    if "merged" in extra:
        assert ind.attribute_from_merged_cell is extra["merged"], n
    if "unit" in extra:
        assert ind.unit == extra["unit"], n
    if "level" in extra:
        assert ind.level == extra["level"], n
    if "baseline" in extra:
        assert (ind.baseline.value if ind.baseline else None) == extra["baseline"], n
    if "strata" in extra:
        assert {k: s.value for k, s in ind.target.strata.items()} == extra["strata"], n
        assert ind.formula.split_by == list(extra["strata"]), n


def test_options_override_what_the_document_says(county_docx, tmp_path):
    plans = tmp_path / "plans"
    options = Options(
        "qs", area_code="360000", area_name="青山市", baseline_year=2019, target_year=2026
    )
    assert import_command(county_docx, options, plans) == 0
    plan = load(plans / "qs")
    assert (plan.baseline_year, plan.target_year, plan.jurisdiction) == (2019, 2026, "360000")
    assert all(i.target.year == 2026 for i in plan.indicators)
    assert all(i.baseline is None or i.baseline.year == 2019 for i in plan.indicators)
    areas = yaml_data((plans / "qs" / "areas.yaml").read_text(encoding="utf-8"))
    assert areas["areas"][0]["name_zh"] == "青山市" and areas["areas"][0]["level"] == "city"


def test_cli_imports_the_seed_and_validate_lists_what_is_left_to_review(tmp_path):
    plans = tmp_path / "plans"
    args = ["plan", "import", str(SEED), "--id", "longhu_draft", "--area-code", "440507"]
    result = runner.invoke(app, [*args, "--out", str(plans)])
    assert result.exit_code == 0, result.output
    assert "#3 孕产妇死亡率 · attribute: 属性单元格空白" in result.output
    folder = plans / "longhu_draft"
    text = (folder / "plan.yaml").read_text(encoding="utf-8")
    assert "# 待核对 review #3 attribute:" in text
    checked = runner.invoke(app, ["plan", "validate", str(folder)])
    assert checked.exit_code == 0 and "处待核对" in checked.output
    assert "indicators.3.attribute" in checked.output
    # a reviewer who has checked everything deletes the entries: no warning is left
    data = yaml_data(text)
    data.pop("review_needed")
    for ind in data["indicators"]:
        ind.pop("review_needed", None)
    import yaml

    (folder / "plan.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    checked = runner.invoke(app, ["plan", "validate", str(folder)])
    assert checked.exit_code == 0 and "待核对" not in checked.output


def test_bad_input_is_refused_with_a_message_and_nothing_written(tmp_path):
    plans = tmp_path / "plans"
    doc = tmp_path / "plan.doc"
    doc.write_bytes(b"\xd0\xcf\x11\xe0 old word")
    result = runner.invoke(app, ["plan", "import", str(doc), "--id", "old", "--out", str(plans)])
    assert result.exit_code == 2 and "另存为 .docx" in result.output
    notes = tmp_path / "notes.txt"
    notes.write_text("第一章 总则\n本规划没有指标表。\n", encoding="utf-8")
    result = runner.invoke(
        app, ["plan", "import", str(notes), "--id", "notes", "--out", str(plans)]
    )
    assert result.exit_code == 2 and "未找到指标表" in result.output
    result = runner.invoke(
        app, ["plan", "import", str(notes), "--id", "Bad-Id", "--out", str(plans)]
    )
    assert result.exit_code == 2 and "规划代号" in result.output
    assert not plans.exists() or not any(plans.iterdir())


def test_an_existing_plan_is_not_overwritten(county_docx, tmp_path):
    plans = tmp_path / "plans"
    assert import_command(county_docx, Options("qingshan"), plans) == 0
    before = (plans / "qingshan" / "plan.yaml").read_bytes()
    assert import_command(county_docx, Options("qingshan", area_code="1"), plans) == 2
    assert (plans / "qingshan" / "plan.yaml").read_bytes() == before
    assert validate_command(plans / "qingshan") == 0


def test_reported_formula_and_review_items_in_the_model():
    from pydantic import ValidationError

    from healthplan.definitions import Formula, ReviewItem

    assert Formula(kind="reported").elements() == set()
    # an explicit element is where the reported value is stored; elements.yaml need not define it
    explicit = Formula(kind="reported", element="life_expectancy")
    assert explicit.element == "life_expectancy" and explicit.elements() == set()
    with pytest.raises(ValidationError, match="reported formula takes no numerator"):
        Formula(kind="reported", numerator=["a"], denominator=["b"])
    with pytest.raises(ValidationError):
        ReviewItem(field="unit")  # why_zh is required
