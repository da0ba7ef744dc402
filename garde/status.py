"""What `garde status` finds: the processes of an installation on every machine (their
heartbeats), the database and Temporal answering, the cases in flight, the reconciler's last
pass. Every probe gives up within seconds: a status must never hang."""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass
from datetime import datetime, timedelta

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from garde.db import MIGRATIONS, make_session_factory
from garde.domain import CaseStatus
from garde.health import TIMEOUT_S, bounded_engine
from garde.heartbeats import STALE_AFTER, ProcessRole, exists, is_fresh
from garde.models import Case, ProcessHeartbeat
from garde.settings import Settings
from garde.temporal import connect


@dataclass(frozen=True)
class ProcessSeen:
    role: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    reconciled_at: datetime | None
    reconciled: str
    # False when the process is known gone (on this host) though its row is fresh.
    exists: bool = True

    def running(self, now: datetime) -> bool:
        return self.exists and is_fresh(self.seen_at, now)


@dataclass(frozen=True)
class Record:
    """What the application database tells."""

    revision: str | None
    processes: list[ProcessSeen]
    in_flight: dict[str, int]


@dataclass(frozen=True)
class Findings:
    """Everything probed; an error is why that probe failed, None when it answered."""

    database: str
    record: Record | None
    database_error: str | None
    head: str | None
    temporal: str
    temporal_error: str | None


def probe(settings: Settings) -> Findings:
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    record, database_error = None, None
    try:
        record = read_record(settings, head)
    except Exception as e:
        database_error = f"not answering ({type(e).__name__})"
    return Findings(
        database=database,
        record=record,
        database_error=database_error,
        head=head,
        temporal=f"{settings.temporal_target}, namespace {settings.temporal_namespace}",
        temporal_error=temporal_error(settings),
    )


def read_record(settings: Settings, head: str | None) -> Record:
    """The record's schema revision, and when it is `head`, the processes and open cases."""
    engine = bounded_engine(settings)
    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
        if revision != head:
            return Record(revision, [], {})
        with make_session_factory(engine)() as s:
            rows = s.scalars(
                select(ProcessHeartbeat).order_by(
                    ProcessHeartbeat.role, ProcessHeartbeat.host, ProcessHeartbeat.pid
                )
            ).all()
            open_statuses = [status.value for status in CaseStatus if status.is_open]
            counts = s.execute(
                select(Case.status, func.count())
                .where(Case.status.in_(open_statuses))
                .group_by(Case.status)
            ).all()
    finally:
        engine.dispose()
    return Record(
        revision=revision,
        processes=[
            ProcessSeen(
                r.role,
                r.host,
                r.pid,
                r.started_at,
                r.seen_at,
                r.reconciled_at,
                r.reconciled,
                exists(r.host, r.pid),
            )
            for r in rows
        ],
        in_flight={status: count for status, count in counts},
    )


def temporal_error(settings: Settings) -> str | None:
    """None when Temporal's frontend answers a health check within the timeout."""

    async def serving() -> bool:
        client = await connect(settings)
        return await client.service_client.check_health(timeout=timedelta(seconds=TIMEOUT_S))

    try:
        if not asyncio.run(asyncio.wait_for(serving(), TIMEOUT_S)):
            return "answering, but its workflow service is not serving"
    except TimeoutError:
        return f"not answering within {TIMEOUT_S} s"
    except Exception as e:
        return f"not answering ({type(e).__name__})"
    finally:
        # The client is freed now, while Python is whole: freed as the interpreter ends, its
        # Rust threads may abort the process (temporalio/sdk-python#300; seen 1 run in 3).
        gc.collect()
    return None


def render(findings: Findings, now: datetime) -> tuple[list[str], bool]:
    """The lines `garde status` prints, and whether all is well: the database (at the newest
    schema) and Temporal answer, and at least one worker and one web process beat lately."""
    lines: list[str] = []
    healthy = True

    def line(what: str, ok: bool | None, text: str) -> None:
        nonlocal healthy
        healthy = healthy and ok is not False
        mark = {True: "ok", False: "FAILED", None: ""}[ok]
        lines.append(f"{what:<11} {mark:<7} {text}".rstrip())

    record = findings.record
    if record is None:
        line("database", False, f"{findings.database}: {findings.database_error}")
    elif record.revision != findings.head:
        line(
            "database",
            False,
            f"{findings.database}: schema {record.revision or 'empty'}, this Garde needs "
            f"{findings.head}: run `garde db upgrade`",
        )
    else:
        line("database", True, f"{findings.database}, schema {record.revision} (newest)")
    if findings.temporal_error is None:
        line("temporal", True, findings.temporal)
    else:
        line("temporal", False, f"{findings.temporal}: {findings.temporal_error}")
    if record is None or record.revision != findings.head:
        line("processes", False, "unknown until the database answers at the newest schema")
        return lines, False

    running = [p for p in record.processes if p.running(now)]
    roles = {p.role for p in running}
    missing = [role.value for role in (ProcessRole.WORKER, ProcessRole.WEB) if role not in roles]
    gone = len(record.processes) - len(running)
    if missing:
        stale = int(STALE_AFTER.total_seconds())
        line("processes", False, f"no {' and no '.join(missing)} seen in the last {stale} s")
    else:
        line("processes", True, f"{len(running)} running" + (f", {gone} gone" if gone else ""))
    table = [("role", "host", "pid", "up since", "last seen")] + [
        (
            p.role,
            p.host,
            str(p.pid),
            _instant(p.started_at),
            _last_seen(p, now),
        )
        for p in record.processes
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table if record.processes else []:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append(" " * 20 + "  ".join([*cells, row[4]]))

    flight = ", ".join(f"{status} {n}" for status, n in sorted(record.in_flight.items()))
    total = sum(record.in_flight.values())
    line("in flight", None, f"{total} open cases" + (f": {flight}" if flight else ""))

    passes = [(p.reconciled_at, p) for p in record.processes if p.reconciled_at is not None]
    if passes:
        at, last = max(passes, key=lambda pass_: pass_[0])
        line(
            "reconciler",
            None,
            f"{_instant(at)} by worker {last.host} pid {last.pid}: {last.reconciled}",
        )
    else:
        line("reconciler", None, "no pass recorded by the workers listed")
    return lines, healthy


def _last_seen(p: ProcessSeen, now: datetime) -> str:
    if not p.exists:
        return f"gone (its process ended), last seen {_instant(p.seen_at)}"
    if is_fresh(p.seen_at, now):
        return _ago(p.seen_at, now)
    return f"not seen since {_instant(p.seen_at)}"


def _instant(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(at: datetime, now: datetime) -> str:
    return f"{max(0, round((now - at).total_seconds()))} s ago"
