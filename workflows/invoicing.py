"""The monthly invoices: on the 1st at 02:00 in the region's zone, the previous month's
invoice of every site (activities.invoicing).

Run by a Temporal Schedule (`garde-monthly-invoices`), created or brought up to date when the
worker starts. A site whose zone is still in that month (west of the region's) is invoiced
once its month is over: the run waits for it. A run missed while the worker or Temporal was
down still runs within CATCHUP; a run again invoices no site twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.invoicing import InvoicesIssued, Invoicing, MonthToInvoice
    from billing.months import month_of
    from garde.temporal import TASK_QUEUE
    from workflows import schedules

SCHEDULE_ID = "garde-monthly-invoices"
DAY, HOUR, MINUTE = 1, 2, 0
CATCHUP = timedelta(days=7)
RUN_FOR = timedelta(minutes=10)
RETRY = RetryPolicy(
    initial_interval=timedelta(minutes=1),
    maximum_interval=timedelta(minutes=30),
    maximum_attempts=10,
)


@dataclass(frozen=True)
class MonthlyInvoicesRun:
    region_timezone: str


def previous_month(run: MonthlyInvoicesRun) -> str:
    """Of the month it is now in the region's zone (billing.months, passed through: the
    sandbox's zoneinfo cannot make a datetime's zone)."""
    year, month = map(int, month_of(workflow.now(), run.region_timezone).split("-"))
    year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return f"{year:04d}-{month:02d}"


@workflow.defn(name="MonthlyInvoices")
class MonthlyInvoicesWorkflow:
    @workflow.run
    async def run(self, run: MonthlyInvoicesRun) -> list[str]:
        month = MonthToInvoice(previous_month(run), run.region_timezone)
        issued = await self._issue(month)
        numbers = list(issued.numbers)
        if issued.pending_until is not None:
            wait = issued.pending_until - workflow.now() + timedelta(minutes=1)
            await workflow.sleep(max(wait, timedelta(minutes=1)))
            numbers += (await self._issue(month)).numbers
        return numbers

    async def _issue(self, month: MonthToInvoice) -> InvoicesIssued:
        return await workflow.execute_activity_method(
            Invoicing.issue_month_invoices,
            month,
            start_to_close_timeout=RUN_FOR,
            retry_policy=RETRY,
        )


def monthly(timezone: str) -> Schedule:
    """On the 1st at 02:00 in the region's zone; a run still going skips the next."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            MonthlyInvoicesWorkflow.run,
            MonthlyInvoicesRun(timezone),
            id=SCHEDULE_ID,
            task_queue=TASK_QUEUE,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(DAY)],
                    hour=[ScheduleRange(HOUR)],
                    minute=[ScheduleRange(MINUTE)],
                )
            ],
            time_zone_name=timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
    )


async def ensure_invoice_schedule(client: Client, timezone: str) -> None:
    await schedules.ensure(client, SCHEDULE_ID, monthly(timezone))
