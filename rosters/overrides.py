"""Overrides and unavailability: the roster as it really happens.

An override puts one expert in another's place for an interval: the replaced expert is off
duty then (eligibility reads the override), and the replacing one holds the replaced
expert's shifts, at their tier, as shifts of source "override" cut to the interval. It
takes precedence over every generated or manual shift without changing them, so deleting
the override gives the roster back as it was.

Unavailability (leave, sickness) takes an expert off duty for an interval; the shifts it
uncovers show as gaps in coverage until someone else takes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import STAFF, Role, ShiftSource
from garde.errors import Forbidden
from garde.models import Expert, Override, Shift, Unavailability, User
from garde.validation import Fields
from rosters.shifts import expert_field


@dataclass(frozen=True)
class Piece:
    """Part of a replaced expert's shift that the replacing expert holds."""

    start: datetime
    end: datetime
    tier: str


def create_override(session: Session, data: Mapping[str, Any], actor: User) -> Override:
    """`expert` takes over from `replaces` between `start` and `end` (a coordinator, or one
    of the two experts). Refused when `replaces` has no shift then or is already replaced."""
    f = Fields(data)
    expert = expert_field(session, f, "expert")
    replaces = expert_field(session, f, "replaces")
    start, end = _interval(f)
    if expert is not None and replaces is not None and expert.id == replaces.id:
        f.fail("replaces", "must be another expert than expert")
    f.check()
    assert expert is not None and replaces is not None and start is not None and end is not None
    if not is_staff(actor) and actor.expert_id not in (expert.id, replaces.id):
        raise Forbidden("an expert sets only an override they take part in")
    problem = override_problem(session, replaces, start, end)
    if problem:
        f.fail("replaces", problem)
    f.check()
    return add_override(session, expert, replaces, start, end, created_by=actor.username)


def override_problem(session: Session, replaces: Expert, start: datetime, end: datetime) -> str:
    """Why `replaces` cannot be replaced over [start, end); empty when they can."""
    taken = session.scalar(
        select(Override)
        .where(Override.replaces_id == replaces.id, Override.start < end, Override.end > start)
        .limit(1)
    )
    if taken is not None:
        return (
            f"{replaces.code} is already replaced by {taken.expert.code} from "
            f"{taken.start.isoformat()} to {taken.end.isoformat()} (override {taken.id})"
        )
    if not _pieces(session, replaces, start, end):
        return f"{replaces.code} has no shift between {start.isoformat()} and {end.isoformat()}"
    return ""


def add_override(
    session: Session,
    expert: Expert,
    replaces: Expert,
    start: datetime,
    end: datetime,
    *,
    created_by: str,
) -> Override:
    """Store the override and the replacing expert's shifts; checked by `override_problem`."""
    override = Override(
        expert_id=expert.id, replaces_id=replaces.id, start=start, end=end, created_by=created_by
    )
    session.add(override)
    session.flush()
    session.add_all(
        Shift(
            expert_id=expert.id,
            start=piece.start,
            end=piece.end,
            tier=piece.tier,
            source=ShiftSource.OVERRIDE.value,
            override_id=override.id,
        )
        for piece in _pieces(session, replaces, start, end)
    )
    session.flush()
    return override


def override_shifts(session: Session, override: Override) -> list[Shift]:
    return list(
        session.scalars(select(Shift).where(Shift.override_id == override.id).order_by(Shift.start))
    )


def delete_override(session: Session, override: Override, actor: User) -> None:
    """A coordinator, or whoever set it, gives the roster back as it was."""
    if not is_staff(actor) and override.created_by != actor.username:
        raise Forbidden("only a coordinator or whoever set it deletes an override")
    for shift in override_shifts(session, override):
        session.delete(shift)
    session.flush()  # the shifts first: no relationship tells the session their order
    session.delete(override)
    session.flush()


def create_unavailability(session: Session, data: Mapping[str, Any], actor: User) -> Unavailability:
    """The expert is off duty between `start` and `end` (a coordinator, or the expert)."""
    f = Fields(data)
    expert = expert_field(session, f, "expert")
    start, end = _interval(f)
    reason = f.text("reason", required=False)
    f.check()
    assert expert is not None and start is not None and end is not None
    if not is_staff(actor) and actor.expert_id != expert.id:
        raise Forbidden("an expert declares only their own unavailability")
    unavailability = Unavailability(
        expert_id=expert.id, start=start, end=end, reason=reason, created_by=actor.username
    )
    session.add(unavailability)
    session.flush()
    return unavailability


def uncovered_shifts(session: Session, unavailability: Unavailability) -> list[Shift]:
    """The expert's shifts the unavailability takes them off: gaps unless someone takes them."""
    return list(
        session.scalars(
            select(Shift)
            .where(
                Shift.expert_id == unavailability.expert_id,
                Shift.start < unavailability.end,
                Shift.end > unavailability.start,
            )
            .order_by(Shift.start)
        )
    )


def delete_unavailability(session: Session, unavailability: Unavailability, actor: User) -> None:
    if not is_staff(actor) and actor.expert_id != unavailability.expert_id:
        raise Forbidden("an expert deletes only their own unavailability")
    session.delete(unavailability)
    session.flush()


def is_staff(actor: User) -> bool:
    return Role(actor.role) in STAFF


def _pieces(session: Session, replaces: Expert, start: datetime, end: datetime) -> list[Piece]:
    """The replaced expert's shifts cut to [start, end)."""
    shifts = session.scalars(
        select(Shift)
        .where(Shift.expert_id == replaces.id, Shift.start < end, Shift.end > start)
        .order_by(Shift.start)
    )
    return [Piece(max(s.start, start), min(s.end, end), s.tier) for s in shifts]


def _interval(f: Fields) -> tuple[datetime | None, datetime | None]:
    start, end = f.instant("start"), f.instant("end")
    if start and end and end <= start:
        f.fail("end", "must be after start")
    return (start.astimezone(UTC) if start else None), (end.astimezone(UTC) if end else None)
