"""Billing a finance office accepts: versioned tariffs (each site's flat prices become its
first version), lines with their tariff version and breakdown, invoices numbered without gaps
and credit notes; lines and invoices are immutable

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 22:00:00
"""

from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

import garde.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

IMMUTABLE = {
    "billing_lines": "billing lines are immutable: a credit note corrects one",
    "invoices": "invoices are immutable once issued: a credit note corrects one",
    "invoice_lines": "invoices are immutable once issued: a credit note corrects one",
}
# The first version of a site's tariff holds from before any read it can have.
ALWAYS = date(2000, 1, 1)


def upgrade() -> None:
    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "site_id", sa.Integer(), sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("base_cents", sa.JSON(), nullable=False),
        sa.Column("exam_cents", sa.JSON(), nullable=False),
        sa.Column("surcharges", sa.JSON(), nullable=False),
        sa.Column("cumulative", sa.Boolean(), nullable=False),
        sa.Column("expert_share_percent", sa.Integer(), nullable=False),
        sa.Column("holidays", sa.String(32), nullable=False),
        sa.Column("night_start", sa.String(5), nullable=False),
        sa.Column("night_end", sa.String(5), nullable=False),
        sa.Column("priced_at", sa.String(16), nullable=False),
        sa.Column("cancellation_cents", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("site_id", "version", name="uq_tariffs_site_id_version"),
    )
    op.create_index("ix_tariffs_site_id", "tariffs", ["site_id"])
    _first_versions_from_site_prices()
    with op.batch_alter_table("sites") as batch:
        for column in ("prices", "expert_share_percent", "currency"):
            batch.drop_column(column)
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("exam_code", sa.String(32), nullable=True))
    with op.batch_alter_table("billing_lines") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), server_default="read", nullable=False))
        batch.add_column(sa.Column("bands", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("parts", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("tariff_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("tariff_version", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("priced_at", garde.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_foreign_key("fk_billing_lines_tariff_id", "tariffs", ["tariff_id"], ["id"])
    op.execute("UPDATE billing_lines SET priced_at = read_at")
    with op.batch_alter_table("billing_lines") as batch:
        batch.alter_column(
            "priced_at", existing_type=garde.models.UTCDateTime(timezone=True), nullable=False
        )
        batch.create_index("ix_billing_lines_priced_at", ["priced_at"])
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(16), nullable=False, unique=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("site_id", sa.Integer(), sa.ForeignKey("sites.id"), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("period_key", sa.String(48), nullable=True, unique=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("expert_share_cents", sa.Integer(), nullable=False),
        sa.Column("corrects_id", sa.Integer(), sa.ForeignKey("invoices.id"), nullable=True),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("issued_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("year", "sequence", name="uq_invoices_year_sequence"),
    )
    op.create_index("ix_invoices_site_id", "invoices", ["site_id"])
    op.create_index("ix_invoices_month", "invoices", ["month"])
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("invoice_id", sa.Integer(), sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column(
            "billing_line_id", sa.Integer(), sa.ForeignKey("billing_lines.id"), nullable=False
        ),
        sa.Column("invoiced_line_id", sa.Integer(), nullable=True, unique=True),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("expert_share_cents", sa.Integer(), nullable=False),
    )
    op.create_index("ix_invoice_lines_invoice_id", "invoice_lines", ["invoice_id"])
    op.create_index("ix_invoice_lines_billing_line_id", "invoice_lines", ["billing_line_id"])
    op.create_table(
        "invoice_counters",
        sa.Column("year", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last", sa.Integer(), nullable=False),
    )
    for table, why in IMMUTABLE.items():
        _forbid_changes(table, why)


def _first_versions_from_site_prices() -> None:
    bind = op.get_bind()
    tariffs = sa.table(
        "tariffs",
        *(
            sa.column(name)
            for name in (
                "site_id",
                "version",
                "valid_from",
                "currency",
                "cumulative",
                "expert_share_percent",
                "holidays",
                "night_start",
                "night_end",
                "priced_at",
                "created_by",
            )
        ),
        sa.column("base_cents", sa.JSON()),
        sa.column("exam_cents", sa.JSON()),
        sa.column("surcharges", sa.JSON()),
        sa.column("created_at", garde.models.UTCDateTime(timezone=True)),
    )
    sites = sa.table(
        "sites",
        sa.column("id"),
        sa.column("prices", sa.JSON()),
        sa.column("expert_share_percent"),
        sa.column("currency"),
    )
    now = datetime.now(UTC)
    rows = [
        {
            "site_id": site.id,
            "version": 1,
            "valid_from": ALWAYS,
            "currency": site.currency,
            "base_cents": site.prices or {},
            "exam_cents": {},
            "surcharges": {},
            "cumulative": False,
            "expert_share_percent": site.expert_share_percent,
            "holidays": "FR",
            "night_start": "20:00",
            "night_end": "08:00",
            "priced_at": "acceptance",
            "created_by": "migration 0012",
            "created_at": now,
        }
        for site in bind.execute(sa.select(sites))
    ]
    if rows:
        op.bulk_insert(tariffs, rows)


def _forbid_changes(table: str, why: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
                f" BEGIN SELECT RAISE(ABORT, '{why}'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {table}_immutable() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN RAISE EXCEPTION '{why}'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {table}_immutable()"
    )


def downgrade() -> None:
    for table in IMMUTABLE:
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"DROP TRIGGER {table}_no_update")
            op.execute(f"DROP TRIGGER {table}_no_delete")
        else:
            op.execute(f"DROP TRIGGER {table}_immutable ON {table}")
            op.execute(f"DROP FUNCTION {table}_immutable()")
    op.drop_table("invoice_counters")
    op.drop_table("invoice_lines")
    op.drop_table("invoices")
    with op.batch_alter_table("billing_lines") as batch:
        batch.drop_index("ix_billing_lines_priced_at")
        batch.drop_constraint("fk_billing_lines_tariff_id", type_="foreignkey")
        for column in ("priced_at", "tariff_version", "tariff_id", "parts", "bands", "kind"):
            batch.drop_column(column)
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("exam_code")
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("prices", sa.JSON(), server_default="{}", nullable=False))
        batch.add_column(
            sa.Column("expert_share_percent", sa.Integer(), server_default="70", nullable=False)
        )
        batch.add_column(sa.Column("currency", sa.String(3), server_default="EUR", nullable=False))
    op.drop_index("ix_tariffs_site_id", "tariffs")
    op.drop_table("tariffs")
