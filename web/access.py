"""Who is asking, and what they may see: roles, and ownership of cases."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request, session
from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session, selectinload

from garde.accounts import user_for_token
from garde.domain import CaseStatus, Role
from garde.errors import Forbidden, NotAuthenticated, NotFound
from garde.models import Case, Offer, User, utcnow
from rosters.eligibility import on_duty_experts

F = TypeVar("F", bound=Callable[..., Any])


def load_user(db: Session) -> User | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = user_for_token(db, header.removeprefix("Bearer ").strip())
        if user is None:
            raise NotAuthenticated("the API token is not valid")
        return user
    user_id = session.get("user_id")
    return db.get(User, user_id) if isinstance(user_id, int) else None


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

        return cast(F, guarded)

    return decorate


def with_timelines(query: Select[Case]) -> Select[Case]:
    """Cases shown with their timeline and reports: both loaded in one query each."""
    return query.options(selectinload(Case.events), selectinload(Case.reports))


def visible_cases(db: Session, user: User) -> Select[Case]:
    """The cases this user may see: all (coordinator), own site's, or offered/held/open to."""
    query = with_timelines(select(Case).order_by(Case.id.desc()))
    role = Role(user.role)
    if role in (Role.COORDINATOR, Role.ADMIN):
        return query
    if role is Role.SITE:
        return query.where(Case.site_id == user.site_id)
    offered = exists().where(and_(Offer.case_id == Case.id, Offer.expert_id == user.expert_id))
    open_ids = open_case_ids_for_expert(db, user)
    return query.where(
        or_(Case.assigned_expert_id == user.expert_id, offered, Case.id.in_(open_ids))
    )


def open_case_ids_for_expert(db: Session, user: User) -> list[int]:
    """Unassigned open cases this expert is eligible for right now."""
    if user.expert_id is None:
        return []
    now = utcnow()
    unassigned = db.scalars(
        select(Case).where(
            Case.assigned_expert_id.is_(None),
            Case.status.in_([CaseStatus.REQUESTED.value, CaseStatus.OFFERED.value]),
        )
    ).all()
    # One question per kind of case (site, modality, subspecialty), not one per case.
    eligible: dict[tuple[int, str, str | None], bool] = {}
    ids = []
    for case in unassigned:
        kind = (case.site_id, case.modality, case.subspecialty)
        if kind not in eligible:
            ranked = on_duty_experts(
                db, site_id=kind[0], modality=kind[1], at=now, subspecialty=kind[2]
            )
            eligible[kind] = any(c.expert_id == user.expert_id for c in ranked)
        if eligible[kind]:
            ids.append(case.id)
    return ids


def case_for(db: Session, user: User, case_id: int) -> Case:
    """The case if this user may see it; 404 otherwise, so ids of others' cases leak nothing."""
    case = db.scalar(visible_cases(db, user).where(Case.id == case_id))
    if case is None:
        raise NotFound(f"no case {case_id} for you")
    return case
