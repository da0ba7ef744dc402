"""The engine each process makes: SQLite tuned for one writer beside many readers, and a pool
that keeps its connections (issue 15)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, text

from garde.db import POOL_SIZE, make_engine


def test_sqlite_connections_are_wal_with_normal_sync_a_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'garde.db'}")
    with engine.connect() as c:
        assert c.scalar(text("PRAGMA journal_mode")) == "wal"
        assert c.scalar(text("PRAGMA synchronous")) == 1  # NORMAL
        assert c.scalar(text("PRAGMA busy_timeout")) == 30000
        assert c.scalar(text("PRAGMA foreign_keys")) == 1


def test_the_pool_keeps_its_connections_between_uses(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'garde.db'}")
    opened: list[object] = []
    event.listen(engine, "connect", lambda dbapi_connection, _record: opened.append(1))
    for _ in range(3):  # as many threads at once as the pool holds, three times over
        held = [engine.connect() for _ in range(POOL_SIZE)]
        for c in held:
            c.close()
    # Each connection was opened once, then kept: none closed after use and opened anew.
    assert len(opened) == POOL_SIZE
