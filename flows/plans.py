"""`healthplan plan validate` and `healthplan plan new`: a bureau adds its own plan as data."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from healthplan.definitions import (
    AreaSet,
    DefinitionError,
    ElementCatalog,
    Plan,
    load_catalog,
    yaml_data,
)
from healthplan.settings import console as make_console
from healthplan.settings import get_settings

console = make_console()


def _problems(model, data, path: Path) -> tuple[object | None, list[str]]:
    try:
        return model.model_validate(data), []
    except ValidationError as e:
        return None, [
            f"{path}: field {'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in e.errors()
        ]


def _read(path: Path) -> tuple[object | None, list[str]]:
    if not path.exists():
        return None, [f"{path}: 文件不存在 / file not found"]
    try:
        return yaml_data(path.read_text(encoding="utf-8")), []
    except yaml.YAMLError as e:
        return None, [f"{path}: YAML 格式错误 / not valid YAML: {e}"]
    except UnicodeDecodeError:
        return None, [f"{path}: 不是 UTF-8 编码 / not UTF-8"]


def validate_plan_folder(folder: Path, plans_dir: Path | None = None) -> list[str]:
    """Every problem in one plan folder, each naming its file and field; [] when all is well."""
    plans_dir = plans_dir or get_settings().plans_dir
    problems: list[str] = []
    known = {}
    shared = sorted(p for p in plans_dir.glob("**/elements.yaml") if folder not in p.parents)
    for path in [*shared, folder / "elements.yaml"]:
        if not path.exists():
            continue
        data, errs = _read(path)
        cat, more = (None, []) if errs else _problems(ElementCatalog, data, path)
        problems += errs + more
        for el in getattr(cat, "elements", []):
            if el.code in known and path.parent == folder:
                problems.append(
                    f"{path}: field elements.{el.code}: 已在其他文件定义 / defined twice"
                )
            known[el.code] = el
    plan_data, errs = _read(folder / "plan.yaml")
    plan, more = (None, []) if errs else _problems(Plan, plan_data, folder / "plan.yaml")
    problems += errs + more
    data, errs = _read(folder / "areas.yaml")
    areas, more = (None, []) if errs else _problems(AreaSet, data, folder / "areas.yaml")
    problems += errs + more
    indicators = plan.indicators if plan is not None else _valid_indicators(plan_data)
    if indicators:
        for ind in indicators:
            if ind.formula is None:
                continue
            unknown = sorted(ind.formula.elements() - set(known))
            if unknown:
                problems.append(
                    f"{folder / 'plan.yaml'}: field indicators.{ind.number}.formula: "
                    f"未知数据元 / unknown data elements {unknown}"
                )
            if (
                plan
                and ind.baseline
                and ind.baseline.year
                and ind.baseline.year != plan.baseline_year
            ):
                problems.append(
                    f"{folder / 'plan.yaml'}: field indicators.{ind.number}.baseline.year: "
                    f"{ind.baseline.year} ≠ baseline_year {plan.baseline_year}"
                )
    if plan is not None and areas is not None and areas.jurisdiction != plan.jurisdiction:
        problems.append(
            f"{folder / 'areas.yaml'}: field jurisdiction: {areas.jurisdiction} ≠ "
            f"plan jurisdiction {plan.jurisdiction}"
        )
    return problems


def _valid_indicators(data) -> list:
    """The indicators that validate on their own, so formulas are checked even in a broken plan."""
    from healthplan.definitions import Indicator

    out = []
    for raw in (data or {}).get("indicators", []) if isinstance(data, dict) else []:
        try:
            out.append(Indicator.model_validate(raw))
        except ValidationError:
            continue
    return out


def validate_command(path: Path) -> int:
    path = Path(path)
    folders = (
        [path]
        if (path / "plan.yaml").exists()
        else sorted(p.parent for p in path.glob("*/plan.yaml"))
    )
    if not folders:
        console.print(f"[red]未找到规划 / no plan.yaml under {path}[/]")
        return 2
    plans_dir = path.parent if (path / "plan.yaml").exists() else path
    total = 0
    for folder in folders:
        problems = validate_plan_folder(folder, plans_dir)
        total += len(problems)
        if problems:
            console.print(f"[red]✖ {folder}：{len(problems)} 个问题 / problems[/]")
            for p in problems:
                console.print(f"  - {p}", markup=False)
        else:
            console.print(f"[green]✔ {folder}：校验通过 / valid[/]")
    if total == 0 and plans_dir.exists():
        try:
            load_catalog(plans_dir)
        except DefinitionError as e:
            console.print(f"[red]✖ {e}[/]", markup=False)
            return 1
    return 1 if total else 0


SKELETON_DIR = Path(__file__).resolve().parent.parent / "plans" / "_skeleton"


def new_command(name: str) -> int:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        console.print(
            f"[red]规划代号只能用小写字母、数字、下划线 / plan id must match [a-z][a-z0-9_]*: {name!r}[/]"
        )
        return 2
    target = get_settings().plans_dir / name
    if target.exists():
        console.print(f"[red]已存在 / already exists: {target}[/]")
        return 2
    target.mkdir(parents=True)
    for src in sorted(SKELETON_DIR.glob("*.yaml.tmpl")):
        text = src.read_text(encoding="utf-8").replace("__PLAN_ID__", name)
        (target / src.name.removesuffix(".tmpl")).write_text(text, encoding="utf-8")
    console.print(f"已写入骨架 / skeleton written: {target}")
    console.print(f"下一步 / next: 编辑后运行 / edit, then run  healthplan plan validate {target}")
    return 0
