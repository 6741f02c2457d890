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
    Indicator,
    Plan,
    load_catalog,
    plan_problems,
    yaml_data,
)
from healthplan.layouts import SourceLayouts, element_problems
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
    plan_path = folder / "plan.yaml"
    plan_data, errs = _read(plan_path)
    problems += errs
    if not errs:
        problems += [f"{plan_path}: {p}" for p in plan_problems(plan_data, known)]
    plan = None if errs else _valid(Plan, plan_data)
    data, errs = _read(folder / "areas.yaml")
    areas, more = (None, []) if errs else _problems(AreaSet, data, folder / "areas.yaml")
    problems += errs + more
    problems += source_problems(plans_dir / "sources", known, _used_elements(plan_data))
    if plan is not None and areas is not None and areas.jurisdiction != plan.jurisdiction:
        problems.append(
            f"{folder / 'areas.yaml'}: field jurisdiction: {areas.jurisdiction} ≠ "
            f"plan jurisdiction {plan.jurisdiction}"
        )
    return problems


def _valid(model, data):
    """The model when the data validates, else None (its problems are reported elsewhere)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def _used_elements(plan_data) -> set[str]:
    """The data elements the plan's formulas read, from every indicator that validates."""
    used: set[str] = set()
    raws = plan_data.get("indicators") if isinstance(plan_data, dict) else None
    for raw in raws if isinstance(raws, list) else []:
        ind = _valid(Indicator, raw)
        if ind is not None and ind.formula is not None:
            used |= ind.formula.elements()
    return used


def source_problems(sources_dir: Path, elements: dict, used: set[str]) -> list[str]:
    """Source layouts that disagree about the elements this plan reads: an element written by
    two sources, or by a source it does not belong to."""
    if not sources_dir.is_dir():
        return []
    problems: list[str] = []
    writers: dict[str, list[str]] = {}
    for path in sorted(sources_dir.glob("*.yaml")):
        data, errs = _read(path)
        src, more = (None, []) if errs else _problems(SourceLayouts, data, path)
        problems += errs + more
        if src is None:
            continue
        for lay in src.layouts:
            for code in lay.element_codes():
                if code in used and src.source not in writers.setdefault(code, []):
                    writers[code].append(src.source)
        problems += [
            f"{path}: {p}"
            for p in element_problems(src, elements)
            if any(f"{code!r}" in p for code in used)
        ]
    for code, sources in sorted(writers.items()):
        if len(sources) > 1:
            problems.append(
                f"{sources_dir}: 数据元{code}由多个来源写入（{'、'.join(sources)}），"
                f"同一观测值只能有一个来源 / element {code!r} written by {len(sources)} sources"
            )
    return problems


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
