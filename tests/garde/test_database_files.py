"""The SQLite files hold clinical text: readable by their owner only (issue 8, defect 11).

As found, `garde db upgrade` on a fresh data folder made garde.db world-readable (0644), and
the embedded Temporal server's history file too.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from garde.db import make_engine
from garde.temporal import start_dev_server, wait_for_port
from tests.conftest import free_port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_garde_db_upgrade_makes_a_private_database_in_a_private_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GARDE_", "TWILIO_"))}
    subprocess.run(
        [sys.executable, "-m", "garde.cli", "db", "upgrade"],
        env={**env, "GARDE_DATA_DIR": str(data)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    files = sorted(data.glob("garde.db*"))
    assert files and files[0].name == "garde.db"
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(data / "secret_key") == 0o600
    assert mode(data) == 0o700


def test_a_database_left_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600


@pytest.fixture(scope="module")
def temporal_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The embedded Temporal server's data folder, the server running (started once here)."""
    data = tmp_path_factory.mktemp("temporal") / "data"
    port = free_port()
    server = start_dev_server(data, port=port)
    try:
        wait_for_port("127.0.0.1", port, server)
        yield data
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_the_embedded_temporal_server_keeps_its_history_private(temporal_data: Path) -> None:
    files = sorted(temporal_data.glob("temporal.db*"))
    assert files and files[0].name == "temporal.db"
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(temporal_data) == 0o700


def test_the_embedded_temporal_server_writes_its_history_ahead_in_a_log(
    temporal_data: Path,
) -> None:
    """WAL, as Garde's own database: a history write appends to the log instead of creating,
    syncing and deleting a journal file (issue 15)."""
    with sqlite3.connect(temporal_data / "temporal.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
