"""Reports are also rendered as Word documents: 'docx' joins the report formats.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

Written out explicitly, as 0001 is. SQLite cannot alter a CHECK constraint: batch mode copies the
table with the new constraint, keeping its rows; PostgreSQL drops and adds it in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _replace_format_check(formats: tuple[str, ...], old: tuple[str, ...]) -> None:
    with op.batch_alter_table("report") as batch:
        batch.drop_constraint(op.f("ck_report_format"), type_="check")
        batch.create_check_constraint(
            op.f("ck_report_format"), f"format IN ({', '.join(repr(f) for f in formats)})"
        )
        batch.alter_column(
            "format",
            existing_type=sa.String(8),
            existing_nullable=False,
            comment="/".join(formats),
            existing_comment="/".join(old),
        )


def upgrade() -> None:
    _replace_format_check(("pdf", "html", "xlsx", "docx"), ("pdf", "html", "xlsx"))


def downgrade() -> None:
    op.execute("DELETE FROM report WHERE format = 'docx'")
    _replace_format_check(("pdf", "html", "xlsx"), ("pdf", "html", "xlsx", "docx"))
