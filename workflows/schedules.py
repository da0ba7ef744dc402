"""The daily Temporal Schedules (the coverage check, the retention purge), made sure of each
time a worker starts: a new version, zone or hour takes effect with the next deploy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

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
from temporalio.service import RPCError, RPCStatusCode

from garde.temporal import TASK_QUEUE


def daily(
    run: Callable[..., Any], schedule_id: str, hour: int, timezone: str, catchup: timedelta
) -> Schedule:
    """`run` every day at `hour` in `timezone`; a run still going skips the next; one missed
    while the worker or Temporal was down still runs within `catchup`."""
    return Schedule(
        action=ScheduleActionStartWorkflow(run, id=schedule_id, task_queue=TASK_QUEUE),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)])],
            time_zone_name=timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup),
    )


async def ensure(client: Client, schedule_id: str, schedule: Schedule | None) -> None:
    """Create the schedule, or bring an existing one to this one; None removes it."""
    handle = client.get_schedule_handle(schedule_id)
    if schedule is None:
        try:
            await handle.delete()
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
        return
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))
