"""Security: revocable sessions (a per-user epoch), disabled users, token expiry and revocation

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 07:20:00
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from werkzeug.security import check_password_hash

import garde.models
from garde.demo import DEMO_LOGINS

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Tokens made before expiry existed live 90 days from the upgrade, the default lifetime.
EXISTING_TOKENS_LIVE = timedelta(days=90)


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("disabled_at", garde.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    _mark_demo_logins()

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("expires_at", garde.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("revoked_at", garde.models.UTCDateTime(timezone=True), nullable=True)
        )
    tokens = sa.table(
        "api_tokens", sa.column("expires_at", garde.models.UTCDateTime(timezone=True))
    )
    op.execute(tokens.update().values(expires_at=datetime.now(UTC) + EXISTING_TOKENS_LIVE))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "expires_at", existing_type=garde.models.UTCDateTime(timezone=True), nullable=False
        )


def _mark_demo_logins() -> None:
    """`garde up` used to load the demo into any empty database: a demo login still opened
    by its published password is marked, so that its banner shows."""
    users = sa.table(
        "users",
        sa.column("id"),
        sa.column("username"),
        sa.column("password_hash"),
        sa.column("demo"),
    )
    published = {login: password for login, password, _ in DEMO_LOGINS}
    rows = op.get_bind().execute(
        sa.select(users.c.id, users.c.username, users.c.password_hash).where(
            users.c.username.in_(published)
        )
    )
    for user_id, username, password_hash in rows.all():
        if check_password_hash(password_hash, published[username]):
            op.execute(users.update().where(users.c.id == user_id).values(demo=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("expires_at")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("demo")
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("session_epoch")
