"""What every flow and command needs first: the plan catalog and a migrated, synced warehouse."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy.engine import Engine

from healthplan.definitions import Catalog, load_catalog
from healthplan.settings import REPO_ROOT, get_settings
from warehouse.definitions import sync_definitions
from warehouse.engine import get_engine
from warehouse.migrate import upgrade


@lru_cache
def catalog() -> Catalog:
    return load_catalog(get_settings().plans_dir)


def definition_rows(cat: Catalog) -> dict[str, list[dict]]:
    """The catalog flattened into the warehouse's reference-table rows."""
    now = datetime.now(UTC)
    checksum = cat.checksum()
    areas = [
        {
            "code": a.code,
            "name_zh": a.name_zh,
            "name_en": a.name_en,
            "level": a.level,
            "parent_code": a.parent,
        }
        for a in _parents_first(cat)
    ]
    elements = [
        {
            "code": e.code,
            "name_zh": e.name_zh,
            "name_en": e.name_en,
            "unit": e.unit,
            "source": e.source,
            "kind": e.kind,
        }
        for e in cat.elements.values()
    ]
    plans, indicators = [], []
    for p in cat.plans.values():
        plans.append(
            {
                "id": p.id,
                "title_zh": p.title_zh,
                "title_en": p.title_en,
                "jurisdiction": p.jurisdiction,
                "baseline_year": p.baseline_year,
                "target_year": p.target_year,
                "mid_term_year": p.mid_term_year,
                "definition_checksum": checksum,
                "loaded_at": now,
            }
        )
        for i in p.indicators:
            indicators.append(
                {
                    "plan_id": p.id,
                    "number": i.number,
                    "category_zh": i.category_zh,
                    "name_zh": i.name_zh,
                    "name_en": i.name_en,
                    "unit": i.unit,
                    "direction": i.direction,
                    "attribute": i.attribute,
                    "level": i.level,
                    "definition": json.dumps(i.model_dump(mode="json"), ensure_ascii=False),
                }
            )
    return {"areas": areas, "elements": elements, "plans": plans, "indicators": indicators}


def _parents_first(cat: Catalog):
    seen: dict[str, object] = {}
    for s in cat.area_sets.values():
        for a in s.areas:
            seen.setdefault(a.code, a)
    return sorted(seen.values(), key=lambda a: (a.parent is not None, len(a.code), a.code))


@lru_cache
def warehouse() -> Engine:
    """The configured warehouse, migrated to the newest schema and holding the current plans."""
    engine = get_engine(get_settings().effective_database_url)
    upgrade(engine)
    sync_definitions(engine, **definition_rows(catalog()))
    return engine


@lru_cache
def code_version() -> str:
    """The git commit the code runs from (plus '+dirty' for local changes), for report appendices."""
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if rev.returncode == 0 and rev.stdout.strip():
            return rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import version

    return f"healthplan {version('healthplan')}"
