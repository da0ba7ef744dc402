"""The one place where the case workflow's waits and retries are decided.

The case's own promise (offer timeout, accept and report deadlines, the ladder's steps)
travels with the case; what is decided here is the same for every case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from activities.errors import INVALID_REQUEST, UNDELIVERABLE
from garde.service_levels import REMINDER_SHARE


@dataclass(frozen=True)
class CasePolicy:
    # Nobody eligible: look again this often, and at once when the rosters change.
    recheck_when_nobody_eligible: timedelta = timedelta(minutes=5)
    # After a whole ladder without a taker, wait before the next round; longer each round.
    first_round_pause: timedelta = timedelta(minutes=1)
    longest_round_pause: timedelta = timedelta(minutes=15)
    # After the final report the case stays open this long for addenda and acknowledgements.
    addendum_window: timedelta = timedelta(days=7)
    # The holder is reminded at this share of the time allowed to report.
    reminder_share: float = REMINDER_SHARE
    # A write that failed through its whole retry policy is tried again after this pause,
    # once the coordinators have been alerted.
    pause_after_failed_write: timedelta = timedelta(minutes=1)
    # Temporal suggests continuing as new before its history limits; where a server does not
    # say (the time-skipping test server), this many events is the bound.
    history_events_before_continue_as_new: int = 5_000

    def round_pause(self, next_round: int) -> timedelta:
        """The pause before round `next_round` (2, 3, ...): 1, 2, 4, 8 minutes, at most 15."""
        doublings = min(max(0, next_round - 2), 16)  # bounded: rounds go on for days
        return min(self.first_round_pause * 2**doublings, self.longest_round_pause)


POLICY = CasePolicy()


@dataclass(frozen=True)
class CallPolicy:
    """The phone calls of a stat case that reached the coordinator step, one callee at a
    time."""

    # How long a phone rings before Twilio gives up on it ("no-answer").
    ring: timedelta = timedelta(seconds=30)
    # A call answered but with no key pressed, or whose end Twilio never reports, gives way
    # to the next callee after this long: the ring, the prompt said twice, and some slack.
    per_call: timedelta = timedelta(seconds=90)


CALLING = CallPolicy()


@dataclass(frozen=True)
class Calls:
    """How long one activity attempt may take, and how often it is tried; `local`: run by the
    workflow's own worker as a local activity, in the same workflow task (no task-queue hop,
    no history events but a marker). Only for short, idempotent database work whose retries
    end within Temporal's local retry window (a minute): a retry longer than that is better
    kept outside the history, by the server."""

    timeout: timedelta
    retry: RetryPolicy
    local: bool = False


# A local activity's retry that would wait longer than this waits on a workflow timer, its
# workflow task completed meanwhile: the workflow answers its updates, and a worker stopping
# (a restart, an upgrade) does not wait for a database that is away.
LOCAL_RETRY_THRESHOLD = timedelta(seconds=1)


async def call_activity(fn: Callable[..., Any], arg: Any, calls: Calls) -> Any:
    """Call an activity method of a workflow's worker as `calls` says. A history from before
    local activities (no "local-records" marker) replays its activities as it scheduled them."""
    if calls.local and workflow.patched("local-records"):
        return await workflow.execute_local_activity_method(
            fn,
            arg,
            start_to_close_timeout=calls.timeout,
            retry_policy=calls.retry,
            local_retry_threshold=LOCAL_RETRY_THRESHOLD,
        )
    return await workflow.execute_activity_method(
        fn, arg, start_to_close_timeout=calls.timeout, retry_policy=calls.retry
    )


# Database writes heal within a minute or two, or someone must be told; a bad argument never
# heals. After the last attempt the workflow alerts the coordinators and tries again later.
# Local: each is one idempotent transaction, and its attempts end within 31 s of pauses.
RECORDS = Calls(
    timeout=timedelta(seconds=30),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=6,
        non_retryable_error_types=[INVALID_REQUEST],
    ),
    local=True,
)

# An SMS that Twilio refuses (a bad number, a STOP: any 4xx but 429) fails at once; one it
# cannot take now (429, 5xx, no answer) is tried 4 times in all, 2, 4 and 8 s apart, then the
# ladder moves on: an offer nobody can receive is no offer. The bound: 4 attempts of at most
# 30 s each (Twilio's HTTP timeout, activities.sms.HTTP_TIMEOUT, is 10 s a call, two calls an
# attempt) and 14 s of pauses, about 2 min 15 s at worst; seconds when Twilio answers at once.
MESSAGES = Calls(
    timeout=timedelta(seconds=30),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=20),
        maximum_attempts=4,
        non_retryable_error_types=[INVALID_REQUEST, UNDELIVERABLE],
    ),
)

# What must happen however long its other end is away (a report version reaching a site, an
# acknowledgement written): tried again for as long as it takes, from 1 s apart doubling to 10
# minutes apart (Temporal keeps the retries outside the history, so a week of them costs it
# nothing). A bad argument never heals.
UNTIL_DONE = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=0,  # never given up
    non_retryable_error_types=[INVALID_REQUEST],
)

# A report version must reach the site's endpoints, however long one is down (UNTIL_DONE). Each
# attempt is written down and shown on the case. The bound of one attempt: the HTTP or MLLP
# exchange (10 s, reports/webhook.py, reports/mllp.py) with the reads and writes around it.
DELIVERIES = Calls(timeout=timedelta(seconds=60), retry=UNTIL_DONE)

# A version one of the site's endpoints has still not taken after this long is somebody's
# problem: the coordinators are alerted, once per version and endpoint, while the retries go
# on; the alert is resolved when the endpoint takes it.
DELIVERY_ALERT_AFTER = timedelta(hours=1)
