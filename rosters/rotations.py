"""Rotations: a recurring pattern ("weeknights 20:00–08:00 Europe/Paris, handed over weekly
among these five experts") that generates one shift per matching local date, its slot.

Local times become instants through `zoneinfo` on each date, so a 20:00–08:00 night lasts
11 hours when the clocks go forward and 13 when they go back, and still runs 20:00 to 08:00
on the wall clock. A local time that does not exist (in the spring gap) or exists twice (in
the repeated autumn hour) is read with fold=0: a time in the gap moves forward by the gap
(02:30 becomes 03:30), a repeated one is its first occurrence (summer time).

Generating is idempotent (one shift per rotation and slot), never touches a shift edited by
hand or a slot whose shift was deleted (`Rotation.skipped`), and never touches a shift that
has started: changing a rotation regenerates only the future.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from garde.domain import ShiftSource, Tier
from garde.errors import InvalidInput
from garde.models import Expert, Rotation, Shift
from garde.validation import Input, between, choice, text, validated, zone
from garde.validation import day as iso_day
from rosters.shifts import MAX_SHIFT, describe

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # in date.weekday() order
# A rotation is planned for at most this long: a longer pattern is a new rotation.
MAX_PERIOD = timedelta(days=400)
HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _comma_list(value: Any) -> Any:
    """A form sends a list as "a, b"; JSON sends a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _turns(codes: list[str]) -> list[str]:
    if not codes:
        raise ValueError("is required: the experts' codes, in turn order")
    return codes


def _weekdays(given: list[str]) -> list[str]:
    """The days in the week's order, however cased."""
    upper = [d.strip().upper() for d in given]
    bad = [d for d in upper if d not in DAYS]
    if bad:
        raise ValueError(f"{', '.join(bad)}: each day must be one of {', '.join(DAYS)}")
    if not upper:
        raise ValueError(f"is required: some of {', '.join(DAYS)}")
    return [d for d in DAYS if d in upper]


def _local_time(value: str) -> str:
    if not HH_MM.match(value):
        raise ValueError("must be a local time written HH:MM, from 00:00 to 23:59")
    return value


class RotationInput(Input):
    """One shift per matching local date (its slot); local times in the spring gap move
    forward by the gap, repeated ones are the first (fold=0)."""

    name: Annotated[str, text(200, description="unique")]
    experts: Annotated[
        list[Annotated[str, text(32)]],
        BeforeValidator(_comma_list),
        AfterValidator(_turns),
        Field(description="experts' codes, in turn order", min_length=1),
    ]
    tier: Annotated[Tier, choice()] = Tier.PRIMARY
    timezone: Annotated[str, zone(), Field(description="IANA zone of the local times")]
    days: Annotated[
        list[str],
        BeforeValidator(_comma_list),
        AfterValidator(_weekdays),
        Field(json_schema_extra={"items": {"enum": list(DAYS)}, "minItems": 1}),
    ]
    start_time: Annotated[
        str,
        text(16, description="local start, HH:MM", examples=["20:00"]),
        AfterValidator(_local_time),
    ]
    end_time: Annotated[
        str,
        text(16, description="local end, HH:MM; at or before the start: the next day"),
        AfterValidator(_local_time),
    ]
    handoff_every_days: Annotated[
        int,
        between(
            1,
            366,
            description="the expert in turn on date d is experts[(d - from) // this % n]",
        ),
    ] = 7
    valid_from: Annotated[date, iso_day(description="the first date (local)")] = Field(alias="from")
    until: Annotated[
        date,
        iso_day(description=f"the last date (local), at most {MAX_PERIOD.days} days after from"),
    ]

    @field_validator("until")
    @classmethod
    def _period(cls, until: date, info: ValidationInfo) -> date:
        start = info.data.get("valid_from")
        if start is not None:
            if until < start:
                raise ValueError("must be on or after from")
            if until - start >= MAX_PERIOD:
                raise ValueError(f"a rotation covers at most {MAX_PERIOD.days} days")
        return until


