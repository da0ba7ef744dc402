"""The daily retention purge: the studies kept past their site's `study_retention_days` are
deleted (activities.purge), never one of an open case nor one under legal hold.

Run by a Temporal Schedule (`garde-retention-purge`) every night at PURGE_HOUR in the region's
zone, created or brought up to date when the worker starts. A run missed while the worker or
Temporal was down is worth running within a day; a run that fails is tried again the next
night (the studies wait one day more, never less).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
)
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.purge import PurgeResult, PurgeRun, Purges
    from garde.temporal import TASK_QUEUE

SCHEDULE_ID = "garde-retention-purge"
# In the night, when no one reads old studies and the gateway is quiet.
PURGE_HOUR = 3
CATCHUP = timedelta(hours=23)
# A study at a time, heartbeating: a large backlog takes long, a stuck run is seen in minutes.
RUN_FOR = timedelta(hours=6)
HEARTBEAT = timedelta(minutes=5)
RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(minutes=1))


@workflow.defn(name="RetentionPurge")
class RetentionPurgeWorkflow:
    @workflow.run
    async def run(self) -> PurgeResult:
        return await workflow.execute_activity_method(
            Purges.purge_studies,
            PurgeRun(workflow.now()),
            start_to_close_timeout=RUN_FOR,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )


def purge_schedule(timezone: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionPurgeWorkflow.run, id=SCHEDULE_ID, task_queue=TASK_QUEUE
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(PURGE_HOUR)])],
            time_zone_name=timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
    )


async def ensure_purge_schedule(client: Client, timezone: str) -> None:
    """Create the nightly schedule, or bring an existing one to this version and zone."""
    schedule = purge_schedule(timezone)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(SCHEDULE_ID).update(
            lambda _: ScheduleUpdate(schedule=schedule)
        )
