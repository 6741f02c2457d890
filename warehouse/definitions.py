"""Sync the reference tables (areas, data elements, plans, indicators) from plan data."""

from __future__ import annotations

import contextlib
import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse._sql import clean, dialect_insert, split_known
from warehouse.engine import begin_write
from warehouse.schema import area, data_element, indicator, plan, utcnow


def _records(rows: list[dict], table: sa.Table, what: str, defaults: dict | None = None) -> list:
    """Full column dicts (missing nullable keys → None); unknown or missing required keys fail."""
    records = []
    for i, row in enumerate(rows):
        known, extra = split_known(row, table, what)
        if extra:
            raise ValueError(
                f"{what} {i}: unknown keys {sorted(extra)}; the columns are {list(table.c.keys())}"
            )
        record = {c.name: clean(known.get(c.name)) for c in table.columns}
        for c in table.columns:
            # a JSON column given JSON text stores the document, not a quoted string
            if isinstance(c.type, sa.JSON) and isinstance(record[c.name], str):
                with contextlib.suppress(ValueError):
                    record[c.name] = json.loads(record[c.name])
        for key, value in (defaults or {}).items():
            if record[key] is None:
                record[key] = value
        missing = [
            c.name
            for c in table.columns
            if record[c.name] is None and not c.nullable and c.server_default is None
        ]
        if missing:
            raise ValueError(f"{what} {i} ({row!r:.120}): required keys missing {missing}")
        records.append(record)
    return records


def _upsert(conn: Connection, table: sa.Table, records: list[dict]) -> None:
    if not records:
        return
    stmt = dialect_insert(conn, table)
    keys = [c.name for c in table.primary_key.columns]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    conn.execute(stmt, records)


def _parents_first(records: list[dict]) -> list[dict]:
    """Order areas so every parent is written before its children (the FK is checked per row)."""
    by_code = {r["code"]: r for r in records}
    done: set[str] = set()
    ordered: list[dict] = []

    def visit(code: str, path: tuple[str, ...]) -> None:
        if code in done or code not in by_code:
            return
        if code in path:
            raise ValueError(f"areas form a cycle: {' → '.join((*path, code))}")
        parent = by_code[code]["parent_code"]
        if parent:
            visit(parent, (*path, code))
        done.add(code)
        ordered.append(by_code[code])

    for code in by_code:
        visit(code, ())
    return ordered


def sync_definitions(
    engine: Engine,
    areas: list[dict],
    elements: list[dict],
    plans: list[dict],
    indicators: list[dict],
) -> None:
    """Upsert the reference tables in one transaction; dict keys are the column names.

    Rows are never deleted, except a synced plan's indicators that its new definition no longer
    lists (only for plans that appear in ``indicators``).
    """
    area_rows = _parents_first(_records(areas, area, "area"))
    element_rows = _records(elements, data_element, "data element")
    plan_rows = _records(plans, plan, "plan", defaults={"loaded_at": utcnow()})
    indicator_rows = _records(indicators, indicator, "indicator")
    for rows, table in ((area_rows, area), (element_rows, data_element), (plan_rows, plan)):
        dup = len(rows) - len({tuple(r[c.name] for c in table.primary_key) for r in rows})
        if dup:
            raise ValueError(f"{table.name}: {dup} duplicate keys in the definitions")
    numbers: dict[str, set[int]] = {}
    for r in indicator_rows:
        seen = numbers.setdefault(r["plan_id"], set())
        if r["number"] in seen:
            raise ValueError(f"indicator {r['plan_id']}/{r['number']} is defined twice")
        seen.add(r["number"])
    with begin_write(engine) as conn:
        _upsert(conn, area, area_rows)
        _upsert(conn, data_element, element_rows)
        _upsert(conn, plan, plan_rows)
        _upsert(conn, indicator, indicator_rows)
        for plan_id, keep in numbers.items():
            conn.execute(
                sa.delete(indicator).where(
                    indicator.c.plan_id == plan_id, indicator.c.number.not_in(sorted(keep))
                )
            )
