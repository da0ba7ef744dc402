"""The case workflow: one per read request, the protocol of design.md from intake to billing.

    intake -> [régulation: the ladder finds an expert who validates the indication with a
    protocol, or refuses it; the site scans] -> the escalation ladder, round after round (primary tier one by one, backup tier
    one by one, broadcast to all, coordinators alerted; a growing pause) -> an expert holds
    the case -> preliminary and final reports (or a release: back to the ladder) -> billing
    -> open for addenda. Beside it, the service-level timers: a breach of the accept or the
    report deadline alerts the coordinators, and the holder is reminded before the report is
    due; and the images: each study is called stable after its site's quiet period without a
    batch, and a later batch reopens it (the holder hears that new images arrived). A
    cancellation ends it wherever it stands. The site's callback phone hears who holds its
    case and when the final report is there.

The workflow is the one writer of the case's status: every write (`_write`) hands the whole
view of the case to one activity with the next sequence number, and the activity refuses a
write older than the one stored. Handlers and the main loop may write concurrently; the
newest view always wins. Two writes ride with another step, to save the path to the first
offer two round trips: the intake records the case requested, with its first timeline entry
(`CaseStart.first_entry_recorded`); the offers are opened in one transaction with the record
saying the case is offered.

Compatibility: a change that would make a recorded history replay differently (another
activity, timer or order of commands on an existing path) goes behind
`workflow.patched("what-changed")`, keeping the old path for histories that lack the marker;
`tests/workflows/histories/` holds a recorded history of every path, replayed by `make test`.
Histories recorded before this version of the workflow (Garde 0.1) do not replay: its cases
in flight go on in a new namespace, each workflow started again from the case's record
(README, *Upgrading*).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.alerts import Alerts
    from activities.calls import PhoneCalls
    from activities.case_records import CaseRecords
    from activities.delivery import Deliveries
    from activities.errors import INVALID_REQUEST, TOO_LATE
    from activities.notifications import Notifications
    from activities.offers import Offers
    from activities.studies import Studies
    from garde.domain import (
        AlertKind,
        CaseStatus,
        EventKind,
        NoticeKind,
        OfferStatus,
        Priority,
        ReportKind,
        SiteNoticeKind,
    )
    from garde.messages import (
        CANCELLED_BY_RIS,
        Acceptance,
        Acknowledgement,
        AcknowledgementStart,
        Admission,
        AdmissionRequest,
        AlertRequest,
        BillingRequest,
        CallAnswer,
        CallEnded,
        CallRequest,
        Cancellation,
        CandidateQuery,
        CaseRecord,
        CaseStart,
        CaseView,
        CoordinatorNotice,
        Decline,
        DeliveryStart,
        EligibilityQuery,
        ExpertNotice,
        NewOffer,
        OfferClosing,
        OffersClosing,
        OffersToOpen,
        OfferUndeliverable,
        OrderStatusStart,
        PriorityChange,
        RankedExpert,
        Reassignment,
        Refusal,
        Release,
        ReportDraft,
        ReportFiled,
        ReportRecord,
        RosterChange,
        ScanDone,
        SiteNotice,
        SmsAnswer,
        StoredReport,
        StudyArrival,
        StudyStability,
        TimelineEntry,
        Validation,
    )
    from garde.service_levels import LadderStep
    from garde.study_links import counts
    from garde.temporal import (
        acknowledgement_workflow_id,
        delivery_workflow_id,
        order_status_workflow_id,
    )
    from garde.validation import CONTROL, CONTROL_REASON
    from workflows.policy import CALLING, MESSAGES, POLICY, RECORDS, Calls, call_activity
    from workflows.state import (
        Callee,
        CallLadder,
        CaseState,
        DeclineMark,
        OpenOffer,
        PlacedCall,
        Ringing,
        StudyWatch,
    )

T = TypeVar("T")


@workflow.defn(name="Case")
class CaseWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart, carried: CaseState | None = None) -> None:
        # Here and not in `run`: a signal or update may be handled before `run` starts.
        self._start = start
        self.state = carried or CaseState.at_intake(start)
        self._timers_busy = False
        self._calls_busy = False
        self._calling: asyncio.Task[None] | None = None
        self._telling: set[asyncio.Task[None]] = set()  # the site's SMS, the RIS's statuses
        self._studies_busy = False
        self._answering = 0  # YES (by SMS or call) being decided: updates are judged after
        if carried is None:
            for arrival in start.studies:
                self._arrived(arrival)

    @workflow.run
    async def run(self, start: CaseStart, carried: CaseState | None = None) -> str:
        promise = asyncio.create_task(self._keep_the_promise())
        studies = asyncio.create_task(self._watch_studies())
        self._resume_calling()
        try:
            if carried is None:
                if start.first_entry_recorded:
                    self.state.written = self._signature(self._status())  # as at intake
                else:
                    # A case under way started again: where its record stood (or one
                    # recorded before intakes wrote the first entry: requested).
                    await self._write(_status_entry(self._status(), self.state.holder))
            if self.state.regulation:
                await self._regulate()
            while not self._closed():
                await self._route_until_accepted()
                await self._wait_while_held()
            if self.state.cancelled_by is not None:
                await self._close_cancelled()
            elif not self.state.refused:
                await self._bill()
                await self._stay_open_for_addenda()
            # The site's last SMS and its RIS's last status are on their way before the end.
            await workflow.wait_condition(
                lambda: workflow.all_handlers_finished() and not self._telling
            )
            return self._status()
        finally:
            promise.cancel()
            studies.cancel()
            if self._calling is not None:
                self._calling.cancel()

    # --- the escalation ladder ------------------------------------------------------------

    async def _route_until_accepted(self) -> None:
        """Climb the case's ladder, round after round, until an expert holds the case."""
        st = self.state
        while not self._settled():
            await self._continue_as_new_if_due()
            if st.step >= len(st.ladder):
                await self._next_round()
                continue
            step = st.ladder[st.step]
            ranked = await self._candidates()
            if self._settled():
                return
            if not ranked:
                await self._wait_for_someone_eligible()
                continue
            st.nobody_eligible_since = None
            if step is LadderStep.COORDINATOR:
                told = await self._alert(AlertKind.UNASSIGNED, f"unassigned:{st.round}")
                self._start_calling(ranked, told)
                self._next_step()
            elif step is LadderStep.BROADCAST:
                everyone = self._offerable(ranked)
                if everyone:
                    await self._offer(everyone, step)
                self._next_step()
            else:
                # A phone that failed lately is tried only in the broadcast.
                in_turn = [
                    c
                    for c in self._offerable(ranked)
                    if c.ranking.tier.value == step.value
                    and c.ranking.reachable
                    and c.expert_id not in st.tried
                ]
                if in_turn and not self._time_for_everyone():
                    await self._offer(in_turn[:1], step)
                else:
                    self._next_step()

    def _time_for_everyone(self) -> bool:
        """The last offer window before the accept deadline belongs to the broadcast: asking
        one more expert alone then would let the deadline pass. (Two windows, less a quarter
        of one for the moments the steps themselves take.) Past the deadline, everyone is
        asked at once in every round."""
        st = self.state
        if st.accepted_at is not None or LadderStep.BROADCAST not in st.ladder[st.step :]:
            return False
        left = st.requested_at + st.level.accept_within - workflow.now()
        return left < st.level.offer_timeout * 1.75

    def _next_step(self) -> None:
        self.state.step += 1
        self.state.tried = []

    async def _next_round(self) -> None:
        """The ladder ran out: start again from the top, after a pause longer each round."""
        st = self.state
        st.round += 1
        st.step = 0
        st.tried = []
        await self._wait(self._settled, POLICY.round_pause(st.round))

    def _offerable(self, ranked: list[RankedExpert]) -> list[RankedExpert]:
        """A decliner is skipped for the rest of the round; in a later round they are asked
        again only when nobody else is eligible."""
        st = self.state
        now = {d.expert_id for d in st.declines if d.round == st.round}
        earlier = {d.expert_id for d in st.declines if d.round < st.round}
        fresh = [c for c in ranked if c.expert_id not in now | earlier]
        return fresh or [c for c in ranked if c.expert_id not in now]

    async def _wait_for_someone_eligible(self) -> None:
        """Nobody may read the case now: the coordinators are told at once; the case looks
        again when the rosters change, and at a bounded interval."""
        st = self.state
        if st.nobody_eligible_since is None:
            st.nobody_eligible_since = workflow.now()
            await self._alert(AlertKind.NOBODY_ELIGIBLE, f"nobody:{st.notices + 1}")
        # A change since the rosters were last read (even during the alert) counts.
        await self._wait(
            lambda: self._settled() or st.roster_version != st.roster_read,
            POLICY.recheck_when_nobody_eligible,
        )

    async def _offer(self, chosen: list[RankedExpert], step: LadderStep) -> None:
        """Offer the case to these experts at once; wait for an answer or the offer timeout."""
        st = self.state
        now = workflow.now()
        new = []
        for candidate in chosen:
            st.offers_made += 1
            new.append(NewOffer(candidate.expert_id, st.offers_made, candidate.ranking))
        offered = (
            _status_entry(CaseStatus.OFFERED, chosen[0].expert_id, step)
            if len(chosen) == 1
            else _status_entry(CaseStatus.OFFERED, None, f"{step} to {len(chosen)} experts")
        )
        # The case is recorded offered in the offers' own transaction: one step less before
        # the SMS leaves. An answer meanwhile is a later write, and wins; any other (a
        # breach's alert) numbered after it with the status before, so it is written again.
        with_record = workflow.patched("offers-opened-with-their-record")
        record = self._record(self._status(offering=True), [offered]) if with_record else None
        opened = await self._must(
            Offers.open_offers,
            OffersToOpen(
                st.case_id, st.round, step, now, now + st.level.offer_timeout, new, record
            ),
        )
        st.tried.extend(c.expert_id for c in chosen)
        st.open_offers = [OpenOffer(o.offer_id, o.expert_id) for o in opened]
        st.offers_sent_at = now
        # A NO from the worklist may come while the offer is being opened: it counts.
        for offer in st.open_offers:
            for mark in st.declines:
                if mark.expert_id == offer.expert_id and mark.round == st.round:
                    offer.outcome = OfferStatus.DECLINED
                    offer.channel, offer.reason = mark.channel or None, mark.reason
        if with_record:
            await self._write()
        if not self._settled():
            if not with_record:
                await self._write(offered)
            await asyncio.gather(*(self._send_offer(o) for o in st.open_offers))
            await self._wait_for_answers()
        await self._close_offers()

    async def _send_offer(self, offer: OpenOffer) -> None:
        if self._settled() or offer.outcome is not None:
            return
        try:
            await self._call(Notifications.send_offer_sms, offer.offer_id, MESSAGES)
            offer.sent = True
        except ActivityError:
            # A phone that cannot be reached is no offer: the ladder moves on at once.
            if offer.outcome is None:
                offer.outcome = OfferStatus.UNDELIVERABLE

    async def _wait_for_answers(self) -> None:
        """Until every offer is answered, the case is settled, or the offer timeout passes
        (taken anew from the case's promise when the priority changes meanwhile)."""
        st = self.state
        assert st.offers_sent_at is not None
        while (left := st.offers_sent_at + st.level.offer_timeout - workflow.now()) > timedelta(0):
            if not await self._wait_or_moved(self._offers_answered, left):
                return

    def _offers_answered(self) -> bool:
        return self._settled() or all(o.outcome is not None for o in self.state.open_offers)

    async def _close_offers(self) -> None:
        st = self.state
        now = workflow.now()
        closings, entries, withdrawn, unreachable = [], [], [], []
        for o in st.open_offers:
            if o.outcome is None:
                if st.holder == o.expert_id:
                    o.outcome = OfferStatus.ACCEPTED
                elif self._settled():
                    o.outcome = OfferStatus.WITHDRAWN
                    if o.sent:
                        withdrawn.append(o.expert_id)
                else:
                    o.outcome = OfferStatus.EXPIRED
                    entries.append(TimelineEntry(EventKind.OFFER_EXPIRED, None, o.expert_id))
            if o.outcome is OfferStatus.UNDELIVERABLE:
                entries.append(TimelineEntry(EventKind.OFFER_UNDELIVERABLE, None, o.expert_id))
                unreachable.append(o)
            closings.append(OfferClosing(o.offer_id, o.outcome, now, o.channel, o.reason))
        st.open_offers = []
        await self._must(Offers.close_offers, OffersClosing(closings))
        await self._write(*entries)
        for o in unreachable:
            # One alert a day per phone, whatever the cases it failed for.
            day = now.date().isoformat()
            await self._alert(
                AlertKind.UNREACHABLE, f"expert-{o.expert_id}:unreachable:{day}", o.expert_id, False
            )
        await asyncio.gather(*(self._notify(e, NoticeKind.WITHDRAWN) for e in withdrawn))

    async def _candidates(self) -> list[RankedExpert]:
        self.state.roster_read = self.state.roster_version
        ranked: list[RankedExpert] = await self._must(
            Offers.find_candidates, CandidateQuery(self.state.case_id, workflow.now())
        )
        return ranked

    # --- stat cases: the call ladder ------------------------------------------------------

    def _start_calling(self, ranked: list[RankedExpert], coordinators: list[int]) -> None:
        """A stat case still unassigned at the coordinator step: beside the ladder, which goes
        on, phone the experts on duty (best first, not those who declined this round), then
        the coordinators, one at a time. Once per round, never two call ladders at once, and
        no more once a coordinator said they are on it."""
        st = self.state
        if st.priority is not Priority.STAT or (
            st.calling is not None and (not st.calling.done or st.calling.on_it is not None)
        ):
            return
        if not workflow.patched("voice-calls"):
            return
        declined = {d.expert_id for d in st.declines if d.round == st.round}
        callees = [Callee(expert_id=c.expert_id) for c in ranked if c.expert_id not in declined]
        callees += [Callee(coordinator_id=c) for c in coordinators]
        st.calling = CallLadder(st.round, callees)
        self._calling = asyncio.create_task(self._call_in_turn(st.calling))

    def _resume_calling(self) -> None:
        """A call ladder carried over by continue-as-new goes on where it stood."""
        calling = self.state.calling
        if calling is not None and not calling.done:
            self._calling = asyncio.create_task(self._call_in_turn(calling))

    async def _call_in_turn(self, calling: CallLadder) -> None:
        """Until an expert holds the case, a coordinator is on it, or the list is done."""
        while not self._calling_over(calling):
            ringing = calling.ringing
            if ringing is None:
                if calling.next >= len(calling.callees):
                    break
                await self._ring_next(calling)
                continue
            left = ringing.until - workflow.now()
            if left > timedelta(0):
                await self._wait(lambda: self._call_over(calling), left)
            calling.ringing = None
        calling.ringing = None
        calling.done = True

    def _call_over(self, calling: CallLadder) -> bool:
        ringing = calling.ringing
        return self._calling_over(calling) or ringing is None or ringing.call_id in calling.ended

    def _calling_over(self, calling: CallLadder) -> bool:
        return self._settled() or calling.on_it is not None or self.state.priority != Priority.STAT

    async def _ring_next(self, calling: CallLadder) -> None:
        """Place the call to the next callee; a phone that cannot be called is passed over."""
        st = self.state
        index = calling.next
        calling.next += 1
        callee = calling.callees[index]
        request = CallRequest(
            f"case-{st.case_id}:call:{calling.round}:{index}",
            st.case_id,
            int(CALLING.ring.total_seconds()),
            callee.expert_id,
            callee.coordinator_id,
        )
        # Continue-as-new waits for the call to be placed: the state then says it all.
        self._calls_busy = True
        try:
            call_id: int = await self._call(PhoneCalls.place_call, request, MESSAGES)
        except ActivityError:
            workflow.logger.warning("case %s: a call could not be placed", st.case_id)
            return
        finally:
            self._calls_busy = False
        calling.calls.append(PlacedCall(call_id, callee))
        calling.ringing = Ringing(call_id, workflow.now() + CALLING.per_call)

    # --- régulation: the indication validated before the scan ----------------------------------

    async def _regulate(self) -> None:
        """An expert from the ladder takes the request and validates its indication with a
        protocol, or refuses it (the case ends); a release sends it up the ladder again.
        Once validated, the case waits for its scan: the site marks it done, or its images
        arrive."""
        st = self.state
        while st.validating and not self._closed():
            await self._route_until_accepted()
            await self._wait_while_held()
        while st.awaiting_scan and not self._closed():
            await self._continue_as_new_if_due()
            await workflow.wait_condition(
                lambda: (
                    not st.awaiting_scan
                    or bool(st.studies)
                    or self._closed()
                    or self._continue_as_new_due()
                )
            )
            if st.awaiting_scan and st.studies and not self._closed():
                await self._scanned("images")

    async def _scanned(self, via: str) -> None:
        """The scan is done: the validating expert reads it, unless the site's contract
        sends it up the ladder again."""
        st = self.state
        st.decision = dataclasses.replace(st.decision, scanned_at=workflow.now())
        holder = st.holder
        if st.reroute_after_scan:
            st.holder = None
            st.round += 1
            st.step = 0
            st.tried = []
        await self._write(TimelineEntry(EventKind.SCANNED, self._status(), None, via))
        if holder is not None and st.holder == holder:
            self._tell_ris(CaseStatus.ACCEPTED)
            await self._notify(holder, NoticeKind.SCANNED)

    # --- holding, reporting, the end --------------------------------------------------------

    async def _wait_while_held(self) -> None:
        """The holder reads and reports (or, under régulation, decides on the indication); a
        release sends the case back to the ladder."""
        st = self.state
        validating = st.validating
        while st.holder is not None and not self._closed() and st.validating == validating:
            await self._continue_as_new_if_due()
            await workflow.wait_condition(
                lambda: (
                    st.holder is None
                    or self._closed()
                    or st.validating != validating
                    or self._continue_as_new_due()
                )
            )

    async def _close_cancelled(self) -> None:
        st = self.state
        if st.holder is None:
            return
        await self._notify(st.holder, NoticeKind.CANCELLED)
        if st.regulation and st.decision.scanned_at is None:
            return  # nothing was read
        if workflow.patched("bill-cancellation"):
            # Cancelled while held: the contract may bill the expert's time (the tariff says).
            assert st.closed_at is not None
            await self._must(
                CaseRecords.record_billing_line,
                BillingRequest(st.case_id, st.holder, st.closed_at, st.accepted_at, cancelled=True),
            )

    async def _bill(self) -> None:
        st = self.state
        if st.billed:
            return
        assert st.final_by is not None and st.reported_at is not None
        await self._must(
            CaseRecords.record_billing_line,
            BillingRequest(st.case_id, st.final_by, st.reported_at, st.accepted_at),
        )
        st.billed = True

    async def _stay_open_for_addenda(self) -> None:
        st = self.state
        if st.addenda_until is None:
            st.addenda_until = workflow.now() + POLICY.addendum_window
        until = st.addenda_until
        while (left := until - workflow.now()) > timedelta(0):
            await self._continue_as_new_if_due()
            await self._wait(self._continue_as_new_due, left)

    # --- the promise: service-level timers --------------------------------------------------

    async def _keep_the_promise(self) -> None:
        """Alert the coordinators when the accept or the report deadline passes, and remind
        the holder at 75% of the time allowed to report. Deadlines count from the request
        and follow a priority change."""
        st = self.state
        while True:
            next_due = self._next_promise()
            if next_due is None:
                if not st.awaiting_scan or self._closed():
                    return
                # Régulation: the report's promise starts with the scan.
                await workflow.wait_condition(lambda: not st.awaiting_scan or self._closed())
                continue
            due, what = next_due
            if due > workflow.now():
                await self._wait_or_moved(self._closed, due - workflow.now())
                continue
            self._timers_busy = True
            try:
                await what()
            finally:
                self._timers_busy = False

    def _next_promise(self) -> tuple[datetime, Callable[[], Any]] | None:
        st = self.state
        if self._closed():
            return None
        due: list[tuple[datetime, Callable[[], Any]]] = []
        if st.accepted_at is None and not st.accept_breached:
            due.append((st.requested_at + st.level.accept_within, self._accept_breached))
        if st.validating:
            if not st.validate_reminded:
                reminder = st.level.validate_within * POLICY.reminder_share
                due.append((st.requested_at + reminder, self._remind_validator))
            if not st.validate_breached:
                due.append((st.requested_at + st.level.validate_within, self._validate_breached))
        # Under régulation the report is promised from the scan: none is due before it.
        reading_from = st.decision.scanned_at if st.regulation else st.requested_at
        if reading_from is None:
            return min(due, key=lambda d: d[0]) if due else None
        if not st.reminded:
            reminder = st.level.report_within * POLICY.reminder_share
            due.append((reading_from + reminder, self._remind_holder))
        if not st.report_breached:
            due.append((reading_from + st.level.report_within, self._report_breached))
        return min(due, key=lambda d: d[0]) if due else None

    async def _accept_breached(self) -> None:
        self.state.accept_breached = True
        await self._write(TimelineEntry(EventKind.SLA_BREACH, None, None, "accept"))
        await self._alert(AlertKind.ACCEPT_BREACH, "accept-breach")

    async def _validate_breached(self) -> None:
        self.state.validate_breached = True
        await self._write(TimelineEntry(EventKind.SLA_BREACH, None, self.state.holder, "validate"))
        await self._alert(AlertKind.VALIDATE_BREACH, "validate-breach")

    async def _remind_validator(self) -> None:
        st = self.state
        st.validate_reminded = True
        holder = st.holder
        if holder is not None and st.validating:
            await self._notify(holder, NoticeKind.VALIDATE_REMINDER)
            await self._write(TimelineEntry(EventKind.REMINDER_SENT, None, holder, "validate"))

    async def _remind_holder(self) -> None:
        st = self.state
        st.reminded = True
        holder = st.holder
        if holder is not None and st.final_report_id is None and not st.filing_final:
            await self._notify(holder, NoticeKind.REMINDER)
            await self._write(TimelineEntry(EventKind.REMINDER_SENT, None, holder))

    async def _report_breached(self) -> None:
        self.state.report_breached = True
        await self._write(TimelineEntry(EventKind.SLA_BREACH, None, self.state.holder, "report"))
        await self._alert(AlertKind.REPORT_BREACH, "report-breach")

    # --- the images: a quiet period, then stable -------------------------------------------

    async def _watch_studies(self) -> None:
        """Beside the case: each study is called stable once no batch came for its site's
        quiet period. Stable is never proof of completeness: a later batch reopens it."""
        st = self.state
        while True:
            await workflow.wait_condition(lambda: any(not w.stable for w in st.studies))
            watch = min((w for w in st.studies if not w.stable), key=lambda w: w.quiet_until)
            left = watch.quiet_until - workflow.now()
            if left > timedelta(0):
                await self._wait(self._batch_since(st.batches), left)
                continue
            self._studies_busy = True
            try:
                await self._study_stable(watch)
            finally:
                self._studies_busy = False

    def _batch_since(self, batches: int) -> Callable[[], bool]:
        return lambda: self.state.batches != batches

    async def _study_stable(self, watch: StudyWatch) -> None:
        watch.stable = True
        await self._must(
            Studies.record_stability,
            StudyStability(watch.study_id, watch.instances, workflow.now()),
        )
        await self._write(
            TimelineEntry(EventKind.STUDY_STABLE, None, None, counts(watch.series, watch.instances))
        )

    def _arrived(self, arrival: StudyArrival) -> bool:
        """Count a batch in: True when it reopens a study that was stable. A batch known
        already (a repeat: no more instances than counted) changes nothing."""
        st = self.state
        watch = next((w for w in st.studies if w.study_id == arrival.study_id), None)
        if watch is None:
            watch = StudyWatch(
                arrival.study_id, 0, 0, arrival.quiet_s, workflow.now(), stable=False
            )
            st.studies.append(watch)
        elif arrival.instances <= watch.instances:
            return False
        reopened = watch.stable
        watch.series = max(watch.series, arrival.series)
        watch.instances = arrival.instances
        watch.quiet_s = arrival.quiet_s
        watch.last_batch = workflow.now()
        watch.stable = False
        st.batches += 1
        return reopened

    # --- messages from the web, the SMS hook and the DICOM gateway ----------------------------

    @workflow.signal
    async def study_arrived(self, arrival: StudyArrival) -> None:
        """A batch of images for the case, stored and indexed first. A signal: the gateway
        never waits for a worker. After the study was called stable, it is receiving again,
        and the holder hears that new images arrived."""
        st = self.state
        known = next((w for w in st.studies if w.study_id == arrival.study_id), None)
        before = (known.series, known.instances) if known else (0, 0)
        if not self._arrived(arrival):
            return
        # Counted here, not taken from the batch: a batch told again after one was missed
        # (garde/reconciler.py) says what came since the workflow last heard.
        added = counts(arrival.series - before[0], arrival.instances - before[1])
        await self._write(TimelineEntry(EventKind.STUDY_REOPENED, None, None, added))
        await self._must(
            Studies.record_stability, StudyStability(arrival.study_id, arrival.instances, None)
        )
        holder = st.holder
        if holder is not None and not self._closed() and not st.filing_final:
            await self._notify(holder, NoticeKind.NEW_IMAGES)

    @workflow.update
    async def accept(self, acceptance: Acceptance) -> None:
        """An update, not a signal: the caller must learn at once whether the case is theirs."""
        await self._after_answers()
        self._check_can_accept(acceptance.expert_id)
        if self.state.holder == acceptance.expert_id:
            return
        admission = self._admission(acceptance.not_after)
        if not await self._eligible(acceptance.expert_id, admission=admission):
            raise ApplicationError(
                "you are not eligible for this case (on duty, credentialed for the site, "
                "reading the modality, under your case limit)",
                type="NotEligible",
            )
        self._check_can_accept(acceptance.expert_id)  # taken or closed while we looked
        if self._taken_meanwhile(acceptance.expert_id):
            return
        await self._take(acceptance.expert_id, acceptance.via)

    @accept.validator
    def _validate_accept(self, acceptance: Acceptance) -> None:
        self._check_now(self._check_can_accept, acceptance.expert_id)

    @workflow.signal
    async def sms_answer(self, answer: SmsAnswer) -> None:
        """A signal, so the SMS webhook answers Twilio at once even when no worker runs.
        The webhook stored the reply first; a repeat of the same offer's answer is ignored."""
        st = self.state
        if answer.offer_id in st.answered_offers:
            return
        st.answered_offers.append(answer.offer_id)
        if not answer.accept:
            await self._declined(answer.expert_id, answer.reason, "sms")
            return
        await self._yes(answer.expert_id, "sms")

    async def _yes(self, expert_id: int, via: str) -> None:
        """A YES by SMS or a 1 on a call: the case is theirs if still unassigned and they
        are still eligible; either way they are told. Updates that come while it is decided
        are judged after it (`_after_answers`), not after the SMS telling them."""
        self._answering += 1
        try:
            notice = await self._decide_yes(expert_id, via)
        finally:
            self._answering -= 1
        if notice is not None:
            await self._notify(expert_id, notice)

    async def _decide_yes(self, expert_id: int, via: str) -> NoticeKind | None:
        """The case taken or not; what the expert is to be told, if anything."""
        st = self.state
        if st.holder == expert_id:
            return None
        if self._settled() or st.filing_final:
            return NoticeKind.TAKEN
        if not await self._eligible(expert_id, must=True):
            # A late YES from an expert whose shift ended (or who is at their limit): they
            # said yes, so it is no decline, but their offer ends and the ladder moves on.
            await self._cannot_take(expert_id, via)
            return NoticeKind.NOT_ELIGIBLE
        if self._settled() or st.filing_final:
            if st.holder == expert_id and workflow.patched("yes-when-yours"):
                return None  # their own web acceptance won the race: theirs, nothing to say
            return NoticeKind.TAKEN
        await self._take(expert_id, via)
        return NoticeKind.YOURS

    @workflow.signal
    async def decline(self, decline: Decline) -> None:
        await self._declined(decline.expert_id, decline.reason, "web")

    @workflow.signal
    async def offer_undeliverable(self, failed: OfferUndeliverable) -> None:
        """Twilio's status callback said the offer's SMS never arrived: move on at once."""
        for offer in self.state.open_offers:
            if offer.offer_id == failed.offer_id and offer.outcome is None:
                offer.outcome = OfferStatus.UNDELIVERABLE

    @workflow.signal
    async def call_answered(self, answer: CallAnswer) -> None:
        """A key pressed on a call of the call ladder. A signal, as for SMS: the webhook
        stored the key first and answers Twilio at once; a repeat is ignored. (It may come
        before the ladder has heard that the call was placed: the web bound it to this case.)"""
        calling = self.state.calling
        if calling is None or answer.call_id in calling.answered:
            return
        calling.answered.append(answer.call_id)
        if answer.coordinator_id is not None:
            if answer.digits == "1" and calling.on_it is None and not self._settled():
                calling.on_it = answer.coordinator_id
                await self._write(
                    TimelineEntry(EventKind.COORDINATOR_ON_IT, None, None, f"{answer.by}, by phone")
                )
        elif answer.expert_id is not None and answer.digits == "1":
            await self._yes(answer.expert_id, "voice")
        elif answer.expert_id is not None and answer.digits == "2":
            await self._declined(answer.expert_id, "", "voice")
        # Only now, the acceptance or the decline decided: the next callee, if any.
        calling.ended.append(answer.call_id)

    @workflow.signal
    def call_ended(self, ended: CallEnded) -> None:
        """Twilio says the call ended with no key pressed: the next callee at once."""
        calling = self.state.calling
        if calling is not None and ended.call_id not in calling.ended:
            calling.ended.append(ended.call_id)

    @workflow.signal
    async def roster_changed(self, _change: RosterChange) -> None:
        self.state.roster_version += 1

    @workflow.update
    async def release(self, release: Release) -> None:
        """The holder gives the case back: a new round of the ladder, without them first."""
        await self._after_answers()
        await self._admit(release.not_after)
        self._check_holder(release.expert_id)
        st = self.state
        st.holder = None
        st.preliminary_by = None
        st.declines.append(DeclineMark(release.expert_id, st.round))
        st.round += 1
        st.step = 0
        st.tried = []
        await self._write(
            TimelineEntry(EventKind.RELEASED, CaseStatus.REQUESTED, release.expert_id)
        )

    @release.validator
    def _validate_release(self, release: Release) -> None:
        self._check_now(self._check_holder, release.expert_id)

    @workflow.update
    async def file_report(self, draft: ReportDraft) -> ReportFiled:
        await self._after_answers()
        self._check_report(draft)
        st = self.state
        final = draft.kind is ReportKind.FINAL
        # Set before any await: a second final report, a release or a cancellation waits
        # for nothing and is refused; the case is final only once the report is stored.
        st.filing_final = st.filing_final or final
        filed_before, st.report_filed = st.report_filed, True
        info = workflow.current_update_info()
        key = f"case-{st.case_id}:{info.id if info else st.seq}"
        # The version and the record it makes go in one transaction, with the site's
        # endpoints read there too: one step where there were three. Behind a patch: an
        # older history stored the version, then wrote the record, then read the endpoints.
        together = workflow.patched("report-filed-with-its-record")
        written_before, now = st.written, workflow.now()
        record = None
        if together:
            filed = self._status(filing=draft.kind)
            record = self._record(filed, [_report_entry(filed, draft)])
            if record is not None and final:
                record = dataclasses.replace(record, reported_at=now, closed_at=now)
        try:
            stored: StoredReport | int = await self._call(
                CaseRecords.file_report if together else CaseRecords.record_report,
                ReportRecord(st.case_id, key, now, draft, record, self._admission(draft.not_after)),
                RECORDS,
            )
        except (ActivityError, ApplicationError) as e:
            st.filing_final = st.filing_final and not final
            st.report_filed = filed_before
            st.written = written_before
            if record is not None and st.seq == record.seq:
                st.seq -= 1  # its record was not stored, and no later write took the next number
            raise _refusal(e, "the report could not be stored") from e
        # The site's endpoints when the version's transaction read them (None: read later).
        report_id, channels = (
            (stored.report_id, stored.channels)
            if isinstance(stored, StoredReport)
            else (stored, None)
        )
        if draft.kind is ReportKind.PRELIMINARY:
            st.preliminary_by = draft.expert_id
        elif final:
            st.final_report_id, st.final_by = report_id, draft.expert_id
            st.reported_at = st.closed_at = now
        status = self._status()
        # Written again only when another write came while the version was being stored
        # (a breach's alert): it numbered after this one, with the status before it.
        await (self._write() if together else self._write(_report_entry(status, draft)))
        if workflow.patched("report-followups"):
            await self._follow_up(report_id, draft, channels)
        elif final:
            self._tell_site(
                SiteNoticeKind.CRITICAL if draft.critical else SiteNoticeKind.REPORT_READY
            )
        return ReportFiled(report_id, status)

    async def _follow_up(
        self, report_id: int, draft: ReportDraft, channels: list[str] | None
    ) -> None:
        """Each version goes to the site's endpoints; one the site must acknowledge (a
        category 1 or 2 finding, a major discrepancy) has the site texted, called and the
        coordinators alerted until it does; a final without one has the site texted that
        the report is ready. Each its own workflow, outliving the case's: an endpoint down
        for days or a site slow to answer holds up nothing here. `channels`: the site's
        endpoints when the version's own transaction read them."""
        st = self.state
        abandon = workflow.ParentClosePolicy.ABANDON
        delivery = DeliveryStart(st.case_id, report_id)
        if channels is not None:
            has_endpoints = bool(channels)
        else:
            has_endpoints = await self._has_endpoints(delivery)
        if has_endpoints:
            await workflow.start_child_workflow(
                "ReportDelivery",
                delivery,
                id=delivery_workflow_id(st.case_id, report_id),
                parent_close_policy=abandon,
            )
        owed = draft.acknowledgement
        if owed is not None:
            reason, category = owed
            await workflow.start_child_workflow(
                "Acknowledgement",
                AcknowledgementStart(st.case_id, report_id, reason, category),
                id=acknowledgement_workflow_id(st.case_id, report_id),
                parent_close_policy=abandon,
            )
        elif draft.kind is ReportKind.FINAL:
            self._tell_site(SiteNoticeKind.REPORT_READY)

    async def _has_endpoints(self, delivery: DeliveryStart) -> bool:
        """A site with no endpoint gets no delivery workflow (a version is sent to the
        endpoints the site has when it is filed). When the site cannot be read, the
        delivery workflow is started: it reads the endpoints again, for as long as it takes.
        Behind a patch: a history that started one for every version replays as it ran."""
        if not workflow.patched("deliveries-to-endpoints-only"):
            return True
        try:
            channels: list[str] = await self._call(Deliveries.delivery_channels, delivery, RECORDS)
        except ActivityError:
            return True
        return bool(channels)

    @file_report.validator
    def _validate_report(self, draft: ReportDraft) -> None:
        self._check_now(self._check_report, draft)

    @workflow.signal
    async def cancel(self, cancellation: Cancellation) -> None:
        """Withdraws every open offer (each offered expert is told) and tells the holder."""
        st = self.state
        if self._closed() or st.filing_final:
            return
        if st.report_filed and workflow.patched("cancel-before-report"):
            return  # a read under way ends with its report; the web refuses it with a 409
        st.cancelled_by = cancellation.by
        st.closed_at = workflow.now()
        await self._write(_status_entry(CaseStatus.CANCELLED, None, f"by {cancellation.by}"))
        if cancellation.by != CANCELLED_BY_RIS:
            self._tell_ris(CaseStatus.CANCELLED)

    @workflow.update
    async def validate(self, validation: Validation) -> None:
        """Régulation: the holder validates the indication with a protocol; the site (and its
        RIS) learns the protocol at once, and scans."""
        await self._after_answers()
        await self._admit(validation.not_after)
        self._check_deciding(validation.expert_id)
        st = self.state
        st.decision = dataclasses.replace(
            st.decision,
            validated_at=workflow.now(),
            validated_by=validation.expert_id,
            protocol_id=validation.protocol_id,
            note=CONTROL.sub("", validation.note),
        )
        await self._write(
            TimelineEntry(EventKind.VALIDATED, CaseStatus.VALIDATED, validation.expert_id)
        )
        self._tell_site(SiteNoticeKind.VALIDATED, validation.expert_id)
        self._tell_ris(CaseStatus.VALIDATED)

    @validate.validator
    def _validate_validate(self, validation: Validation) -> None:
        self._check_now(self._check_deciding, validation.expert_id)

    @workflow.update
    async def refuse(self, refusal: Refusal) -> None:
        """Régulation: the holder refuses the indication, saying why; the case ends there."""
        await self._after_answers()
        await self._admit(refusal.not_after)
        self._check_deciding(refusal.expert_id)
        reason = CONTROL.sub("", refusal.reason).strip()
        if not reason:
            raise ApplicationError(
                "reason is required: say why the indication is refused",
                {"reason": "is required"},
                type="InvalidInput",
            )
        st = self.state
        st.closed_at = workflow.now()
        st.decision = dataclasses.replace(
            st.decision, validated_by=refusal.expert_id, refusal_reason=reason
        )
        await self._write(TimelineEntry(EventKind.REFUSED, CaseStatus.REFUSED, refusal.expert_id))
        self._tell_site(SiteNoticeKind.REFUSED, refusal.expert_id)
        self._tell_ris(CaseStatus.REFUSED)

    @refuse.validator
    def _validate_refuse(self, refusal: Refusal) -> None:
        self._check_now(self._check_deciding, refusal.expert_id)

    @workflow.update
    async def scanned(self, scan: ScanDone) -> None:
        """Régulation: the site's technologist did the scan. Said twice, or after the images
        said it, it changes nothing."""
        await self._admit(scan.not_after)
        self._check_scannable()
        if self.state.awaiting_scan:
            await self._scanned(scan.via)

    @scanned.validator
    def _validate_scanned(self, scan: ScanDone) -> None:
        self._check_scannable()

    @workflow.signal
    async def acknowledge(self, ack: Acknowledgement) -> None:
        """Kept for the histories of reports filed before "report-followups": since, the
        version's own workflow (workflows/acknowledgement.py) waits for the site."""
        st = self.state
        if st.final_report_id is not None and not st.acknowledged:
            st.acknowledged = True
            await self._write(TimelineEntry(EventKind.ACKNOWLEDGED, None, None, f"by {ack.by}"))

    @workflow.update
    async def reassign(self, change: Reassignment) -> None:
        """A coordinator gives the case to a named expert, eligible unless `force`."""
        await self._after_answers()
        await self._admit(change.not_after)
        self._check_open()
        st = self.state
        if st.holder == change.expert_id:
            return
        if not change.force and not await self._eligible(change.expert_id):
            raise ApplicationError(
                "that expert is not eligible for this case now; force it to assign anyway",
                type="NotEligible",
            )
        self._check_open()
        if self._taken_meanwhile(change.expert_id):
            return
        previous = st.holder
        await self._take(
            change.expert_id,
            "coordinator",
            EventKind.REASSIGNED,
            f"by {change.by}" + (" (forced)" if change.force else ""),
        )
        if previous is not None:
            await self._notify(previous, NoticeKind.REASSIGNED)
        await self._notify(change.expert_id, NoticeKind.YOURS)

    @reassign.validator
    def _validate_reassign(self, change: Reassignment) -> None:
        self._check_open()

    @workflow.update
    async def change_priority(self, change: PriorityChange) -> None:
        """New service levels and ladder, counted from the request: timers follow at once."""
        await self._admit(change.not_after)
        self._check_open()
        st = self.state
        if (change.priority, change.level, list(change.ladder)) == (
            st.priority,
            st.level,
            st.ladder,
        ):
            return
        before = st.priority
        st.priority, st.level, st.ladder = change.priority, change.level, list(change.ladder)
        st.levels_version += 1
        await self._write(
            TimelineEntry(
                EventKind.PRIORITY_CHANGED,
                None,
                None,
                f"{before} to {change.priority} by {change.by}",
            )
        )

    @change_priority.validator
    def _validate_priority(self, change: PriorityChange) -> None:
        self._check_open()

    @workflow.query
    def view(self) -> CaseView:
        st = self.state
        return CaseView(
            self._status(),
            st.holder,
            st.seq,
            st.round,
            [o.offer_id for o in st.open_offers if o.outcome is None],
        )

    # --- rules --------------------------------------------------------------------------------

    def _status(self, offering: bool = False, filing: ReportKind | None = None) -> CaseStatus:
        """The status follows from the state: the workflow never stores it apart. `offering`:
        as it will be once the offers being opened are; `filing`, once the report being
        filed is stored."""
        st = self.state
        if st.cancelled_by is not None:
            return CaseStatus.CANCELLED
        if st.refused:
            return CaseStatus.REFUSED
        if st.final_report_id is not None or filing is ReportKind.FINAL:
            return CaseStatus.FINAL
        if st.awaiting_scan:
            return CaseStatus.TO_VALIDATE if st.validating else CaseStatus.VALIDATED
        if st.holder is not None:
            if st.preliminary_by == st.holder or filing is ReportKind.PRELIMINARY:
                return CaseStatus.PRELIMINARY
            return CaseStatus.ACCEPTED
        if offering or any(o.outcome is None for o in st.open_offers):
            return CaseStatus.OFFERED
        return CaseStatus.REQUESTED

    def _closed(self) -> bool:
        st = self.state
        return st.cancelled_by is not None or st.final_report_id is not None or st.refused

    def _settled(self) -> bool:
        """Nothing more for the ladder to do: an expert holds the case, or it is closed."""
        return self.state.holder is not None or self._closed()

    def _check_now(self, check: Callable[..., None], *args: Any) -> None:
        """An update's validator: `check(*args)` judged now, or by the update itself once a
        YES being decided is (`_after_answers`). Never by a clock: a worker taking over from
        one that died after admitting the update must judge it as the first one did; the
        update's lateness is decided once, in the database, by `_admit`."""
        if not self._answering:
            check(*args)

    def _check_open(self) -> None:
        if self._closed() or self.state.filing_final:
            raise ApplicationError("the case is closed", type="CaseClosed")

    def _check_can_accept(self, expert_id: int) -> None:
        self._check_open()
        if self.state.holder is not None and self.state.holder != expert_id:
            raise ApplicationError("another expert holds the case", type="AlreadyTaken")

    def _check_deciding(self, expert_id: int) -> None:
        self._check_holder(expert_id)
        if not self.state.validating:
            raise ApplicationError(
                "the case has no indication waiting for validation", type="NotToValidate"
            )

    def _check_scannable(self) -> None:
        self._check_open()
        st = self.state
        if not st.regulation:
            raise ApplicationError(
                "the case is not under régulation: its images are simply sent",
                type="NotToValidate",
            )
        if st.validating:
            raise ApplicationError(
                "the indication is not validated yet: scan once a protocol is given",
                type="NotValidated",
            )

    def _check_holder(self, expert_id: int) -> None:
        self._check_open()
        if self.state.holder != expert_id:
            raise ApplicationError("you do not hold this case", type="NotHolder")

    def _check_report(self, draft: ReportDraft) -> None:
        # The web refuses these too; here so that no other way in can close the case with a
        # report the record cannot store (PostgreSQL refuses NUL: the write would never end).
        unstorable = {
            name: CONTROL_REASON
            for name, text in (("findings", draft.findings), ("impression", draft.impression))
            if CONTROL.search(text)
        }
        if unstorable:
            raise ApplicationError(
                ", ".join(f"{k} {v}" for k, v in unstorable.items()),
                unstorable,
                type="InvalidInput",
            )
        st = self.state
        if st.cancelled_by is not None:
            raise ApplicationError("the case is cancelled", type="CaseClosed")
        if draft.kind is ReportKind.ADDENDUM:
            if st.final_report_id is None or st.final_by != draft.expert_id:
                raise ApplicationError(
                    "an addendum follows your own final report", type="NotHolder"
                )
            return
        if st.final_report_id is not None or st.filing_final:
            raise ApplicationError("the final report is already filed", type="CaseClosed")
        if st.holder != draft.expert_id:
            raise ApplicationError("you do not hold this case", type="NotHolder")

    def _taken_meanwhile(self, expert_id: int) -> bool:
        """This very expert took the case while an update looked at their eligibility: the
        same update sent again (a web app answered 503 when the case's worker died, and its
        caller retried) must change nothing, or the case is taken twice (twice on its
        timeline, the site and the experts texted twice). Behind a patch: a history that took
        it twice replays as it ran."""
        return self.state.holder == expert_id and workflow.patched("take-once")

    async def _after_answers(self) -> None:
        """An update that came behind a YES still being decided is judged once it is, in
        the order they came. A worker taking over a case replays the YES in the very task
        that brings the update, while the record (written by the worker that died) may
        already show the case accepted to the expert who sent it. Behind a patch: an older
        history ran the two side by side."""
        if self._answering and workflow.patched("updates-after-answers"):
            await workflow.wait_condition(lambda: not self._answering)

    async def _eligible(
        self, expert_id: int, must: bool = False, admission: Admission | None = None
    ) -> bool:
        """`admission`: an acceptance's, admitted in the same transaction (`_admit`)."""
        query = EligibilityQuery(self.state.case_id, expert_id, workflow.now(), admission)
        if must:
            eligible: bool = await self._must(Offers.check_eligibility, query)
            return eligible
        try:
            eligible = await self._call(Offers.check_eligibility, query, RECORDS)
        except (ActivityError, ApplicationError) as e:
            raise _refusal(e, "eligibility could not be checked") from e
        return eligible

    def _admission(self, not_after: datetime | None) -> Admission | None:
        """What the update's first transaction admits; None for one sent with no deadline."""
        info = workflow.current_update_info()
        return None if not_after is None or info is None else Admission(info.id, not_after)

    async def _admit(self, not_after: datetime | None) -> None:
        """The update admitted before it changes anything, or refused for good: whichever
        of this worker and the web giving up on it comes first decides, once, in the
        database (garde/admission.py). An acceptance and a report are admitted in their
        first transaction instead. Behind a patch: an older history changed the case at once."""
        admission = self._admission(not_after)
        if admission is None or not workflow.patched("updates-admitted"):
            return
        request = AdmissionRequest(self.state.case_id, admission)
        try:
            await self._call(CaseRecords.admit_update, request, RECORDS)
        except (ActivityError, ApplicationError) as e:
            raise _refusal(e, "the request could not be admitted") from e

    async def _declined(self, expert_id: int, reason: str, channel: str) -> None:
        # A signal cannot refuse: a reason the record could not store loses its controls.
        reason = CONTROL.sub("", reason)
        st = self.state
        if self._closed() or st.holder == expert_id:
            return
        if not any(d.expert_id == expert_id and d.round == st.round for d in st.declines):
            st.declines.append(DeclineMark(expert_id, st.round, channel, reason))
        for offer in st.open_offers:
            if offer.expert_id == expert_id and offer.outcome is None:
                offer.outcome = OfferStatus.DECLINED
                offer.channel, offer.reason = channel, reason
        await self._write(TimelineEntry(EventKind.DECLINED, None, expert_id, reason))

    async def _cannot_take(self, expert_id: int, via: str) -> None:
        for offer in self.state.open_offers:
            if offer.expert_id == expert_id and offer.outcome is None:
                offer.outcome = OfferStatus.WITHDRAWN
                offer.channel, offer.reason = via, "no longer eligible when answered"
        await self._write(
            TimelineEntry(EventKind.OFFER_WITHDRAWN, None, expert_id, "no longer eligible")
        )

    async def _take(
        self,
        expert_id: int,
        via: str,
        kind: EventKind = EventKind.STATUS,
        detail: str = "",
    ) -> None:
        st = self.state
        # Set before any await: a second acceptance in the same task sees the case taken.
        st.holder = expert_id
        st.preliminary_by = None
        st.accepted_at = st.accepted_at or workflow.now()
        for offer in st.open_offers:
            if offer.expert_id == expert_id and offer.outcome is None:
                offer.outcome, offer.channel = OfferStatus.ACCEPTED, via
        await self._write(
            TimelineEntry(kind, CaseStatus.ACCEPTED, expert_id, detail or f"via {via}")
        )
        self._tell_site(SiteNoticeKind.ACCEPTED, expert_id)
        if not st.awaiting_scan:  # under régulation, the RIS hears of the reading at the scan
            self._tell_ris(CaseStatus.ACCEPTED)

    # --- plumbing -----------------------------------------------------------------------------

    async def _write(self, *entries: TimelineEntry) -> None:
        """The one writer of the case record: the whole view, numbered, newest wins."""
        record = self._record(self._status(), entries)
        if record is not None:
            await self._must(CaseRecords.record_case, record)

    def _record(self, status: CaseStatus, entries: Sequence[TimelineEntry]) -> CaseRecord | None:
        """The next write of the case record, numbered; None when it would change nothing."""
        st = self.state
        written = self._signature(status)
        if not entries and written == st.written:
            return None
        st.seq += 1
        st.written = written
        return CaseRecord(
            case_id=st.case_id,
            seq=st.seq,
            at=workflow.now(),
            status=status,
            holder=st.holder,
            priority=st.priority,
            level=st.level,
            ladder=list(st.ladder),
            accepted_at=st.accepted_at,
            reported_at=st.reported_at,
            closed_at=st.closed_at,
            entries=list(entries),
            regulation=st.decision if st.regulation else None,
        )

    def _signature(self, status: CaseStatus) -> str:
        """What a write records but its timeline entries: one changing none of it, with no
        entry, is skipped."""
        st = self.state
        return f"{status}:{st.holder}:{st.priority}:{st.levels_version}:{st.decision}"

    async def _alert(
        self, kind: AlertKind, key: str, expert_id: int | None = None, of_case: bool = True
    ) -> list[int]:
        """A banner on the coordinators' board and an SMS to each; best effort, never stuck.
        The key makes it once only: per case (`of_case`), or across cases. The coordinators
        told."""
        st = self.state
        st.notices += 1
        alert_key = f"case-{st.case_id}:{key}" if of_case else key
        await self._write(TimelineEntry(EventKind.COORDINATORS_ALERTED, None, expert_id, kind))
        try:
            coordinators: list[int] = await self._call(
                Alerts.raise_alert,
                AlertRequest(alert_key, st.case_id, kind, workflow.now(), expert_id),
                RECORDS,
            )
        except ActivityError:
            workflow.logger.warning("case %s: the %s alert could not be raised", st.case_id, kind)
            return []
        await asyncio.gather(
            *(
                self._best_effort(
                    Notifications.notify_coordinator,
                    CoordinatorNotice(c, alert_key, st.case_id, kind),
                )
                for c in coordinators
            )
        )
        return coordinators

    def _tell_site(self, kind: SiteNoticeKind, expert_id: int | None = None) -> None:
        """Text the site's callback phone, best effort, beside the handler: an accept or a
        report does not wait for the site's SMS (continue-as-new does)."""
        if not workflow.patched("site-notices"):
            return
        st = self.state
        st.notices += 1
        notice = SiteNotice(st.case_id, f"site_{kind}:{st.notices}", kind, expert_id)
        task = asyncio.create_task(self._best_effort(Notifications.notify_site, notice))
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    def _tell_ris(self, status: CaseStatus) -> None:
        """A case ordered over HL7: its site's RIS is told each status once, by a workflow
        of its own that retries until the RIS takes it (workflows/order_status.py), beside
        the handler."""
        st = self.state
        if not st.tell_ris or status in st.ris_told:
            return
        st.ris_told.append(status)
        task = asyncio.create_task(self._start_order_status(status))
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def _start_order_status(self, status: CaseStatus) -> None:
        with contextlib.suppress(WorkflowAlreadyStartedError):  # told before a continue-as-new
            await workflow.start_child_workflow(
                "OrderStatus",
                OrderStatusStart(self.state.case_id, status),
                id=order_status_workflow_id(self.state.case_id, status),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )

    async def _notify(self, expert_id: int, kind: NoticeKind) -> None:
        st = self.state
        st.notices += 1
        await self._best_effort(
            Notifications.notify_expert,
            ExpertNotice(expert_id, st.case_id, f"{kind}:{st.notices}", kind),
        )

    async def _wait_or_moved(self, condition: Callable[[], bool], timeout: timedelta) -> bool:
        """Wait for the condition or the timeout; True when a priority change moved the
        case's deadlines meanwhile (the caller measures again)."""
        version = self.state.levels_version
        await self._wait(lambda: condition() or self.state.levels_version != version, timeout)
        return self.state.levels_version != version

    async def _wait(self, condition: Callable[[], bool], timeout: timedelta) -> bool:
        """True when the condition held, False when the timer fired first."""
        try:
            await workflow.wait_condition(condition, timeout=timeout)
            return True
        except TimeoutError:
            return False

    async def _call(self, fn: Callable[..., T], arg: Any, calls: Calls) -> Any:
        return await call_activity(fn, arg, calls)

    async def _must(self, fn: Callable[..., T], arg: Any) -> Any:
        """A step the case cannot go on without: when its retries run out, the coordinators
        are alerted and it is tried again after a pause. A permanent error ends the case."""
        alerted = False
        while True:
            try:
                return await self._call(fn, arg, RECORDS)
            except ActivityError as e:
                cause = e.cause
                if isinstance(cause, ApplicationError) and cause.type == INVALID_REQUEST:
                    raise
                workflow.logger.warning("case %s: a write keeps failing", self.state.case_id)
                if not alerted:
                    alerted = True
                    self.state.notices += 1
                    await self._best_effort(
                        Alerts.raise_alert,
                        AlertRequest(
                            f"case-{self.state.case_id}:stuck:{self.state.notices}",
                            self.state.case_id,
                            AlertKind.STUCK,
                            workflow.now(),
                        ),
                    )
                await workflow.sleep(POLICY.pause_after_failed_write)

    async def _best_effort(self, fn: Callable[..., T], arg: Any) -> None:
        try:
            await self._call(fn, arg, MESSAGES)
        except ActivityError:
            workflow.logger.warning("case %s: a notice could not be sent", self.state.case_id)

    # --- continue-as-new ---------------------------------------------------------------------

    def _continue_as_new_due(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > POLICY.history_events_before_continue_as_new
        )

    async def _continue_as_new_if_due(self) -> None:
        """Called only where no offer is open: the state carries everything else over."""
        if not self._continue_as_new_due():
            return
        await workflow.wait_condition(
            lambda: (
                workflow.all_handlers_finished()
                and not self._timers_busy
                and not self._calls_busy
                and not self._studies_busy
                and not self._telling
            )
        )
        workflow.continue_as_new(args=[self._start, self.state])


def _status_entry(
    status: CaseStatus, expert_id: int | None = None, detail: str = ""
) -> TimelineEntry:
    return TimelineEntry(EventKind.STATUS, status, expert_id, detail)


def _report_entry(status: CaseStatus, draft: ReportDraft) -> TimelineEntry:
    """A version on the timeline: an addendum as itself, else the status it brings."""
    if draft.kind is ReportKind.ADDENDUM:
        return TimelineEntry(EventKind.REPORT, None, draft.expert_id, "addendum")
    return _status_entry(status, draft.expert_id, "critical finding" if draft.critical else "")


def _refusal(e: ActivityError | ApplicationError, otherwise: str) -> ApplicationError:
    """An update's step that failed, as the update's refusal: too late (for good), or
    unavailable for now. A local activity's non-retryable error comes as itself, not
    wrapped in an ActivityError."""
    cause = e.cause if isinstance(e, ActivityError) else e
    if isinstance(cause, ApplicationError) and cause.type == TOO_LATE:
        return ApplicationError(cause.message, type=TOO_LATE)
    return ApplicationError(otherwise, type="Unavailable")
