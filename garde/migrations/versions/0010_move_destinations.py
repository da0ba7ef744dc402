"""PACS backup: where a site's AE title listens, for a C-MOVE that names it as destination

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("site_ae_titles") as batch:
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("port", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("site_ae_titles") as batch:
        batch.drop_column("port")
        batch.drop_column("host")
