"""Heartbeats of the running web, worker and gateway processes, on every machine, and each
worker's last reconciler pass (`garde status`, `garde health`)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 15:40:00
"""

import sqlalchemy as sa
from alembic import op

import garde.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "process_heartbeats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reconciled_at", garde.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reconciled", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("role", "host", "pid", name="uq_process_heartbeats"),
    )


def downgrade() -> None:
    op.drop_table("process_heartbeats")
