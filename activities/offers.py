"""Activities of routing: who may read the case now, and the offers made to them.

Offers are rows with a short code, answerable once. The case's status is the workflow's to
write: opened, the offers are written with the record the workflow hands over saying so, in
one transaction; closing them never touches it.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from temporalio import activity

from activities.case_records import admitted, write_case_record
from activities.errors import rows_must_exist, too_late
from garde.db import SessionFactory
from garde.domain import OfferStatus
from garde.messages import (
    CandidateQuery,
    EligibilityQuery,
    OffersClosing,
    OffersToOpen,
    OpenedOffer,
    RankedExpert,
)
from garde.models import Expert, Offer
from rosters.eligibility import CaseToRoute, is_eligible, on_duty_experts

# No 0/O or 1/I: codes are read on a phone screen and typed back.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5


class Offers:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    def find_candidates(self, query: CandidateQuery) -> list[RankedExpert]:
        """Every expert eligible at that instant, best first, with the reasons of the rank."""
        with rows_must_exist(f"case {query.case_id}"), self._sessions() as s:
            case = CaseToRoute.read(s, query.case_id)
            ranked = on_duty_experts(
                s,
                site_id=case.site_id,
                modality=case.modality,
                subspecialty=case.subspecialty,
                at=query.at,
            )
            return [
                RankedExpert(c.expert_id, c.ranking(rank, query.at, case.subspecialty))
                for rank, c in enumerate(ranked, start=1)
            ]

    @activity.defn
    def check_eligibility(self, query: EligibilityQuery) -> bool:
        """May this expert take the case at that instant (on duty, credentialed, reads it,
        under their limit)? Holding it already counts as eligible. An acceptance is admitted
        in the same transaction, or refused for good."""
        eligible = None
        with rows_must_exist(f"case {query.case_id}"), self._sessions.begin() as s:
            if admitted(s, query.case_id, query.admission):
                case = CaseToRoute.read(s, query.case_id)
                eligible = is_eligible(s, case, query.expert_id, query.at)
        if eligible is None:  # the refusal is committed first: another worker finds it
            raise too_late()
        return eligible

    @activity.defn
    def open_offers(self, request: OffersToOpen) -> list[OpenedOffer]:
        for _ in range(5):  # a code collision is retried with new codes
            try:
                return self._open_offers(request)
            except IntegrityError:
                continue
        raise RuntimeError("could not allocate unique offer codes")

    def _open_offers(self, request: OffersToOpen) -> list[OpenedOffer]:
        with self._sessions.begin() as s:
            if request.record is not None:
                write_case_record(s, request.record)
            opened = []
            for new in request.offers:
                existing = s.scalar(
                    select(Offer).where(
                        Offer.case_id == request.case_id, Offer.sequence == new.sequence
                    )
                )
                if existing is None:
                    with rows_must_exist(f"expert {new.expert_id}"):
                        expert = s.get_one(Expert, new.expert_id)
                    existing = Offer(
                        case_id=request.case_id,
                        expert_id=expert.id,
                        sequence=new.sequence,
                        code=new_offer_code(),
                        phone=expert.phone,
                        status=OfferStatus.OPEN,
                        step=request.step,
                        round=request.round,
                        why=asdict(new.ranking),
                        sent_at=request.at,
                        expires_at=request.expires_at,
                    )
                    s.add(existing)
                    s.flush()
                opened.append(OpenedOffer(existing.id, existing.expert_id))
            return opened

    @activity.defn
    def close_offers(self, request: OffersClosing) -> None:
        """Each offer still open takes its outcome; one closed already keeps its own (a retry,
        or an answer recorded first). One guarded UPDATE an offer."""
        with self._sessions.begin() as s:
            for closing in request.closings:
                still_open = (
                    update(Offer)
                    .where(Offer.id == closing.offer_id, Offer.status == OfferStatus.OPEN)
                    .values(
                        status=closing.status,
                        answered_at=closing.at,
                        channel=closing.channel,
                        decline_reason=closing.reason[:200] or None,
                    )
                    .execution_options(synchronize_session=False)
                )
                if cast(CursorResult[Any], s.execute(still_open)).rowcount == 0:
                    with rows_must_exist(f"offer {closing.offer_id}"):
                        s.execute(select(Offer.id).where(Offer.id == closing.offer_id)).one()


def new_offer_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
