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
from typing import Annotated, Any

from pydantic import ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import STAFF, Role, ShiftSource
from garde.errors import Forbidden, InvalidInput
from garde.models import Expert, Override, Shift, Unavailability, User
from garde.validation import Input, instant, text, validated
from rosters.shifts import known_experts


class Interval(Input):
    """From `start` to `end`, ISO 8601 with their UTC offsets."""

    start: Annotated[datetime, instant()]
    end: Annotated[datetime, instant(description="after start")]

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("must be after start")
        return end.astimezone(UTC)

    @field_validator("start")
    @classmethod
    def _in_utc(cls, start: datetime) -> datetime:
        return start.astimezone(UTC)


class OverrideInput(Interval):
    """`expert` takes over from `replaces` between `start` and `end`."""

    expert: Annotated[str, text(32, description="who takes over: an expert's code")]
    replaces: Annotated[
        str, text(32, description="who is replaced, off duty then: an expert's code")
    ]

    @field_validator("replaces")
    @classmethod
    def _another(cls, replaces: str, info: ValidationInfo) -> str:
        if replaces == info.data.get("expert"):
            raise ValueError("must be another expert than expert")
        return replaces


class UnavailabilityInput(Interval):
    """The expert is off duty between `start` and `end`."""

    expert: Annotated[str, text(32, description="the expert's code")]
    reason: Annotated[str | None, text(200, description="leave, sickness…")] = None


@dataclass(frozen=True)
class Piece:
    """Part of a replaced expert's shift that the replacing expert holds."""

    start: datetime
    end: datetime
    tier: str


def create_override(session: Session, data: Mapping[str, Any], actor: User) -> Override:
    """`expert` takes over from `replaces` between `start` and `end` (a coordinator, or one
    of the two experts). Refused when `replaces` has no shift then or is already replaced."""
    given = validated(OverrideInput, data)
    found = known_experts(session, expert=given.expert, replaces=given.replaces)
    expert, replaces = found["expert"], found["replaces"]
    if not is_staff(actor) and actor.expert_id not in (expert.id, replaces.id):
        raise Forbidden("an expert sets only an override they take part in")
    problem = override_problem(session, replaces, given.start, given.end)
    if problem:
        raise InvalidInput({"replaces": problem})
    return add_override(
        session, expert, replaces, given.start, given.end, created_by=actor.username
    )


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
    given = validated(UnavailabilityInput, data)
    expert = known_experts(session, expert=given.expert)["expert"]
    if not is_staff(actor) and actor.expert_id != expert.id:
        raise Forbidden("an expert declares only their own unavailability")
    unavailability = Unavailability(
        expert_id=expert.id,
        start=given.start,
        end=given.end,
        reason=given.reason or "",
        created_by=actor.username,
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
