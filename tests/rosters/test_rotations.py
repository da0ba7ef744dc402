"""Rotations generate shifts exactly, across daylight-saving changes and in three zones, and
generating again keeps every hand edit and only ever rewrites the future."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from garde.db import SessionFactory
from garde.errors import InvalidInput
from garde.models import Expert, Rotation, Shift
from rosters.rotations import GenerationResult, create_rotation, delete_rotation, generate
from rosters.rotations import update_rotation as update
from rosters.shifts import create_shift, delete_shift, update_shift
from tests.phones import mobile

PARIS = ZoneInfo("Europe/Paris")
# Generation leaves alone what started before "now": these tests plan 2027 from 2026.
BEFORE_ALL = datetime(2026, 12, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def experts(sessions: SessionFactory) -> list[str]:
    """Four experts of this test alone (the database is shared by the module)."""
    tag = secrets.token_hex(3).upper()
    codes = [f"DR-{name}-{tag}" for name in ("A", "B", "C", "D")]
    with sessions.begin() as s:
        for code in codes:
            phone = mobile()
            s.add(Expert(code=code, name=code, phone=phone, modalities=["CT"]))
    return codes


def pattern(experts: list[str], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "nights " + secrets.token_hex(4),
        "experts": experts,
        "tier": "primary",
        "timezone": "Europe/Paris",
        "days": ["MO", "TU", "WE", "TH", "FR", "SA", "SU"],
        "start_time": "20:00",
        "end_time": "08:00",
        "handoff_every_days": 7,
        "from": "2027-03-22",
        "until": "2027-04-04",
    }
    data.update(changes)
    return data


def make(sessions: SessionFactory, data: dict[str, Any], now: datetime = BEFORE_ALL) -> int:
    with sessions.begin() as s:
        rotation = create_rotation(s, data)
        generate(s, rotation, now)
        return rotation.id


def shifts_of(s: Session, rotation_id: int) -> dict[date, Shift]:
    found = s.scalars(select(Shift).where(Shift.rotation_id == rotation_id))
    return {shift.slot: shift for shift in found if shift.slot is not None}


def row(shift: Shift) -> tuple[int, int, datetime, datetime, str, bool]:
    return (shift.id, shift.expert_id, shift.start, shift.end, shift.tier, shift.edited)


def test_paris_night_lasts_11_hours_when_the_clocks_go_forward(
    sessions: SessionFactory, experts: list[str]
) -> None:
    rotation_id = make(sessions, pattern(experts[:1]))
    with sessions() as s:
        shifts = shifts_of(s, rotation_id)
    # Sunday 28 March 2027, 02:00 CET becomes 03:00 CEST: the night of Saturday 27 holds it.
    change = shifts[date(2027, 3, 27)]
    assert (change.start, change.end) == (utc("2027-03-27T19:00"), utc("2027-03-28T06:00"))
    assert change.end - change.start == timedelta(hours=11)
    before, after = shifts[date(2027, 3, 26)], shifts[date(2027, 3, 28)]
    assert (before.start, before.end) == (utc("2027-03-26T19:00"), utc("2027-03-27T07:00"))
    assert (after.start, after.end) == (utc("2027-03-28T18:00"), utc("2027-03-29T06:00"))
    assert len(shifts) == 14
    for shift in shifts.values():
        start, end = shift.start.astimezone(PARIS), shift.end.astimezone(PARIS)
        assert (start.date(), start.hour, end.hour) == (shift.slot, 20, 8)
        assert shift.source == "rotation" and not shift.edited
        if shift.slot != date(2027, 3, 27):
            assert shift.end - shift.start == timedelta(hours=12)


def test_paris_night_lasts_13_hours_when_the_clocks_go_back(
    sessions: SessionFactory, experts: list[str]
) -> None:
    rotation_id = make(
        sessions, pattern(experts[:1], **{"from": "2027-10-28", "until": "2027-11-02"})
    )
    with sessions() as s:
        shifts = shifts_of(s, rotation_id)
    # Sunday 31 October 2027, 03:00 CEST becomes 02:00 CET: the night of Saturday 30 holds it.
    change = shifts[date(2027, 10, 30)]
    assert (change.start, change.end) == (utc("2027-10-30T18:00"), utc("2027-10-31T07:00"))
    assert change.end - change.start == timedelta(hours=13)
    assert shifts[date(2027, 10, 29)].end - shifts[date(2027, 10, 29)].start == timedelta(hours=12)
    assert shifts[date(2027, 10, 31)].start == utc("2027-10-31T19:00")


def test_zones_without_daylight_saving_and_others_run_alongside(
    sessions: SessionFactory, experts: list[str]
) -> None:
    week = {"from": "2027-03-26", "until": "2027-03-29"}
    paris = make(sessions, pattern(experts[:1], **week))
    reunion = make(sessions, pattern(experts[1:2], timezone="Indian/Reunion", **week))
    martinique = make(sessions, pattern(experts[2:3], timezone="America/Martinique", **week))
    with sessions() as s:
        night = date(2027, 3, 27)
        p, r, m = (shifts_of(s, i)[night] for i in (paris, reunion, martinique))
    assert (p.start, p.end) == (utc("2027-03-27T19:00"), utc("2027-03-28T06:00"))
    # Réunion is UTC+4 and Martinique UTC-4 all year: their night that weekend is 12 hours.
    assert (r.start, r.end) == (utc("2027-03-27T16:00"), utc("2027-03-28T04:00"))
    assert (m.start, m.end) == (utc("2027-03-28T00:00"), utc("2027-03-28T12:00"))


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        # 02:30 does not exist on 28 March 2027 in Paris: the shift starts at 03:30 CEST.
        ("2027-03-28", "2027-03-28T01:30", "2027-03-28T04:00"),
        # 02:30 happens twice on 31 October 2027: the first one, still summer time.
        ("2027-10-31", "2027-10-31T00:30", "2027-10-31T05:00"),
    ],
)
def test_local_times_in_the_gap_move_forward_and_repeated_ones_are_the_first(
    sessions: SessionFactory, experts: list[str], day: str, start: str, end: str
) -> None:
    data = pattern(experts[:1], start_time="02:30", end_time="06:00", **{"from": day, "until": day})
    rotation_id = make(sessions, data)
    with sessions() as s:
        (shift,) = shifts_of(s, rotation_id).values()
    assert (shift.start, shift.end) == (utc(start), utc(end))
    assert shift.end.astimezone(PARIS).hour == 6


def test_experts_take_turns_every_handoff_counted_from_the_first_day(
    sessions: SessionFactory, experts: list[str]
) -> None:
    weeknights = pattern(
        experts[:3],
        days=["mo", "TU", "WE", "TH", "FR"],
        **{"from": "2027-01-04", "until": "2027-01-31"},  # a Monday, four weeks
    )
    every_other_day = pattern(
        experts[:2],
        start_time="08:00",
        end_time="20:00",
        handoff_every_days=2,
        **{"from": "2027-01-06", "until": "2027-01-11"},
    )
    weekly, by_two = make(sessions, weeknights), make(sessions, every_other_day)
    with sessions() as s:
        codes = dict(s.execute(select(Expert.id, Expert.code)).all())
        turns = {d: codes[x.expert_id] for d, x in shifts_of(s, weekly).items()}
        pairs = {d.day: codes[x.expert_id] for d, x in shifts_of(s, by_two).items()}
        days = s.get_one(Rotation, weekly).days
    a, b, c = experts[:3]
    assert days == ["MO", "TU", "WE", "TH", "FR"]
    assert len(turns) == 20 and all(d.weekday() < 5 for d in turns)
    assert {turns[date(2027, 1, d)] for d in range(4, 9)} == {a}
    assert {turns[date(2027, 1, d)] for d in range(11, 16)} == {b}
    assert {turns[date(2027, 1, d)] for d in range(18, 23)} == {c}
    assert {turns[date(2027, 1, d)] for d in range(25, 30)} == {a}
    assert pairs == {6: a, 7: a, 8: b, 9: b, 10: a, 11: a}


def test_generating_twice_changes_nothing(sessions: SessionFactory, experts: list[str]) -> None:
    rotation_id = make(sessions, pattern(experts[:2]))
    with sessions() as s:
        before = sorted(row(x) for x in shifts_of(s, rotation_id).values())
    with sessions.begin() as s:
        result = generate(s, s.get_one(Rotation, rotation_id), BEFORE_ALL)
    with sessions() as s:
        after = sorted(row(x) for x in shifts_of(s, rotation_id).values())
    assert result == GenerationResult(created=0, updated=0, deleted=0, kept=14)
    assert after == before and len(after) == 14


def test_a_hand_edit_survives_regeneration(sessions: SessionFactory, experts: list[str]) -> None:
    rotation_id = make(sessions, pattern(experts[:2]))
    edited_day = date(2027, 3, 24)
    with sessions.begin() as s:
        shift = shifts_of(s, rotation_id)[edited_day]
        update_shift(s, shift, {"expert": experts[3], "end": "2027-03-25T09:00:00+01:00"})
        assert shift.edited
    with sessions() as s:
        edited = row(shifts_of(s, rotation_id)[edited_day])
    with sessions.begin() as s:
        result = update(s, s.get_one(Rotation, rotation_id), {"start_time": "21:00"}, BEFORE_ALL)
    with sessions() as s:
        shifts = shifts_of(s, rotation_id)
        assert row(shifts[edited_day]) == edited
        expert_d = s.scalar(select(Expert.id).where(Expert.code == experts[3]))
    assert result == GenerationResult(created=0, updated=13, deleted=0, kept=1)
    assert shifts[edited_day].expert_id == expert_d
    assert all(x.start.astimezone(PARIS).hour == 21 for d, x in shifts.items() if d != edited_day)


def test_a_deleted_slot_stays_deleted(sessions: SessionFactory, experts: list[str]) -> None:
    rotation_id = make(sessions, pattern(experts[:2]))
    gone = date(2027, 3, 30)
    with sessions.begin() as s:
        delete_shift(s, shifts_of(s, rotation_id)[gone])
    with sessions.begin() as s:
        rotation = s.get_one(Rotation, rotation_id)
        assert rotation.skipped == ["2027-03-30"]
        assert generate(s, rotation, BEFORE_ALL).created == 0
        update(s, rotation, {"end_time": "07:00"}, BEFORE_ALL)
    with sessions() as s:
        shifts = shifts_of(s, rotation_id)
    assert gone not in shifts and len(shifts) == 13


def test_changing_a_rotation_regenerates_only_the_future(
    sessions: SessionFactory, experts: list[str]
) -> None:
    rotation_id = make(sessions, pattern(experts[:1]))
    with sessions() as s:
        before = {d: row(x) for d, x in shifts_of(s, rotation_id).items()}
    # In the middle of the night of 27 March: that night has started, the next has not.
    now = utc("2027-03-28T02:00")
    with sessions.begin() as s:
        result = update(
            s,
            s.get_one(Rotation, rotation_id),
            {"experts": [experts[1]], "until": "2027-04-01"},
            now,
        )
    with sessions() as s:
        after = shifts_of(s, rotation_id)
        b = s.scalar(select(Expert.id).where(Expert.code == experts[1]))
    past = [d for d in before if d <= date(2027, 3, 27)]
    assert {d: row(after[d]) for d in past} == {d: before[d] for d in past}
    future = sorted(d for d in after if d > date(2027, 3, 27))
    assert future == [date(2027, 3, d) for d in range(28, 32)] + [date(2027, 4, 1)]
    assert all(after[d].expert_id == b for d in future)
    assert result == GenerationResult(created=0, updated=5, deleted=3, kept=6)


def test_deleting_a_rotation_keeps_the_past_and_the_hand_edits(
    sessions: SessionFactory, experts: list[str]
) -> None:
    rotation_id = make(sessions, pattern(experts[:1]))
    with sessions.begin() as s:
        shifts = shifts_of(s, rotation_id)
        update_shift(s, shifts[date(2027, 4, 2)], {"tier": "backup"})
        kept_ids = {shifts[date(2027, 3, 22)].id, shifts[date(2027, 4, 2)].id}
    with sessions.begin() as s:
        deleted = delete_rotation(s, s.get_one(Rotation, rotation_id), utc("2027-03-23T12:00"))
    with sessions() as s:
        left = s.scalars(select(Shift).where(Shift.id.in_(kept_ids | {0}))).all()
        assert s.get(Rotation, rotation_id) is None
        assert s.scalar(select(func.count()).where(Shift.rotation_id == rotation_id)) == 0
    # 22 March has started by then; 2 April was edited; the 12 others go.
    assert deleted == 12
    assert {x.id for x in left} == kept_ids and all(x.rotation_id is None for x in left)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"experts": ["DR-NOBODY"]}, "experts", "no expert has the code DR-NOBODY"),
        ({"experts": []}, "experts", "is required"),
        ({"start_time": "25:00"}, "start_time", "HH:MM, from 00:00 to 23:59"),
        ({"end_time": "8h"}, "end_time", "HH:MM"),
        ({"days": ["MO", "XX"]}, "days", "XX: each day must be one of MO"),
        ({"until": "2027-03-01"}, "until", "on or after from"),
        ({"until": "2028-06-01"}, "until", "at most 400 days"),
        ({"from": "22/03/2027"}, "from", "YYYY-MM-DD"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "IANA"),
        ({"tier": "gold"}, "tier", "primary, backup"),
        ({"handoff_every_days": 0}, "handoff_every_days", "between 1"),
    ],
)
def test_bad_rotation_is_refused_naming_the_field(
    sessions: SessionFactory,
    experts: list[str],
    changes: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    with sessions() as s:
        count = s.scalar(select(func.count()).select_from(Rotation))
    with pytest.raises(InvalidInput) as refused, sessions.begin() as s:
        create_rotation(s, {**pattern(experts[:1]), **changes})
    assert reason in refused.value.fields[field], refused.value.fields
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Rotation)) == count


def test_a_rotation_overlapping_a_shift_of_its_expert_is_refused_whole(
    sessions: SessionFactory, experts: list[str]
) -> None:
    with sessions.begin() as s:
        create_shift(
            s,
            {
                "expert": experts[0],
                "start": "2027-03-24T18:00:00+01:00",
                "end": "2027-03-24T22:00:00+01:00",
            },
        )
    name = "clash " + secrets.token_hex(3)
    with pytest.raises(InvalidInput) as refused, sessions.begin() as s:
        make_in(s, pattern(experts[:1], name=name))
    assert "which the slot of 2027-03-24 would overlap" in refused.value.fields["experts"]
    assert experts[0] in refused.value.fields["experts"]
    with sessions() as s:
        assert s.scalar(select(Rotation).where(Rotation.name == name)) is None


def make_in(s: Session, data: dict[str, Any]) -> Rotation:
    rotation = create_rotation(s, data)
    generate(s, rotation, BEFORE_ALL)
    return rotation


def test_a_shift_overlapping_another_of_its_expert_is_refused(
    sessions: SessionFactory, experts: list[str]
) -> None:
    first = {
        "expert": experts[0],
        "start": "2027-05-01T08:00:00+02:00",
        "end": "2027-05-01T20:00:00+02:00",
    }
    with sessions.begin() as s:
        create_shift(s, first)
        other = create_shift(s, {**first, "expert": experts[1]})
        # Back to back is not an overlap: [08:00, 20:00) then [20:00, 08:00).
        create_shift(
            s, {**first, "start": "2027-05-01T20:00:00+02:00", "end": "2027-05-02T08:00:00+02:00"}
        )
        other_id = other.id
    with pytest.raises(InvalidInput) as refused, sessions.begin() as s:
        create_shift(s, {**first, "start": "2027-05-01T19:00:00+02:00"})
    assert "already has a shift from 2027-05-01T08:00+02:00" in refused.value.fields["start"]
    with pytest.raises(InvalidInput) as moved, sessions.begin() as s:
        update_shift(s, s.get_one(Shift, other_id), {"expert": experts[0]})
    assert experts[0] in moved.value.fields["expert"]
    with sessions() as s:
        assert s.get_one(Shift, other_id).expert.code == experts[1]
