"""`garde db backup` and `garde db restore` on SQLite (issue 10): an online, consistent,
owner-only copy; a restore that brings the rows back, keeps what it replaced and migrates;
files that are not Garde databases refused in one line."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from garde.db import MIGRATIONS, SessionFactory, make_engine, make_session_factory, upgrade
from garde.intake import CaseRequest, record_case
from garde.models import Case, Site
from garde.registry import create_site
from tests.conftest import free_port

GARDE = [sys.executable, "-m", "garde.cli"]


def garde(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GARDE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def an_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GARDE_", "TWILIO_"))}
    # Ports nothing listens on: a restore checks that Garde is not running.
    web, dicom = free_port(), free_port()
    return {
        **env,
        "GARDE_DATA_DIR": str(data),
        "GARDE_WEB_PORT": str(web),
        "GARDE_DICOM_PORT": str(dicom),
    }


def a_site_and_case(sessions: SessionFactory) -> None:
    with sessions() as s:
        site = create_site(s, {"code": "CH-BACKUP", "name": "Before the backup"})
        s.commit()
        request = {
            "accession_number": "ACC-BACKUP-1",
            "modality": "CT",
            "body_part": "HEAD",
            "study_description": "CT head without contrast",
            "priority": "urgent",
            "clinical_question": "Fall on anticoagulants, rule out bleed",
            "requesting_physician": "Dr Urgences",
            "callback_phone": "+33471000000",
        }
        record_case(s, site, CaseRequest.parse(request, site))


def contents(sessions: SessionFactory) -> tuple[list[str], list[str], str]:
    with sessions() as s:
        return (
            list(s.scalars(select(Site.name).where(Site.code == "CH-BACKUP"))),
            list(s.scalars(select(Case.accession_number))),
            str(s.scalar(text("SELECT version_num FROM alembic_version"))),
        )


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(config).get_current_head())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_backup_taken_while_garde_writes_restores_its_rows(tmp_path: Path) -> None:
    env = an_env(tmp_path / "data")
    url = f"sqlite:///{tmp_path / 'data' / 'garde.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    a_site_and_case(sessions)
    # Garde at work: the rows above are still in the WAL, a write is under way.
    with engine.connect() as busy:
        busy.execute(text("UPDATE sites SET name = 'uncommitted' WHERE code = 'CH-BACKUP'"))
        backed_up = garde(env, "db", "backup", str(tmp_path / "night.db"))
        busy.rollback()
    assert backed_up.returncode == 0, backed_up.stderr
    assert mode(tmp_path / "night.db") == 0o600
    assert not list(tmp_path.glob("*.partial"))

    with sessions.begin() as s:
        s.execute(text("DELETE FROM cases"))
        s.execute(text("UPDATE sites SET name = 'After the backup' WHERE code = 'CH-BACKUP'"))
    assert contents(sessions)[:2] == (["After the backup"], [])

    restored = garde(env, "db", "restore", str(tmp_path / "night.db"))
    assert restored.returncode == 0, restored.stderr
    assert contents(sessions) == (["Before the backup"], ["ACC-BACKUP-1"], head())
    with engine.connect() as c:
        assert c.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()

    kept = tmp_path / "data" / "garde.db.before-restore"
    assert mode(kept) == 0o600
    before = make_engine(f"sqlite:///{kept}")
    assert contents(make_session_factory(before))[:2] == (["After the backup"], [])
    before.dispose()


def test_an_older_backup_is_migrated_to_the_newest_schema(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{old}")
    command.upgrade(config, "0006")

    restored = garde(an_env(tmp_path / "data"), "db", "restore", str(old))

    assert restored.returncode == 0, restored.stderr
    assert "revision 0006" in restored.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'garde.db'}")
    with engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == head()
    engine.dispose()


def test_what_is_not_a_garde_database_is_refused_in_one_line(tmp_path: Path) -> None:
    env = an_env(tmp_path / "data")
    (tmp_path / "corrupt.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    other = tmp_path / "other.db"
    make_engine(f"sqlite:///{other}").connect().execute(text("CREATE TABLE notes (x)")).close()

    for path, why in (
        (tmp_path / "corrupt.db", "is not a Garde database"),
        (other, "is not a Garde database"),
        (tmp_path / "missing.db", "no file"),
    ):
        refused = garde(env, "db", "restore", str(path))
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
        assert why in refused.stderr and str(path) in refused.stderr
    assert not (tmp_path / "data" / "garde.db").exists()


def test_a_restore_waits_for_garde_to_stop_unless_forced(tmp_path: Path) -> None:
    env = an_env(tmp_path / "data")
    upgrade(f"sqlite:///{tmp_path / 'data' / 'garde.db'}")
    assert garde(env, "db", "backup", str(tmp_path / "b.db")).returncode == 0
    with socket.create_server(("127.0.0.1", int(env["GARDE_WEB_PORT"]))):
        refused = garde(env, "db", "restore", str(tmp_path / "b.db"))
        assert refused.returncode == 1
        assert "Garde seems to be running" in refused.stderr
        assert not (tmp_path / "data" / "garde.db.before-restore").exists()
        forced = garde(env, "db", "restore", "--force", str(tmp_path / "b.db"))
        assert forced.returncode == 0, forced.stderr


def test_postgresql_is_told_which_command_to_run_without_its_password(tmp_path: Path) -> None:
    env = {
        **an_env(tmp_path / "data"),
        "GARDE_DATABASE_URL": "postgresql+psycopg://garde:s3cret@db.example:5433/garde",
    }
    dump = garde(env, "db", "backup", "/backups/garde.dump")
    load = garde(env, "db", "restore", "/backups/garde.dump")

    assert dump.returncode == load.returncode == 1
    assert (
        "pg_dump -Fc --host db.example --port 5433 --username garde --dbname garde "
        "--file /backups/garde.dump" in dump.stderr
    )
    assert "pg_restore --clean --if-exists --no-owner --host db.example" in load.stderr
    assert "s3cret" not in dump.stderr + dump.stdout + load.stderr + load.stdout
