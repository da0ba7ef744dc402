"""DICOM: a site's AE titles as rows (unique across sites), and the index of studies, series
and instances received

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 12:45:00
"""

import sqlalchemy as sa
from alembic import op

import garde.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    titles = _listed_ae_titles()
    # Not a batch copy of `sites` on SQLite: dropping the old table would delete, by cascade,
    # the rows that refer to it (credentials, AE titles). SQLite drops a column since 3.35.
    op.drop_column("sites", "ae_titles")
    op.create_table(
        "site_ae_titles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ae_title", sa.String(length=16), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("open_cases", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ae_title"),
    )
    with op.batch_alter_table("site_ae_titles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_ae_titles_site_id"), ["site_id"], unique=False)
    _insert_ae_titles(titles)
    op.add_column(
        "sites", sa.Column("study_quiet_s", sa.Integer(), nullable=False, server_default="30")
    )

    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("study_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("patient_name", sa.String(length=324), nullable=False),
        sa.Column("accession_number", sa.String(length=64), nullable=False),
        sa.Column("study_date", sa.Date(), nullable=True),
        sa.Column("study_description", sa.String(length=200), nullable=False),
        sa.Column("modalities", sa.JSON(), nullable=False),
        sa.Column("body_part", sa.String(length=64), nullable=False),
        sa.Column("character_set", sa.String(length=200), nullable=False),
        sa.Column("calling_ae", sa.String(length=16), nullable=False),
        sa.Column("first_arrival_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_arrival_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("series_count", sa.Integer(), nullable=False),
        sa.Column("instance_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("stable_at", garde.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site_id", "study_instance_uid", name="uq_studies_site_uid"),
    )
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_studies_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_studies_site_accession", ["site_id", "accession_number"], unique=False
        )

    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("series_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("body_part", sa.String(length=64), nullable=False),
        sa.Column("series_description", sa.String(length=200), nullable=False),
        sa.Column("series_number", sa.Integer(), nullable=True),
        sa.Column("instance_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "series_instance_uid", name="uq_series_study_uid"),
    )

    op.create_table(
        "instances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sop_instance_uid", sa.String(length=64), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("sop_class_uid", sa.String(length=64), nullable=False),
        sa.Column("transfer_syntax_uid", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("received_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sop_instance_uid"),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instances_series_id"), ["series_id"], unique=False)


def downgrade() -> None:
    op.drop_column("sites", "study_quiet_s")
    op.drop_table("instances")
    op.drop_table("series")
    op.drop_table("studies")
    rows = sa.table(
        "site_ae_titles",
        sa.column("id", sa.Integer),
        sa.column("site_id", sa.Integer),
        sa.column("ae_title", sa.String),
    )
    titles: dict[int, list[str]] = {}
    found = op.get_bind().execute(sa.select(rows.c.site_id, rows.c.ae_title).order_by(rows.c.id))
    for site_id, title in found:
        titles.setdefault(site_id, []).append(title)
    op.drop_table("site_ae_titles")
    op.add_column("sites", sa.Column("ae_titles", sa.JSON(), nullable=False, server_default="[]"))
    sites = sa.table("sites", sa.column("id", sa.Integer), sa.column("ae_titles", sa.JSON))
    for site_id, values in titles.items():
        op.execute(sites.update().where(sites.c.id == site_id).values(ae_titles=values))


def _listed_ae_titles() -> list[dict[str, object]]:
    """Each title listed by a site becomes a row of it. A title two sites listed could not
    tell them apart: it stays with the first site made, and the second loses it."""
    sites = sa.table("sites", sa.column("id", sa.Integer), sa.column("ae_titles", sa.JSON))
    taken: set[str] = set()
    rows: list[dict[str, object]] = []
    found = op.get_bind().execute(sa.select(sites.c.id, sites.c.ae_titles).order_by(sites.c.id))
    for site_id, titles in found:
        for title in titles or []:
            if isinstance(title, str) and title.strip() and title.strip() not in taken:
                taken.add(title.strip())
                rows.append(
                    {
                        "ae_title": title.strip(),
                        "site_id": site_id,
                        "open_cases": False,
                        "priority": "urgent",
                    }
                )
    return rows


def _insert_ae_titles(rows: list[dict[str, object]]) -> None:
    table = sa.table(
        "site_ae_titles",
        sa.column("ae_title", sa.String),
        sa.column("site_id", sa.Integer),
        sa.column("open_cases", sa.Boolean),
        sa.column("priority", sa.String),
    )
    if rows:
        op.bulk_insert(table, rows)
