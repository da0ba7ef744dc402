"""The acknowledgement workflow: one per report version the site must acknowledge (an ACR
category 1 or 2 finding, or a major discrepancy counted as category 2), started by the case
workflow and outliving it (the case is final, and open for addenda, while this waits).

    the request recorded, with its deadline (the site's setting for the category, else 15
    minutes for category 1, an hour for category 2) -> until the site acknowledges: the
    case's callback phone texted at once, texted again at a third of the deadline, the site's
    phone called at two thirds (skipped when the site has none), the coordinators alerted at
    the deadline (a banner that stays until the site acknowledges) -> the acknowledgement
    recorded: who, when, how (web, api, sms, voice).

Every step is on the case's timeline. The site acknowledges by a signal at any step; nothing
more is sent after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.acknowledgements import Acknowledgements, overdue_alert_key, step_key
    from activities.alerts import Alerts
    from activities.calls import NO_PHONE, PhoneCalls
    from activities.notifications import Notifications
    from garde.domain import AlertKind, EventKind, SiteNoticeKind
    from garde.messages import (
        ACKNOWLEDGED_VIA,
        Acknowledgement,
        AcknowledgementAsked,
        AcknowledgementDue,
        AcknowledgementGiven,
        AcknowledgementStart,
        AcknowledgementStep,
        AlertRequest,
        CallRequest,
        CoordinatorNotice,
        SiteNotice,
    )
    from workflows.policy import CALLING, MESSAGES, RECORDS, UNTIL_DONE, Calls, call_activity

T = TypeVar("T")


@dataclass(frozen=True)
class AcknowledgementPolicy:
    """When each step of the ladder comes, as a share of the time the site has."""

    reminder_at: float = 1 / 3
    call_at: float = 2 / 3
    coordinators_at: float = 1.0


LADDER = AcknowledgementPolicy()
# The request and the acknowledgement are written however long the database is away (a site
# left unchased is worse than a late entry); a step's timeline entry and the coordinators'
# alert are best effort (STEPS). All remote: this workflow is off the path a case's speed
# depends on.
WRITES = Calls(timeout=RECORDS.timeout, retry=UNTIL_DONE)
STEPS = Calls(timeout=RECORDS.timeout, retry=RECORDS.retry)


@workflow.defn(name="Acknowledgement")
class AcknowledgementWorkflow:
    @workflow.init
    def __init__(self, start: AcknowledgementStart) -> None:
        # Here and not in `run`: the site may acknowledge before `run` starts.
        self._start = start
        self._given: AcknowledgementGiven | None = None

    @workflow.run
    async def run(self, start: AcknowledgementStart) -> str:
        """How the site acknowledged (web, api, sms, voice)."""
        due: AcknowledgementDue = await self._call(
            Acknowledgements.record_request,
            AcknowledgementAsked(start, workflow.now()),
            WRITES,
        )
        allowed = due.due_at - due.requested_at
        steps: list[tuple[float, Callable[[], Any]]] = [
            (0.0, lambda: self._text_site(SiteNoticeKind.ACK_REQUEST, "sms-1", "asked")),
            (
                LADDER.reminder_at,
                lambda: self._text_site(SiteNoticeKind.ACK_REMINDER, "sms-2", "reminded"),
            ),
            (LADDER.call_at, lambda: self._call_site(due.site_id)),
            (LADDER.coordinators_at, self._alert_coordinators),
        ]
        for share, step in steps:
            if await self._acknowledged_by(due.requested_at + allowed * share):
                break
            await step()
        await workflow.wait_condition(lambda: self._given is not None)
        assert self._given is not None
        await self._call(Acknowledgements.record_acknowledgement, self._given, WRITES)
        return self._given.acknowledgement.via

    @workflow.signal
    def acknowledge(self, ack: Acknowledgement) -> None:
        """The first acknowledgement counts; a second (another channel, a retry) is moot.
        A signal, not an update: an SMS reply or a key pressed is answered at once, even
        with no worker running."""
        if self._given is None and ack.via in ACKNOWLEDGED_VIA:
            start = self._start
            self._given = AcknowledgementGiven(start.case_id, start.report_id, workflow.now(), ack)

    async def _acknowledged_by(self, at: datetime) -> bool:
        """Wait until `at` for the acknowledgement; True when it came."""
        left = at - workflow.now()
        if self._given is not None or left <= timedelta(0):
            return self._given is not None
        try:
            await workflow.wait_condition(lambda: self._given is not None, timeout=left)
        except TimeoutError:
            return False
        return True

    async def _text_site(self, kind: SiteNoticeKind, step: str, detail: str) -> None:
        start = self._start
        key = step_key(start.report_id, step)
        notice = SiteNotice(start.case_id, key, kind, category=start.category, reason=start.reason)
        outcome = await self._outcome(Notifications.notify_site, notice)
        await self._record(
            EventKind.SITE_TEXTED, step, f"{detail}; {outcome}" if outcome else detail
        )

    async def _call_site(self, site_id: int) -> None:
        start = self._start
        key = f"case-{start.case_id}:{step_key(start.report_id, 'call')}"
        ring = int(CALLING.ring.total_seconds())
        request = CallRequest(key, start.case_id, ring, site_id=site_id)
        outcome = await self._outcome(PhoneCalls.place_call, request)
        await self._record(EventKind.SITE_CALLED, "call", outcome)

    async def _alert_coordinators(self) -> None:
        """A banner on the board, until the site acknowledges; and an SMS to each."""
        start = self._start
        alert_key = overdue_alert_key(start.report_id)
        kind = AlertKind.ACK_OVERDUE
        coordinators: list[int] = []
        try:
            coordinators = await self._call(
                Alerts.raise_alert,
                AlertRequest(alert_key, start.case_id, kind, workflow.now()),
                STEPS,
            )
        except ActivityError:
            workflow.logger.warning("case %s: the %s alert was not raised", start.case_id, kind)
        await asyncio.gather(
            *(
                self._outcome(
                    Notifications.notify_coordinator,
                    CoordinatorNotice(c, alert_key, start.case_id, kind),
                )
                for c in coordinators
            )
        )
        await self._record(EventKind.COORDINATORS_ALERTED, "coordinators", kind.value)

    async def _record(self, kind: EventKind, step: str, detail: str) -> None:
        start = self._start
        entry = AcknowledgementStep(
            start.case_id, step_key(start.report_id, step), workflow.now(), kind, detail
        )
        try:
            await self._call(Acknowledgements.record_step, entry, STEPS)
        except ActivityError:
            workflow.logger.warning("case %s: step %s not recorded", start.case_id, step)

    async def _outcome(self, fn: Callable[..., T], arg: Any) -> str:
        """Send, best effort: "" when done, else why not ("skipped: no phone", "not sent")."""
        try:
            await self._call(fn, arg, MESSAGES)
        except ActivityError as e:
            cause = e.cause
            if isinstance(cause, ApplicationError) and cause.type == NO_PHONE:
                return "skipped: no phone"
            return "not sent"
        return ""

    async def _call(self, fn: Callable[..., T], arg: Any, calls: Calls) -> Any:
        return await call_activity(fn, arg, calls)
