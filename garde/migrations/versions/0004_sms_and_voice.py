"""SMS and voice: recipients reachable by SMS, message kinds and cases, voice calls

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 06:21:17
"""

import sqlalchemy as sa
from alembic import op

import garde.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voice_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("to_number", sa.String(length=20), nullable=False),
        sa.Column("from_number", sa.String(length=20), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=True),
        sa.Column("coordinator_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("digits", sa.String(length=8), nullable=True),
        sa.Column("answered_at", garde.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signalled_at", garde.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["coordinator_id"],
            ["coordinators.id"],
        ),
        sa.ForeignKeyConstraint(
            ["expert_id"],
            ["experts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
        sa.UniqueConstraint("provider_sid"),
    )
    with op.batch_alter_table("voice_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voice_calls_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "sms_unreachable_since", garde.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "sms_unreachable_reason", sa.String(length=64), nullable=False, server_default=""
            )
        )

    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sms_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column(
                "sms_unreachable_since", garde.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "sms_unreachable_reason", sa.String(length=64), nullable=False, server_default=""
            )
        )

    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("segments", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("error_code", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_sms_messages_case_id"), ["case_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_sms_messages_case_id", "cases", ["case_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("sms_messages", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sms_messages_case_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_sms_messages_case_id"))
        batch_op.drop_column("error_code")
        batch_op.drop_column("segments")
        batch_op.drop_column("language")
        batch_op.drop_column("case_id")
        batch_op.drop_column("kind")
        batch_op.drop_column("reason")

    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_column("sms_unreachable_reason")
        batch_op.drop_column("sms_unreachable_since")
        batch_op.drop_column("sms_enabled")

    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.drop_column("sms_unreachable_reason")
        batch_op.drop_column("sms_unreachable_since")

    with op.batch_alter_table("voice_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_calls_case_id"))

    op.drop_table("voice_calls")
