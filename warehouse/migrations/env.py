"""Alembic environment: the target is the one schema in warehouse.schema."""

from __future__ import annotations

from alembic import context

from warehouse.schema import metadata

config = context.config
target_metadata = metadata


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # warehouse.migrate.upgrade hands us its connection
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from warehouse.engine import get_engine  # the alembic CLI: settings' warehouse

    url = config.get_main_option("sqlalchemy.url") or None
    with get_engine(url).begin() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
