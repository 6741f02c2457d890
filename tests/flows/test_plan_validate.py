"""`healthplan plan validate`: every problem of a plan in one pass, each naming the indicator by
its number, Chinese first."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from flows.plans import validate_command, validate_plan_folder
from healthplan.settings import REPO_ROOT


def _plans_copy(tmp_path: Path) -> Path:
    plans = tmp_path / "plans"
    shutil.copytree(REPO_ROOT / "plans", plans, ignore=shutil.ignore_patterns("_skeleton"))
    return plans


def _edit_plan(plans: Path, edit) -> None:
    path = plans / "guilin" / "plan.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    by_number = {i["number"]: i for i in data["indicators"]}
    edit(data, by_number)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_the_bundled_plans_are_valid(tmp_path):
    plans = _plans_copy(tmp_path)
    assert validate_plan_folder(plans / "guilin", plans) == []
    assert validate_plan_folder(plans / "longhu", plans) == []


def test_every_problem_is_found_in_one_pass_and_named_by_number(tmp_path):
    plans = _plans_copy(tmp_path)

    def edit(data, ind):
        ind[2]["direction"] = "higher"  # infant mortality with '<= 7.5'
        ind[33]["formula"]["factor"] = 100  # per 1000 residents
        ind[1]["target"] = {"text": "提高1岁", "comparator": "relative", "delta": 1, "year": 2020}
        ind[1]["baseline"] = None
        ind[3]["category_zh"] = "医疗服务"  # 居民健康 then comes back at 4
        ind[5]["decimals"] = "two"
        ind[6]["target"]["year"] = 2025
        data["indicators"][10]["number"] = 12  # 11 becomes a second 12

    _edit_plan(plans, edit)
    mch = plans / "sources" / "mch.yaml"
    src = yaml.safe_load(mch.read_text(encoding="utf-8"))
    src["layouts"][0]["columns"]["常住人口"] = "pop_resident"  # population's element
    mch.write_text(yaml.safe_dump(src, allow_unicode=True, sort_keys=False), encoding="utf-8")

    problems = validate_plan_folder(plans / "guilin", plans)
    text = "\n".join(problems)

    def has(*parts: str) -> bool:
        return any(all(p in line for p in parts) for line in problems)

    assert has("指标2 / indicator 2", "越高越好", "<=")
    assert has("指标33 / indicator 33", "factor", "1000", "100")
    assert has("指标1 / indicator 1", "相对目标", "基期值")
    assert has("指标4 / indicator 4", "category_zh", "顺序")
    assert has("指标5 / indicator 5", "decimals")
    assert has("指标6 / indicator 6", "target.year", "2025")
    assert has("指标12 / indicator 12", "重复")
    assert has("pop_resident", "多个来源", "mch", "population")
    assert not re.search(r"indicators\.\d", text), text  # never a position in the list
    for line in problems:  # Chinese first: the first words after the location are Chinese
        message = line.split(": ", 2)[-1]
        assert re.search(r"[\u4e00-\u9fff]", message.split(" / ")[0]) or "field" in line, line


def test_validate_command_reports_them_all(tmp_path, capsys):
    plans = _plans_copy(tmp_path)

    def edit(data, ind):
        ind[2]["direction"] = "higher"
        ind[33]["formula"]["factor"] = 100

    _edit_plan(plans, edit)
    assert validate_command(plans / "guilin") == 1
    out = capsys.readouterr().out
    assert "2 个问题" in out and "指标2" in out and "指标33" in out
