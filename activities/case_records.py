"""Activities that write the case record: status, offers, reports, billing lines.

Each call is one transaction and idempotent: a retry finds its own earlier write and stops.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from temporalio import activity

from garde.billing import price_read
from garde.db import SessionFactory
from garde.domain import CaseStatus, OfferStatus, ReportKind
from garde.messages import (
    BillingRequest,
    CandidateQuery,
    OfferClosing,
    OfferRequest,
    OpenedOffer,
    ReportRecord,
    StatusChange,
    TimelineNote,
)
from garde.models import BillingLine, Case, CaseEvent, Expert, Offer, Report
from rosters.eligibility import on_duty_experts

# No 0/O or 1/I: codes are read on a phone screen and typed back.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5


class CaseRecords:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    def record_status(self, change: StatusChange) -> None:
        with self._sessions.begin() as s:
            if _has_event(s, change.case_id, change.key):
                return
            case = _case(s, change.case_id)
            case.status = change.status
            if change.status is CaseStatus.ACCEPTED:
                case.assigned_expert_id = change.expert_id
                case.accepted_at = case.accepted_at or change.at
            elif change.status is CaseStatus.REQUESTED:
                case.assigned_expert_id = None
            elif change.status is CaseStatus.CANCELLED:
                case.closed_at = change.at
            s.add(_status_event(change))

    @activity.defn
    def add_note(self, note: TimelineNote) -> None:
        with self._sessions.begin() as s:
            if _has_event(s, note.case_id, note.key):
                return
            s.add(
                CaseEvent(
                    case_id=note.case_id,
                    key=note.key,
                    at=note.at,
                    kind=note.kind,
                    expert_id=note.expert_id,
                    detail=note.detail,
                )
            )

    @activity.defn
    def find_candidates(self, query: CandidateQuery) -> list[int]:
        with self._sessions() as s:
            case = _case(s, query.case_id)
            ranked = on_duty_experts(
                s,
                site_id=case.site_id,
                modality=case.modality,
                subspecialty=case.subspecialty,
                at=query.at,
            )
        return [c.expert_id for c in ranked if c.expert_id not in query.exclude_expert_ids]

    @activity.defn
    def open_offer(self, request: OfferRequest) -> OpenedOffer:
        for _ in range(5):  # a code collision is retried with a new code
            try:
                return self._open_offer(request)
            except IntegrityError:
                continue
        raise RuntimeError("could not allocate a unique offer code")

    def _open_offer(self, request: OfferRequest) -> OpenedOffer:
        with self._sessions.begin() as s:
            existing = s.scalar(
                select(Offer).where(
                    Offer.case_id == request.case_id, Offer.sequence == request.sequence
                )
            )
            if existing is not None:
                return OpenedOffer(existing.id, existing.expert_id)
            expert = s.get_one(Expert, request.expert_id)
            offer = Offer(
                case_id=request.case_id,
                expert_id=expert.id,
                sequence=request.sequence,
                code=new_offer_code(),
                phone=expert.phone,
                status=OfferStatus.OPEN,
                sent_at=request.at,
                expires_at=request.expires_at,
            )
            s.add(offer)
            case = _case(s, request.case_id)
            if case.status in (CaseStatus.REQUESTED, CaseStatus.OFFERED):
                case.status = CaseStatus.OFFERED
            s.add(
                CaseEvent(
                    case_id=request.case_id,
                    key=f"offered:{request.sequence}",
                    at=request.at,
                    kind="status",
                    status=CaseStatus.OFFERED,
                    expert_id=expert.id,
                    detail=f"offered to {expert.code}",
                )
            )
            s.flush()
            return OpenedOffer(offer.id, expert.id)

    @activity.defn
    def close_offer(self, closing: OfferClosing) -> None:
        with self._sessions.begin() as s:
            offer = s.get_one(Offer, closing.offer_id)
            if offer.status != OfferStatus.OPEN:
                return
            offer.status = closing.status
            offer.answered_at = closing.at
            if closing.status in (OfferStatus.EXPIRED, OfferStatus.DECLINED):
                s.add(
                    CaseEvent(
                        case_id=offer.case_id,
                        key=f"offer-closed:{offer.sequence}",
                        at=closing.at,
                        kind=f"offer_{closing.status}",
                        expert_id=offer.expert_id,
                        detail=f"offer to {offer.expert.code} {closing.status}",
                    )
                )
                case = _case(s, offer.case_id)
                if case.status == CaseStatus.OFFERED:
                    case.status = CaseStatus.REQUESTED

    @activity.defn
    def record_report(self, record: ReportRecord) -> int:
        draft = record.draft
        with self._sessions.begin() as s:
            existing = s.scalar(select(Report).where(Report.request_key == record.request_key))
            if existing is not None:
                return existing.id
            report = Report(
                case_id=record.case_id,
                expert_id=draft.expert_id,
                request_key=record.request_key,
                kind=draft.kind,
                findings=draft.findings,
                impression=draft.impression,
                critical=draft.critical,
                created_at=record.at,
            )
            s.add(report)
            s.flush()
            case = _case(s, record.case_id)
            status = None
            if draft.kind is ReportKind.PRELIMINARY and case.status == CaseStatus.ACCEPTED:
                status = CaseStatus.PRELIMINARY
            elif draft.kind is ReportKind.FINAL:
                status = CaseStatus.FINAL
                case.reported_at = record.at
                case.closed_at = record.at
            if status is not None:
                case.status = status
            s.add(
                CaseEvent(
                    case_id=record.case_id,
                    key=f"report:{report.id}",
                    at=record.at,
                    kind="status" if status else "report",
                    status=status,
                    expert_id=draft.expert_id,
                    detail=f"{draft.kind} report"
                    + (" with critical finding" if draft.critical else ""),
                )
            )
            return report.id

    @activity.defn
    def record_billing_line(self, request: BillingRequest) -> None:
        with self._sessions.begin() as s:
            if s.scalar(select(BillingLine.id).where(BillingLine.case_id == request.case_id)):
                return
            case = _case(s, request.case_id)
            assert case.assigned_expert_id is not None, "a billed case has a reader"
            price = price_read(
                case.site, case.modality, case.priority, case.reported_at or request.at
            )
            s.add(
                BillingLine(
                    case_id=case.id,
                    site_id=case.site_id,
                    expert_id=case.assigned_expert_id,
                    modality=case.modality,
                    priority=case.priority,
                    time_band=price.time_band,
                    amount_cents=price.amount_cents,
                    expert_share_cents=price.expert_share_cents,
                    currency=price.currency,
                    read_at=case.reported_at or request.at,
                )
            )


def new_offer_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _case(s: Session, case_id: int) -> Case:
    return s.get_one(Case, case_id)


def _has_event(s: Session, case_id: int, key: str) -> bool:
    found = s.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case_id, CaseEvent.key == key))
    return found is not None


def _status_event(change: StatusChange) -> CaseEvent:
    return CaseEvent(
        case_id=change.case_id,
        key=change.key,
        at=change.at,
        kind="status",
        status=change.status,
        expert_id=change.expert_id,
        detail=change.detail,
    )
