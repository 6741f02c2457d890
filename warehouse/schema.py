"""Every warehouse table, defined once; migrations, docs and queries derive from these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Allowed values, kept here so checks, validation and docs share one list.
AREA_LEVELS = ("city", "district", "county", "town", "street")
STAGES = ("mid", "end")
SEVERITIES = ("info", "warning", "error")
REPORT_FORMATS = ("pdf", "html", "xlsx", "docx")
RUN_OUTCOMES = ("running", "completed", "failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator):
    """Timezone-aware UTC in Python on every database.

    SQLite has no time zones: values are stored as naive UTC text in one fixed format, so text
    comparison equals time comparison. Naive inputs are refused: a naive local time read as UTC
    would shift every as-of query by the UTC offset.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if hasattr(value, "to_pydatetime"):  # pandas Timestamp
            value = value.to_pydatetime()
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware time (UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> sa.types.TypeEngine:
    # JSONB on PostgreSQL; None is stored as SQL NULL, not the JSON literal null.
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


Code = sa.String(64)
Checksum = sa.String(64)
# BIGINT on PostgreSQL; SQLite needs INTEGER for an auto-incrementing rowid key.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

area = sa.Table(
    "area",
    metadata,
    sa.Column("code", Code, primary_key=True, comment="行政区划代码 area code"),
    sa.Column("name_zh", sa.String(200), nullable=False, comment="中文名称"),
    sa.Column("name_en", sa.String(200), comment="English name"),
    sa.Column("level", sa.String(16), nullable=False, comment="层级 " + "/".join(AREA_LEVELS)),
    sa.Column(
        "parent_code", Code, sa.ForeignKey("area.code"), comment="上级区划 parent area (NULL = top)"
    ),
    sa.CheckConstraint(_in("level", AREA_LEVELS), name="level"),
    comment="行政区划 areas: city, districts/counties, towns/streets",
)

data_element = sa.Table(
    "data_element",
    metadata,
    sa.Column("code", Code, primary_key=True, comment="数据元代码 data element code"),
    sa.Column("name_zh", sa.String(200), nullable=False, comment="中文名称"),
    sa.Column("name_en", sa.String(200), comment="English name"),
    sa.Column("unit", sa.String(32), comment="计量单位 unit"),
    sa.Column("source", sa.String(100), comment="来源 statistical source"),
    sa.Column("kind", sa.String(32), comment="类型 kind (count, rate, amount, …)"),
    comment="数据元 data elements observed in source files",
)

plan = sa.Table(
    "plan",
    metadata,
    sa.Column("id", Code, primary_key=True, comment="规划标识 plan id"),
    sa.Column("title_zh", sa.String(300), nullable=False, comment="规划名称"),
    sa.Column("title_en", sa.String(300), comment="English title"),
    sa.Column("jurisdiction", Code, comment="辖区 area code the plan covers"),
    sa.Column("baseline_year", sa.Integer, comment="基期年"),
    sa.Column("target_year", sa.Integer, comment="目标年"),
    sa.Column("mid_term_year", sa.Integer, comment="中期评估年"),
    sa.Column("definition_checksum", Checksum, comment="sha256 of the plan definition files"),
    sa.Column("loaded_at", UTCDateTime, nullable=False, comment="when the definition was synced"),
    comment="规划 plans (definitions live in plans/; this is their synced copy)",
)

indicator = sa.Table(
    "indicator",
    metadata,
    sa.Column(
        "plan_id",
        Code,
        sa.ForeignKey("plan.id", ondelete="CASCADE"),
        primary_key=True,
        comment="规划",
    ),
    sa.Column("number", sa.Integer, primary_key=True, comment="指标序号 indicator number"),
    sa.Column("category_zh", sa.String(100), comment="领域 category"),
    sa.Column("name_zh", sa.String(300), nullable=False, comment="指标名称"),
    sa.Column("name_en", sa.String(300), comment="English name"),
    sa.Column("unit", sa.String(32), comment="单位"),
    sa.Column("direction", sa.String(16), comment="desired direction (up, down, …)"),
    sa.Column("attribute", sa.String(16), comment="指标属性 预期性/约束性"),
    sa.Column("level", sa.String(16), comment="评估层级 area level evaluated"),
    sa.Column("definition", _json(), comment="formula, baseline, targets as data"),
    comment="规划指标 plan indicators",
)

source_file = sa.Table(
    "source_file",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("checksum", Checksum, nullable=False, unique=True, comment="sha256 hex of the bytes"),
    sa.Column("name", sa.String(500), nullable=False, comment="原文件名 original file name"),
    sa.Column("source", sa.String(100), comment="来源 source (layout family)"),
    sa.Column("layout", sa.String(100), comment="layout version used to read it"),
    sa.Column("encoding", sa.String(32), comment="detected text encoding"),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("rows_read", sa.Integer),
    sa.Column("rows_loaded", sa.Integer),
    sa.Column("rows_rejected", sa.Integer),
    sa.Column("status", sa.String(16), nullable=False, comment="received, loaded, partial, failed"),
    sa.CheckConstraint("length(checksum) = 64", name="checksum_sha256"),
    comment="来源文件 every ingested file; the same checksum is loaded once",
)

observation = sa.Table(
    "observation",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("area_code", Code, nullable=False, comment="区划"),
    sa.Column("year", sa.Integer, nullable=False, comment="年份"),
    sa.Column("element", Code, nullable=False, comment="数据元"),
    sa.Column(
        "stratum",
        Code,
        nullable=False,
        server_default=sa.text("''"),
        comment="分组 breakdown ('' = none)",
    ),
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("source_file_id", sa.Integer, sa.ForeignKey("source_file.id"), nullable=False),
    sa.Column("source_rows", sa.Text, comment="source file rows, e.g. '2-48,51'"),
    sa.Column("revision", sa.Integer, nullable=False, comment="1, 2, … per key"),
    sa.Column("valid_from", UTCDateTime, nullable=False, comment="held from (UTC)"),
    sa.Column("valid_to", UTCDateTime, comment="held until (NULL = current)"),
    sa.CheckConstraint("revision >= 1", name="revision_positive"),
    sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_range"),
    sa.Index(
        "uq_observation_current",
        "area_code",
        "year",
        "element",
        "stratum",
        unique=True,
        sqlite_where=sa.text("valid_to IS NULL"),
        postgresql_where=sa.text("valid_to IS NULL"),
    ),
    # As-of lookups: current rows come from the index above, closed ones from this one. Only
    # closed rows are indexed, so a first load (all current) does not pay for it.
    sa.Index(
        "ix_observation_history",
        "area_code",
        "year",
        "element",
        "stratum",
        "valid_from",
        sqlite_where=sa.text("valid_to IS NOT NULL"),
        postgresql_where=sa.text("valid_to IS NOT NULL"),
    ),
    comment="观测值 observations with revision history; never overwritten",
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("source_file_id", sa.Integer, sa.ForeignKey("source_file.id", ondelete="SET NULL")),
    sa.Column("file_name", sa.String(500), nullable=False),
    sa.Column("checksum", Checksum),
    sa.Column("row", sa.Integer, comment="row number in the file"),
    sa.Column("field", sa.String(100)),
    sa.Column("value", sa.Text, comment="the rejected raw value"),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_quarantine_source_file_id", "source_file_id"),
    comment="隔离区 rejected rows with the reason",
)

indicator_value = sa.Table(
    "indicator_value",
    metadata,
    sa.Column("plan_id", Code, primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("area_code", Code, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("stratum", Code, primary_key=True, server_default=sa.text("''")),
    sa.Column("value", sa.Double),
    sa.Column("numerator", sa.Double),
    sa.Column("denominator", sa.Double),
    sa.Column("as_of", UTCDateTime, nullable=False, comment="observations as of this moment"),
    sa.Column("computed_at", UTCDateTime, nullable=False),
    comment="指标值 computed indicator values",
)

evaluation = sa.Table(
    "evaluation",
    metadata,
    sa.Column("plan_id", Code, primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("area_code", Code, primary_key=True),
    sa.Column("stage", sa.String(8), primary_key=True, comment="/".join(STAGES)),
    sa.Column("data_year", sa.Integer, primary_key=True),
    sa.Column("as_of", UTCDateTime),
    sa.Column("value", sa.Double),
    sa.Column("baseline", sa.Double),
    sa.Column("target", sa.Double),
    sa.Column("comparator", sa.String(16)),
    sa.Column("met", sa.Boolean),
    sa.Column("tau", sa.Double, comment="time elapsed share τ"),
    sa.Column("p", sa.Double, comment="progress share p"),
    sa.Column("rho", sa.Double, comment="ρ = p / τ"),
    sa.Column("projection", sa.Double),
    sa.Column("cagr", sa.Double),
    sa.Column("status", sa.String(64), comment="状态"),
    sa.Column("status_en", sa.String(100)),
    sa.Column("failing_units", _json(), comment="JSON list of area codes"),
    sa.Column("warnings", _json(), comment="JSON list"),
    sa.Column("detail", _json()),
    sa.Column("evaluated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_in("stage", STAGES), name="stage"),
    comment="评估 evaluation results per indicator, area and stage",
)

quality_issue = sa.Table(
    "quality_issue",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("plan_id", Code, comment="NULL = not tied to a plan (ingest)"),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(8), nullable=False, comment="/".join(SEVERITIES)),
    sa.Column("number", sa.Integer),
    sa.Column("area_code", Code),
    sa.Column("year", sa.Integer),
    sa.Column("file_name", sa.String(500)),
    sa.Column("row", sa.Integer),
    sa.Column("detail", sa.Text),
    sa.Column("data", _json()),
    sa.Column("detected_at", UTCDateTime, nullable=False),
    sa.Column("is_open", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column(
        "closed_at",
        UTCDateTime,
        comment="关闭时间 when no longer found (NULL = open, or closed before this column existed)",
    ),
    sa.Column("acknowledged_at", UTCDateTime, comment="确认时间 when a person acknowledged it"),
    sa.Column("acknowledged_by", sa.String(100), comment="确认人"),
    sa.Column("acknowledge_reason", sa.Text, comment="确认理由"),
    sa.Column(
        "acknowledged_fingerprint",
        Checksum,
        comment="sha256 of detail and data when acknowledged; other numbers since reopen it",
    ),
    sa.CheckConstraint(_in("severity", SEVERITIES), name="severity"),
    sa.Index("ix_quality_issue_plan_id_is_open", "plan_id", "is_open"),
    comment="质量问题 data quality findings",
)

review = sa.Table(
    "review",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plan_id", Code, nullable=False),
    sa.Column("number", sa.Integer, comment="指标序号 (NULL for a text goal's verdict)"),
    sa.Column("goal", sa.String(16), comment="正文目标编号 T1, T2 … (NULL for an indicator's)"),
    sa.Column("verdict", sa.Boolean, nullable=False, comment="达成 met or not"),
    sa.Column("reviewer", sa.String(100), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("reviewed_at", UTCDateTime, nullable=False),
    sa.Column(
        "stage",
        sa.String(8),
        comment="评估阶段 "
        + "/".join(STAGES)
        + " (NULL = recorded before stages: applies to none)",
    ),
    sa.Column("data_year", sa.Integer, comment="数据年份 the evaluation's data year"),
    sa.Column(
        "override",
        sa.Boolean,
        nullable=False,
        server_default=sa.false(),
        comment="人工调整 overrides a numeric result (else a verdict on a qualitative target)",
    ),
    sa.Column("withdrawn_at", UTCDateTime, comment="撤回时间 (NULL = in force)"),
    sa.Column("withdrawn_by", sa.String(100), comment="撤回人"),
    sa.Column("withdraw_reason", sa.Text, comment="撤回理由"),
    sa.CheckConstraint(_in("stage", STAGES), name="stage"),
    sa.CheckConstraint("(stage IS NULL) = (data_year IS NULL)", name="stage_and_year"),
    sa.CheckConstraint("(number IS NULL) <> (goal IS NULL)", name="indicator_or_goal"),
    sa.Index("ix_review_plan_id_number_reviewed_at", "plan_id", "number", "reviewed_at"),
    comment="人工评审 verdicts per indicator or text goal, stage and data year; withdrawn, never deleted",
)

report = sa.Table(
    "report",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("plan_id", Code, nullable=False),
    sa.Column("stage", sa.String(8), nullable=False),
    sa.Column("data_year", sa.Integer),
    sa.Column("as_of", UTCDateTime),
    sa.Column("format", sa.String(8), nullable=False, comment="/".join(REPORT_FORMATS)),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("checksum", Checksum),
    sa.Column("inputs", _json(), comment="source checksums, parameters"),
    sa.Column("code_version", sa.String(64)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint(_in("format", REPORT_FORMATS), name="format"),
    comment="报告 rendered reports and what they were made from",
)

run = sa.Table(
    "run",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flow", sa.String(100), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("parameters", _json()),
    sa.Column("outcome", sa.String(16), nullable=False, comment="/".join(RUN_OUTCOMES)),
    sa.Column("message", sa.Text),
    sa.CheckConstraint(_in("outcome", RUN_OUTCOMES), name="outcome"),
    comment="运行记录 pipeline runs",
)

pipeline_lock = sa.Table(
    "pipeline_lock",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    comment="流水线锁 keeps two pipeline runs from interleaving writes",
)


def _type_name(column: sa.Column) -> str:
    if isinstance(column.type, UTCDateTime):
        return "timestamp (UTC)"
    if isinstance(column.type, sa.JSON) or "JSON" in repr(column.type):
        return "JSON"
    return str(column.type.compile(dialect=postgresql.dialect())).lower()


def schema_markdown() -> str:
    """The schema as Markdown, derived from the table definitions so docs cannot drift."""
    out = ["# Warehouse schema", "", "Generated from `warehouse/schema.py`.", ""]
    for table in metadata.tables.values():
        out += [f"## `{table.name}`", ""]
        if table.comment:
            out += [table.comment, ""]
        out += ["| column | type | null | key | description |", "| --- | --- | --- | --- | --- |"]
        for col in table.columns:
            keys = []
            if col.primary_key:
                keys.append("PK")
            keys += [f"FK → {fk.target_fullname}" for fk in col.foreign_keys]
            if col.unique:
                keys.append("unique")
            null = "yes" if col.nullable else "no"
            default = ""
            if col.server_default is not None:
                arg = col.server_default.arg
                shown = arg if isinstance(arg, str) else arg.compile(dialect=postgresql.dialect())
                default = f" (default `{shown}`)"
            out.append(
                f"| `{col.name}` | {_type_name(col)} | {null} | {', '.join(keys)} | "
                f"{(col.comment or '').replace('|', '/')}{default} |"
            )
        extras = []
        for ix in sorted(table.indexes, key=lambda i: i.name or ""):
            where = ix.dialect_options["postgresql"].get("where")
            kind = "unique index" if ix.unique else "index"
            cond = f" where `{where}`" if where is not None else ""
            cols = ", ".join(c.name for c in ix.columns)
            extras.append(f"- {kind} `{ix.name}` ({cols}){cond}")
        for ck in sorted(
            (c for c in table.constraints if isinstance(c, sa.CheckConstraint)),
            key=lambda c: str(c.name),
        ):
            extras.append(f"- check `{ck.name}`: `{ck.sqltext}`")
        if extras:
            out += ["", *extras]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # python -m warehouse.schema > docs/schema.md
    print(schema_markdown())
