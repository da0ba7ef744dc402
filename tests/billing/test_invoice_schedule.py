"""The monthly invoices: the worker keeps a schedule on the 1st at 02:00 in the region's zone
(checked on the dev server of the stack: the time-skipping server has no Schedules), and a run
of the workflow, on the time-skipping server, issues the previous month's invoices, and none
again when run twice."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.invoicing import Invoicing
from garde.db import make_engine, make_session_factory, upgrade
from garde.models import Invoice, utcnow
from garde.settings import Settings
from garde.temporal import TASK_QUEUE, data_converter, venv_binary
from tests.billing.test_invoices import Books
from tests.conftest import Stack, postgres_database
from workflows.invoicing import SCHEDULE_ID, MonthlyInvoicesRun, MonthlyInvoicesWorkflow


def test_the_worker_keeps_a_monthly_schedule_on_the_first_at_two(stack: Stack) -> None:
    async def describe() -> tuple[object, ...]:
        client = await stack.client()
        description = await client.get_schedule_handle(SCHEDULE_ID).describe()
        action = description.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        [calendar] = description.schedule.spec.calendars
        return (
            action.workflow,
            action.task_queue,
            [r.start for r in calendar.day_of_month],
            [r.start for r in calendar.hour],
            [r.start for r in calendar.minute],
            description.schedule.spec.time_zone_name,
        )

    zone = Settings.from_env(stack.env).region_timezone
    assert asyncio.run(describe()) == ("MonthlyInvoices", TASK_QUEUE, [1], [2], [0], zone)


@pytest.fixture(params=["sqlite", "postgresql"])
def lone_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: a run invoices every site of the region."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'garde.db'}"
    else:
        yield from postgres_database()


def test_a_run_issues_the_previous_month_invoices_once(lone_database: str) -> None:
    upgrade(lone_database)
    engine = make_engine(lone_database)
    sessions = make_session_factory(engine)
    zone = "Europe/Paris"
    first_of_month = (
        utcnow()
        .astimezone(ZoneInfo(zone))
        .replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    )
    previous = first_of_month - timedelta(days=20)  # in the previous month, in Paris
    this_month = first_of_month + timedelta(hours=1)
    books = Books(sessions)
    invoiced = books.line(previous)
    books.line(this_month)  # for next month's run

    async def run() -> tuple[list[str], list[str]]:
        settings = Settings.from_env({})
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=data_converter(settings),
            test_server_existing_path=venv_binary("temporal-test-server"),
        )
        async with env:
            with ThreadPoolExecutor(4) as executor:
                async with Worker(
                    env.client,
                    task_queue=TASK_QUEUE,
                    workflows=[MonthlyInvoicesWorkflow],
                    activities=[Invoicing(sessions).issue_month_invoices],
                    activity_executor=executor,
                ):
                    # Waiting on a result would let the server skip time (years ahead).
                    with env.auto_time_skipping_disabled():
                        runs = [
                            await env.client.execute_workflow(
                                MonthlyInvoicesWorkflow.run,
                                MonthlyInvoicesRun(zone),
                                id=f"monthly-invoices-{secrets.token_hex(4)}",
                                task_queue=TASK_QUEUE,
                            )
                            for _ in range(2)
                        ]
        return runs[0], runs[1]

    try:
        first, second = asyncio.run(run())
        assert second == []
        with sessions() as s:
            [invoice] = s.scalars(select(Invoice)).all()
            assert first == [invoice.number]
            assert (invoice.month, invoice.issued_by) == (f"{previous:%Y-%m}", "schedule")
            assert [i.billing_line_id for i in invoice.lines] == [invoiced]
    finally:
        engine.dispose()
