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
    assert current_revision(engine) == head_revision() == "0004"


def test_upgrade_is_idempotent(engine):
    before = counts(engine)
    upgrade(engine)
    upgrade(engine)
    assert counts(engine) == before
    assert current_revision(engine) == "0004"


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
    assert current_revision(engine) == "0004"


def test_schema_markdown_lists_every_table_and_column():
    text = schema_markdown()
    for table in metadata.tables.values():
        assert f"## `{table.name}`" in text
        for column in table.columns:
            assert f"| `{column.name}` |" in text
    assert "valid_to IS NULL" in text


def _schema_diff(engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, metadata)


def _issue_columns(engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("quality_issue")}


def _insert_old_review(engine, number: int, reviewer: str, reason: str, when) -> None:
    """A verdict as 0001 stored it: no stage, data year, override or withdrawal."""
    old = sa.table(
        "review",
        *(sa.column(n) for n in ("plan_id", "number", "verdict", "reviewer", "reason")),
        sa.column("reviewed_at", metadata.tables["review"].c.reviewed_at.type),
    )
    with engine.begin() as conn:
        conn.execute(
            sa.insert(old).values(
                plan_id="p", number=number, verdict=True, reviewer=reviewer, reason=reason,
                reviewed_at=when,
            )
        )  # fmt: skip


def test_a_0001_warehouse_with_data_upgrades_to_the_head_keeping_its_rows(db_url):
    from datetime import UTC, datetime

    from warehouse.results import load_quality_issues, load_reviews

    engine = get_engine(db_url)
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001" and "closed_at" not in _issue_columns(engine)
    kinds = [d[0] if isinstance(d, tuple) else d[0][0] for d in _schema_diff(engine)]
    # the comparison sees 0002's and 0003's columns (and, on PostgreSQL, 0003's table comments
    # and 0004's comment on report.format)
    assert "add_column" in kinds
    # (and 0003's review.number, nullable since a verdict may be for a text goal instead)
    assert set(kinds) <= {"add_column", "modify_comment", "add_table_comment", "modify_nullable"}
    detected = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    issue_0001 = sa.table(  # quality_issue as 0001 made it: no closed_at
        "quality_issue",
        *(sa.column(n) for n in ("plan_id", "kind", "severity", "number", "detail")),
        sa.column("detected_at", metadata.tables["quality_issue"].c.detected_at.type),
        sa.column("is_open", sa.Boolean),
    )
    with engine.begin() as conn:
        conn.execute(
            sa.insert(issue_0001),
            [
                {"plan_id": "p", "kind": "still_open", "severity": "error", "number": 1,
                 "detail": "开放", "detected_at": detected, "is_open": True},
                {"plan_id": "p", "kind": "closed_before", "severity": "warning", "number": 2,
                 "detail": "已关闭", "detected_at": detected, "is_open": False},
            ],
        )  # fmt: skip
    _insert_old_review(engine, 3, "王芳", "材料齐全", detected)

    upgrade(engine)

    assert current_revision(engine) == head_revision() == "0004"
    assert _schema_diff(engine) == []  # upgraded step by step, it is the schema in schema.py
    rows = {r["kind"]: r for r in load_quality_issues(engine, "p", open_only=False)}
    assert set(rows) == {"still_open", "closed_before"}
    assert rows["closed_before"]["is_open"] is False and rows["closed_before"]["closed_at"] is None
    assert rows["still_open"]["is_open"] is True and rows["still_open"]["closed_at"] is None
    assert rows["still_open"]["detail"] == "开放" and rows["still_open"]["detected_at"] == detected
    assert [i["kind"] for i in load_quality_issues(engine, "p")] == ["still_open"]
    # when the old closed issue closed is unknown: no as-of answer claims it was open
    later = datetime(2025, 6, 1, tzinfo=UTC)
    assert [i["kind"] for i in load_quality_issues(engine, "p", as_of=later)] == ["still_open"]
    (old,) = load_reviews(engine, "p")
    assert old["reviewer"] == "王芳" and old["stage"] is None and old["data_year"] is None
    assert old["override"] is False and old["withdrawn_at"] is None


