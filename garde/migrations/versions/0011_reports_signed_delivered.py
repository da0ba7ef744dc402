"""Reports a site can rely on: versions signed in a chain and immutable, acknowledgements of
critical findings, delivery attempts, experts' macros, the site's endpoints

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 19:00:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from reports.signing import Content

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_IMMUTABLE = "reports are immutable: a correction is an addendum"


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(
            sa.Column("report_webhook_url", sa.String(500), server_default="", nullable=False)
        )
        batch.add_column(
            sa.Column("report_webhook_secret", sa.String(200), server_default="", nullable=False)
        )
        batch.add_column(
            sa.Column("hl7_endpoint", sa.String(300), server_default="", nullable=False)
        )
        batch.add_column(
            sa.Column("critical_ack_within_s", sa.JSON(), server_default="{}", nullable=False)
        )
    with op.batch_alter_table("voice_calls") as batch:
        batch.add_column(sa.Column("site_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_voice_calls_site_id", "sites", ["site_id"], ["id"])
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("template", sa.String(64), nullable=True))
        batch.add_column(sa.Column("technique", sa.Text(), server_default="", nullable=False))
        batch.add_column(sa.Column("recommendations", sa.Text(), server_default="", nullable=False))
        batch.add_column(sa.Column("critical_category", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("discrepancy", sa.String(8), nullable=True))
        batch.add_column(sa.Column("previous_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("sha256", sa.String(64), nullable=True))
    _sign_stored_reports()
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("version", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("sha256", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_reports_case_id_version", ["case_id", "version"])
    op.create_table(
        "report_acknowledgements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("category", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("acknowledged_via", sa.String(8), nullable=True),
        sa.UniqueConstraint("report_id"),
    )
    op.create_index("ix_report_acknowledgements_case_id", "report_acknowledgements", ["case_id"])
    op.create_table(
        "report_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False),
        sa.UniqueConstraint("report_id", "channel", "attempt"),
    )
    op.create_index("ix_report_deliveries_case_id", "report_deliveries", ["case_id"])
    op.create_index("ix_report_deliveries_report_id", "report_deliveries", ["report_id"])
    op.create_table(
        "expert_macros",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "expert_id",
            sa.Integer(),
            sa.ForeignKey("experts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("expert_id", "name"),
    )
    op.create_index("ix_expert_macros_expert_id", "expert_macros", ["expert_id"])
    _forbid_changes_to_reports()


def _sign_stored_reports() -> None:
    """Number each case's versions in the order they were stored and sign them as a chain,
    as they would have been signed when stored; a critical flag becomes category 1 (the
    flag meant "the site must acknowledge at once")."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT r.id, r.case_id, r.kind, r.findings, r.impression, r.critical,"
            " r.created_at, e.code FROM reports r JOIN experts e ON e.id = r.expert_id"
            " ORDER BY r.case_id, r.id"
        )
    ).all()
    last: dict[int, tuple[int, str]] = {}
    for id_, case_id, kind, findings, impression, critical, created_at, author in rows:
        version, previous = last.get(case_id, (0, None))
        version += 1
        category = 1 if critical else None
        digest = Content(
            case_id=case_id,
            version=version,
            kind=kind,
            author=author,
            signed_at=_aware(created_at),
            technique="",
            findings=findings,
            impression=impression,
            recommendations="",
            critical_category=category,
            discrepancy=None,
            template=None,
            previous_sha256=previous,
        ).sha256()
        bind.execute(
            sa.text(
                "UPDATE reports SET version = :v, critical_category = :c,"
                " previous_sha256 = :p, sha256 = :s WHERE id = :id"
            ),
            {"v": version, "c": category, "p": previous, "s": digest, "id": id_},
        )
        last[case_id] = (version, digest)


def _aware(value: datetime | str) -> datetime:
    """SQLite hands back a naive UTC datetime (or its text); PostgreSQL an aware one."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _forbid_changes_to_reports() -> None:
    """The database itself keeps every stored version as signed."""
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER reports_no_{action.lower()} BEFORE {action} ON reports"
                f" BEGIN SELECT RAISE(ABORT, '{_IMMUTABLE}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION reports_immutable() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN RAISE EXCEPTION '{_IMMUTABLE}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER reports_immutable BEFORE UPDATE OR DELETE ON reports"
        " FOR EACH ROW EXECUTE FUNCTION reports_immutable()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER reports_no_update")
        op.execute("DROP TRIGGER reports_no_delete")
    else:
        op.execute("DROP TRIGGER reports_immutable ON reports")
        op.execute("DROP FUNCTION reports_immutable()")
    op.drop_table("expert_macros")
    op.drop_table("report_deliveries")
    op.drop_table("report_acknowledgements")
    with op.batch_alter_table("reports") as batch:
        batch.drop_constraint("uq_reports_case_id_version", type_="unique")
        for column in (
            "sha256",
            "previous_sha256",
            "discrepancy",
            "critical_category",
            "recommendations",
            "technique",
            "template",
            "version",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("voice_calls") as batch:
        batch.drop_constraint("fk_voice_calls_site_id", type_="foreignkey")
        batch.drop_column("site_id")
    with op.batch_alter_table("sites") as batch:
        for column in (
            "critical_ack_within_s",
            "report_webhook_secret",
            "report_webhook_url",
            "hl7_endpoint",
        ):
            batch.drop_column(column)
