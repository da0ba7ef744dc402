"""What the API answers about rosters (a shift alone, in an override, in a swap; rotations,
overrides, unavailability) and the time window their lists are filtered by."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, RootModel

from garde.domain import ShiftSource, Tier
from garde.validation import Input, instant
from web.api.describe import Answer


class Shift(Answer):
    id: int
    expert: str = Field(description="the expert's code")
    start: datetime
    end: datetime
    tier: Tier
    source: ShiftSource
    rotation: int | None = Field(description="the rotation it came from")
    slot: date | None = Field(description="a rotation's shift: the local date it starts on")
    edited: bool = Field(description="a rotation's shift changed by hand")
    override: int | None = Field(description="the override it holds")


class Shifts(RootModel[list[Shift]]):
    """Shifts by start."""


class Generated(Answer):
    """What generating did to the rotation's shifts; `kept` are those left as they were."""

    created: int
    updated: int
    deleted: int
    kept: int


class Rotation(Answer):
    id: int
    name: str
    experts: list[str] = Field(description="experts' codes, in turn order")
    tier: Tier
    timezone: str
    days: list[str]
    start_time: str
    end_time: str
    handoff_every_days: int
    valid_from: date = Field(alias="from")
    until: date
    skipped: list[date] = Field(description="slots whose shift was deleted: never generated again")
    generated: Generated | None = Field(
        None, description="after a create or change: what generating did to its shifts"
    )


class Rotations(RootModel[list[Rotation]]):
    """The rotations by name."""


class RotationDeleted(Answer):
    id: int
    deleted_shifts: int = Field(description="its future shifts deleted with it")


class Override(Answer):
    id: int
    expert: str = Field(description="who takes over")
    replaces: str = Field(description="who is replaced: off duty then")
    start: datetime
    end: datetime
    created_by: str = Field(description="a username, or swap:ID")
    shifts: list[Shift] = Field(
        description="the replaced expert's shifts in the interval, now held by the replacing "
        "expert at the same tier"
    )


class Overrides(RootModel[list[Override]]):
    """Overrides by start."""


class Unavailability(Answer):
    id: int
    expert: str
    start: datetime
    end: datetime
    reason: str
    created_by: str
    uncovers: list[int] = Field(description="ids of the expert's shifts it takes them off")


class Unavailabilities(RootModel[list[Unavailability]]):
    """Unavailability by start."""


class WindowQuery(Input):
    """Only those sharing time with `from`..`to`, when given."""

    from_: Annotated[
        datetime | None, instant(description="only those ending after this instant")
    ] = Field(None, alias="from")
    to: Annotated[
        datetime | None, instant(description="only those starting before this instant")
    ] = None
