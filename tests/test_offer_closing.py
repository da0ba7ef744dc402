"""Closing a round's offers (activities/offers.py, `close_offers`): each offer still open takes
its outcome, one already answered keeps its own, and an offer that does not exist fails the
activity for good."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.errors import INVALID_REQUEST
from activities.offers import Offers
from garde.db import SessionFactory
from garde.domain import CaseStatus, OfferStatus
from garde.messages import OfferClosing, OffersClosing
from garde.models import Offer
from tests.rosters.test_eligibility import add_case, add_expert, add_site

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _offers(sessions: SessionFactory, *statuses: OfferStatus) -> list[int]:
    with sessions.begin() as s:
        site = add_site(s)
        case = add_case(s, site, None, CaseStatus.OFFERED, None)
        offers = []
        for sequence, status in enumerate(statuses, start=1):
            expert = add_expert(s, site)
            offer = Offer(
                case_id=case.id,
                expert_id=expert.id,
                sequence=sequence,
                code=secrets.token_hex(3).upper(),
                phone=expert.phone,
                status=status,
                sent_at=AT - timedelta(minutes=4),
                expires_at=AT + timedelta(minutes=1),
            )
            s.add(offer)
            s.flush()
            offers.append(offer.id)
        return offers


def test_an_open_offer_takes_its_outcome_and_an_answered_one_keeps_its_own(
    sessions: SessionFactory,
) -> None:
    taken, declined = _offers(sessions, OfferStatus.OPEN, OfferStatus.DECLINED)
    closings = [
        OfferClosing(taken, OfferStatus.ACCEPTED, AT, "web", ""),
        OfferClosing(declined, OfferStatus.WITHDRAWN, AT, None, "taken by another"),
    ]
    for _attempt in range(2):  # a retry changes nothing
        Offers(sessions).close_offers(OffersClosing(closings))
    with sessions() as s:
        first, second = s.get_one(Offer, taken), s.get_one(Offer, declined)
        assert (first.status, first.answered_at, first.channel) == ("accepted", AT, "web")
        assert first.decline_reason is None
        assert (second.status, second.answered_at, second.decline_reason) == (
            "declined",
            None,
            None,
        )


def test_an_offer_that_does_not_exist_fails_for_good(sessions: SessionFactory) -> None:
    (real,) = _offers(sessions, OfferStatus.OPEN)
    missing = OfferClosing(real + 1000, OfferStatus.EXPIRED, AT, None, "")
    with pytest.raises(ApplicationError) as refused:
        Offers(sessions).close_offers(
            OffersClosing([OfferClosing(real, OfferStatus.EXPIRED, AT, None, ""), missing])
        )
    assert refused.value.type == INVALID_REQUEST and refused.value.non_retryable
    assert f"offer {real + 1000} does not exist" in str(refused.value)
    with sessions() as s:  # the whole closing is one transaction: nothing half done
        assert s.get_one(Offer, real).status == "open"
