"""Fixtures shared by the parsing tests."""

from __future__ import annotations

import pytest

from healthplan.definitions import load_catalog
from healthplan.layouts import load_layouts
from healthplan.settings import REPO_ROOT
from transforms.parsing import CatalogInfo, parse


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