@dataclass(frozen=True)
class GenerationResult:
    """What generating did to the rotation's shifts; `kept` are those left as they were."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    kept: int = 0


@dataclass(frozen=True)
class Slot:
    """One shift a rotation asks for: on `day` (local), `expert_id` from `start` to `end`."""

    day: date
    expert_id: int
    start: datetime
    end: datetime


def _partial(schema: dict[str, Any]) -> None:
    schema.pop("required", None)
    for field in schema["properties"].values():
        field.pop("default", None)


class RotationChange(RotationInput):
    """The fields to change; the others keep their value."""

    # Only a description: `update_rotation` validates the rotation they make as a whole.

    model_config = ConfigDict(json_schema_extra=_partial)


def create_rotation(session: Session, data: Mapping[str, Any]) -> Rotation:
    """A new rotation from the request; its shifts come from `generate`."""
    rotation = Rotation(skipped=[])
    _apply(session, rotation, data)
    session.add(rotation)
    session.flush()
    return rotation


def update_rotation(
    session: Session, rotation: Rotation, data: Mapping[str, Any], now: datetime
) -> GenerationResult:
    """Change the fields given (the others stay) and regenerate the slots from `now` on."""
    merged = {**rotation_input(session, rotation), **data} if isinstance(data, Mapping) else data
    _apply(session, rotation, merged)
    session.flush()
    return generate(session, rotation, now)


def delete_rotation(session: Session, rotation: Rotation, now: datetime) -> int:
    """Delete the rotation and its shifts not started by `now` and not edited by hand; the
    others stay on the roster as shifts of no rotation. Answers how many were deleted."""
    future = session.scalars(
        select(Shift).where(
            Shift.rotation_id == rotation.id, Shift.edited.is_(False), Shift.start >= now
        )
    ).all()
    for shift in future:
        session.delete(shift)
    session.execute(update(Shift).where(Shift.rotation_id == rotation.id).values(rotation_id=None))
    session.delete(rotation)
    session.flush()
    return len(future)


def slots(rotation: Rotation) -> list[Slot]:
    """Every slot of the rotation's period, skipped ones included."""
    zone = ZoneInfo(rotation.timezone)
    start_time, end_time = _time(rotation.start_time), _time(rotation.end_time)
    # An end at or before the start ends the next day (equal: a 24-hour shift).
    end_offset = timedelta(days=1) if end_time <= start_time else timedelta(0)
    wanted = {DAYS.index(d) for d in rotation.days}
    experts = rotation.expert_ids
    found = []
    day = rotation.valid_from
    while day <= rotation.valid_until:
        if day.weekday() in wanted:
            turn = (day - rotation.valid_from).days // rotation.handoff_every_days
            found.append(
                Slot(
                    day=day,
                    expert_id=experts[turn % len(experts)],
                    start=_instant(day, start_time, zone),
                    end=_instant(day + end_offset, end_time, zone),
                )
            )
        day += timedelta(days=1)
    return found


def generate(session: Session, rotation: Rotation, now: datetime) -> GenerationResult:
    """Bring the rotation's shifts starting from `now` on in line with the pattern.

    A missing slot's shift is created, an unedited one that no longer matches is updated,
    one whose slot left the pattern is deleted. Shifts started before `now`, edited by
    hand, and skipped slots are left as they are. Refused (InvalidInput on `experts`) when a
    shift would overlap another shift of its expert; then nothing changes.
    """
    skipped = set(rotation.skipped)
    wanted = {s.day: s for s in slots(rotation) if s.day.isoformat() not in skipped}
    existing = {
        s.slot: s
        for s in session.scalars(select(Shift).where(Shift.rotation_id == rotation.id))
        if s.slot is not None
    }
    tier = rotation.tier
    to_update: list[tuple[Shift, Slot]] = []
    to_delete: list[Shift] = []
    kept = 0
    for day, shift in existing.items():
        slot = wanted.get(day)
        if shift.edited or shift.start < now:
            kept += 1
        elif slot is None:
            to_delete.append(shift)
        elif (shift.expert_id, shift.start, shift.end, shift.tier) == (
            slot.expert_id,
            slot.start,
            slot.end,
            tier,
        ):
            kept += 1
        else:
            to_update.append((shift, slot))
    to_create = [s for day, s in wanted.items() if day not in existing and s.start >= now]
    replaced = {shift.id for shift, _ in to_update} | {shift.id for shift in to_delete}
    _check_no_overlap(session, [s for _, s in to_update] + to_create, replaced)
    for shift in to_delete:
        session.delete(shift)
    for shift, slot in to_update:
        shift.expert_id, shift.start, shift.end, shift.tier = (
            slot.expert_id,
            slot.start,
            slot.end,
            tier,
        )
    session.add_all(
        Shift(
            expert_id=s.expert_id,
            start=s.start,
            end=s.end,
            tier=tier,
            source=ShiftSource.ROTATION.value,
            rotation_id=rotation.id,
            slot=s.day,
        )
        for s in to_create
    )
    session.flush()
    # The updated shifts' `expert` relationship is read again with their new expert.
    for shift, _slot in to_update:
        session.expire(shift, ["expert"])
    return GenerationResult(len(to_create), len(to_update), len(to_delete), kept)


