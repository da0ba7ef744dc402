"""Rosters as iCalendar, as a calendar application reads them back: the expert's zone with its
VTIMEZONE, exact across daylight-saving changes, stable UIDs, and secret feed URLs that work
without a login until revoked. On both databases."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.db import SessionFactory
from garde.models import CalendarFeed, Expert, Override, Shift, Unavailability
from rosters.ical import (
    expert_feed_url,
    feed_calendar,
    new_feed,
    region_calendar,
    revoke_feed,
    roster_calendar,
)
from tests.conftest import Region
from tests.phones import mobile

NOW = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def add_expert(s: Session, zone: str = "Europe/Paris") -> Expert:
    tag = secrets.token_hex(4)
    expert = Expert(
        code=f"DR-{tag}",
        name=f"Dr {tag}",
        phone=mobile(),
        modalities=["CT"],
        timezone=zone,
    )
    s.add(expert)
    s.flush()
    return expert


def paris(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=PARIS).astimezone(UTC)


def nights(s: Session, expert: Expert) -> list[Shift]:
    """20:00–08:00 Paris: a plain night, the night clocks go forward (11 h) and the night
    they go back (13 h); and one that ended too long ago to be shown."""
    shifts = [
        Shift(expert=expert, start=start, end=end, tier=tier)
        for start, end, tier in [
            (paris(2027, 2, 1, 20), paris(2027, 2, 2, 8), "primary"),  # ended > 30 days ago
            (paris(2027, 3, 20, 20), paris(2027, 3, 21, 8), "backup"),
            (paris(2027, 3, 27, 20), paris(2027, 3, 28, 8), "primary"),
            (paris(2027, 10, 30, 20), paris(2027, 10, 31, 8), "primary"),
        ]
    ]
    s.add_all(shifts)
    s.flush()
    return shifts


def events_of(calendar: bytes) -> dict[str, dict[str, object]]:
    return {
        str(e["UID"]): {
            "start": e.decoded("DTSTART"),
            "end": e.decoded("DTEND"),
            "summary": str(e["SUMMARY"]),
        }
        for e in Calendar.from_ical(calendar).walk("VEVENT")
    }


def hours(event: dict[str, object]) -> float:
    start, end = event["start"], event["end"]
    assert isinstance(start, datetime) and isinstance(end, datetime)
    return (end.astimezone(UTC) - start.astimezone(UTC)) / timedelta(hours=1)


def test_roster_is_written_in_the_experts_zone_exact_across_dst(
    sessions: SessionFactory,
) -> None:
    with sessions.begin() as s:
        expert = add_expert(s)
        shifts = nights(s, expert)
        ids = [shift.id for shift in shifts]
        text = roster_calendar(s, expert, now=NOW)
    calendar = Calendar.from_ical(text)
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Paris"]
    events = events_of(text)
    assert set(events) == {f"shift-{i}@garde" for i in ids[1:]}
    march, october = events[f"shift-{ids[2]}@garde"], events[f"shift-{ids[3]}@garde"]
    assert march["start"] == datetime(2027, 3, 27, 20, tzinfo=PARIS)
    assert march["end"] == datetime(2027, 3, 28, 8, tzinfo=PARIS)
    assert hours(march) == 11 and hours(october) == 13
    lines = text.decode().splitlines()
    assert "DTSTART;TZID=Europe/Paris:20270327T200000" in lines
    assert "DTEND;TZID=Europe/Paris:20270328T080000" in lines
    assert "DTEND;TZID=Europe/Paris:20271031T080000" in lines
    assert events[f"shift-{ids[1]}@garde"]["summary"] == "Garde on call (backup)"


def test_an_expert_in_another_zone_reads_their_own_wall_clock(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        expert = add_expert(s, "America/Martinique")
        nights(s, expert)
        text = roster_calendar(s, expert, now=NOW).decode()
    assert [tz.tz_name for tz in Calendar.from_ical(text).timezones] == ["America/Martinique"]
    assert "Europe/Paris" not in text
    # 20:00 in Paris on 27 March is 15:00 in Martinique, whose clocks never change.
    assert "DTSTART;TZID=America/Martinique:20270327T150000" in text.splitlines()
    events = Calendar.from_ical(text).walk("VEVENT")
    assert len(events) == 3
    for event in events:
        assert event["DTSTART"].params["TZID"] == event["DTEND"].params["TZID"]
        assert event["DTSTART"].params["TZID"] == "America/Martinique"


def test_fetching_again_gives_the_same_uids_and_bytes(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        expert = add_expert(s)
        nights(s, expert)
    with sessions() as s:
        expert = s.get_one(Expert, expert.id)
        first = roster_calendar(s, expert, now=NOW)
        again = roster_calendar(s, expert, now=NOW + timedelta(hours=1))
    assert first == again
    assert len(events_of(first)) == 3


def test_region_calendar_names_each_expert_in_the_regions_zone(
    sessions: SessionFactory,
) -> None:
    with sessions.begin() as s:
        alice, bruno = add_expert(s, "America/Martinique"), add_expert(s)
        alice_shifts, bruno_shifts = nights(s, alice), nights(s, bruno)
        text = region_calendar(s, "Indian/Reunion", now=NOW)
    events = events_of(text)
    mine = {f"shift-{shift.id}@garde": shift for shift in alice_shifts + bruno_shifts}
    shown = {uid: e for uid, e in events.items() if uid in mine}
    assert len(shown) == 6
    for uid, event in shown.items():
        assert event["start"] == mine[uid].start
        assert event["start"].tzinfo == ZoneInfo("Indian/Reunion")  # type: ignore[attr-defined]
        assert mine[uid].expert.name in str(event["summary"])
    assert "TZID:Indian/Reunion" in text.decode()


def test_a_shift_not_worked_is_cancelled_and_one_worked_in_part_says_which_part(
    sessions: SessionFactory,
) -> None:
    with sessions.begin() as s:
        expert, other = add_expert(s), add_expert(s)
        _, plain, march, october = nights(s, expert)
        # The whole March night on leave; four hours of the October one given to another.
        s.add(Unavailability(expert=expert, start=march.start, end=march.end, reason="sick"))
        s.add(
            Override(
                expert=other,
                replaces=expert,
                start=paris(2027, 10, 30, 22),
                end=paris(2027, 10, 31, 2),
            )
        )
        s.flush()
        text = roster_calendar(s, expert, now=NOW)
        region = region_calendar(s, "Europe/Paris", now=NOW)
    found = {str(e["UID"]): e for e in Calendar.from_ical(text).walk("VEVENT")}
    cancelled = found[f"shift-{march.id}@garde"]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert str(cancelled["SUMMARY"]) == "Garde on call (primary): off (sick)"
    partly = found[f"shift-{october.id}@garde"]
    assert "STATUS" not in partly
    assert str(partly["DESCRIPTION"]) == f"30 Oct 22:00–02:00 replaced by {other.name}"
    assert "STATUS" not in found[f"shift-{plain.id}@garde"]
    assert "DESCRIPTION" not in found[f"shift-{plain.id}@garde"]
    in_region = {str(e["UID"]): e for e in Calendar.from_ical(region).walk("VEVENT")}
    assert str(in_region[f"shift-{march.id}@garde"]["STATUS"]) == "CANCELLED"


def test_expert_without_shifts_gets_an_empty_calendar(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        calendar = Calendar.from_ical(roster_calendar(s, add_expert(s), now=NOW))
    assert calendar.walk("VEVENT") == []
    assert str(calendar["VERSION"]) == "2.0"


def test_a_new_feed_revokes_the_previous_one(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        expert = add_expert(s)
        nights(s, expert)
        first = new_feed(s, expert)
        second = new_feed(s, expert)
        assert first.token != second.token and len(second.token) >= 43
        url = expert_feed_url(s, expert, "https://garde.example/")
    assert url == f"https://garde.example/feeds/{second.token}.ics"
    with sessions() as s:
        assert feed_calendar(s, first.token, region_timezone="Europe/Paris") is None
        served = feed_calendar(s, second.token, region_timezone="Europe/Paris", now=NOW)
        assert served is not None and len(events_of(served)) == 3
        assert feed_calendar(s, "no-such-token", region_timezone="Europe/Paris") is None
    with sessions.begin() as s:
        expert = s.get_one(Expert, expert.id)
        assert revoke_feed(s, expert) == 1
        assert expert_feed_url(s, expert, "https://garde.example") is None
    with sessions() as s:
        revoked = s.scalars(select(CalendarFeed).where(CalendarFeed.expert_id == expert.id))
        assert all(feed.revoked_at is not None for feed in revoked)


# Over HTTP, through the real web app


def test_feed_url_works_without_login_until_revoked(region: Region) -> None:
    alice = region.experts["alice"]
    r = region.stack.api(alice.token).post(f"/api/v1/experts/{alice.code}/feed")
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith(region.stack.env["GARDE_PUBLIC_URL"] + "/feeds/")
    path = url.removeprefix(region.stack.env["GARDE_PUBLIC_URL"])
    feed = requests.get(region.stack.url + path, timeout=10)
    assert feed.status_code == 200
    assert feed.headers["Content-Type"].startswith("text/calendar")
    assert feed.text.count("BEGIN:VEVENT") == 1  # alice's shift of the region fixture
    assert "BEGIN:VTIMEZONE" in feed.text and "TZID:Europe/Paris" in feed.text
    assert requests.get(region.stack.url + path, timeout=10).text == feed.text

    bruno = region.experts["bruno"]
    other = region.stack.api(bruno.token).post(f"/api/v1/experts/{alice.code}/feed")
    assert other.status_code == 403

    r = region.stack.api(alice.token).delete(f"/api/v1/experts/{alice.code}/feed")
    assert r.status_code == 200 and r.json()["revoked"] == 1
    gone = requests.get(region.stack.url + path, timeout=10)
    unknown = requests.get(region.stack.url + "/feeds/" + secrets.token_urlsafe(32) + ".ics")
    assert gone.status_code == unknown.status_code == 404
    assert alice.code not in gone.text


def test_region_feed_is_for_coordinators_and_names_the_experts(region: Region) -> None:
    coordinator = region.stack.api(region.coordinator_token)
    assert (
        region.stack.api(region.experts["alice"].token).post("/api/v1/feeds/region").status_code
        == 403
    )
    first = coordinator.post("/api/v1/feeds/region")
    second = coordinator.post("/api/v1/feeds/region")
    assert first.status_code == second.status_code == 201
    base = region.stack.env["GARDE_PUBLIC_URL"]
    old = requests.get(region.stack.url + first.json()["url"].removeprefix(base), timeout=10)
    assert old.status_code == 404
    path = second.json()["url"].removeprefix(base)
    text = requests.get(region.stack.url + path, timeout=10).text
    for name in ("alice", "bruno", "chloe"):
        assert re.search(rf"SUMMARY:Garde on call \(\w+\): Dr {name.title()}", text)
    assert coordinator.delete("/api/v1/feeds/region").json()["revoked"] == 1
    assert requests.get(region.stack.url + path, timeout=10).status_code == 404
