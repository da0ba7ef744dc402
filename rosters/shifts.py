"""Shifts: who is on call when, at which tier; added, edited and deleted by a coordinator.

A rotation's shift edited by hand is marked `edited`, and a deleted one's slot is recorded as
skipped on its rotation: generating the rotation again leaves both as the coordinator wants.
An override's shifts follow their override and are not edited one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationInfo, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import ShiftSource, Tier
from garde.errors import Conflict, InvalidInput
from garde.models import Expert, Rotation, Shift
from garde.validation import Input, choice, instant, text, validated

MAX_SHIFT = timedelta(hours=48)
EXPERT_CODE = text(32, description="the expert's code")


class ShiftChange(Input):
    """The fields to change (absent or null: unchanged); a rotation's shift is then marked
    edited."""

    expert: Annotated[str | None, EXPERT_CODE] = None
    start: Annotated[datetime | None, instant(description="ISO 8601 with a UTC offset")] = None
    end: Annotated[datetime | None, instant(description="after start, at most 48 hours later")] = (
        None
    )
    tier: Annotated[Tier | None, choice()] = None

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("start")
        if start is not None and end is not None:
            check_times(start, end)
        return end


class ShiftInput(ShiftChange):
    """A shift: who is on call when, at which tier."""

    expert: Annotated[str, EXPERT_CODE]
    start: Annotated[datetime, instant(description="ISO 8601 with a UTC offset")]
    end: Annotated[datetime, instant(description="after start, at most 48 hours later")]
    tier: Annotated[Tier, choice()] = Tier.PRIMARY


def create_shift(session: Session, data: Mapping[str, Any]) -> Shift:
    given = validated(ShiftInput, data)
    expert = known_experts(session, expert=given.expert)["expert"]
    start, end = given.start.astimezone(UTC), given.end.astimezone(UTC)
    _check_no_overlap(session, "start", expert, start, end)
    shift = Shift(expert_id=expert.id, start=start, end=end, tier=given.tier.value)
    session.add(shift)
    session.flush()
    return shift


def update_shift(session: Session, shift: Shift, data: Mapping[str, Any]) -> Shift:
    """Change the fields given (`expert`, `start`, `end`, `tier`); the others stay."""
    _refuse_override_shift(shift)
    given = validated(ShiftChange, data)
    expert = shift.expert
    if given.expert is not None:
        expert = known_experts(session, expert=given.expert)["expert"]
    start = given.start.astimezone(UTC) if given.start is not None else shift.start
    end = given.end.astimezone(UTC) if given.end is not None else shift.end
    if given.start is None or given.end is None:  # else the model checked them
        try:
            check_times(start, end)
        except ValueError as e:
            raise InvalidInput({"end": str(e)}) from None
    moved = given.start is not None or given.end is not None
    _check_no_overlap(session, "start" if moved else "expert", expert, start, end, ignore=shift.id)
    shift.expert_id, shift.expert = expert.id, expert
    shift.start, shift.end = start, end
    if given.tier is not None:
        shift.tier = given.tier.value
    if shift.rotation_id is not None:
        shift.edited = True
    session.flush()
    return shift


def delete_shift(session: Session, shift: Shift) -> None:
    """Delete the shift; a rotation's slot stays empty when the rotation is generated again."""
    _refuse_override_shift(shift)
    if shift.rotation_id is not None and shift.slot is not None:
        rotation = session.get_one(Rotation, shift.rotation_id)
        if shift.slot.isoformat() not in rotation.skipped:
            rotation.skipped = sorted([*rotation.skipped, shift.slot.isoformat()])
    session.delete(shift)
    session.flush()


def overlapping_shift(
    session: Session, expert_id: int, start: datetime, end: datetime, ignore: set[int]
) -> Shift | None:
    """A roster shift of this expert overlapping [start, end), if any. Override shifts are a
    layer over the roster, owned by their override, and do not count."""
    return session.scalar(
        select(Shift)
        .where(
            Shift.expert_id == expert_id,
            Shift.start < end,
            Shift.end > start,
            Shift.start >= start - MAX_SHIFT,
            Shift.source != ShiftSource.OVERRIDE.value,
            Shift.id.not_in(sorted(ignore)),
        )
        .order_by(Shift.start)
        .limit(1)
    )


def describe(shift: Shift, expert: Expert) -> str:
    """`DR-A's shift from … to …`, in the expert's zone: the words of an overlap error."""
    zone = ZoneInfo(expert.timezone)
    start = shift.start.astimezone(zone).isoformat(timespec="minutes")
    end = shift.end.astimezone(zone).isoformat(timespec="minutes")
    return f"{expert.code} already has a shift from {start} to {end} (shift {shift.id})"


def known_experts(session: Session, **codes: str) -> dict[str, Expert]:
    """The experts named by code in these fields; InvalidInput naming each field whose code
    no expert has."""
    found = {
        e.code: e
        for e in session.scalars(select(Expert).where(Expert.code.in_(set(codes.values()))))
    }
    unknown = {name: code for name, code in codes.items() if code not in found}
    if unknown:
        raise InvalidInput(
            {name: f"no expert has the code {code}" for name, code in unknown.items()}
        )
    return {name: found[code] for name, code in codes.items()}


def check_times(start: datetime, end: datetime) -> None:
    """ValueError with the reason when [start, end) is not a shift's length."""
    if end <= start:
        raise ValueError("must be after start")
    if end - start > MAX_SHIFT:
        raise ValueError("a shift lasts at most 48 hours")


def _check_no_overlap(
    session: Session,
    field: str,
    expert: Expert,
    start: datetime,
    end: datetime,
    ignore: int | None = None,
) -> None:
    other = overlapping_shift(session, expert.id, start, end, {ignore} if ignore else set())
    if other is not None:
        raise InvalidInput({field: describe(other, expert)})


def _refuse_override_shift(shift: Shift) -> None:
    if shift.source == ShiftSource.OVERRIDE.value:
        raise Conflict(
            f"shift {shift.id} belongs to override {shift.override_id}: change or delete the "
            "override instead"
        )
