"""The one place where the case workflow's waits and retries are decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

from garde.messages import CaseStart


@dataclass(frozen=True)
class CasePolicy:
    offer_timeout: timedelta
    accept_within: timedelta
    report_within: timedelta
    # Nobody eligible: look again after this long (a shift may start, a case may free someone).
    retry_when_nobody_eligible: timedelta = timedelta(minutes=1)
    # After the final report the case stays open this long for addenda and acknowledgements.
    addendum_window: timedelta = timedelta(days=7)

    @classmethod
    def from_start(cls, start: CaseStart) -> CasePolicy:
        return cls(
            offer_timeout=timedelta(seconds=start.offer_timeout_s),
            accept_within=timedelta(seconds=start.accept_within_s),
            report_within=timedelta(seconds=start.report_within_s),
        )


ACTIVITY_TIMEOUT = timedelta(seconds=30)

# Database and SMS hiccups heal with retries; a bad argument never will.
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidRequest"],
)
