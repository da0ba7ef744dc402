"""The daily coverage check: its schedule exists in Temporal once the worker has started (the
dev server: the time-skipping server has no Schedules), and the check itself, run on the
time-skipping server, keeps one board alert per gap of the next 72 hours, texts each
coordinator one summary, adds nothing when run again and resolves a gap once filled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleHandle
from temporalio.service import RPCError

from activities.coverage import RESOLVER
from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.domain import AlertKind, Tier
from garde.models import Alert, Coordinator, Expert, Shift, Site, SmsMessage
from garde.temporal import TASK_QUEUE
from tests.conftest import postgres_database, wait_for
from tests.phones import mobile
from tests.workflows.harness import Night, Person, night
from workflows.coverage_check import SCHEDULE_ID, CoverageCheckResult, CoverageCheckWorkflow


class Roster:
    """A site reading CT with its experts and two coordinators, alone on its rosters."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        tag = secrets.token_hex(3).upper()
        with sessions.begin() as s:
            site = Site(code=f"GAP-{tag}", name=f"CH {tag}")
            s.add(site)
            s.flush()
            self.site_id, self.site_code = site.id, site.code
            self.experts: dict[str, int] = {}
            for name in ("alice", "bruno"):
                expert = Expert(
                    code=f"DR-{name.upper()}-{tag}",
                    name=f"Dr {name.title()}",
                    phone=mobile(),
                    modalities=["CT"],
                    sites=[site],
                )
                s.add(expert)
                s.flush()
                self.experts[name] = expert.id
            self.coordinators = []
            for n in (1, 2):
                coordinator = Coordinator(
                    code=f"COORD-{n}-{tag}", name="Coordination", phone=mobile()
                )
                s.add(coordinator)
                s.flush()
                self.coordinators.append(
                    Person(coordinator.id, coordinator.code, coordinator.phone)
                )

    def shift(self, name: str, start: datetime, end: datetime, tier: Tier = Tier.PRIMARY) -> None:
        with self.sessions.begin() as s:
            s.add(Shift(expert_id=self.experts[name], start=start, end=end, tier=tier))

    def alerts(self) -> list[Alert]:
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(Alert)
                    .where(Alert.key.startswith(f"coverage:{self.site_id}:"))
                    .order_by(Alert.id)
                )
            )


async def check(n: Night) -> CoverageCheckResult:
    """Run the check now. Waiting on a result would let the server skip time while nothing
    waits on a timer (years ahead): time moves only when the test says so."""
    with n.env.auto_time_skipping_disabled():
        return await n.client.execute_workflow(
            CoverageCheckWorkflow.run,
            id=f"coverage-check-{secrets.token_hex(4)}",
            task_queue=TASK_QUEUE,
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def lone_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: the check reads the whole region, and the other tests'
    rosters have gaps of their own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'garde.db'}"
    else:
        yield from postgres_database()


def test_the_check_alerts_each_gap_once_and_resolves_it_when_filled(lone_database: str) -> None:
    async def scenario() -> None:
        async with night(lone_database) as n:
            r = Roster(n.sessions)
            t = await n.now()
            h = timedelta(hours=1)
            for start, end in [(-1, 20), (26, 72), (72, 80), (84, 120)]:
                r.shift("alice", t + start * h, t + end * h)
            r.shift("bruno", t + 20 * h, t + 22 * h, Tier.BACKUP)
            texts = {c.code: 0 for c in r.coordinators}

            def texted(result: CoverageCheckResult) -> None:
                """One SMS per coordinator for a check that raised alerts, none otherwise (the
                workflow has waited for its SMS to be sent when it returns)."""
                for c in r.coordinators:
                    texts[c.code] += 1 if result.raised else 0
                    sent = n.sms_to(c)
                    assert len(sent) == texts[c.code]
                    if result.raised:
                        body = sent[-1].body
                        assert body.startswith(
                            f"Garde couverture: {result.raised} créneau(x) sans titulaire"
                        )
                        assert r.site_code in body

            # Within 72 hours: the gap from +20 h to +26 h (a backup for two hours of it);
            # the one from +80 h is beyond.
            result = await check(n)
            [gap] = r.alerts()
            assert (gap.kind, gap.case_id, gap.resolved_at) == (AlertKind.COVERAGE_GAP, None, None)
            assert f"No primary for CT at {r.site_code}" in gap.detail
            assert "6 h: backup only for 2 h of it" in gap.detail
            texted(result)

            # Run again: nothing new on the board, nobody texted about this site again.
            result = await check(n)
            assert [(a.id, a.resolved_at) for a in r.alerts()] == [(gap.id, None)]
            texted(result)

            # Ten hours on, the gap from +80 h comes within the horizon.
            await n.sleep(10 * h)
            result = await check(n)
            first, second = r.alerts()
            assert first.id == gap.id and first.resolved_at is None
            assert second.resolved_at is None and "4 h: nobody on duty" in second.detail
            texted(result)

            # Bruno takes the first gap as primary: its alert is resolved by the check.
            r.shift("bruno", t + 20 * h, t + 26 * h)
            result = await check(n)
            first, second = r.alerts()
            assert first.resolved_at is not None and first.resolved_by == RESOLVER
            assert second.resolved_at is None
            assert result.resolved >= 1
            texted(result)

    asyncio.run(scenario())


