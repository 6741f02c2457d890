"""Reviews with a lifecycle (stage, data year, override, withdrawal) and acknowledged quality
issues.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08

Written out explicitly, as 0001 and 0002 are. Verdicts recorded before this revision keep
stage and data_year NULL: which evaluation they were meant for was never recorded, so they apply
to none and `healthplan reviews` lists them as 需重新评定 (to be given again with a stage and year).
They are plain verdicts (override false), none of them withdrawn.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stored as UTC; warehouse.schema.UTCDateTime does the conversion in Python.
UTC_TIME = sa.DateTime(timezone=True)


OLD_COMMENT = "人工评审 verdicts on qualitative targets; the latest one counts"
NEW_COMMENT = (
    "人工评审 verdicts per indicator or text goal, stage and data year; withdrawn, never deleted"
)


def _table_comment(comment: str, existing: str) -> None:
    # SQLite keeps no comments
    if op.get_bind().dialect.name != "sqlite":
        op.create_table_comment("review", comment, existing_comment=existing)


def upgrade() -> None:
    # SQLite cannot add a CHECK constraint in place: batch mode rebuilds the table, keeping rows.
    with op.batch_alter_table("review") as batch:
        batch.alter_column(
            "number",
            existing_type=sa.Integer(),
            nullable=True,
            comment="指标序号 (NULL for a text goal's verdict)",
        )
        batch.add_column(
            sa.Column("goal", sa.String(16), nullable=True, comment="正文目标编号 T1, T2 … (NULL for an indicator's)")
        )
        batch.add_column(
            sa.Column(
                "stage",
                sa.String(8),
                nullable=True,
                comment="评估阶段 mid/end (NULL = recorded before stages: applies to none)",
            )
        )
        batch.add_column(
            sa.Column("data_year", sa.Integer(), nullable=True, comment="数据年份 the evaluation's data year")
        )
        batch.add_column(
            sa.Column(
                "override",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="人工调整 overrides a numeric result (else a verdict on a qualitative target)",
            )
        )
        batch.add_column(sa.Column("withdrawn_at", UTC_TIME, nullable=True, comment="撤回时间 (NULL = in force)"))
        batch.add_column(sa.Column("withdrawn_by", sa.String(100), nullable=True, comment="撤回人"))
        batch.add_column(sa.Column("withdraw_reason", sa.Text(), nullable=True, comment="撤回理由"))
        batch.create_check_constraint(op.f("ck_review_stage"), "stage IN ('mid', 'end')")
        batch.create_check_constraint(
            op.f("ck_review_stage_and_year"), "(stage IS NULL) = (data_year IS NULL)"
        )
        batch.create_check_constraint(
            op.f("ck_review_indicator_or_goal"), "(number IS NULL) <> (goal IS NULL)"
        )
    _table_comment(NEW_COMMENT, OLD_COMMENT)
    with op.batch_alter_table("quality_issue") as batch:
        batch.add_column(
            sa.Column("acknowledged_at", UTC_TIME, nullable=True, comment="确认时间 when a person acknowledged it")
        )
        batch.add_column(sa.Column("acknowledged_by", sa.String(100), nullable=True, comment="确认人"))
        batch.add_column(sa.Column("acknowledge_reason", sa.Text(), nullable=True, comment="确认理由"))
        batch.add_column(
            sa.Column(
                "acknowledged_fingerprint",
                sa.String(64),
                nullable=True,
                comment="sha256 of detail and data when acknowledged; other numbers since reopen it",
            )
        )


def downgrade() -> None:
    # Stages, withdrawals, overrides and acknowledgements are lost on the way down; verdicts on
    # indicators stay, verdicts on text goals go (the old table has no place for them).
    with op.batch_alter_table("quality_issue") as batch:
        for name in ("acknowledged_fingerprint", "acknowledge_reason", "acknowledged_by", "acknowledged_at"):
            batch.drop_column(name)
    _table_comment(OLD_COMMENT, NEW_COMMENT)
    op.execute("DELETE FROM review WHERE goal IS NOT NULL")
    with op.batch_alter_table("review") as batch:
        batch.drop_constraint(op.f("ck_review_indicator_or_goal"), type_="check")
        batch.drop_constraint(op.f("ck_review_stage_and_year"), type_="check")
        batch.drop_constraint(op.f("ck_review_stage"), type_="check")
        for name in ("withdraw_reason", "withdrawn_by", "withdrawn_at", "override", "data_year", "stage", "goal"):
            batch.drop_column(name)
        batch.alter_column("number", existing_type=sa.Integer(), nullable=False, comment=None)
