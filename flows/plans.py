"""`healthplan plan validate`, `plan new` and `plan import`: a bureau adds its own plan as data."""

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
        warnings = review_warnings(folder)
        if warnings:
            console.print(f"[yellow]! {folder}：{len(warnings)} 处待核对 / marked for review[/]")
            for w in warnings:
                console.print(f"  - {w}", markup=False)
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


# ------------------------------------------------------------------ plan import

INDICATOR_KEYS = (
    "number", "category_zh", "category_en", "name_zh", "name_en", "unit", "direction",
    "baseline", "baseline_source", "baseline_sentence", "target", "attribute",
    "attribute_from_merged_cell", "level", "formula", "text_figures", "decimals", "review_needed",
)  # fmt: skip


def _plain(value):
    """Integral floats as ints, recursively, so the YAML reads as the plan prints (77, not 77.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _dump(data) -> str:
    return yaml.safe_dump(
        _plain(data), allow_unicode=True, sort_keys=False, width=100, default_flow_style=False
    )


def plan_yaml(plan: dict, source_name: str) -> str:
    """plan.yaml's text: a header, then each indicator with its review list as a comment too."""
    head = {k: v for k, v in plan.items() if k not in ("indicators", "text_goals")}
    lines = [
        f"# 由 `healthplan plan import {source_name}` 生成的草稿 / draft written by plan import.",
        "# 标有 review_needed 的字段是推定的，请逐条核对后删除该条；`healthplan plan validate`",
        "# 会列出尚未核对的条目。Fields under review_needed were guessed: check each, then delete",
        "# the entry; `healthplan plan validate` lists the ones left.",
        "# formula {kind: reported}：指标值取自指标监测表（healthplan ingest）/ value from the",
        "# indicator monitoring sheet; map it to data elements later if the counts are at hand.",
        _dump(head).rstrip(),
        "",
        "indicators:",
    ]
    for ind in plan["indicators"]:
        ordered = {k: ind[k] for k in INDICATOR_KEYS if k in ind and ind[k] != []}
        lines.append("")
        for item in ind.get("review_needed", []):
            lines.append(f"# 待核对 review #{ind['number']} {item['field']}: {item['why_zh']}")
        entry = _dump([ordered]).rstrip().splitlines()
        lines.extend(entry)
    lines += ["", "text_goals: []", ""]
    return "\n".join(lines)


AREAS_HEAD = (
    "# 地区 / areas: 代码、中英文名、层级（city/district/county/town/street）、上级代码。\n"
    "# 根为规划所属地区；按“以县（区）/以镇（街道）为单位”评价的指标需要在此补充下辖地区。\n"
    "# The root is the jurisdiction; add its counties or towns for per-unit indicators.\n"
)
ELEMENTS_TEXT = (
    "# 本规划新增的数据元（可选）/ data elements this plan adds (optional).\n"
    "# 导入的指标取自指标监测表（formula kind: reported），不需要数据元。\n"
    "elements: []\n"
)


def review_lines(plan: dict) -> list[str]:
    """Every guess of the draft, one line each, Chinese first."""
    out = [f"规划 plan {r['field']}: {r['why_zh']} / {r['why_en']}" for r in plan["review_needed"]]
    for ind in plan["indicators"]:
        for r in ind.get("review_needed", []):
            out.append(
                f"#{ind['number']} {ind['name_zh']} · {r['field']}: {r['why_zh']} / {r['why_en']}"
            )
    return out


def import_command(source: Path, options, out_dir: Path | None = None) -> int:
    """Write plans/<id>/ from a plan document; 0 when it validates, 1 when not, 2 on bad input."""
    from transforms.plan_import import PlanImportError, draft_plan, read_document

    if not re.fullmatch(r"[a-z][a-z0-9_]*", options.plan_id):
        console.print(
            f"[red]规划代号只能用小写字母、数字、下划线 / plan id must match [a-z][a-z0-9_]*: "
            f"{options.plan_id!r}[/]"
        )
        return 2
    source = Path(source)
    plans_dir = Path(out_dir) if out_dir else get_settings().plans_dir
    target = plans_dir / options.plan_id
    if target.exists():
        console.print(f"[red]已存在 / already exists: {target}[/]")
        return 2
    if not source.is_file():
        console.print(f"[red]{source}：文件不存在 / file not found[/]")
        return 2
    try:
        plan, areas = draft_plan(read_document(source.name, source.read_bytes()), options)
    except PlanImportError as e:
        console.print(f"[red]✖ {source}：{e}[/]", markup=False)
        return 2
    plan["source_document"] = f"source{source.suffix.lower()}"
    _write_folder(target, plan, areas, source)
    n = len(plan["indicators"])
    console.print(f"已写入草稿 / draft written: {target}（{n} 项指标 / indicators）")
    guesses = review_lines(plan)
    if guesses:
        console.print(
            f"[yellow]待核对 {len(guesses)} 处推定 / {len(guesses)} guesses to review:[/]"
        )
        for line in guesses:
            console.print(f"  - {line}", markup=False)
    return validate_command(target)


def _write_folder(target: Path, plan: dict, areas: dict, source: Path) -> None:
    """All files written to a temporary folder first, then moved in place: never half a plan."""
    import shutil
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        (tmp / "plan.yaml").write_text(plan_yaml(plan, source.name), encoding="utf-8")
        (tmp / "areas.yaml").write_text(AREAS_HEAD + _dump(areas), encoding="utf-8")
        (tmp / "elements.yaml").write_text(ELEMENTS_TEXT, encoding="utf-8")
        shutil.copyfile(source, tmp / plan["source_document"])
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def review_warnings(folder: Path) -> list[str]:
    """What the plan still marks for review (review_needed), as warnings naming file and field."""
    data, errs = _read(folder / "plan.yaml")
    if errs or not isinstance(data, dict):
        return []
    path = folder / "plan.yaml"
    out = [
        f"{path}: field {r.get('field')}: {r.get('why_zh')}"
        for r in data.get("review_needed") or []
        if isinstance(r, dict)
    ]
    for ind in data.get("indicators") or []:
        for r in (ind.get("review_needed") or []) if isinstance(ind, dict) else []:
            if isinstance(r, dict):
                out.append(
                    f"{path}: field indicators.{ind.get('number')}.{r.get('field')}: "
                    f"{r.get('why_zh')}"
                )
    return out
