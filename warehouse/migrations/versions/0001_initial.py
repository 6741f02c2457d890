"""Initial warehouse schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out explicitly (not computed from warehouse.schema at run time) so that later schema
edits show up as new migrations; tests/warehouse/test_migrations.py checks this file still
matches warehouse/schema.py.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stored as UTC; warehouse.schema.UTCDateTime does the conversion in Python.
UTC_TIME = sa.DateTime(timezone=True)
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "area",
        sa.Column("code", sa.String(64), nullable=False, comment="行政区划代码 area code"),
        sa.Column("name_zh", sa.String(200), nullable=False, comment="中文名称"),
        sa.Column("name_en", sa.String(200), nullable=True, comment="English name"),
        sa.Column("level", sa.String(16), nullable=False, comment="层级 city/district/county/town/street"),
        sa.Column("parent_code", sa.String(64), nullable=True, comment="上级区划 parent area (NULL = top)"),
        sa.CheckConstraint("level IN ('city', 'district', 'county', 'town', 'street')", name=op.f("ck_area_level")),
        sa.ForeignKeyConstraint(["parent_code"], ["area.code"], name=op.f("fk_area_parent_code_area")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_area")),
        comment="行政区划 areas: city, districts/counties, towns/streets",
    )
    op.create_table(
        "data_element",
        sa.Column("code", sa.String(64), nullable=False, comment="数据元代码 data element code"),
        sa.Column("name_zh", sa.String(200), nullable=False, comment="中文名称"),
        sa.Column("name_en", sa.String(200), nullable=True, comment="English name"),
        sa.Column("unit", sa.String(32), nullable=True, comment="计量单位 unit"),
        sa.Column("source", sa.String(100), nullable=True, comment="来源 statistical source"),
        sa.Column("kind", sa.String(32), nullable=True, comment="类型 kind (count, rate, amount, …)"),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_data_element")),
        comment="数据元 data elements observed in source files",
    )
    op.create_table(
        "plan",
        sa.Column("id", sa.String(64), nullable=False, comment="规划标识 plan id"),
        sa.Column("title_zh", sa.String(300), nullable=False, comment="规划名称"),
        sa.Column("title_en", sa.String(300), nullable=True, comment="English title"),
        sa.Column("jurisdiction", sa.String(64), nullable=True, comment="辖区 area code the plan covers"),
        sa.Column("baseline_year", sa.Integer(), nullable=True, comment="基期年"),
        sa.Column("target_year", sa.Integer(), nullable=True, comment="目标年"),
        sa.Column("mid_term_year", sa.Integer(), nullable=True, comment="中期评估年"),
        sa.Column("definition_checksum", sa.String(64), nullable=True, comment="sha256 of the plan definition files"),
        sa.Column("loaded_at", UTC_TIME, nullable=False, comment="when the definition was synced"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan")),
        comment="规划 plans (definitions live in plans/; this is their synced copy)",
    )
    op.create_table(
        "indicator",
        sa.Column("plan_id", sa.String(64), nullable=False, comment="规划"),
        sa.Column("number", sa.Integer(), nullable=False, comment="指标序号 indicator number"),
        sa.Column("category_zh", sa.String(100), nullable=True, comment="领域 category"),
        sa.Column("name_zh", sa.String(300), nullable=False, comment="指标名称"),
        sa.Column("name_en", sa.String(300), nullable=True, comment="English name"),
        sa.Column("unit", sa.String(32), nullable=True, comment="单位"),
        sa.Column("direction", sa.String(16), nullable=True, comment="desired direction (up, down, …)"),
        sa.Column("attribute", sa.String(16), nullable=True, comment="指标属性 预期性/约束性"),
        sa.Column("level", sa.String(16), nullable=True, comment="评估层级 area level evaluated"),
        sa.Column("definition", JSON, nullable=True, comment="formula, baseline, targets as data"),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"], name=op.f("fk_indicator_plan_id_plan"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("plan_id", "number", name=op.f("pk_indicator")),
        comment="规划指标 plan indicators",
    )
    op.create_table(
        "source_file",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False, comment="sha256 hex of the bytes"),
        sa.Column("name", sa.String(500), nullable=False, comment="原文件名 original file name"),
        sa.Column("source", sa.String(100), nullable=True, comment="来源 source (layout family)"),
        sa.Column("layout", sa.String(100), nullable=True, comment="layout version used to read it"),
        sa.Column("encoding", sa.String(32), nullable=True, comment="detected text encoding"),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=True),
        sa.Column("rows_loaded", sa.Integer(), nullable=True),
        sa.Column("rows_rejected", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, comment="received, loaded, partial, failed"),
        sa.CheckConstraint("length(checksum) = 64", name=op.f("ck_source_file_checksum_sha256")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_file")),
        sa.UniqueConstraint("checksum", name=op.f("uq_source_file_checksum")),
        comment="来源文件 every ingested file; the same checksum is loaded once",
    )
    op.create_table(
        "observation",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("area_code", sa.String(64), nullable=False, comment="区划"),
        sa.Column("year", sa.Integer(), nullable=False, comment="年份"),
        sa.Column("element", sa.String(64), nullable=False, comment="数据元"),
        sa.Column("stratum", sa.String(64), server_default=sa.text("''"), nullable=False, comment="分组 breakdown ('' = none)"),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("source_file_id", sa.Integer(), nullable=False),
        sa.Column("source_rows", sa.Text(), nullable=True, comment="source file rows, e.g. '2-48,51'"),
        sa.Column("revision", sa.Integer(), nullable=False, comment="1, 2, … per key"),
        sa.Column("valid_from", UTC_TIME, nullable=False, comment="held from (UTC)"),
        sa.Column("valid_to", UTC_TIME, nullable=True, comment="held until (NULL = current)"),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_observation_revision_positive")),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_observation_valid_range")),
        sa.ForeignKeyConstraint(["source_file_id"], ["source_file.id"], name=op.f("fk_observation_source_file_id_source_file")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation")),
        comment="观测值 observations with revision history; never overwritten",
    )
    op.create_index(
        "uq_observation_current",
        "observation",
        ["area_code", "year", "element", "stratum"],
        unique=True,
        sqlite_where=sa.text("valid_to IS NULL"),
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index(
        "ix_observation_history",
        "observation",
        ["area_code", "year", "element", "stratum", "valid_from"],
        sqlite_where=sa.text("valid_to IS NOT NULL"),
        postgresql_where=sa.text("valid_to IS NOT NULL"),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source_file_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("row", sa.Integer(), nullable=True, comment="row number in the file"),
        sa.Column("field", sa.String(100), nullable=True),
        sa.Column("value", sa.Text(), nullable=True, comment="the rejected raw value"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["source_file_id"], ["source_file.id"], name=op.f("fk_quarantine_source_file_id_source_file"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        comment="隔离区 rejected rows with the reason",
    )
    op.create_index("ix_quarantine_source_file_id", "quarantine", ["source_file_id"])
    op.create_table(
        "indicator_value",
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("area_code", sa.String(64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(64), server_default=sa.text("''"), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("numerator", sa.Double(), nullable=True),
        sa.Column("denominator", sa.Double(), nullable=True),
        sa.Column("as_of", UTC_TIME, nullable=False, comment="observations as of this moment"),
        sa.Column("computed_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "number", "area_code", "year", "stratum", name=op.f("pk_indicator_value")),
        comment="指标值 computed indicator values",
    )
    op.create_table(
        "evaluation",
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("area_code", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False, comment="mid/end"),
        sa.Column("data_year", sa.Integer(), nullable=False),
        sa.Column("as_of", UTC_TIME, nullable=True),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("baseline", sa.Double(), nullable=True),
        sa.Column("target", sa.Double(), nullable=True),
        sa.Column("comparator", sa.String(16), nullable=True),
        sa.Column("met", sa.Boolean(), nullable=True),
        sa.Column("tau", sa.Double(), nullable=True, comment="time elapsed share τ"),
        sa.Column("p", sa.Double(), nullable=True, comment="progress share p"),
        sa.Column("rho", sa.Double(), nullable=True, comment="ρ = p / τ"),
        sa.Column("projection", sa.Double(), nullable=True),
        sa.Column("cagr", sa.Double(), nullable=True),
        sa.Column("status", sa.String(64), nullable=True, comment="状态"),
        sa.Column("status_en", sa.String(100), nullable=True),
        sa.Column("failing_units", JSON, nullable=True, comment="JSON list of area codes"),
        sa.Column("warnings", JSON, nullable=True, comment="JSON list"),
        sa.Column("detail", JSON, nullable=True),
        sa.Column("evaluated_at", UTC_TIME, nullable=False),
        sa.CheckConstraint("stage IN ('mid', 'end')", name=op.f("ck_evaluation_stage")),
        sa.PrimaryKeyConstraint("plan_id", "number", "area_code", "stage", "data_year", name=op.f("pk_evaluation")),
        comment="评估 evaluation results per indicator, area and stage",
    )
    op.create_table(
        "quality_issue",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=True, comment="NULL = not tied to a plan (ingest)"),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False, comment="info/warning/error"),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("area_code", sa.String(64), nullable=True),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(500), nullable=True),
        sa.Column("row", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("data", JSON, nullable=True),
        sa.Column("detected_at", UTC_TIME, nullable=False),
        sa.Column("is_open", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.CheckConstraint("severity IN ('info', 'warning', 'error')", name=op.f("ck_quality_issue_severity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_issue")),
        comment="质量问题 data quality findings",
    )
    op.create_index("ix_quality_issue_plan_id_is_open", "quality_issue", ["plan_id", "is_open"])
    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.Boolean(), nullable=False, comment="达成 met or not"),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reviewed_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review")),
        comment="人工评审 verdicts on qualitative targets; the latest one counts",
    )
    op.create_index("ix_review_plan_id_number_reviewed_at", "review", ["plan_id", "number", "reviewed_at"])
    op.create_table(
        "report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("data_year", sa.Integer(), nullable=True),
        sa.Column("as_of", UTC_TIME, nullable=True),
        sa.Column("format", sa.String(8), nullable=False, comment="pdf/html/xlsx"),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=True),
        sa.Column("inputs", JSON, nullable=True, comment="source checksums, parameters"),
        sa.Column("code_version", sa.String(64), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.CheckConstraint("format IN ('pdf', 'html', 'xlsx')", name=op.f("ck_report_format")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report")),
        comment="报告 rendered reports and what they were made from",
    )
    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("flow", sa.String(100), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("parameters", JSON, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False, comment="running/completed/failed"),
        sa.Column("message", sa.Text(), nullable=True),
        sa.CheckConstraint("outcome IN ('running', 'completed', 'failed')", name=op.f("ck_run_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
        comment="运行记录 pipeline runs",
    )
    op.create_table(
        "pipeline_lock",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_pipeline_lock")),
        comment="流水线锁 keeps two pipeline runs from interleaving writes",
    )


def downgrade() -> None:
    for table in (
        "pipeline_lock",
        "run",
        "report",
        "review",
        "quality_issue",
        "evaluation",
        "indicator_value",
        "quarantine",
        "observation",
        "source_file",
        "indicator",
        "plan",
        "data_element",
        "area",
    ):
        op.drop_table(table)
