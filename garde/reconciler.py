"""The reconciler: outside input that was stored while Temporal was away is acted on.

A site's request is recorded before its workflow starts, and an expert's SMS answer (or a key
pressed on a call, a site's 1 acknowledging included) before it is signalled; when Temporal (or the web's link to it) was down,
the row waits with `workflow_started_at` or `signalled_at` empty. Images are indexed and
linked before their case is told: a study of an open case still receiving well past its quiet
period was perhaps never told, and is told again. The worker runs this every minute: every
act is harmless twice (a workflow id is started once; a workflow ignores a repeated answer,
and a batch it knows).

On demand (`garde resume-cases`), an open case whose workflow Temporal does not know at all is
started again from its record: after an upgrade from Garde 0.1 (whose workflows do not
replay, so its cases go on in a new namespace) or once Temporal lost its data, no case is
left open and forgotten. Never by itself: a worker pointed at the wrong namespace would start
a second workflow of every case in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, select, update
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from garde import acknowledgements
from garde.db import SessionFactory, make_engine, make_session_factory
from garde.domain import CaseStatus, OfferStatus
from garde.intake import case_start
from garde.messages import Acknowledgement, CallAnswer, CaseStart, SmsAnswer, StudyArrival
from garde.models import Case, Offer, SmsMessage, Study, VoiceCall, utcnow
from garde.settings import Settings
from garde.study_links import study_arrival
from garde.temporal import (
    acknowledgement_workflow_id,
    case_workflow_id,
    connect,
    start_case_workflow,
)

log = logging.getLogger(__name__)

BATCH = 200
# A study still receiving this long after its site's quiet period is told to its case again;
# after a day without images, no more.
STUDY_LATE = timedelta(minutes=1)
STUDY_GIVEN_UP = timedelta(days=1)


@dataclass(frozen=True)
class PendingAnswer:
    message_id: int
    case_id: int
    answer: SmsAnswer


@dataclass(frozen=True)
class Reconciled:
    started: int
    delivered: int

    def __str__(self) -> str:
        return f"{self.started} started, {self.delivered} delivered"


class Reconciler:
    def __init__(self, client: Client, sessions: SessionFactory) -> None:
        self._client = client
        self._sessions = sessions

    async def run(
        self, every: timedelta, stop: asyncio.Event, on_pass: Callable[[str], None]
    ) -> None:
        """Once now, then every `every`, until `stop` is set; a failed pass waits for the next.
        `on_pass` hears what each pass did, or why it failed (the worker's heartbeat)."""
        while not stop.is_set():
            try:
                done = await self.once()
                outcome = str(done)
                if done.started or done.delivered:
                    log.info("reconciler: %s", outcome)
            except Exception as e:  # Temporal or the database away: try again next time
                outcome = f"failed: {type(e).__name__}"
                log.warning("reconciler pass %s", outcome)
            await asyncio.to_thread(on_pass, outcome)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every.total_seconds())

    async def once(self) -> Reconciled:
        starts = await asyncio.to_thread(self._unstarted_cases)
        for start in starts:
            await start_case_workflow(self._client, start)
            await asyncio.to_thread(mark_started, self._sessions, start.case_id)
        answers = await asyncio.to_thread(pending_answers, self._sessions)
        for pending in answers:
            await deliver_answer(self._client, pending.case_id, pending.answer)
            await asyncio.to_thread(mark_signalled, self._sessions, pending.message_id)
        keys = await asyncio.to_thread(pending_call_answers, self._sessions)
        for pressed in keys:
            await deliver_call_answer(self._client, pressed.case_id, pressed.answer)
            await asyncio.to_thread(mark_call_signalled, self._sessions, pressed.answer.call_id)
        acks = await asyncio.to_thread(pending_site_acknowledgements, self._sessions)
        for ack in acks:
            await deliver_site_acknowledgement(self._client, ack)
            await asyncio.to_thread(mark_call_signalled, self._sessions, ack.call_id)
        studies = await asyncio.to_thread(unsettled_studies, self._sessions)
        for arrival in studies:
            await _signal_case(self._client, arrival.case_id, "study_arrived", arrival)
        delivered = len(answers) + len(keys) + len(acks) + len(studies)
        return Reconciled(len(starts), delivered)

    async def restart_lost(self) -> int:
        """Start the workflow of every open case that Temporal does not know, from where its
        record stands (`case_start`); one Temporal knows, running or closed, is left alone.
        The offers its lost workflow left open are expired: the new one makes its own.
        How many were started."""
        started, after = 0, 0
        while ids := await asyncio.to_thread(self._open_started_cases, after):
            for case_id in ids:
                if not await _workflow_known(self._client, case_id):
                    start = await asyncio.to_thread(self._restart_from_record, case_id)
                    await start_case_workflow(self._client, start)
                    started += 1
            after = ids[-1]
        return started

    def _open_started_cases(self, after: int) -> list[int]:
        open_statuses = [s.value for s in CaseStatus if s.is_open]
        with self._sessions() as s:
            return list(
                s.scalars(
                    select(Case.id)
                    .where(
                        Case.id > after,
                        Case.status.in_(open_statuses),
                        Case.workflow_started_at.is_not(None),
                    )
                    .order_by(Case.id)
                    .limit(BATCH)
                )
            )

    def _restart_from_record(self, case_id: int) -> CaseStart:
        with self._sessions.begin() as s:
            s.execute(
                update(Offer)
                .where(Offer.case_id == case_id, Offer.status == OfferStatus.OPEN)
                .values(status=OfferStatus.EXPIRED)
            )
            return case_start(s.get_one(Case, case_id))

    def _unstarted_cases(self) -> list[CaseStart]:
        with self._sessions() as s:
            cases = s.scalars(
                select(Case)
                .where(Case.workflow_started_at.is_(None))
                .order_by(Case.id)
                .limit(BATCH)
            )
            return [case_start(c) for c in cases]


