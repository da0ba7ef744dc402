"""Who may read a case right now, best first: the one answer of routing, `/oncall` and the
worklist.

Eligible at an instant: on a shift covering it (start <= at < end), active, credentialed for
the site on the site's local date, reading the modality (and the subspecialty when one is
asked), neither unavailable nor replaced by an override then, and under their
concurrent-case limit. All of that, and the reasons of the ranking, is one SQL query
(after the site's zone): shifts are read through an index over the 48 hours before the
instant (a shift lasts at most `MAX_SHIFT`), the vocabularies are filtered in the JSON
lists, the exclusions are NOT EXISTS subqueries, and the load, reads this shift and offers
are correlated subqueries of the rows that pass: no query per candidate.

Ranked by tier; then whether SMS reach them (an expert who turned SMS off, whose phone
Twilio refused for good or who texted STOP, or whose latest offer could not be delivered,
comes after the others and is asked only in the broadcast); then their load (cases held and
offers open: cases arriving together go to different experts); then reads this shift; then the
longest since their last offer; then the code, so that the order is always the same.

The condition builders (`covering`, `overlapping`, `listed`, `credential_valid`,
`unavailable`, `replaced`) are public so that coverage says "on duty" the same way, and
`takeable_cases` asks the question the other way round (which open cases may this expert
take?) for the worklist, with the same conditions and without a query per case.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, aliased

from garde.domain import HELD_STATUSES, CaseStatus, OfferStatus, Tier
from garde.messages import Ranking
from garde.models import (
    Case,
    Credential,
    Expert,
    Offer,
    Override,
    Shift,
    Site,
    Unavailability,
)
from rosters.shifts import MAX_SHIFT

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
    subspecialties: tuple[str, ...] = ()

    def rank_key(self) -> tuple[int, bool, int, int, float, str]:
        # Never offered sorts first; then the one who waited longest since an offer.
        last = self.last_offer_at.timestamp() if self.last_offer_at else float("-inf")
        busy = self.load + self.open_offers
        return (
            _TIER_RANK[self.tier],
            not self.reachable,
            busy,
            self.reads_this_shift,
            last,
            self.code,
        )

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
            subspecialty_match=(subspecialty in self.subspecialties) if subspecialty else None,
            open_offers=self.open_offers,
            reachable=self.reachable,
        )


# Conditions shared with coverage -------------------------------------------------------


def covering(start: Any, end: Any, at: Any) -> ColumnElement[bool]:
    """The interval [start, end) holds the instant: a shift ending at 08:00 is over at 08:00."""
    return and_(start <= at, end > at)


def overlapping(start: Any, end: Any, lo: Any, hi: Any) -> ColumnElement[bool]:
    """The interval [start, end) shares time with [lo, hi)."""
    return and_(start < hi, end > lo)


def listed(column: Any, word: Any, dialect: str) -> ColumnElement[bool]:
    """The JSON list in `column` (an expert's modalities or subspecialties) holds `word`.

    PostgreSQL reads it as jsonb (`?`); SQLite expands it with json_each."""
    if dialect == "postgresql":
        return cast(column, JSONB).has_key(word)
    items = func.json_each(column).table_valued("value")
    return exists().select_from(items).where(items.c.value == word)


def credential_valid(on: Any) -> ColumnElement[bool]:
    """A credential counts on that date of the site's zone (both bounds inclusive; none:
    without limit)."""
    return and_(
        or_(Credential.valid_from.is_(None), Credential.valid_from <= on),
        or_(Credential.valid_until.is_(None), Credential.valid_until >= on),
    )


def unavailable(expert_id: Any, at: Any, until: Any = None) -> ColumnElement[bool]:
    """The expert is on leave at `at` (or at some time of [at, until))."""
    when = (
        covering(Unavailability.start, Unavailability.end, at)
        if until is None
        else overlapping(Unavailability.start, Unavailability.end, at, until)
    )
    return exists().where(Unavailability.expert_id == expert_id, when)


def replaced(expert_id: Any, at: Any, until: Any = None) -> ColumnElement[bool]:
    """Another expert takes over from this one at `at` (or at some time of [at, until))."""
    when = (
        covering(Override.start, Override.end, at)
        if until is None
        else overlapping(Override.start, Override.end, at, until)
    )
    return exists().where(Override.replaces_id == expert_id, when)


def site_date(zone: str, at: datetime) -> date:
    """The date `at` falls on in a site's zone: what a credential's dates are counted in."""
    return at.astimezone(ZoneInfo(zone)).date()


# The answer ----------------------------------------------------------------------------
# The statement is built once per database dialect and run with parameters: building and
# hashing a statement of this size costs more than SQLite takes to answer it.


def on_duty_experts(
    session: Session,
    *,
    site_id: int,
    modality: str,
    at: datetime,
    subspecialty: str | None = None,
) -> list[Candidate]:
    """The experts eligible at `at` for a case of this site and modality, ranked.

    `modality` and `subspecialty` are vocabulary words (garde.vocabulary normalises input).
    """
    # Core, not the ORM: these rows are read, never tracked, at a fraction of the cost. The
    # flush is what the session does before a query of its own: pending edits count.
    session.flush()
    db = session.connection()
    zone = db.scalar(_SITE_ZONE, {"site_id": site_id})
    if zone is None:
        return []
    params = {
        "site_id": site_id,
        "at": at,
        "since": at - MAX_SHIFT,
        "on": site_date(zone, at),
        "modality": modality,
        "subspecialty": subspecialty,
        "unreachable_since": at - UNREACHABLE_FOR,
    }
    dialect = db.dialect.name
    best: dict[int, Any] = {}
    for row in db.execute(_duty_query(dialect, bool(subspecialty)), params):
        current = best.get(row.expert_id)
        if current is None or _shift_order(row) < _shift_order(current):
            best[row.expert_id] = row
    candidates = [
        Candidate(
            expert_id=expert_id,
            code=row.code,
            name=row.name,
            tier=Tier(row.tier),
            load=row.load,
            max_concurrent=row.max_concurrent,
            reads_this_shift=row.reads,
            last_offer_at=_as_utc(row.last_offer_at),
            shift_end=row.end,
            open_offers=row.open_offers,
            reachable=not row.unreachable,
            subspecialties=tuple(row.subspecialties),
        )
        for expert_id, row in best.items()
    ]
    return sorted(candidates, key=Candidate.rank_key)


@dataclass(frozen=True)
class CaseToRoute:
    """What routing reads of a case: a case workflow's questions load no more of it."""

    site_id: int
    modality: str
    subspecialty: str | None
    assigned_expert_id: int | None

    @classmethod
    def read(cls, session: Session, case_id: int) -> CaseToRoute:
        """The case's routing facts (NoResultFound when there is no such case)."""
        row = session.execute(
            select(Case.site_id, Case.modality, Case.subspecialty, Case.assigned_expert_id).where(
                Case.id == case_id
            )
        ).one()
        return cls(*row)