def rotation_input(session: Session, rotation: Rotation) -> dict[str, Any]:
    """The rotation as the API writes it: what `POST /rotations` takes and GET answers."""
    codes = dict(
        session.execute(
            select(Expert.id, Expert.code).where(Expert.id.in_(rotation.expert_ids))
        ).all()
    )
    return {
        "name": rotation.name,
        "experts": [codes[i] for i in rotation.expert_ids if i in codes],
        "tier": rotation.tier,
        "timezone": rotation.timezone,
        "days": list(rotation.days),
        "start_time": rotation.start_time,
        "end_time": rotation.end_time,
        "handoff_every_days": rotation.handoff_every_days,
        "from": rotation.valid_from.isoformat(),
        "until": rotation.valid_until.isoformat(),
    }


def _apply(session: Session, rotation: Rotation, data: Mapping[str, Any]) -> None:
    """Validate the whole input, then set it on the rotation."""
    given = validated(RotationInput, data)
    problems = {}
    same = session.scalar(select(Rotation.id).where(Rotation.name == given.name))
    if same is not None and same != rotation.id:
        problems["name"] = f"another rotation is named {given.name}"
    ids = dict(
        session.execute(select(Expert.code, Expert.id).where(Expert.code.in_(given.experts))).all()
    )
    unknown = [c for c in given.experts if c not in ids]
    if unknown:
        problems["experts"] = f"no expert has the code {', '.join(unknown)}"
    if problems:
        raise InvalidInput(problems)
    rotation.name, rotation.expert_ids = given.name, [ids[c] for c in given.experts]
    rotation.tier, rotation.timezone, rotation.days = given.tier.value, given.timezone, given.days
    rotation.start_time, rotation.end_time = given.start_time, given.end_time
    rotation.handoff_every_days = given.handoff_every_days
    rotation.valid_from, rotation.valid_until = given.valid_from, given.until


def _time(hh_mm: str) -> time:
    return time(int(hh_mm[:2]), int(hh_mm[3:]))


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0 (the default): see the module's docstring for the gap and the repeated hour.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _check_no_overlap(session: Session, changed: list[Slot], replaced: set[int]) -> None:
    """Refuse slots that would overlap another shift of their expert: a shift elsewhere on
    the roster, or one of this rotation's that stays as it is (edited, started). `replaced`
    are the rotation's shifts this generation rewrites or deletes."""
    if not changed:
        return
    expert_ids = {s.expert_id for s in changed}
    window_start = min(s.start for s in changed) - MAX_SHIFT
    window_end = max(s.end for s in changed)
    others = session.scalars(
        select(Shift).where(
            Shift.expert_id.in_(expert_ids),
            Shift.start < window_end,
            Shift.start >= window_start,
            Shift.source != ShiftSource.OVERRIDE.value,
            Shift.id.not_in(sorted(replaced)),
        )
    ).all()
    by_expert: dict[int, list[tuple[datetime, datetime, Shift | Slot]]] = {}
    for shift in others:
        by_expert.setdefault(shift.expert_id, []).append((shift.start, shift.end, shift))
    for slot in changed:
        by_expert.setdefault(slot.expert_id, []).append((slot.start, slot.end, slot))
    problems = []
    for entries in by_expert.values():
        entries.sort(key=lambda e: (e[0], e[1]))
        reach: tuple[datetime, datetime, Shift | Slot] | None = None
        for entry in entries:
            if reach is not None and entry[0] < reach[1]:
                problems.extend(_overlap(session, reach[2], entry[2]))
            if reach is None or entry[1] > reach[1]:
                reach = entry
    if problems:
        raise InvalidInput({"experts": "; ".join(sorted(set(problems))[:3])})


def _overlap(session: Session, a: Shift | Slot, b: Shift | Slot) -> list[str]:
    """Words for two overlapping entries, when one of them is a slot being generated."""
    slot, other = (a, b) if isinstance(a, Slot) else (b, a)
    if not isinstance(slot, Slot):
        return []
    expert = session.get_one(Expert, slot.expert_id)
    if isinstance(other, Slot):
        return [f"{expert.code} would hold the slots of {other.day} and {slot.day} at once"]
    return [f"{describe(other, expert)}, which the slot of {slot.day} would overlap"]
