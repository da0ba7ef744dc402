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
from temporalio.client import Client
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.purge import PurgeResult, PurgeRun, Purges
    from workflows import schedules

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


async def ensure_purge_schedule(client: Client, timezone: str) -> None:
    """The nightly schedule, in this zone."""
    run = RetentionPurgeWorkflow.run
    await schedules.ensure(
        client, SCHEDULE_ID, schedules.daily(run, SCHEDULE_ID, PURGE_HOUR, timezone, CATCHUP)
    )
