"""Who is asking, and what they may see: roles, and ownership of cases."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from enum import StrEnum
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request, session
from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select
from sqlalchemy.orm import Session, selectinload

from garde.accounts import user_for_session, user_for_token
from garde.domain import STAFF, CaseStatus, ReportKind, Role
from garde.errors import Forbidden, NotAuthenticated, NotFound
from garde.models import Case, CaseEvent, Offer, Report, User, utcnow
from rosters.eligibility import takeable_cases
from web import i18n

F = TypeVar("F", bound=Callable[..., Any])

# How long a case the expert reported stays on their worklist, the way in to an addendum.
RECENTLY_REPORTED = timedelta(days=7)


def bearer_token() -> str | None:
    """The API token this request carries, if any; without one, the session cookie counts."""
    header = request.headers.get("Authorization", "")
    return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None


def load_user(db: Session) -> User | None:
    token = bearer_token()
    if token is not None:
        return user_for_token(db, token)
    user_id = session.get("user_id")
    if not isinstance(user_id, int):
        return None
    user = user_for_session(db, user_id, session.get("epoch"))
    if user is None:
        # Logged out, password changed or disabled since this cookie was made.
        i18n.clear_session()
    return user


def current_user() -> User:
    user: User | None = g.get("user")
    if user is None:
        raise NotAuthenticated()
    return user


def roles(*allowed: Role) -> Callable[[F], F]:
    """Refuse the view to anyone not logged in (401) or of another role (403)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if Role(user.role) not in allowed:
                raise Forbidden(f"this needs the role {' or '.join(r.value for r in allowed)}")
            return view(*args, **kwargs)

        # Read by the API's description (web/api/describe.py): such a view may answer 403.
        guarded.allowed_roles = allowed  # type: ignore[attr-defined]
        return cast(F, guarded)

    return decorate


def with_timelines(query: Select[Case]) -> Select[Case]:
    """Cases shown with their timeline, reports, offers and images: each loaded in one
    query, whatever the number of cases."""
    return query.options(
        selectinload(Case.events),
        selectinload(Case.reports),
        selectinload(Case.offers),
        selectinload(Case.studies),
        selectinload(Case.deliveries),
    )


class Sight(StrEnum):
    """How much of a case a user sees: one rule for its JSON, its report in every format, its
    pages and the worklist."""

    # An expert it is offered to, or who may take it: what the offer SMS says (site, modality,
    # subspecialty, priority), its times and their own offers; never the question or a report.
    SUMMARY = "summary"
    # Its site, or an expert who holds or held it: the question, the study, the reports.
    RECORD = "record"
    # Coordinators and admins: the record, with every offer and why each expert was asked.
    ALL = "all"


def held_by(expert_id: int) -> ColumnElement[bool]:
    """The expert holds the case or held it once: the timeline records every acceptance (an
    answer, a take from the worklist, a coordinator's reassignment) with its expert, so one
    who released the case or lost it to a reassignment still reads what they were given."""
    return or_(
        Case.assigned_expert_id == expert_id,
        exists().where(
            CaseEvent.case_id == Case.id,
            CaseEvent.expert_id == expert_id,
            CaseEvent.status == CaseStatus.ACCEPTED.value,
        ),
    )


def visible_cases(db: Session, user: User) -> Select[Case]:
    """The cases this user may see at all: every one (staff), their site's, or those held,
    offered or open to the expert. How much of each: `sights`."""
    return with_timelines(_visible(db, user, select(Case).order_by(Case.id.desc())))


def _visible(db: Session, user: User, query: Select[Case]) -> Select[Case]:
    role = Role(user.role)
    if role in STAFF:
        return query
    if role is Role.SITE:
        return query.where(Case.site_id == user.site_id)
    if user.expert_id is None:  # never made so; and `held_by(None)` would match the unassigned
        return query.where(false())
    open_ids = open_case_ids_for_expert(db, user)
    return query.where(
        or_(held_by(user.expert_id), offered_to(user.expert_id), Case.id.in_(open_ids))
    )


def offered_to(expert_id: int) -> ColumnElement[bool]:
    """The case was offered to the expert, in any round."""
    return exists().where(and_(Offer.case_id == Case.id, Offer.expert_id == expert_id))


def open_case_ids_for_expert(db: Session, user: User) -> list[int]:
    """Unassigned open cases this expert may take right now, without a query per case."""
    if user.expert_id is None:
        return []
    return takeable_cases(db, user.expert_id, utcnow())


def recently_reported(db: Session, user: User) -> Select[Case]:
    """The cases this expert signed the final report of lately, newest first: closed, they
    leave the other lists, but the expert may still add an addendum."""
    signed = exists().where(
        Report.case_id == Case.id,
        Report.expert_id == user.expert_id,
        Report.kind == ReportKind.FINAL.value,
    )
    query = visible_cases(db, user).where(
        Case.status == CaseStatus.FINAL.value,
        Case.reported_at >= utcnow() - RECENTLY_REPORTED,
        signed,
    )
    return query.order_by(None).order_by(Case.reported_at.desc(), Case.id.desc())


def sights(db: Session, user: User, cases: Sequence[Case]) -> dict[int, Sight]:
    """How much of each of these visible cases this user sees, by case id: at most one query
    for an expert, whatever the number of cases; none for the others."""
    role = Role(user.role)
    if role in STAFF:
        return {c.id: Sight.ALL for c in cases}
    if role is Role.SITE:
        return {c.id: Sight.RECORD for c in cases}
    expert_id = user.expert_id
    if expert_id is None:
        return {c.id: Sight.SUMMARY for c in cases}
    # The cases they hold now need no query; those they held once, the timeline says.
    held = {c.id for c in cases if c.assigned_expert_id == expert_id}
    if others := [c.id for c in cases if c.id not in held]:
        held |= set(db.scalars(select(Case.id).where(Case.id.in_(others), held_by(expert_id))))
    return {c.id: Sight.RECORD if c.id in held else Sight.SUMMARY for c in cases}


def sight(db: Session, user: User, case: Case) -> Sight:
    return sights(db, user, [case])[case.id]


def case_for(db: Session, user: User, case_id: int) -> Case:
    """The case if this user may see it; 404 otherwise, so ids of others' cases leak nothing.
    An expert's case held or offered (an accept, a report) is found without first working
    out every open case they could take. Its timeline, reports and offers load when read:
    an action answers with the case read afresh, after the workflow's writes."""
    case = None
    if Role(user.role) is Role.EXPERT and user.expert_id is not None:
        known = or_(held_by(user.expert_id), offered_to(user.expert_id))
        case = db.scalar(select(Case).where(Case.id == case_id, known))
    if case is None:
        case = db.scalar(_visible(db, user, select(Case)).where(Case.id == case_id))
    if case is None:
        raise NotFound(f"no case {case_id} for you")
    return case


def record_for(db: Session, user: User, case_id: int) -> Case:
    """The case with its question and reports: 403 to an expert who only saw it offered."""
    case = case_for(db, user, case_id)
    if sight(db, user, case) is Sight.SUMMARY:
        raise Forbidden("only the experts who hold or held the case read its question and report")
    return case
