"""Orders from a RIS (HL7 v2, FHIR) and régulation: a site's HL7 facility and régulation
setting; a case's order number, source and patient, its régulation decision and scan; the
protocol library, seeded with five protocols

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 01:00:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import garde.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The library's first protocols; coordinators edit them and add their own.
SEEDED = [
    (
        "CT-HEAD-NC",
        "CT head without contrast",
        "CT",
        "HEAD",
        "Helical acquisition from the foramen magnum to the vertex, no contrast. "
        "Thin reconstructions (0.625-1 mm) in brain and bone kernels; axial, coronal and "
        "sagittal reformats.",
    ),
    (
        "CTA-WILLIS",
        "CT angiography of the circle of Willis",
        "CT",
        "HEAD",
        "Unenhanced head first. Then 50-70 mL of iodinated contrast at 4-5 mL/s, bolus "
        "tracking on the aortic arch; acquisition from the aortic arch to the vertex. "
        "0.625 mm reconstructions, MIP and 3D of the circle of Willis.",
    ),
    (
        "CTPA",
        "CT pulmonary angiography",
        "CT",
        "CHEST",
        "60-80 mL of iodinated contrast at 4 mL/s, bolus tracking on the pulmonary trunk "
        "(threshold 100 HU); caudocranial acquisition in one breath-hold. 1 mm "
        "reconstructions in mediastinal and lung windows.",
    ),
    (
        "CT-AP-PORTAL",
        "CT abdomen-pelvis, portal venous phase",
        "CT",
        "ABDOMEN",
        "1.5-2 mL/kg of iodinated contrast at 3 mL/s; acquisition at 70 s, from the domes "
        "of the diaphragm to the pubic symphysis. Coronal reformats.",
    ),
    (
        "MR-STROKE",
        "MR stroke protocol",
        "MR",
        "HEAD",
        "Diffusion (b1000, ADC), FLAIR, T2* or SWI, 3D TOF of the circle of Willis; "
        "perfusion and gadolinium-enhanced MRA of the supra-aortic vessels when asked.",
    ),
]


def upgrade() -> None:
    protocols = op.create_table(
        "protocols",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("modality", sa.String(8), nullable=False),
        sa.Column("body_part", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", garde.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", garde.models.UTCDateTime(timezone=True), nullable=False),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        protocols,
        [
            {
                "code": code,
                "name": name,
                "modality": modality,
                "body_part": body_part,
                "text": text,
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for code, name, modality, body_part, text in SEEDED
        ],
    )
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("hl7_facility", sa.String(180), nullable=True))
        batch.add_column(
            sa.Column("regulation", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("reroute_after_scan", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_unique_constraint("uq_sites_hl7_facility", ["hl7_facility"])
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("ordered_via", sa.String(8), nullable=False, server_default="web")
        )
        batch.add_column(sa.Column("placer_order_number", sa.String(64), nullable=True))
        batch.add_column(sa.Column("patient_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("patient_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("patient_birth_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("patient_sex", sa.String(1), nullable=True))
        batch.add_column(
            sa.Column("regulation", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("reroute_after_scan", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("validate_within_s", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "protocol_id",
                sa.Integer(),
                sa.ForeignKey("protocols.id", name="fk_cases_protocol_id_protocols"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("validation_note", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("validated_at", garde.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column(
                "validated_by_id",
                sa.Integer(),
                sa.ForeignKey("experts.id", name="fk_cases_validated_by_id_experts"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("refusal_reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("scanned_at", garde.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.create_unique_constraint(
            "uq_cases_site_id_placer_order_number", ["site_id", "placer_order_number"]
        )


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("uq_cases_site_id_placer_order_number", type_="unique")
        for column in (
            "scanned_at",
            "refusal_reason",
            "validated_by_id",
            "validated_at",
            "validation_note",
            "protocol_id",
            "validate_within_s",
            "reroute_after_scan",
            "regulation",
            "patient_sex",
            "patient_birth_date",
            "patient_name",
            "patient_id",
            "placer_order_number",
            "ordered_via",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("sites") as batch:
        batch.drop_constraint("uq_sites_hl7_facility", type_="unique")
        for column in ("reroute_after_scan", "regulation", "hl7_facility"):
            batch.drop_column(column)
    op.drop_table("protocols")