async def deliver_answer(client: Client, case_id: int, answer: SmsAnswer) -> bool:
    """Signal an SMS answer to its case; False when the case's workflow is already over."""
    return await _signal_case(client, case_id, "sms_answer", answer)


async def deliver_call_answer(client: Client, case_id: int, answer: CallAnswer) -> bool:
    """Signal a key pressed on a call to its case; False when the workflow is already over."""
    return await _signal_case(client, case_id, "call_answered", answer)


async def deliver_site_acknowledgement(client: Client, ack: PendingSiteAcknowledgement) -> None:
    """Signal a site's 1 to the workflow of each version it acknowledges."""
    for report_id in ack.report_ids:
        workflow_id = acknowledgement_workflow_id(ack.case_id, report_id)
        await _signal(client, workflow_id, "acknowledge", ack.acknowledgement)


def resume_cases(settings: Settings) -> int:
    """`garde resume-cases`: `Reconciler.restart_lost` on the configured Temporal and database."""

    async def resume() -> int:
        client = await connect(settings)
        engine = make_engine(settings.database_url)
        try:
            return await Reconciler(client, make_session_factory(engine)).restart_lost()
        finally:
            engine.dispose()

    return asyncio.run(resume())


async def _workflow_known(client: Client, case_id: int) -> bool:
    try:
        await client.get_workflow_handle(case_workflow_id(case_id)).describe()
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


async def _signal_case(client: Client, case_id: int, name: str, arg: object) -> bool:
    return await _signal(client, case_workflow_id(case_id), name, arg)


async def _signal(client: Client, workflow_id: str, name: str, arg: object) -> bool:
    """False when the workflow is over (or was never started)."""
    try:
        await client.get_workflow_handle(workflow_id).signal(name, arg)
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


def pending_answers(sessions: SessionFactory) -> list[PendingAnswer]:
    """SMS answers stored but not yet known to their case's workflow, oldest first."""
    with sessions() as s:
        rows = s.execute(
            select(
                SmsMessage.id,
                SmsMessage.answer,
                SmsMessage.reason,
                Offer.id,
                Offer.case_id,
                Offer.expert_id,
            )
            .join(Offer, SmsMessage.offer_id == Offer.id)
            .where(SmsMessage.direction == "in", SmsMessage.signalled_at.is_(None))
            .order_by(SmsMessage.id)
            .limit(BATCH)
        ).all()
    return [
        PendingAnswer(
            message_id, case_id, SmsAnswer(offer_id, expert_id, answer == "accept", reason or "")
        )
        for message_id, answer, reason, offer_id, case_id, expert_id in rows
    ]


