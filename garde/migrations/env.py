"""Alembic environment: migrates the database named by the caller's config.

On SQLite, a migration that alters a table copies it and drops the old one (batch mode); with
foreign keys enforced, that drop deletes by cascade every row referring to the table (an
upgraded database would lose its cases' offers, events and reports) or fails. So they are not
enforced while migrating, and checked after.
"""

from alembic import context

from garde.db import make_engine
from garde.models import Base

config = context.config
engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Ignored inside a transaction: before the migrations' own.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
    )
    revision = context.get_context().get_current_revision()
    with context.begin_transaction():
        context.run_migrations()
    # A whole-database check: only when a migration ran.
    if sqlite and context.get_context().get_current_revision() != revision:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(
                f"rows whose foreign key points nowhere after migrating: {broken[:5]}"
            )
engine.dispose()
