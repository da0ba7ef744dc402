"""Who may read a case right now, best first.

Eligible: on a shift covering the instant, active, credentialed for the site, reading the
modality (and the subspecialty when one is asked), and under their concurrent-case limit.
Ranked by tier; then whether their phone was reached lately (an expert whose latest offer
could not be delivered comes after the others); then their load (cases held and offers
open: cases arriving together go to different experts); then reads this shift; then the
longest since their last offer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from garde.domain import HELD_STATUSES, OfferStatus, Tier
from garde.messages import Ranking
from garde.models import Case, Expert, Offer, Shift, expert_sites

_TIER_RANK = {Tier.PRIMARY: 0, Tier.BACKUP: 1}
# An undeliverable offer older than this no longer marks the phone as unreachable.
UNREACHABLE_FOR = timedelta(hours=12)


@dataclass(frozen=True)
class Candidate:
    expert_id: int
    code: str
    name: str
    tier: Tier
    load: int
    max_concurrent: int
    reads_this_shift: int
    last_offer_at: datetime | None
    shift_end: datetime
    open_offers: int = 0
    reachable: bool = True

    def rank_key(self) -> tuple[int, bool, int, int, float]:
        # Never offered sorts first; then the one who waited longest since an offer.
        last = self.last_offer_at.timestamp() if self.last_offer_at else float("-inf")
        busy = self.load + self.open_offers
        return (_TIER_RANK[self.tier], not self.reachable, busy, self.reads_this_shift, last)

    def ranking(self, rank: int, at: datetime, subspecialty: str | None) -> Ranking:
        """The reasons of this candidate's place, as the coordinator reads them."""
        since = (
            int((at - self.last_offer_at).total_seconds() // 60)
            if self.last_offer_at is not None
            else None
        )
        return Ranking(
            rank=rank,
            tier=self.tier,
            load=self.load,
            max_concurrent=self.max_concurrent,
            reads_this_shift=self.reads_this_shift,
            minutes_since_last_offer=since,
            subspecialty_match=True if subspecialty else None,
            open_offers=self.open_offers,
            reachable=self.reachable,
        )


def on_duty_experts(
    session: Session,
    *,
    site_id: int,
    modality: str,
    at: datetime,
    subspecialty: str | None = None,
) -> list[Candidate]:
    """The experts eligible at `at` for a case of this site and modality, ranked."""
    rows = session.execute(
        select(Shift, Expert)
        .join(Expert, Shift.expert_id == Expert.id)
        .join(expert_sites, expert_sites.c.expert_id == Expert.id)
        .where(
            Shift.start <= at,
            Shift.end > at,
            Expert.active.is_(True),
            expert_sites.c.site_id == site_id,
        )
    ).all()
    best_shift: dict[int, tuple[Shift, Expert]] = {}
    for shift, expert in rows:
        if modality not in expert.modalities:
            continue
        if subspecialty and subspecialty not in expert.subspecialties:
            continue
        current = best_shift.get(expert.id)
        if current is None or _TIER_RANK[Tier(shift.tier)] < _TIER_RANK[Tier(current[0].tier)]:
            best_shift[expert.id] = (shift, expert)
    if not best_shift:
        return []
    ids = list(best_shift)
    loads: dict[int, int] = {
        expert_id: count
        for expert_id, count in session.execute(
            select(Case.assigned_expert_id, func.count())
            .where(Case.assigned_expert_id.in_(ids), Case.status.in_(HELD_STATUSES))
            .group_by(Case.assigned_expert_id)
        ).all()
        if expert_id is not None
    }
    last_offers = dict(
        session.execute(
            select(Offer.expert_id, func.max(Offer.sent_at))
            .where(Offer.expert_id.in_(ids))
            .group_by(Offer.expert_id)
        ).all()
    )
    open_offers: dict[int, int] = dict(
        session.execute(
            select(Offer.expert_id, func.count())
            .where(Offer.expert_id.in_(ids), Offer.status == OfferStatus.OPEN)
            .group_by(Offer.expert_id)
        ).all()
    )
    unreachable = _unreachable(session, ids, at)
    candidates = []
    for expert_id, (shift, expert) in best_shift.items():
        load = loads.get(expert_id, 0)
        if load >= expert.max_concurrent:
            continue
        reads = session.scalar(
            select(func.count()).where(
                Case.assigned_expert_id == expert_id,
                Case.accepted_at >= shift.start,
                Case.accepted_at <= at,
            )
        )
        last = last_offers.get(expert_id)
        candidates.append(
            Candidate(
                expert_id=expert_id,
                code=expert.code,
                name=expert.name,
                tier=Tier(shift.tier),
                load=load,
                max_concurrent=expert.max_concurrent,
                reads_this_shift=int(reads or 0),
                last_offer_at=_as_utc(last),
                shift_end=shift.end,
                open_offers=open_offers.get(expert_id, 0),
                reachable=expert_id not in unreachable,
            )
        )
    return sorted(candidates, key=Candidate.rank_key)


def is_eligible(session: Session, case: Case, expert_id: int, at: datetime) -> bool:
    """May this expert take this case now? Holding it already counts as eligible."""
    if case.assigned_expert_id == expert_id:
        return True
    candidates = on_duty_experts(
        session,
        site_id=case.site_id,
        modality=case.modality,
        at=at,
        subspecialty=case.subspecialty,
    )
    return any(c.expert_id == expert_id for c in candidates)


def _unreachable(session: Session, expert_ids: list[int], at: datetime) -> set[int]:
    """Experts whose latest offer, lately, could not be delivered to their phone."""
    latest = (
        select(func.max(Offer.id))
        .where(Offer.expert_id.in_(expert_ids), Offer.sent_at <= at)
        .group_by(Offer.expert_id)
    )
    return set(
        session.scalars(
            select(Offer.expert_id).where(
                Offer.id.in_(latest),
                Offer.status == OfferStatus.UNDELIVERABLE,
                Offer.sent_at > at - UNREACHABLE_FOR,
            )
        )
    )


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back aggregates (max) without the column type: naive UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
