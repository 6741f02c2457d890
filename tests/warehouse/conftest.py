"""Warehouse fixtures: a migrated engine on each database."""

from __future__ import annotations

import pytest


@pytest.fixture
def engine(db_url: str):
    from warehouse.engine import get_engine
    from warehouse.migrate import upgrade

    eng = get_engine(db_url)
    upgrade(eng)
    return eng
