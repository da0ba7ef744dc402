"""Backups of the application database (`garde db backup`, `garde db restore`).

SQLite is copied page by page with SQLite's own backup API, through the same engine settings
as Garde's processes (WAL, busy timeout): a backup is one consistent snapshot even while Garde
writes, and a restore is one write transaction into the live database, which a process still
holding it open sees as any other change (renaming files under it would corrupt its WAL).
PostgreSQL has its own tools: Garde says which command to run and copies nothing."""

from __future__ import annotations

import os
import shlex
import socket
import sqlite3
from contextlib import closing
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from garde.db import MIGRATIONS, make_engine, upgrade
from garde.settings import Settings


class BackupError(Exception):
    """A backup or restore refused or failed; its message is one line for the operator."""


def backup(settings: Settings, target: Path) -> None:
    """Write a consistent copy of the database to `target` (owner-only), through a temporary
    file renamed into place: a failed backup never leaves half a file under that name."""
    live = _sqlite_file(settings.database_url, "backup")
    if not live.is_file():
        raise BackupError(f"no database at {live}")
    if not target.parent.is_dir():
        raise BackupError(f"no folder {target.parent}")
    if target.exists() and target.resolve() == live.resolve():
        raise BackupError("the backup would overwrite the database itself")
    _snapshot(settings.database_url, target)


def restore(settings: Settings, source: Path, force: bool = False) -> str:
    """Replace the database's content with a backup's, keep the previous content as
    `garde.db.before-restore`, then migrate to the newest schema. Refused while Garde seems
    to run (its web app or DICOM gateway answers) unless `force`: its processes would go on
    with cases and workflows the restored database knows nothing of."""
    live = _sqlite_file(settings.database_url, "restore")
    revision = _garde_revision(source)
    if not force:
        for host, port in (
            (settings.web_host, settings.web_port),
            (settings.dicom_host, settings.dicom_port),
        ):
            if _answers(host, port):
                raise BackupError(
                    f"Garde seems to be running (something answers on {host}:{port}): "
                    "stop it first, or give --force"
                )
    kept = live.with_name(live.name + ".before-restore")
    if live.is_file() and live.stat().st_size:
        _snapshot(settings.database_url, kept)
    engine = make_engine(settings.database_url)  # makes the file owner-only if it is new
    try:
        connection = engine.raw_connection()
        try:
            with closing(_read_only(source)) as backup:
                backup.backup(connection.driver_connection)  # type: ignore[arg-type]
        except sqlite3.Error as e:
            raise BackupError(f"{source} could not be restored: {e}") from e
        finally:
            connection.close()
    finally:
        engine.dispose()
    upgrade(settings.database_url)
    note = f"; the previous database is kept as {kept}" if kept.exists() else ""
    return f"database restored from {source} (revision {revision}), migrated to the newest{note}"


def postgres_commands(settings: Settings, action: str, path: Path) -> str:
    """The pg_dump or pg_restore command for the configured database, password left out (it
    comes from ~/.pgpass or PGPASSWORD, as for any libpq client)."""
    url = make_url(settings.database_url)
    connection = [
        *(["--host", url.host] if url.host else []),
        *(["--port", str(url.port)] if url.port else []),
        *(["--username", url.username] if url.username else []),
        "--dbname",
        url.database or "",
    ]
    if action == "backup":
        command = ["pg_dump", "-Fc", *connection, "--file", str(path)]
        return (
            "Garde copies SQLite only; back up PostgreSQL with (the password from ~/.pgpass "
            f"or PGPASSWORD):\n  {shlex.join(command)}"
        )
    command = ["pg_restore", "--clean", "--if-exists", "--no-owner", *connection, str(path)]
    return (
        "Garde restores SQLite only; with Garde stopped, restore PostgreSQL with (the password "
        "from ~/.pgpass or PGPASSWORD):\n  "
        f"{shlex.join(command)}\n  garde db upgrade"
    )


def is_sqlite(settings: Settings) -> bool:
    return make_url(settings.database_url).get_backend_name() == "sqlite"


def _sqlite_file(url: str, action: str) -> Path:
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise BackupError(f"cannot {action} this database (not a file): {make_url(url).database}")
    return Path(path)


def _snapshot(url: str, target: Path) -> None:
    """Copy the database named by `url` into `target` (0600), atomically."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    engine = make_engine(url)
    try:
        connection = engine.raw_connection()
        try:
            with closing(sqlite3.connect(partial)) as copy:
                connection.driver_connection.backup(copy)  # type: ignore[union-attr]
                # One self-contained file: no -wal beside it to lose.
                copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            connection.close()
        os.replace(partial, target)
    except sqlite3.Error as e:
        raise BackupError(f"the backup failed: {e}") from e
    finally:
        engine.dispose()
        partial.unlink(missing_ok=True)


def _garde_revision(path: Path) -> str:
    """The schema revision of a Garde database file; refused if it is anything else."""
    if not path.is_file():
        raise BackupError(f"no file {path}")
    try:
        with closing(_read_only(path)) as db:
            intact = db.execute("PRAGMA quick_check").fetchone()
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        intact, row = None, None
    if intact != ("ok",) or row is None:
        raise BackupError(f"{path} is not a Garde database (or is damaged)")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if row[0] not in known:
        raise BackupError(f"{path} is from a newer Garde (schema revision {row[0]})")
    return str(row[0])


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False