def is_eligible(session: Session, case: Case | CaseToRoute, expert_id: int, at: datetime) -> bool:
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


_SITE_ZONE = select(Site.timezone).where(Site.id == bindparam("site_id"))
_ZONES = select(Site.timezone).distinct()
TAKEABLE_STATUSES = (
    CaseStatus.REQUESTED.value,
    CaseStatus.OFFERED.value,
    CaseStatus.TO_VALIDATE.value,
)


def takeable_cases(session: Session, expert_id: int, at: datetime) -> list[int]:
    """The unassigned open cases this expert may take at `at`, by id: routing's question
    asked the other way round, with the same conditions.

    Two statements whatever the number of cases or sites: the sites' zones (a credential
    counts on the site's local date), then the cases."""
    session.flush()
    db = session.connection()
    zones = db.scalars(_ZONES).all()
    if not zones:
        return []
    local_date = case({zone: site_date(zone, at) for zone in zones}, value=Site.timezone)
    query = _takeable_query(db.dialect.name).where(credential_valid(local_date))
    params = {"expert_id": expert_id, "at": at, "since": at - MAX_SHIFT}
    return list(db.scalars(query, params))


@functools.cache
def _duty_query(dialect: str, with_subspecialty: bool) -> Select[Any]:
    """Every shift covering `at` of an expert eligible then, with the expert and their load.

    The lower bound on the start lets the (start, end) index read only 48 hours of shifts."""
    at: BindParameter[datetime] = bindparam("at")
    load = (
        select(func.count(Case.id))
        .where(Case.assigned_expert_id == Expert.id, Case.status.in_(HELD_STATUSES))
        .correlate(Expert)
        .scalar_subquery()
    )
    # The reasons of the ranking, read with the row: evaluated only for the rows that pass.
    reads = (
        select(func.count(Case.id))
        .where(
            Case.assigned_expert_id == Shift.expert_id,
            Case.accepted_at >= Shift.start,
            Case.accepted_at <= at,
        )
        .correlate(Shift)
        .scalar_subquery()
    )
    last_offer = (
        select(func.max(Offer.sent_at))
        .where(Offer.expert_id == Expert.id)
        .correlate(Expert)
        .scalar_subquery()
    )
    open_offers = (
        select(func.count(Offer.id))
        .where(Offer.expert_id == Expert.id, Offer.status == OfferStatus.OPEN.value)
        .correlate(Expert)
        .scalar_subquery()
    )
    earlier = aliased(Offer)
    latest = (
        select(func.max(earlier.id))
        .where(earlier.expert_id == Expert.id, earlier.sent_at <= at)
        .correlate(Expert)
        .scalar_subquery()
    )
    undelivered_lately = exists().where(
        Offer.id == latest,
        Offer.status == OfferStatus.UNDELIVERABLE.value,
        Offer.sent_at > bindparam("unreachable_since"),
    )
    unreachable = or_(~Expert.textable, undelivered_lately)
    query = (
        select(
            Shift.id,
            Shift.expert_id,
            Shift.tier,
            Shift.start,
            Shift.end,
            Expert.code,
            Expert.name,
            Expert.max_concurrent,
            Expert.subspecialties,
            load.label("load"),
            reads.label("reads"),
            last_offer.label("last_offer_at"),
            open_offers.label("open_offers"),
            unreachable.label("unreachable"),
        )
        .join(Expert, Shift.expert_id == Expert.id)
        .join(
            Credential,
            and_(Credential.expert_id == Expert.id, Credential.site_id == bindparam("site_id")),
        )
        .where(
            Shift.start > bindparam("since"),
            covering(Shift.start, Shift.end, at),
            Expert.active.is_(True),
            credential_valid(bindparam("on")),
            listed(Expert.modalities, bindparam("modality", type_=String), dialect),
            ~unavailable(Expert.id, at),
            ~replaced(Expert.id, at),
            load < Expert.max_concurrent,
        )
    )
    if with_subspecialty:
        query = query.where(
            listed(Expert.subspecialties, bindparam("subspecialty", type_=String), dialect)
        )
    return query


