"""The case workflow: one per read request, the protocol of design.md from intake to billing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case_records import CaseRecords
    from activities.notifications import Notifications
    from garde.domain import CaseStatus, OfferStatus, ReportKind
    from garde.messages import (
        Acceptance,
        Acknowledgement,
        BillingRequest,
        Cancellation,
        CandidateQuery,
        CaseStart,
        Decline,
        ExpertNotice,
        OfferClosing,
        OfferRequest,
        OpenedOffer,
        Release,
        ReportDraft,
        ReportFiled,
        ReportRecord,
        SmsAnswer,
        StatusChange,
        TimelineNote,
    )
    from workflows.policy import ACTIVITY_RETRY, ACTIVITY_TIMEOUT, CasePolicy


@dataclass
class CaseState:
    """Everything the workflow knows, in one place (easy to carry across continue-as-new)."""

    case_id: int
    holder: int | None = None
    open_offer: OpenedOffer | None = None
    offer_answered: bool = False
    declined_by: list[int] = field(default_factory=list)
    offers_made: int = 0
    acceptances: int = 0
    releases: int = 0
    final_report_id: int | None = None
    final_by: int | None = None
    cancelled_by: str | None = None
    acknowledged: bool = False
    events: int = 0


@workflow.defn(name="Case")
class CaseWorkflow:
    def __init__(self) -> None:
        self.s = CaseState(case_id=0)
        self.policy: CasePolicy | None = None

    @workflow.run
    async def run(self, start: CaseStart) -> str:
        self.s.case_id = start.case_id
        self.policy = CasePolicy.from_start(start)
        await self._record(CaseStatus.REQUESTED, "requested")
        while not self._closed():
            await self._route_until_accepted()
            await self._wait_for_final_report_or_release()
        if self.s.cancelled_by is not None:
            await self._close_cancelled()
            await workflow.wait_condition(workflow.all_handlers_finished)
            return CaseStatus.CANCELLED
        await self._bill()
        await self._stay_open_for_addenda()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CaseStatus.FINAL

    # --- the protocol, step by step --------------------------------------------------------

    async def _route_until_accepted(self) -> None:
        """Offer the case to eligible experts one at a time, best first, until one accepts."""
        while self.s.holder is None and not self._closed():
            candidates: list[int] = await self._activity(
                CaseRecords.find_candidates,
                CandidateQuery(self.s.case_id, workflow.now(), list(self.s.declined_by)),
            )
            if not candidates:
                await self._wait(
                    lambda: self.s.holder is not None or self._closed(),
                    self._policy.retry_when_nobody_eligible,
                )
                continue
            for expert_id in candidates:
                # Re-checked before each offer: an accept or a cancel may land during an await.
                if self.s.holder is not None or self._closed():
                    return
                await self._offer(expert_id)

    async def _offer(self, expert_id: int) -> None:
        self.s.offers_made += 1
        now = workflow.now()
        offer: OpenedOffer = await self._activity(
            CaseRecords.open_offer,
            OfferRequest(
                self.s.case_id,
                expert_id,
                self.s.offers_made,
                now,
                now + self._policy.offer_timeout,
            ),
        )
        self.s.open_offer, self.s.offer_answered = offer, False
        await self._activity(Notifications.send_offer_sms, offer.offer_id)
        answered = await self._wait(
            lambda: self.s.offer_answered or self.s.holder is not None or self._closed(),
            self._policy.offer_timeout,
        )
        if self.s.holder == expert_id:
            outcome = OfferStatus.ACCEPTED
        elif self.s.holder is not None or self._closed():
            outcome = OfferStatus.WITHDRAWN
        elif answered:
            outcome = OfferStatus.DECLINED
        else:
            outcome = OfferStatus.EXPIRED
        self.s.open_offer = None
        await self._activity(
            CaseRecords.close_offer, OfferClosing(offer.offer_id, outcome, workflow.now())
        )

    async def _wait_for_final_report_or_release(self) -> None:
        await workflow.wait_condition(
            lambda: self.s.holder is None or self._closed(),
        )

    async def _close_cancelled(self) -> None:
        if self.s.holder is not None:
            await self._notify(self.s.holder, "cancelled", "was cancelled by the site")
        await self._record(CaseStatus.CANCELLED, "cancelled", detail=f"by {self.s.cancelled_by}")

    async def _bill(self) -> None:
        await self._activity(
            CaseRecords.record_billing_line, BillingRequest(self.s.case_id, workflow.now())
        )

    async def _stay_open_for_addenda(self) -> None:
        await self._wait(lambda: False, self._policy.addendum_window)

    # --- messages from the web and the SMS hook -----------------------------------------------

    @workflow.update
    async def accept(self, acceptance: Acceptance) -> None:
        """An update, not a signal: the caller must learn at once whether the case is theirs."""
        self._check_can_accept(acceptance.expert_id)
        await self._take(acceptance.expert_id, acceptance.via)

    @accept.validator
    def _validate_accept(self, acceptance: Acceptance) -> None:
        self._check_can_accept(acceptance.expert_id)

    @workflow.signal
    async def sms_answer(self, answer: SmsAnswer) -> None:
        """A signal, so the SMS webhook answers Twilio at once even when no worker runs."""
        # A late YES still wins an unassigned case: a willing reader beats another round.
        if not answer.accept:
            await self._declined(answer.expert_id)
        elif self.s.holder == answer.expert_id:
            return
        elif self.s.holder is not None or self._closed():
            await self._notify(answer.expert_id, "taken", "was already taken or closed")
        else:
            await self._take(answer.expert_id, "sms")
            await self._notify(answer.expert_id, "yours", "is yours: open Garde to read it")

    @workflow.signal
    async def decline(self, decline: Decline) -> None:
        await self._declined(decline.expert_id)

    @workflow.update
    async def release(self, release: Release) -> None:
        self._check_holder(release.expert_id)
        self.s.holder = None
        self.s.releases += 1
        # The releasing expert is not offered this case again.
        self.s.declined_by.append(release.expert_id)
        await self._record(
            CaseStatus.REQUESTED, f"released:{self.s.releases}", release.expert_id, "released"
        )

    @release.validator
    def _validate_release(self, release: Release) -> None:
        self._check_holder(release.expert_id)

    @workflow.update
    async def file_report(self, draft: ReportDraft) -> ReportFiled:
        self._check_report(draft)
        if draft.kind is ReportKind.FINAL:
            self.s.final_by = draft.expert_id
        info = workflow.current_update_info()
        key = f"case-{self.s.case_id}:{info.id if info else self.s.events}"
        report_id: int = await self._activity(
            CaseRecords.record_report, ReportRecord(self.s.case_id, key, workflow.now(), draft)
        )
        status = (
            CaseStatus.FINAL
            if draft.kind is not ReportKind.PRELIMINARY
            else (CaseStatus.PRELIMINARY)
        )
        if draft.kind is ReportKind.FINAL:
            self.s.final_report_id = report_id
        return ReportFiled(report_id, status)

    @file_report.validator
    def _validate_report(self, draft: ReportDraft) -> None:
        self._check_report(draft)

    @workflow.signal
    async def cancel(self, cancellation: Cancellation) -> None:
        if not self._closed():
            self.s.cancelled_by = cancellation.by

    @workflow.signal
    async def acknowledge(self, ack: Acknowledgement) -> None:
        if self.s.final_report_id is not None and not self.s.acknowledged:
            self.s.acknowledged = True
            await self._note("acknowledged", None, f"critical finding acknowledged by {ack.by}")

    @workflow.query
    def state(self) -> CaseState:
        return self.s

    # --- rules --------------------------------------------------------------------------------

    def _check_can_accept(self, expert_id: int) -> None:
        if self._closed():
            raise ApplicationError("the case is closed", type="CaseClosed")
        if self.s.holder is not None and self.s.holder != expert_id:
            raise ApplicationError("another expert holds the case", type="AlreadyTaken")

    def _check_holder(self, expert_id: int) -> None:
        if self._closed():
            raise ApplicationError("the case is closed", type="CaseClosed")
        if self.s.holder != expert_id:
            raise ApplicationError("you do not hold this case", type="NotHolder")

    def _check_report(self, draft: ReportDraft) -> None:
        if self.s.cancelled_by is not None:
            raise ApplicationError("the case is cancelled", type="CaseClosed")
        if draft.kind is ReportKind.ADDENDUM:
            if self.s.final_report_id is None or self.s.final_by != draft.expert_id:
                raise ApplicationError(
                    "an addendum follows your own final report", type="NotHolder"
                )
            return
        if self.s.final_by is not None:
            raise ApplicationError("the final report is already filed", type="CaseClosed")
        if self.s.holder != draft.expert_id:
            raise ApplicationError("you do not hold this case", type="NotHolder")

    def _closed(self) -> bool:
        return self.s.cancelled_by is not None or self.s.final_by is not None

    async def _declined(self, expert_id: int) -> None:
        if expert_id in self.s.declined_by or self._closed():
            return
        self.s.declined_by.append(expert_id)
        offer = self.s.open_offer
        if offer is not None and offer.expert_id == expert_id:
            self.s.offer_answered = True
        await self._note("declined", expert_id)

    # --- plumbing -----------------------------------------------------------------------------

    async def _take(self, expert_id: int, via: str) -> None:
        if self.s.holder == expert_id:
            return
        # Set before any await: a second acceptance in the same task sees the case taken.
        self.s.holder = expert_id
        self.s.acceptances += 1
        await self._record(
            CaseStatus.ACCEPTED, f"accepted:{self.s.acceptances}", expert_id, f"via {via}"
        )

    async def _record(
        self, status: CaseStatus, key: str, expert_id: int | None = None, detail: str = ""
    ) -> None:
        await self._activity(
            CaseRecords.record_status,
            StatusChange(self.s.case_id, key, workflow.now(), status, expert_id, detail),
        )

    async def _note(self, kind: str, expert_id: int | None, detail: str = "") -> None:
        self.s.events += 1
        await self._activity(
            CaseRecords.add_note,
            TimelineNote(
                self.s.case_id, f"{kind}:{self.s.events}", workflow.now(), kind, expert_id, detail
            ),
        )

    async def _notify(self, expert_id: int, reason: str, text: str) -> None:
        self.s.events += 1
        await self._activity(
            Notifications.notify_expert,
            ExpertNotice(expert_id, self.s.case_id, f"{reason}:{self.s.events}", text),
        )

    async def _wait(self, condition: Any, timeout: timedelta) -> bool:
        """True when the condition held, False when the timer fired first."""
        try:
            await workflow.wait_condition(condition, timeout=timeout)
            return True
        except TimeoutError:
            return False

    async def _activity(self, fn: Any, arg: Any) -> Any:
        return await workflow.execute_activity_method(
            fn, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY
        )

    @property
    def _policy(self) -> CasePolicy:
        assert self.policy is not None
        return self.policy
