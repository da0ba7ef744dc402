"""Whether a process of a role runs, by the heartbeats, on both databases: a row that beat
within the last beats counts, unless its process, on this very machine, is gone (killed with
-9, it could not remove its row)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete

from garde.db import SessionFactory
from garde.heartbeats import STALE_AFTER, ProcessRole, fresh, this_host
from garde.models import ProcessHeartbeat, utcnow

ROLE = ProcessRole.GATEWAY


@pytest.fixture
def beats(sessions: SessionFactory) -> Iterator[SessionFactory]:
    yield sessions
    with sessions.begin() as s:
        s.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.role == ROLE.value))


def beat(sessions: SessionFactory, host: str, pid: int, ago: timedelta = timedelta()) -> None:
    at = utcnow() - ago
    with sessions.begin() as s:
        s.add(ProcessHeartbeat(role=ROLE.value, host=host, pid=pid, started_at=at, seen_at=at))


def a_dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_a_process_that_beat_lately_runs(beats: SessionFactory) -> None:
    beat(beats, this_host(), os.getpid())
    assert fresh(beats, ROLE)


def test_a_process_that_stopped_beating_does_not(beats: SessionFactory) -> None:
    beat(beats, this_host(), os.getpid(), ago=STALE_AFTER + timedelta(seconds=1))
    assert not fresh(beats, ROLE)


def test_a_process_killed_on_this_machine_does_not_though_its_row_is_fresh(
    beats: SessionFactory,
) -> None:
    beat(beats, this_host(), a_dead_pid())
    assert not fresh(beats, ROLE)


def test_on_another_machine_only_the_beat_tells(beats: SessionFactory) -> None:
    beat(beats, "elsewhere.example", a_dead_pid())
    assert fresh(beats, ROLE)
    assert not fresh(beats, ROLE, host=this_host())
