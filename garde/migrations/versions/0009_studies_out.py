"""Studies out: share links for a doctor in town and their access log; each site's study
retention and a legal hold on a study (the purge keeps those)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 16:10:00
"""

import sqlalchemy as sa
from alembic import op

import garde.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(
            sa.Column("study_retention_days", sa.Integer(), server_default="90", nullable=False)
        )
    with op.batch_alter_table("studies") as batch:
        batch.add_column(
            sa.Column("legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("legal_hold_reason", sa.String(length=200), server_default="", nullable=False)
        )
    op.create_table(
        "share_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", garde.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deidentify", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_share_links_case_id", "share_links", ["case_id"])
    op.create_table(
        "share_accesses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["share_id"], ["share_links.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_share_accesses_share_id", "share_accesses", ["share_id"])


def downgrade() -> None:
    op.drop_index("ix_share_accesses_share_id", table_name="share_accesses")
    op.drop_table("share_accesses")
    op.drop_index("ix_share_links_case_id", table_name="share_links")
    op.drop_table("share_links")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("legal_hold_reason")
        batch.drop_column("legal_hold")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("study_retention_days")