@functools.cache
def _takeable_query(dialect: str) -> Select[Any]:
    """The cases open to one expert: the conditions of `_duty_query` on the expert (shift,
    active, leave, override, load) and on each case (credential, modality, subspecialty)."""
    at: BindParameter[datetime] = bindparam("at")
    held = aliased(Case)
    load = (
        select(func.count(held.id))
        .where(held.assigned_expert_id == Expert.id, held.status.in_(HELD_STATUSES))
        .correlate(Expert)
        .scalar_subquery()
    )
    on_shift = exists().where(
        Shift.expert_id == Expert.id,
        Shift.start > bindparam("since"),
        covering(Shift.start, Shift.end, at),
    )
    any_subspecialty = or_(Case.subspecialty.is_(None), Case.subspecialty == "")
    return (
        select(Case.id)
        .distinct()
        .join(Site, Site.id == Case.site_id)
        .join(Expert, Expert.id == bindparam("expert_id"))
        .join(Credential, and_(Credential.expert_id == Expert.id, Credential.site_id == Site.id))
        .where(
            Case.assigned_expert_id.is_(None),
            Case.status.in_(TAKEABLE_STATUSES),
            Expert.active.is_(True),
            on_shift,
            listed(Expert.modalities, Case.modality, dialect),
            or_(any_subspecialty, listed(Expert.subspecialties, Case.subspecialty, dialect)),
            ~unavailable(Expert.id, at),
            ~replaced(Expert.id, at),
            load < Expert.max_concurrent,
        )
        .order_by(Case.id)
    )


def _shift_order(row: Any) -> tuple[int, datetime, int]:
    """Of two shifts covering the instant, the better tier counts; then the earlier start."""
    return (_TIER_RANK[Tier(row.tier)], row.start, row.id)


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back aggregates (max) without the column type: naive UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