def unsettled_studies(sessions: SessionFactory) -> list[StudyArrival]:
    """Studies of open cases still receiving a minute past their site's quiet period: their
    workflow may have missed a batch (Temporal was away when it came). Oldest first."""
    now = utcnow()
    open_statuses = [s.value for s in CaseStatus if s.is_open]
    with sessions() as s:
        studies = s.scalars(
            select(Study)
            .join(Case, Study.case_id == Case.id)
            .where(
                Study.stable_at.is_(None),
                Study.last_arrival_at < now - STUDY_LATE,
                Study.last_arrival_at > now - STUDY_GIVEN_UP,
                Case.status.in_(open_statuses),
                Case.workflow_started_at.is_not(None),
            )
            .order_by(Study.id)
            .limit(BATCH)
        )
        # Each site's own quiet period (seconds to an hour), read in Python: interval
        # arithmetic differs between SQLite and PostgreSQL.
        return [
            study_arrival(study, 0, 0)
            for study in studies
            if study.last_arrival_at
            < now - timedelta(seconds=study.site.study_quiet_s) - STUDY_LATE
        ]


def mark_started(sessions: SessionFactory, case_id: int) -> None:
    with sessions.begin() as s:
        s.execute(
            update(Case)
            .where(Case.id == case_id, Case.workflow_started_at.is_(None))
            .values(workflow_started_at=utcnow())
        )


def mark_signalled(sessions: SessionFactory, message_id: int) -> None:
    with sessions.begin() as s:
        s.execute(
            update(SmsMessage)
            .where(SmsMessage.id == message_id, SmsMessage.signalled_at.is_(None))
            .values(signalled_at=utcnow())
        )


@dataclass(frozen=True)
class PendingCallAnswer:
    case_id: int
    answer: CallAnswer


def call_answer(call: VoiceCall) -> CallAnswer:
    """What the case's workflow is told of the key pressed on this call."""
    assert call.digits is not None
    by = call.coordinator.code if call.coordinator is not None else ""
    return CallAnswer(call.id, call.digits, call.expert_id, call.coordinator_id, by)


def _keys_not_told(to_site: bool) -> Select[VoiceCall]:
    """Calls (to a site's phone, or to a person) whose key pressed is not yet known to their
    case's workflow, oldest first."""
    callee = VoiceCall.site_id.is_not(None) if to_site else VoiceCall.site_id.is_(None)
    return (
        select(VoiceCall)
        .where(VoiceCall.digits.is_not(None), VoiceCall.signalled_at.is_(None), callee)
        .order_by(VoiceCall.id)
        .limit(BATCH)
    )


def pending_call_answers(sessions: SessionFactory) -> list[PendingCallAnswer]:
    """Keys pressed on calls to experts and coordinators, not yet known to their case."""
    with sessions() as s:
        calls = s.scalars(_keys_not_told(to_site=False))
        return [PendingCallAnswer(c.case_id, call_answer(c)) for c in calls]


@dataclass(frozen=True)
class PendingSiteAcknowledgement:
    """1 pressed on a site's call while Temporal was away: the versions it acknowledges."""

    call_id: int
    case_id: int
    report_ids: list[int]
    acknowledgement: Acknowledgement


def pending_site_acknowledgements(sessions: SessionFactory) -> list[PendingSiteAcknowledgement]:
    with sessions() as s:
        calls = s.scalars(_keys_not_told(to_site=True))
        return [
            PendingSiteAcknowledgement(
                c.id,
                c.case_id,
                [report.id for report in acknowledgements.pending(s, c.case_id)],
                Acknowledgement(c.to_number, "voice"),
            )
            for c in calls
        ]


def mark_call_signalled(sessions: SessionFactory, call_id: int) -> None:
    with sessions.begin() as s:
        s.execute(
            update(VoiceCall)
            .where(VoiceCall.id == call_id, VoiceCall.signalled_at.is_(None))
            .values(signalled_at=utcnow())
        )
