"""Heartbeats: each long-running process (web, worker, gateway) keeps a row in the application
database saying it runs, so that `garde status` sees every process of an installation on every
machine, and a container's health check (`garde health`) sees its own."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from enum import StrEnum
from types import TracebackType

from sqlalchemy import delete, select, update

from garde.db import SessionFactory
from garde.models import ProcessHeartbeat, utcnow

log = logging.getLogger(__name__)

EVERY = timedelta(seconds=15)
# Not seen for three beats: the process is gone, or cannot reach the database.
STALE_AFTER = 3 * EVERY
# The row of a process that died without a clean stop: dropped by the next process to start
# once a day has passed.
FORGOTTEN_AFTER = timedelta(days=1)


class ProcessRole(StrEnum):
    WEB = "web"
    WORKER = "worker"
    GATEWAY = "gateway"


def this_host() -> str:
    return socket.gethostname()


def is_fresh(seen_at: datetime, now: datetime) -> bool:
    return now - seen_at <= STALE_AFTER


class Heartbeat:
    """`with Heartbeat(sessions, role):` around a process's life: its row is written at once,
    refreshed every `EVERY` from a daemon thread, and deleted on the way out. The database
    being away never stops the process: a failed beat is logged and the next one tries again."""

    def __init__(self, sessions: SessionFactory, role: ProcessRole) -> None:
        self._sessions = sessions
        self._role = role
        self._host = this_host()
        self._pid = os.getpid()
        self._started_at = utcnow()
        self._row_id: int | None = None
        self._reconciled_at: datetime | None = None
        self._reconciled = ""
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        with self._lock:
            try:
                with self._sessions.begin() as s:
                    s.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.id == self._row_id))
            except Exception as e:
                log.warning("could not remove the %s heartbeat: %s", self._role, type(e).__name__)

    def reconciled(self, outcome: str) -> None:
        """A worker's reconciler pass ended: what it did, or why it failed (no patient data)."""
        with self._lock:
            self._reconciled_at = utcnow()
            self._reconciled = outcome[:200]
        self._beat()

    def _run(self) -> None:
        while not self._stopped.wait(EVERY.total_seconds()):
            self._beat()

    def _beat(self) -> None:
        with self._lock:
            try:
                self._write()
            except Exception as e:
                log.warning("%s heartbeat not written: %s", self._role, type(e).__name__)

    def _write(self) -> None:
        now = utcnow()
        values = {
            "seen_at": now,
            "reconciled_at": self._reconciled_at,
            "reconciled": self._reconciled,
        }
        with self._sessions.begin() as s:
            if self._row_id is not None:
                found = s.execute(
                    update(ProcessHeartbeat)
                    .where(ProcessHeartbeat.id == self._row_id)
                    .values(**values)
                    .returning(ProcessHeartbeat.id)
                ).first()
                if found is not None:
                    return
            # First beat, or the row went (a restored database): written anew. A row of the
            # same role, host and pid is a dead predecessor's (a restarted container's pid 1).
            s.execute(
                delete(ProcessHeartbeat).where(
                    ProcessHeartbeat.role == self._role.value,
                    ProcessHeartbeat.host == self._host,
                    ProcessHeartbeat.pid == self._pid,
                )
            )
            s.execute(
                delete(ProcessHeartbeat).where(ProcessHeartbeat.seen_at < now - FORGOTTEN_AFTER)
            )
            row = ProcessHeartbeat(
                role=self._role.value,
                host=self._host,
                pid=self._pid,
                started_at=self._started_at,
                **values,
            )
            s.add(row)
            s.flush()
            self._row_id = row.id


def fresh_here(sessions: SessionFactory, role: ProcessRole) -> bool:
    """Whether a process of this role on this host beat within `STALE_AFTER`."""
    return fresh(sessions, role, host=this_host())


def fresh(sessions: SessionFactory, role: ProcessRole, *, host: str | None = None) -> bool:
    """Whether a process of this role (on `host`, or on any) runs: it beat within
    `STALE_AFTER` and it still exists (`exists`)."""
    query = select(ProcessHeartbeat.host, ProcessHeartbeat.pid, ProcessHeartbeat.seen_at).where(
        ProcessHeartbeat.role == role.value
    )
    if host is not None:
        query = query.where(ProcessHeartbeat.host == host)
    with sessions() as s:
        seen = s.execute(query).all()
    now = utcnow()
    return any(is_fresh(at, now) and exists(where, pid) for where, pid, at in seen)


def exists(host: str, pid: int) -> bool:
    """False for a process of this host that is gone: one killed with -9 left its row fresh
    for up to `STALE_AFTER`. Another host's cannot be looked at: its beat alone tells."""
    if host != this_host():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's
    return True
