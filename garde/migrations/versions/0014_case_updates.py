"""Each action sent to a case's workflow, decided once: admitted by a worker or given up by
the web (garde/admission.py)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 00:30:00
"""

import sqlalchemy as sa
from alembic import op

import garde.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_updates",
        sa.Column("update_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("admitted", sa.Boolean(), nullable=False),
        sa.Column("decided_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_index("ix_case_updates_case_id", "case_updates", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_updates_case_id", table_name="case_updates")
    op.drop_table("case_updates")