def test_downgrade_to_0001_drops_closed_at_keeping_rows_and_constraints(db_url):
    from alembic import command

    from warehouse.migrate import alembic_config
    from warehouse.results import replace_quality_issues

    engine = get_engine(db_url)
    upgrade(engine)
    replace_quality_issues(engine, "p", [{"kind": "a"}, {"kind": "b"}])
    replace_quality_issues(engine, "p", [{"kind": "a"}])  # b closed, closed_at set
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert current_revision(engine) == "0001" and "closed_at" not in _issue_columns(engine)
    assert "acknowledged_at" not in _issue_columns(engine)
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT kind, is_open FROM quality_issue ORDER BY kind")).all()
    assert [(k, bool(o)) for k, o in kept] == [("a", True), ("b", False)]
    inspector = sa.inspect(engine)
    assert "ix_quality_issue_plan_id_is_open" in {
        ix["name"] for ix in inspector.get_indexes("quality_issue")
    }
    assert "ck_quality_issue_severity" in {
        ck["name"] for ck in inspector.get_check_constraints("quality_issue")
    }
    upgrade(engine)
    assert _schema_diff(engine) == []


def test_a_0002_warehouse_upgrades_to_0003_its_old_verdicts_applying_to_nothing(db_url):
    """Verdicts recorded before stages keep stage and year NULL: they apply to no evaluation
    and are listed as 需重新评定; the new columns are there, and the way down keeps the rows."""
    from datetime import UTC, datetime

    from alembic import command

    from healthplan.definitions import load_catalog
    from transforms.reviews import NEEDS_NEW_REVIEW, applicable_reviews, review_standings
    from warehouse.migrate import alembic_config
    from warehouse.results import (
        acknowledge_quality_issue,
        add_review,
        load_reviews,
        replace_quality_issues,
    )

    engine = get_engine(db_url)
    upgrade(engine, "0002")
    when = datetime(2019, 3, 1, 8, 0, tzinfo=UTC)
    _insert_old_review(engine, 28, "王芳", "已印发实施方案", when)
    upgrade(engine)
    replace_quality_issues(engine, "p", [{"kind": "a", "detail": "x"}])
    assert current_revision(engine) == "0004" and _schema_diff(engine) == []
    rows = load_reviews(engine, "p")
    plan = load_catalog().plan("longhu")
    (standing,) = review_standings(plan, rows)
    assert standing["state"] == NEEDS_NEW_REVIEW and standing["applies"] is False
    assert applicable_reviews(plan, rows, "mid", plan.mid_term_year) == {}
    issue_id = next(iter(_issue_ids(engine)))
    acknowledge_quality_issue(engine, issue_id, "李强", "已核实")
    add_review(engine, "p", None, True, "赵六", "正文目标", stage="mid", data_year=2018, goal="T1")

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    assert current_revision(engine) == "0002"
    review_columns = {c["name"] for c in sa.inspect(engine).get_columns("review")}
    assert "stage" not in review_columns and "acknowledged_by" not in _issue_columns(engine)
    with engine.connect() as conn:
        # the text goal's verdict has no place in the old table; the indicator's stays
        assert conn.execute(sa.text("SELECT reviewer FROM review")).scalars().all() == ["王芳"]
    upgrade(engine)
    assert _schema_diff(engine) == []


def _issue_ids(engine) -> list[int]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT id FROM quality_issue")).scalars().all()


def test_a_0003_warehouse_upgrades_to_record_docx_reports_keeping_its_reports(db_url):
    from datetime import UTC, datetime

    from warehouse.results import find_reports, record_report

    engine = get_engine(db_url)
    upgrade(engine, "0003")
    when = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    record_report(engine, plan_id="p", stage="mid", format="pdf", path="/r/p.pdf", created_at=when)
    with engine.begin() as conn, __import__("pytest").raises(sa.exc.IntegrityError):
        conn.execute(
            sa.insert(metadata.tables["report"]).values(
                plan_id="p", stage="mid", format="docx", path="/r/p.docx", created_at=when
            )
        )
    upgrade(engine)
    assert current_revision(engine) == "0004"
    record_report(engine, plan_id="p", stage="mid", format="docx", path="/r/p.docx")
    assert sorted(r["format"] for r in find_reports(engine, "p")) == ["docx", "pdf"]
