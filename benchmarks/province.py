"""The many-plans preset: a province of K cities × 17 districts/counties (+ synthetic towns), with a
plan at the province, at each city and at each county — 1 + K + 17·K plans (K = 6: 109).

Each city is the Guilin sample re-coded (``45cc…``) at 1/K of the facilities, so the province as
a whole holds about the preset's facilities. Files as a province receives them: each city's
area statistics per source and year; each county's own facility file (``resources``) per year,
so one county's file can change alone. Each plan is a real ``plans/<id>/`` folder: 15–55
indicators drawn from Guilin's and Longhu's definitions (those whose elements the data holds),
renumbered, re-targeted to the plan's area.

The warehouse's area levels stop at city: the province's root is stored at level ``city``.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pandas as pd
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CITIES = {"4503": "桂林市", "4501": "南宁市", "4502": "柳州市", "4504": "梧州市", "4505": "北海市",
          "4506": "防城港市", "4507": "钦州市", "4508": "贵港市", "4509": "玉林市", "4510": "百色市",
          "4511": "贺州市", "4512": "河池市", "4513": "来宾市", "4514": "崇左市"}  # fmt: skip
PROVINCE = "450000"
SEED_CITY = "4503"


def recode(code: str, prefix: str) -> str:
    return prefix + code[4:] if code.startswith(SEED_CITY) else code


def city_areas(seed_areas: list, prefix: str, name: str) -> list[dict]:
    """The seed city's areas under another city's code and name, root under the province."""
    out = []
    for a in seed_areas:
        d = a.model_dump(exclude_none=True)
        d["code"] = recode(d["code"], prefix)
        if d.get("parent"):
            d["parent"] = recode(d["parent"], prefix)
        if a.level == "city":
            d.update(name_zh=name, name_en=f"City {prefix}", parent=PROVINCE)
        elif prefix != SEED_CITY:
            d["name_zh"] = name[:-1] + d["name_zh"]
        out.append(d)
    return out


def province_truth(catalog, scale: float, towns: int, cities: int, seed: int = 20161):
    """(areas as dicts, area observations, facility rows) of the whole province."""
    from samples.generator import sample_truth

    truth = sample_truth(catalog, seed=seed, scale=scale / cities, towns_per_county=towns,
                         check=False)  # fmt: skip
    seed_areas = truth.areas["guilin"]
    obs = truth.area_observations("guilin")
    fac = truth.facility_rows("guilin")
    areas = [{"code": PROVINCE, "name_zh": "广西壮族自治区（模拟）", "name_en": "Province",
              "level": "city"}]  # fmt: skip
    obs_parts, fac_parts = [], []
    for prefix in list(CITIES)[:cities]:
        areas.extend(city_areas(seed_areas, prefix, CITIES[prefix]))
        obs_parts.append(obs.assign(area_code=[recode(c, prefix) for c in obs["area_code"]]))
        fac_parts.append(fac.assign(area_code=[recode(c, prefix) for c in fac["area_code"]],
                                    city=prefix))  # fmt: skip
    return areas, pd.concat(obs_parts, ignore_index=True), pd.concat(fac_parts, ignore_index=True)


def county_of(area: str, parents: dict[str, str], counties: set[str]) -> str | None:
    while area and area not in counties:
        area = parents.get(area)
    return area


def write_files(areas: list[dict], obs: pd.DataFrame, fac: pd.DataFrame, catalog, layouts,
                inbox: Path) -> list:  # fmt: skip
    """Each city's area statistics per source and year (``<city>/<year>/``) and each county's
    facility file per year (``<city>/<county>/<year>/resources_<year>``)."""
    from samples.generator import _facility_rows, _long_rows, _write

    names = {a["code"]: a["name_zh"] for a in areas}
    parents = {a["code"]: a.get("parent") for a in areas}
    counties = {a["code"] for a in areas if a["level"] in ("district", "county")}
    flags = {c for c, e in catalog.elements.items() if e.kind == "flag"}
    obs = obs.assign(source=obs["element"].map(lambda e: catalog.elements[e].source))
    order = [a["code"] for a in areas]
    written = []
    for prefix in sorted({a["code"][:4] for a in areas if a["code"] != PROVINCE}):
        city = prefix + "00"
        mine = obs[obs["area_code"].str.startswith(prefix)]
        for (year, source), part in mine.groupby(["year", "source"], sort=True):
            layout = layouts.layout_for(source, int(year))
            headers, rows = _long_rows(layout, part, names, {}, order, flags)
            written.append(_write(inbox / city / str(year), city, int(year), source, layout,
                                  headers, rows, names[city]))  # fmt: skip
        f = fac[fac["city"] == prefix]
        f = f.assign(county=[county_of(a, parents, counties) for a in f["area_code"]])
        for (county, year), part in f.groupby(["county", "year"], sort=True):
            layout = layouts.layout_for("resources", int(year))
            headers, rows = _facility_rows(layout, part, "guilin")
            written.append(_write(inbox / city / county / str(year), county, int(year),
                                  "resources", layout, headers, rows, names[county]))  # fmt: skip
    return written


def usable_indicators(catalog, elements: set[str]) -> list[dict]:
    """Guilin's and Longhu's indicator definitions whose formula elements the data holds."""
    out = []
    for plan_id in ("guilin", "longhu"):
        doc = yaml.safe_load((REPO_ROOT / "plans" / plan_id / "plan.yaml").read_text("utf-8"))
        plan = catalog.plan(plan_id)
        for raw, ind in zip(doc["indicators"], plan.indicators, strict=True):
            used = set(ind.formula.elements()) if ind.formula else set()
            if used <= elements:
                out.append(raw)
    return out


def plan_doc(plan_id: str, root: dict, indicators: list[dict]) -> dict:
    seed = yaml.safe_load((REPO_ROOT / "plans" / "guilin" / "plan.yaml").read_text("utf-8"))
    title = f"{root['name_zh']}卫生和计划生育事业发展“十三五”规划"
    inds = [{**ind, "number": i + 1} for i, ind in enumerate(indicators)]
    return {**{k: v for k, v in seed.items() if k not in ("indicators", "text_goals")},
            "id": plan_id, "title_zh": title, "title_en": f"Plan of {root['code']}",
            "short_title_zh": f"{root['name_zh']}卫生计生“十三五”规划",
            "jurisdiction": root["code"], "issuing_body_zh": f"{root['name_zh']}卫生和计划生育委员会",
            "indicators": inds}  # fmt: skip


def subtree(areas: list[dict], root: str) -> list[dict]:
    children: dict[str, list[dict]] = {}
    for a in areas:
        children.setdefault(a.get("parent") or "", []).append(a)
    out, todo = [], [next(a for a in areas if a["code"] == root)]
    while todo:
        a = todo.pop(0)
        out.append({**a, "parent": a.get("parent")} if out else
                   {k: v for k, v in a.items() if k != "parent"})  # fmt: skip
        todo.extend(children.get(a["code"], []))
    return out


def write_plans(areas: list[dict], catalog, elements: set[str], plans_dir: Path,
                seed: int = 20161) -> list[str]:  # fmt: skip
    """The plans folder: shared definitions, Guilin's and Longhu's element files (their plans
    removed), one folder per province/city/county plan. Returns the plan ids, largest first."""
    shutil.copytree(REPO_ROOT / "plans", plans_dir, ignore=shutil.ignore_patterns("_skeleton"))
    for plan_id in ("guilin", "longhu"):
        for name in ("plan.yaml", "areas.yaml", "source.txt"):
            (plans_dir / plan_id / name).unlink(missing_ok=True)
    pool = usable_indicators(catalog, elements)
    rng = random.Random(seed)
    roots = [a for a in areas if a["code"] == PROVINCE or a["level"] in ("city", "district",
                                                                          "county")]  # fmt: skip
    ids = []
    for root in roots:
        plan_id = f"p{root['code']}"
        top = min(55, len(pool))
        n = top if root["code"] == PROVINCE else rng.randint(15, top)
        chosen = sorted(rng.sample(range(len(pool)), n))
        folder = plans_dir / plan_id
        folder.mkdir()
        doc = plan_doc(plan_id, root, [pool[i] for i in chosen])
        (folder / "plan.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True,
                                                         sort_keys=False), encoding="utf-8")  # fmt: skip
        shutil.copy(REPO_ROOT / "plans" / "guilin" / "source.txt", folder / "source.txt")
        tree = {"jurisdiction": root["code"], "areas": subtree(areas, root["code"])}
        (folder / "areas.yaml").write_text(yaml.safe_dump(tree, allow_unicode=True,
                                                          sort_keys=False), encoding="utf-8")  # fmt: skip
        ids.append(plan_id)
    return ids


def generate_province(out: Path, scale: float, towns: int, cities: int) -> dict:
    """Files, plans and the list of plans (province, cities, counties) in ``out``."""
    from healthplan.definitions import load_catalog
    from healthplan.layouts import load_layouts

    catalog = load_catalog(REPO_ROOT / "plans")
    layouts = load_layouts(REPO_ROOT / "plans" / "sources", catalog.elements)
    areas, obs, fac = province_truth(catalog, scale, towns, cities)
    written = write_files(areas, obs, fac, catalog, layouts, Path(out) / "inbox")
    elements = set(obs["element"]) | {e for e, d in catalog.elements.items()
                                      if d.source == "resources"}  # fmt: skip
    plans = write_plans(areas, catalog, elements, Path(out) / "plans")
    load_catalog(Path(out) / "plans")  # every plan valid, or fail here
    return {
        "plans": plans, "areas": len(areas), "cities": cities,
        "files": len(written), "bytes": int(sum(w.bytes for w in written)),
        "facility_rows": int(sum(w.rows for w in written if w.source == "resources")),
        "county_files": sorted(str(w.path) for w in written if w.source == "resources"),
    }  # fmt: skip