# --- the schedule, on the dev server ------------------------------------------------------


@pytest.fixture
def worker_env(temporal_address: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A `garde worker` environment of its own: its database, the dev server's default
    namespace, SMS to the dev outbox."""
    url = f"sqlite:///{tmp_path / 'garde.db'}"
    upgrade(url)
    env = {
        **os.environ,
        "GARDE_DATA_DIR": str(tmp_path / "data"),
        "GARDE_DATABASE_URL": url,
        "GARDE_TEMPORAL_ADDRESS": temporal_address,
        "GARDE_TEMPORAL_NAMESPACE": "default",
        "GARDE_REGION_TIMEZONE": "America/Martinique",
    }
    for name in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM_NUMBER",
        "GARDE_COVERAGE_CHECK_HOUR",
    ):
        env.pop(name, None)
    yield env
    asyncio.run(_delete_schedule(temporal_address))


async def _delete_schedule(address: str) -> None:
    client = await Client.connect(address, namespace="default")
    with contextlib.suppress(RPCError):  # never created: the test failed before
        await client.get_schedule_handle(SCHEDULE_ID).delete()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "garde.cli", "worker"], env=env, stdout=out, stderr=out
        )


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    worker.wait(timeout=30)


def test_the_worker_keeps_one_daily_schedule_that_runs_the_check(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    async def connect() -> ScheduleHandle:
        client = await Client.connect(worker_env["GARDE_TEMPORAL_ADDRESS"], namespace="default")
        return client.get_schedule_handle(SCHEDULE_ID)

    def zone() -> tuple[str | None, int] | None:
        async def describe() -> tuple[str | None, int] | None:
            try:
                description = await (await connect()).describe()
            except RPCError:
                return None
            action = description.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert (action.workflow, action.task_queue) == ("CoverageCheck", TASK_QUEUE)
            [calendar] = description.schedule.spec.calendars
            [hour] = [r.start for r in calendar.hour]
            assert [r.start for r in calendar.minute] == [0]
            return description.schedule.spec.time_zone_name, hour

        return asyncio.run(describe())

    worker = start_worker(worker_env, tmp_path / "worker.log")
    try:
        assert wait_for(zone, 60, "the coverage schedule") == ("America/Martinique", 18)
    finally:
        stop(worker)

    # Started again in another zone and hour: the same schedule, brought up to date.
    worker_env["GARDE_REGION_TIMEZONE"] = "Europe/Paris"
    worker_env["GARDE_COVERAGE_CHECK_HOUR"] = "19"
    worker = start_worker(worker_env, tmp_path / "worker.log")
    try:
        wait_for(lambda: zone() == ("Europe/Paris", 19), 60, "the schedule in the new zone")
        sessions = make_session_factory(make_engine(worker_env["GARDE_DATABASE_URL"]))
        r = Roster(sessions)
        now = datetime.now(UTC)
        r.shift("alice", now - timedelta(hours=1), now + timedelta(hours=5))
        r.shift("alice", now + timedelta(hours=8), now + timedelta(hours=40))
        r.shift("alice", now + timedelta(hours=40), now + timedelta(hours=80))

        # Triggered as at 18:00: the gap from +5 h to +8 h is on the board, and texted.
        async def trigger() -> None:
            await (await connect()).trigger()

        asyncio.run(trigger())
        [alert] = wait_for(r.alerts, 60, "the coverage alert")
        assert "3 h: nobody on duty" in alert.detail

        def outbox() -> list[SmsMessage]:
            with sessions() as s:
                return list(
                    s.scalars(
                        select(SmsMessage).where(
                            SmsMessage.to_number.in_([c.phone for c in r.coordinators])
                        )
                    )
                )

        wait_for(lambda: len(outbox()) == 2, 60, "one SMS per coordinator")
        assert all(r.site_code in m.body for m in outbox())
    finally:
        stop(worker)

    # A region that turns the check off has no schedule left once the worker starts.
    worker_env["GARDE_COVERAGE_CHECK_HOUR"] = "off"
    worker = start_worker(worker_env, tmp_path / "worker.log")
    try:
        wait_for(lambda: zone() is None, 60, "the schedule removed")
    finally:
        stop(worker)
