"""Migrations create exactly the schema in warehouse/schema.py, on both databases, once."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from warehouse.engine import get_engine
from warehouse.migrate import current_revision, head_revision, upgrade
from warehouse.observations import counts
from warehouse.schema import metadata, schema_markdown


def test_upgrade_creates_every_table(engine):
    names = set(sa.inspect(engine).get_table_names())
    assert set(metadata.tables) <= names
    assert "alembic_version" in names
    assert current_revision(engine) == head_revision() == "0001"


def test_upgrade_is_idempotent(engine):
    before = counts(engine)
    upgrade(engine)
    upgrade(engine)
    assert counts(engine) == before
    assert current_revision(engine) == "0001"


def test_migration_matches_schema(engine):
    """The hand-written migration and the table definitions must not drift apart."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_current_row_index_is_partial(engine):
    indexes = {ix["name"]: ix for ix in sa.inspect(engine).get_indexes("observation")}
    assert indexes["uq_observation_current"]["unique"]
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'uq_observation_current'"
            ).scalar()
        else:
            sql = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_observation_current'"
            ).scalar()
    assert "valid_to IS NULL" in sql


def test_concurrent_upgrades_do_not_collide(db_url):
    engine = get_engine(db_url)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(engine)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert current_revision(engine) == "0001"


def test_schema_markdown_lists_every_table_and_column():
    text = schema_markdown()
    for table in metadata.tables.values():
        assert f"## `{table.name}`" in text
        for column in table.columns:
            assert f"| `{column.name}` |" in text
    assert "valid_to IS NULL" in text
