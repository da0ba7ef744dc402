"""An expert's shifts as an iCalendar feed that any calendar application can subscribe to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.models import Expert, Shift, utcnow

HISTORY = timedelta(days=30)


def roster_calendar(session: Session, expert: Expert, *, now: datetime | None = None) -> bytes:
    """The expert's shifts ending in the last 30 days or later, one VEVENT each, in UTC."""
    now = (now or utcnow()).astimezone(UTC)
    shifts = session.scalars(
        select(Shift)
        .where(Shift.expert_id == expert.id, Shift.end >= now - HISTORY)
        .order_by(Shift.start, Shift.id)
    )
    calendar = Calendar()
    calendar.add("prodid", "-//Garde//Roster//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Garde roster {expert.code}")
    for shift in shifts:
        calendar.add_component(_event(shift, now))
    return calendar.to_ical()


def _event(shift: Shift, now: datetime) -> Event:
    event = Event()
    # A stable UID lets a subscribed calendar update the event instead of adding a copy.
    event.add("uid", f"shift-{shift.id}@garde")
    event.add("dtstamp", now)
    event.add("dtstart", shift.start.astimezone(UTC))
    event.add("dtend", shift.end.astimezone(UTC))
    event.add("summary", f"Garde on call ({shift.tier})")
    event.add("categories", ["Garde", shift.tier])
    event.add("transp", "OPAQUE")
    return event
