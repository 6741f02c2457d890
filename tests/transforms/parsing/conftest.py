"""Fixtures shared by the parsing tests."""

from __future__ import annotations

import pytest
import yaml

from healthplan.definitions import AreaSet, DataElement, ElementCatalog, load_catalog
from healthplan.layouts import load_layouts
from healthplan.settings import REPO_ROOT
from transforms.parsing import CatalogInfo, parse

PLANS = REPO_ROOT / "plans"


@pytest.fixture(scope="module")
def real():
    """The bundled plans' layouts and catalog knowledge, as ingest hands them to the parser."""
    catalog = load_catalog(REPO_ROOT / "plans")
    return load_layouts(
        REPO_ROOT / "plans" / "sources", catalog.elements
    ), CatalogInfo.from_catalog(catalog)


@pytest.fixture
def block_outcomes(monkeypatch):
    """What each block-by-block attempt gave: True where its result was used, False where the
    file went back to the whole read."""
    outcomes: list[bool] = []
    original = parse.parsed_in_blocks

    def recorded(*args, **kwargs):
        out = original(*args, **kwargs)
        outcomes.append(out is not None)
        return out

    monkeypatch.setattr(parse, "parsed_in_blocks", recorded)
    return outcomes


@pytest.fixture(scope="module")
def elements() -> dict[str, DataElement]:
    out: dict[str, DataElement] = {}
    for path in sorted(PLANS.glob("**/elements.yaml")):
        out.update(
            {
                e.code: e
                for e in ElementCatalog.model_validate(yaml.safe_load(path.read_text())).elements
            }
        )
    return out


@pytest.fixture(scope="module")
def layouts(elements):
    return load_layouts(PLANS / "sources", elements)


@pytest.fixture(scope="module")
def longhu(elements) -> CatalogInfo:
    areas = AreaSet.model_validate(yaml.safe_load((PLANS / "longhu" / "areas.yaml").read_text()))
    return CatalogInfo.from_areas(elements, areas.areas)
