"""An expert's roster as iCalendar: what a calendar application will read back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import select

from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.models import Expert, Shift, Site
from rosters.ical import roster_calendar

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[SessionFactory]:
    url = f"sqlite:///{tmp_path / 'garde.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def expert_id(sessions: SessionFactory) -> int:
    with sessions.begin() as s:
        site = Site(code="CH-T", name="CH Test")
        alice = Expert(code="DR-A", name="Dr A", phone="+33600000001", modalities=["CT"])
        bruno = Expert(code="DR-B", name="Dr B", phone="+33600000002", modalities=["CT"])
        alice.sites = [site]
        s.add_all([site, alice, bruno])
        s.flush()
        for days_ago, hours, tier in [
            (40, 12, "primary"),  # too old: ended more than 30 days ago
            (10, 12, "backup"),
            (-1, 12, "primary"),
            (-2, 13, "primary"),  # the night clocks go back would be 13 hours long
        ]:
            start = NOW - timedelta(days=days_ago)
            s.add(Shift(expert=alice, start=start, end=start + timedelta(hours=hours), tier=tier))
        s.add(Shift(expert=bruno, start=NOW, end=NOW + timedelta(hours=12), tier="primary"))
        return alice.id


def calendar_of(sessions: SessionFactory, expert_id: int) -> bytes:
    with sessions() as s:
        return roster_calendar(s, s.get_one(Expert, expert_id), now=NOW)


def test_roster_parses_back_with_one_event_per_recent_shift(
    sessions: SessionFactory, expert_id: int
) -> None:
    calendar = Calendar.from_ical(calendar_of(sessions, expert_id))
    events = calendar.walk("VEVENT")
    with sessions() as s:
        shifts = {
            f"shift-{shift.id}@garde": shift
            for shift in s.scalars(select(Shift).where(Shift.expert_id == expert_id))
            if shift.end >= NOW - timedelta(days=30)
        }
    assert len(events) == len(shifts) == 3
    for event in events:
        shift = shifts[str(event["UID"])]
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert start == shift.start and end == shift.end
        assert start.utcoffset() == timedelta(0) and end.utcoffset() == timedelta(0)
        assert str(event["SUMMARY"]) == f"Garde on call ({shift.tier})"
        assert event.decoded("DTSTAMP") == NOW


def test_times_are_written_in_utc(sessions: SessionFactory, expert_id: int) -> None:
    text = calendar_of(sessions, expert_id).decode()
    assert text.startswith("BEGIN:VCALENDAR")
    times = [line for line in text.splitlines() if line.startswith(("DTSTART", "DTEND"))]
    assert len(times) == 6
    assert all(line.endswith("Z") and ";TZID" not in line for line in times)
    assert "SUMMARY:Garde on call (primary)" in text


def test_expert_without_shifts_gets_an_empty_calendar(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        zed = Expert(code="DR-Z", name="Dr Z", phone="+33600000099", modalities=["MR"])
        s.add(zed)
    with sessions() as s:
        calendar = Calendar.from_ical(roster_calendar(s, s.get_one(Expert, zed.id), now=NOW))
    assert calendar.walk("VEVENT") == []
    assert str(calendar["VERSION"]) == "2.0"
