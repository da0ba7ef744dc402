"""Rosters: credentials with dates, rotations, overrides, unavailability, swaps, feeds

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 03:19:42
"""

import sqlalchemy as sa
from alembic import op

import garde.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=False),
        sa.Column("start", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["replaces_id"], ["experts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("overrides", schema=None) as batch_op:
        batch_op.create_index(
            "ix_overrides_replaces_window", ["replaces_id", "start", "end"], unique=False
        )

    op.create_table(
        "rotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("days", sa.JSON(), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("end_time", sa.String(length=5), nullable=False),
        sa.Column("handoff_every_days", sa.Integer(), nullable=False),
        sa.Column("expert_ids", sa.JSON(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("skipped", sa.JSON(), nullable=False),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "swap_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("other_shift_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", garde.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["other_id"], ["experts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["other_shift_id"], ["shifts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requester_id"], ["experts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["shift_id"], ["shifts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("swap_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_swap_requests_status"), ["status"], unique=False)

    op.create_table(
        "calendar_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=True),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", garde.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_calendar_feeds_expert_id"), ["expert_id"], unique=False
        )

    op.create_table(
        "unavailability",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("start", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("unavailability", schema=None) as batch_op:
        batch_op.create_index(
            "ix_unavailability_expert_window", ["expert_id", "start", "end"], unique=False
        )

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("detail", sa.String(length=500), nullable=False, server_default="")
        )

    with op.batch_alter_table("expert_sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("valid_until", sa.Date(), nullable=True))
        batch_op.create_index("ix_expert_sites_site", ["site_id", "expert_id"], unique=False)

    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=2), nullable=False, server_default="fr")
        )
        batch_op.add_column(
            sa.Column(
                "timezone", sa.String(length=64), nullable=False, server_default="Europe/Paris"
            )
        )

    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="manual")
        )
        batch_op.add_column(sa.Column("rotation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("slot", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("edited", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("override_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("import_uid", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_shifts_expert_start", ["expert_id", "start"], unique=False)
        batch_op.create_index(batch_op.f("ix_shifts_import_uid"), ["import_uid"], unique=False)
        batch_op.create_index(batch_op.f("ix_shifts_override_id"), ["override_id"], unique=False)
        batch_op.create_unique_constraint("uq_shifts_rotation_slot", ["rotation_id", "slot"])
        batch_op.create_foreign_key(
            "fk_shifts_override", "overrides", ["override_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_foreign_key(
            "fk_shifts_rotation", "rotations", ["rotation_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_shifts_rotation", type_="foreignkey")
        batch_op.drop_constraint("fk_shifts_override", type_="foreignkey")
        batch_op.drop_constraint("uq_shifts_rotation_slot", type_="unique")
        batch_op.drop_index(batch_op.f("ix_shifts_override_id"))
        batch_op.drop_index(batch_op.f("ix_shifts_import_uid"))
        batch_op.drop_index("ix_shifts_expert_start")
        batch_op.drop_column("import_uid")
        batch_op.drop_column("override_id")
        batch_op.drop_column("edited")
        batch_op.drop_column("slot")
        batch_op.drop_column("rotation_id")
        batch_op.drop_column("source")

    with op.batch_alter_table("experts", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("language")

    with op.batch_alter_table("expert_sites", schema=None) as batch_op:
        batch_op.drop_index("ix_expert_sites_site")
        batch_op.drop_column("valid_until")
        batch_op.drop_column("valid_from")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("detail")

    with op.batch_alter_table("unavailability", schema=None) as batch_op:
        batch_op.drop_index("ix_unavailability_expert_window")

    op.drop_table("unavailability")
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calendar_feeds_expert_id"))

    op.drop_table("calendar_feeds")
    with op.batch_alter_table("swap_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_swap_requests_status"))

    op.drop_table("swap_requests")
    op.drop_table("rotations")
    with op.batch_alter_table("overrides", schema=None) as batch_op:
        batch_op.drop_index("ix_overrides_replaces_window")

    op.drop_table("overrides")
