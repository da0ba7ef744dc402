"""Shifts: who is on call when, at which tier; added, edited and deleted by a coordinator.

A rotation's shift edited by hand is marked `edited`, and a deleted one's slot is recorded as
skipped on its rotation: generating the rotation again leaves both as the coordinator wants.
An override's shifts follow their override and are not edited one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import ShiftSource, Tier
from garde.errors import Conflict
from garde.models import Expert, Rotation, Shift
from garde.validation import Fields

MAX_SHIFT = timedelta(hours=48)


def create_shift(session: Session, data: Mapping[str, Any]) -> Shift:
    f = Fields(data)
    expert = expert_field(session, f)
    start = f.instant("start")
    end = f.instant("end")
    tier = f.choice("tier", Tier, required=False) or Tier.PRIMARY
    _check_times(f, start, end)
    if expert is not None and start and end and not f.errors:
        _check_no_overlap(session, f, "start", expert, start, end)
    f.check()
    assert expert is not None and start is not None and end is not None
    shift = Shift(
        expert_id=expert.id, start=start.astimezone(UTC), end=end.astimezone(UTC), tier=tier
    )
    session.add(shift)
    session.flush()
    return shift


def update_shift(session: Session, shift: Shift, data: Mapping[str, Any]) -> Shift:
    """Change the fields given (`expert`, `start`, `end`, `tier`); the others stay."""
    _refuse_override_shift(shift)
    f = Fields(data)
    expert = expert_field(session, f) if "expert" in f.data else shift.expert
    start = f.instant("start") if "start" in f.data else shift.start
    end = f.instant("end") if "end" in f.data else shift.end
    tier = f.choice("tier", Tier) if "tier" in f.data else Tier(shift.tier)
    _check_times(f, start, end)
    if expert is not None and start and end and not f.errors:
        field = "start" if {"start", "end"} & set(f.data) else "expert"
        _check_no_overlap(session, f, field, expert, start, end, ignore=shift.id)
    f.check()
    assert expert is not None and start is not None and end is not None and tier is not None
    shift.expert_id, shift.expert = expert.id, expert
    shift.start, shift.end, shift.tier = start.astimezone(UTC), end.astimezone(UTC), tier.value
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


def expert_field(session: Session, f: Fields, name: str = "expert") -> Expert | None:
    """The expert whose code the field gives; a field error when none has it."""
    code = f.text(name, max_len=32)
    if not code or name in f.errors:
        return None
    expert = session.scalar(select(Expert).where(Expert.code == code))
    if expert is None:
        f.fail(name, f"no expert has the code {code}")
    return expert


def _check_times(f: Fields, start: datetime | None, end: datetime | None) -> None:
    if start and end:
        if end <= start:
            f.fail("end", "must be after start")
        elif end - start > MAX_SHIFT:
            f.fail("end", "a shift lasts at most 48 hours")


def _check_no_overlap(
    session: Session,
    f: Fields,
    field: str,
    expert: Expert,
    start: datetime,
    end: datetime,
    ignore: int | None = None,
) -> None:
    other = overlapping_shift(session, expert.id, start, end, {ignore} if ignore else set())
    if other is not None:
        f.fail(field, describe(other, expert))


def _refuse_override_shift(shift: Shift) -> None:
    if shift.source == ShiftSource.OVERRIDE.value:
        raise Conflict(
            f"shift {shift.id} belongs to override {shift.override_id}: change or delete the "
            "override instead"
        )
