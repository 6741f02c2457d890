"""The plan model rejects malformed definitions with the file and field named."""

import shutil
from pathlib import Path

import pytest
import yaml

from healthplan.definitions import DefinitionError, Formula, Target, Term, load_catalog
from healthplan.settings import REPO_ROOT

PLANS = REPO_ROOT / "plans"


def test_every_definition_file_loads_and_every_formula_names_known_elements():
    cat = load_catalog(PLANS)
    assert {"longhu"} <= set(cat.plans)
    for plan in cat.plans.values():
        for ind in plan.indicators:
            if ind.formula:
                assert ind.formula.elements() <= set(cat.elements), (plan.id, ind.number)
    for el in cat.elements.values():
        if el.recompute:
            assert el.recompute.elements() <= set(cat.elements), el.code


def copy_plans(tmp_path: Path) -> Path:
    dst = tmp_path / "plans"
    shutil.copytree(PLANS, dst)
    return dst


def edit_plan(root: Path, plan_id: str, change) -> None:
    path = root / plan_id / "plan.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda d: d["indicators"][0]["target"].update(comparator="≥"),
            "indicators.0.target.comparator",
        ),
        (lambda d: d["indicators"][1]["target"].pop("value"), "indicators.1.target"),
        (lambda d: d["indicators"][2].update(direction="up"), "indicators.2.direction"),
        (lambda d: d["indicators"][3].pop("name_zh"), "indicators.3.name_zh"),
        (lambda d: d.update(mid_term_year=2030), "(top)"),
    ],
)
def test_malformed_plan_is_rejected_naming_file_and_field(tmp_path, change, field):
    root = copy_plans(tmp_path)
    edit_plan(root, "longhu", change)
    with pytest.raises(DefinitionError) as e:
        load_catalog(root)
    msg = str(e.value)
    assert "longhu/plan.yaml" in msg and f"field {field}" in msg


def test_unknown_element_in_a_formula_is_rejected(tmp_path):
    root = copy_plans(tmp_path)
    edit_plan(root, "longhu", lambda d: d["indicators"][1]["formula"].update(numerator=["nope"]))
    with pytest.raises(
        DefinitionError, match=r"indicators\.2\.formula: unknown data elements \['nope'\]"
    ):
        load_catalog(root)


def test_duplicate_element_code_is_rejected(tmp_path):
    root = copy_plans(tmp_path)
    extra = root / "extra"
    extra.mkdir()
    (extra / "elements.yaml").write_text(
        "elements:\n- {code: pop_resident, name_zh: 人口, name_en: p, unit: 人, source: population}\n",
        encoding="utf-8",
    )
    with pytest.raises(DefinitionError, match="pop_resident: defined twice"):
        load_catalog(root)


def test_target_and_formula_shapes():
    with pytest.raises(ValueError, match="needs a value"):
        Target(text="≥1", comparator=">=", year=2020)
    with pytest.raises(ValueError, match="needs strata"):
        Target(text="农村35城镇60", comparator="split", year=2020)
    with pytest.raises(ValueError, match="numerator and denominator"):
        Formula(kind="ratio", numerator=["a"])
    assert Term.parse("beds[public:*, *:chc]").strata == ("public:*", "*:chc")
    with pytest.raises(ValueError, match="bad term"):
        Term.parse("Beds!")


def test_catalog_checksum_changes_with_the_files(tmp_path):
    root = copy_plans(tmp_path)
    before = load_catalog(root).checksum()
    edit_plan(root, "longhu", lambda d: d.update(title_en=d["title_en"] + " (rev)"))
    assert load_catalog(root).checksum() != before


def test_masked_url_hides_every_password_form():
    from healthplan.settings import masked_url

    assert (
        masked_url("postgresql+psycopg://u:CHANGE_ME@h:5432/db")
        == "postgresql+psycopg://u:***@h:5432/db"
    )
    assert "pw" not in masked_url("postgresql://:pw@host/db")
    assert "p@ss" not in masked_url("failed: postgresql://u:p@ss@host/db (refused)")
    assert masked_url("sqlite:///data/warehouse.sqlite") == "sqlite:///data/warehouse.sqlite"


def test_yaml_is_read_as_the_safe_loader_reads_it_and_errors_show_the_line():
    import yaml

    from healthplan.definitions import yaml_data

    text = "a: [1, 2.5, 'x']\nb: {c: null, d: 2020-01-01}\ne: |\n  多行\n  文本\n"
    assert yaml_data(text) == yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError) as raised:
        yaml_data("a: [1, 2\nb: 3")
    assert "b: 3" in str(raised.value) and "^" in str(raised.value)  # the Python loader's snippet
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml_data("!!python/object/apply:os.system ['true']")


def test_text_goals_are_named_by_a_required_unique_code():
    from healthplan.definitions import plan_problems

    plan = load_catalog().plan("guilin")
    assert [g.code for g in plan.text_goals] == [f"T{k}" for k in range(1, 13)]
    assert plan.text_goal("T3").name_zh == plan.text_goals[2].name_zh
    data = plan.model_dump(mode="json")
    data["text_goals"][1]["code"] = "T1"
    del data["text_goals"][2]["code"]
    problems = plan_problems(data)
    assert any(p.startswith("正文目标T1: 编号重复2次") for p in problems)
    third = plan.text_goals[2].name_zh
    assert any(f"正文目标“{third}”" in p and "code" in p for p in problems)
