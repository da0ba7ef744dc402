"""The daily coverage check: the gaps of the next 72 hours become board alerts, and each
coordinator gets one SMS summing up the new ones.

Run by a Temporal Schedule (`garde-coverage-check`) every day at GARDE_COVERAGE_CHECK_HOUR
(18:00 by default: the evening before the night, with the coordinators still in) in the
region's zone, created or brought up to date when the worker starts. A check run twice raises nothing new
and texts nobody twice: alerts are keyed by gap, SMS by check and coordinator.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client

with workflow.unsafe.imports_passed_through():
    from activities.coverage import CoverageAlerts, CoverageChecks, CoverageSummary, GapSearch
    from workflows import schedules
    from workflows.policy import MESSAGES, RECORDS

SCHEDULE_ID = "garde-coverage-check"
HORIZON_HOURS = 72
# Missed while the worker or Temporal was down: still worth running within this time.
CATCHUP = timedelta(hours=12)


@dataclass(frozen=True)
class CoverageCheckResult:
    gaps: int
    raised: int
    resolved: int
    texted: int


@workflow.defn(name="CoverageCheck")
class CoverageCheckWorkflow:
    @workflow.run
    async def run(self) -> CoverageCheckResult:
        at = workflow.now()
        found = await workflow.execute_activity_method(
            CoverageChecks.find_coverage_gaps,
            GapSearch(at, HORIZON_HOURS),
            start_to_close_timeout=RECORDS.timeout,
            retry_policy=RECORDS.retry,
        )
        alerts: CoverageAlerts = await workflow.execute_activity_method(
            CoverageChecks.raise_coverage_alerts,
            found,
            start_to_close_timeout=RECORDS.timeout,
            retry_policy=RECORDS.retry,
        )
        texted = 0
        if alerts.raised:
            sent = await asyncio.gather(
                *(
                    workflow.execute_activity_method(
                        CoverageChecks.text_coverage_summary,
                        CoverageSummary(coordinator, at, alerts.raised, alerts.still_open),
                        start_to_close_timeout=MESSAGES.timeout,
                        retry_policy=MESSAGES.retry,
                    )
                    for coordinator in alerts.coordinator_ids
                ),
                return_exceptions=True,
            )
            # A phone that cannot be reached must not keep the others from being told.
            texted = sum(1 for outcome in sent if not isinstance(outcome, BaseException))
        return CoverageCheckResult(len(found.gaps), len(alerts.raised), alerts.resolved, texted)


async def ensure_coverage_schedule(client: Client, timezone: str, hour: int | None) -> None:
    """The daily schedule at this zone and hour; with no hour, none (a region that checks its
    coverage otherwise)."""
    run = CoverageCheckWorkflow.run
    await schedules.ensure(
        client,
        SCHEDULE_ID,
        None if hour is None else schedules.daily(run, SCHEDULE_ID, hour, timezone, CATCHUP),
    )
