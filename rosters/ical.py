"""Shifts as iCalendar, and the secret feed URLs a phone calendar subscribes to without a login.

Times are written in the reader's zone (the expert's, or the region's for the region feed)
with the matching VTIMEZONE, so a phone shows 20:00 on the night clocks change. Each shift
keeps one UID (`shift-ID@garde`) and one DTSTAMP (when it was created), so a calendar that
fetches the feed again updates its events instead of adding copies, and an unchanged roster
gives the same bytes.

A shift its expert does not work, wholly (time off, or an override giving it to another
expert) is CANCELLED, so the phone shows it struck out or hides it; one worked in part says
which part is off in its description.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy import ColumnElement, CursorResult, Select, select, update
from sqlalchemy.orm import Session

from garde.models import CalendarFeed, Expert, Override, Shift, Unavailability, utcnow
from rosters.intervals import Interval, subtract

HISTORY = timedelta(days=30)


def roster_calendar(session: Session, expert: Expert, *, now: datetime | None = None) -> bytes:
    """The expert's shifts ending in the last 30 days or later, in the expert's zone."""
    shifts = list(session.scalars(_recent(now).where(Shift.expert_id == expert.id)))
    return _calendar(
        f"Garde roster {expert.code}",
        ZoneInfo(expert.timezone),
        shifts,
        lambda shift: f"Garde on call ({shift.tier})",
        _time_off(session, shifts),
    )


def region_calendar(session: Session, timezone: str, *, now: datetime | None = None) -> bytes:
    """Every expert's shifts ending in the last 30 days or later, in the region's zone."""
    shifts = list(session.scalars(_recent(now)))
    return _calendar(
        "Garde roster",
        ZoneInfo(timezone),
        shifts,
        lambda shift: f"Garde on call ({shift.tier}): {shift.expert.name}",
        _time_off(session, shifts),
    )


def feed_calendar(
    session: Session, token: str, *, region_timezone: str, now: datetime | None = None
) -> bytes | None:
    """The calendar behind a feed token; none when the token is unknown or revoked."""
    feed = session.scalar(
        select(CalendarFeed).where(CalendarFeed.token == token, CalendarFeed.revoked_at.is_(None))
    )
    if feed is None:
        return None
    if feed.expert is None:
        return region_calendar(session, region_timezone, now=now)
    return roster_calendar(session, feed.expert, now=now)


def new_feed(session: Session, expert: Expert | None) -> CalendarFeed:
    """A new secret URL for the expert (none: the region); the previous one stops working."""
    revoke_feed(session, expert)
    feed = CalendarFeed(token=secrets.token_urlsafe(32), expert_id=expert.id if expert else None)
    session.add(feed)
    session.flush()
    return feed


def revoke_feed(session: Session, expert: Expert | None) -> int:
    """Revokes the expert's (none: the region's) live feed; how many were revoked."""
    revoked = update(CalendarFeed).where(_owner(expert), CalendarFeed.revoked_at.is_(None))
    result = cast(CursorResult[Any], session.execute(revoked.values(revoked_at=utcnow())))
    return result.rowcount


def live_feed(session: Session, expert: Expert | None) -> CalendarFeed | None:
    return session.scalar(
        select(CalendarFeed)
        .where(_owner(expert), CalendarFeed.revoked_at.is_(None))
        .order_by(CalendarFeed.id.desc())
    )


def feed_url(feed: CalendarFeed, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/feeds/{feed.token}.ics"


def expert_feed_url(session: Session, expert: Expert, base_url: str) -> str | None:
    """The URL of the expert's live feed, if they have one."""
    feed = live_feed(session, expert)
    return feed_url(feed, base_url) if feed else None


def region_feed_url(session: Session, base_url: str) -> str | None:
    """The URL of the region's live feed, if there is one."""
    feed = live_feed(session, None)
    return feed_url(feed, base_url) if feed else None


def _owner(expert: Expert | None) -> ColumnElement[bool]:
    if expert is None:
        return CalendarFeed.expert_id.is_(None)
    return CalendarFeed.expert_id == expert.id


def _recent(now: datetime | None) -> Select[Shift]:
    since = (now or utcnow()).astimezone(UTC) - HISTORY
    return select(Shift).where(Shift.end >= since).order_by(Shift.start, Shift.id)


@dataclass(frozen=True)
class _Off:
    """A part of a shift its expert does not work, and why."""

    span: Interval
    why: str


def _time_off(session: Session, shifts: list[Shift]) -> dict[int, list[_Off]]:
    """Per shift, its parts under the expert's time off or an override replacing them."""
    if not shifts:
        return {}
    experts = {s.expert_id for s in shifts}
    first, last = min(s.start for s in shifts), max(s.end for s in shifts)
    off: dict[int, list[_Off]] = defaultdict(list)
    for away in session.scalars(
        select(Unavailability).where(
            Unavailability.expert_id.in_(experts),
            Unavailability.start < last,
            Unavailability.end > first,
        )
    ):
        why = f"off ({away.reason})" if away.reason else "off"
        off[away.expert_id].append(_Off(Interval(away.start, away.end), why))
    for override in session.scalars(
        select(Override).where(
            Override.replaces_id.in_(experts), Override.start < last, Override.end > first
        )
    ):
        span = Interval(override.start, override.end)
        off[override.replaces_id].append(_Off(span, f"replaced by {override.expert.name}"))
    found: dict[int, list[_Off]] = {}
    for shift in shifts:
        parts = [
            _Off(Interval(max(o.span.start, shift.start), min(o.span.end, shift.end)), o.why)
            for o in off.get(shift.expert_id, [])
            if o.span.start < shift.end and o.span.end > shift.start
        ]
        if parts:
            found[shift.id] = sorted(parts, key=lambda o: o.span.start)
    return found


def _calendar(
    name: str,
    zone: ZoneInfo,
    shifts: Iterable[Shift],
    summary: Callable[[Shift], str],
    time_off: dict[int, list[_Off]],
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Garde//Roster//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", zone.key)
    events = [_event(shift, zone, summary(shift), time_off.get(shift.id, [])) for shift in shifts]
    for event in events:
        calendar.add_component(event)
    if events:
        # The zone's rules over the span of the events only: a short, exact VTIMEZONE.
        first = min(e.decoded("DTSTART") for e in events).date() - timedelta(days=366)
        last = max(e.decoded("DTEND") for e in events).date() + timedelta(days=366)
        calendar.add_missing_timezones(first_date=first, last_date=last)
    return calendar.to_ical()


def _event(shift: Shift, zone: ZoneInfo, summary: str, off: list[_Off]) -> Event:
    event = Event()
    event.add("uid", f"shift-{shift.id}@garde")
    event.add("dtstamp", shift.created_at.astimezone(UTC))
    event.add("dtstart", shift.start.astimezone(zone))
    event.add("dtend", shift.end.astimezone(zone))
    event.add("summary", summary)
    event.add("categories", ["Garde", shift.tier])
    event.add("transp", "OPAQUE")
    if off:
        whole = Interval(shift.start, shift.end)
        if not subtract([whole], [o.span for o in off]):
            event.add("status", "CANCELLED")
            event["summary"] = f"{summary}: {', '.join(sorted({o.why for o in off}))}"
        lines = [
            f"{o.span.start.astimezone(zone):%d %b %H:%M}–{o.span.end.astimezone(zone):%H:%M} {o.why}"
            for o in off
        ]
        event.add("description", "\n".join(lines))
    return event
