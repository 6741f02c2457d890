"""Reference tables are upserted from plain dicts."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from warehouse.definitions import sync_definitions
from warehouse.observations import counts
from warehouse.schema import area, indicator, plan

AREAS = [
    # a child listed before its parent: the sync orders them
    {
        "code": "110101",
        "name_zh": "东城区",
        "name_en": "Dongcheng",
        "level": "district",
        "parent_code": "110000",
    },
    {
        "code": "110000",
        "name_zh": "北京市",
        "name_en": "Beijing",
        "level": "city",
        "parent_code": None,
    },
]
ELEMENTS = [
    {"code": "pop", "name_zh": "常住人口", "unit": "万人", "source": "统计局", "kind": "count"}
]
PLANS = [
    {
        "id": "p14",
        "title_zh": "十四五卫生健康规划",
        "jurisdiction": "110000",
        "baseline_year": 2020,
        "target_year": 2025,
        "mid_term_year": 2023,
        "definition_checksum": "c" * 64,
    }
]
INDICATORS = [
    {
        "plan_id": "p14",
        "number": 1,
        "category_zh": "健康水平",
        "name_zh": "人均预期寿命",
        "unit": "岁",
        "direction": "up",
        "attribute": "预期性",
        "level": "district",
        "definition": {"formula": "life_exp", "target": {"value": 80.5, "comparator": ">="}},
    },
    {
        "plan_id": "p14",
        "number": 2,
        "name_zh": "孕产妇死亡率",
        "unit": "1/10万",
        "direction": "down",
        "definition": {"formula": "mmr"},
    },
]


def test_sync_inserts_then_updates_in_place(engine):
    sync_definitions(engine, AREAS, ELEMENTS, PLANS, INDICATORS)
    first = counts(engine)
    assert (first["area"], first["data_element"], first["plan"], first["indicator"]) == (2, 1, 1, 2)

    renamed = [dict(AREAS[0], name_en="Dongcheng District"), AREAS[1]]
    changed = [dict(INDICATORS[0], definition={"formula": "life_exp_v2"}), INDICATORS[1]]
    sync_definitions(engine, renamed, ELEMENTS, PLANS, changed)
    assert counts(engine) == first
    with engine.connect() as conn:
        assert conn.execute(sa.select(area.c.name_en).where(area.c.code == "110101")).scalar() == (
            "Dongcheng District"
        )
        definition = conn.execute(
            sa.select(indicator.c.definition).where(indicator.c.number == 1)
        ).scalar()
        assert definition == {"formula": "life_exp_v2"}
        row = conn.execute(sa.select(plan)).one()
        assert row.loaded_at.tzinfo is not None and row.baseline_year == 2020


def test_indicators_dropped_from_a_plan_are_removed(engine):
    sync_definitions(engine, AREAS, ELEMENTS, PLANS, INDICATORS)
    sync_definitions(engine, [], [], [], INDICATORS[:1])
    with engine.connect() as conn:
        numbers = conn.execute(sa.select(indicator.c.number)).scalars().all()
    assert numbers == [1]


def test_unknown_or_missing_keys_fail_clearly(engine):
    with pytest.raises(ValueError, match="unknown keys"):
        sync_definitions(engine, [dict(AREAS[1], name_cn="x")], [], [], [])
    with pytest.raises(ValueError, match="required keys missing.*name_zh"):
        sync_definitions(engine, [{"code": "1", "level": "city"}], [], [], [])
    assert counts(engine)["area"] == 0


def test_bad_level_is_refused_by_the_database(engine):
    with pytest.raises(sa.exc.IntegrityError):
        sync_definitions(engine, [dict(AREAS[1], level="galaxy")], [], [], [])


def test_json_text_is_stored_as_a_document(engine):
    as_text = [dict(INDICATORS[1], definition='{"formula": "mmr", "target": 10}')]
    sync_definitions(engine, AREAS, ELEMENTS, PLANS, as_text)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(indicator.c.definition)).scalar()
    assert stored == {"formula": "mmr", "target": 10}
