"""Database engine, sessions and migrations; SQLite (WAL) by default, PostgreSQL at scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

SessionFactory = sessionmaker[Session]


# One engine per process, its pool as large as the threads that use it at once (the web's
# waitress threads, the worker's activity slots): a thread never waits for a connection, and
# none is opened and closed per request.
POOL_SIZE = 20
POOL_OVERFLOW = 20


def make_engine(url: str) -> Engine:
    # Statement parameters hold clinical text: keep them out of error messages and logs.
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(
            url,
            connect_args={"timeout": 30},
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            hide_parameters=True,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        hide_parameters=True,
    )


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


def insert_for(s: Session, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with the session's database's `ON CONFLICT` clauses (PostgreSQL or SQLite):
    a row whose key is already there is skipped in the statement, not looked for first."""
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def upgrade(url: str) -> None:
    """Create or migrate the schema to the newest revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the web read while the worker writes. In WAL, `synchronous=NORMAL` syncs at
    checkpoints rather than at every commit (SQLite's documented choice for WAL): consistent
    after any crash and durable after a process's; only a power cut or an operating system
    crash may lose the last transactions (PostgreSQL, at scale, syncs every commit). A writer
    waits for another up to 30 s rather than failing. Foreign keys are off by default."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _private_sqlite_file(url: str) -> None:
    """The database holds clinical text: its file is made readable by its owner only (0600),
    in a folder only the owner may enter when Garde makes it, before SQLite opens it; SQLite
    gives its -wal and -shm files the same mode. A file left readable by others is tightened."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    file = Path(path)
    file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    file.touch(mode=0o600, exist_ok=True)
    if file.stat().st_mode & 0o077:
        file.chmod(0o600)
