"""The case carries its promise; the workflow is the one writer; coordinators and alerts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 23:40:00
"""

import sqlalchemy as sa
from alembic import op

import garde.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The defaults of design.md, for cases recorded before cases carried their promise.
LEVELS = {"stat": (180, 600, 1800), "urgent": (300, 1200, 3600), "routine": (900, 7200, 86400)}
LADDER = '["primary", "backup", "broadcast", "coordinator"]'


def upgrade() -> None:
    op.create_table(
        "coordinators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("user_id"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=True),
        sa.Column("raised_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", garde.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_resolved_at"), ["resolved_at"], unique=False)

    with op.batch_alter_table("case_events") as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))

    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(
            sa.Column("status_seq", sa.Integer(), nullable=False, server_default="0")
        )
        for name in ("offer_timeout_s", "accept_within_s", "report_within_s"):
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("escalation", sa.JSON(), nullable=False, server_default=LADDER)
        )
        batch_op.add_column(
            sa.Column("workflow_started_at", garde.models.UTCDateTime(timezone=True), nullable=True)
        )
    cases = sa.table(
        "cases",
        sa.column("priority", sa.String),
        sa.column("offer_timeout_s", sa.Integer),
        sa.column("accept_within_s", sa.Integer),
        sa.column("report_within_s", sa.Integer),
        sa.column("requested_at", garde.models.UTCDateTime(timezone=True)),
        sa.column("workflow_started_at", garde.models.UTCDateTime(timezone=True)),
    )
    for priority, (offer, accept, report) in LEVELS.items():
        op.execute(
            cases.update()
            .where(cases.c.priority == priority)
            .values(offer_timeout_s=offer, accept_within_s=accept, report_within_s=report)
        )
    # Cases recorded before this revision were started by the worker at start-up.
    op.execute(cases.update().values(workflow_started_at=cases.c.requested_at))
    with op.batch_alter_table("cases") as batch_op:
        for name in ("status_seq", "offer_timeout_s", "accept_within_s", "report_within_s"):
            batch_op.alter_column(name, server_default=None)
        batch_op.alter_column("escalation", server_default=None)

    with op.batch_alter_table("offers") as batch_op:
        batch_op.add_column(
            sa.Column("step", sa.String(length=16), nullable=False, server_default="primary")
        )
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("why", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("channel", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("decline_reason", sa.String(length=200), nullable=True))
    with op.batch_alter_table("offers") as batch_op:
        for name in ("step", "round", "why"):
            batch_op.alter_column(name, server_default=None)

    with op.batch_alter_table("sites") as batch_op:
        batch_op.add_column(
            sa.Column("service_levels", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(sa.Column("escalation", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("language", sa.String(length=2), nullable=False, server_default="fr")
        )
    with op.batch_alter_table("sites") as batch_op:
        for name in ("service_levels", "escalation", "language"):
            batch_op.alter_column(name, server_default=None)

    with op.batch_alter_table("sms_messages") as batch_op:
        batch_op.add_column(
            sa.Column("signalled_at", garde.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("answer", sa.String(length=8), nullable=True))
        batch_op.drop_index(batch_op.f("ix_sms_messages_offer_id"))
        batch_op.create_unique_constraint("uq_sms_messages_offer_id", ["offer_id"])
    # Replies stored before this revision were signalled by the webhook at once.
    sms = sa.table(
        "sms_messages",
        sa.column("signalled_at", garde.models.UTCDateTime(timezone=True)),
        sa.column("created_at", garde.models.UTCDateTime(timezone=True)),
        sa.column("offer_id", sa.Integer),
    )
    op.execute(
        sms.update().where(sms.c.offer_id.is_not(None)).values(signalled_at=sms.c.created_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("sms_messages") as batch_op:
        batch_op.drop_constraint("uq_sms_messages_offer_id", type_="unique")
        batch_op.create_index(batch_op.f("ix_sms_messages_offer_id"), ["offer_id"], unique=False)
        batch_op.drop_column("answer")
        batch_op.drop_column("signalled_at")
    with op.batch_alter_table("sites") as batch_op:
        for name in ("language", "escalation", "service_levels"):
            batch_op.drop_column(name)
    with op.batch_alter_table("offers") as batch_op:
        for name in ("decline_reason", "channel", "why", "round", "step"):
            batch_op.drop_column(name)
    with op.batch_alter_table("cases") as batch_op:
        for name in (
            "workflow_started_at",
            "escalation",
            "report_within_s",
            "accept_within_s",
            "offer_timeout_s",
            "status_seq",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("case_events") as batch_op:
        batch_op.drop_column("seq")
    op.drop_table("alerts")
    op.drop_table("coordinators")
