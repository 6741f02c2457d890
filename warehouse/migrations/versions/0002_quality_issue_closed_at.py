"""When a quality issue was closed, so a report reproduced as of a past moment lists the issues
open then.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Written out explicitly, as 0001 is. Issues closed before this revision keep closed_at NULL: when
they closed was not recorded.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Stored as UTC; warehouse.schema.UTCDateTime does the conversion in Python.
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Adding a nullable column is a plain ALTER TABLE on both databases; batch mode only copies
    # the table on SQLite when it must (it need not here).
    with op.batch_alter_table("quality_issue") as batch:
        batch.add_column(
            sa.Column(
                "closed_at",
                UTC_TIME,
                nullable=True,
                comment="关闭时间 when no longer found (NULL = open, or closed before this column existed)",
            )
        )


def downgrade() -> None:
    # SQLite: batch mode rebuilds the table without the column, keeping its rows.
    with op.batch_alter_table("quality_issue") as batch:
        batch.drop_column("closed_at")
