"""Importing shifts from calendar files as Google Calendar, Outlook and Thunderbird write them,
and from CSV: exact instants across daylight-saving changes, refusals with their event or line
and reason, dry run and all or nothing, idempotent again, and the round trip from Garde's own
export. On both databases, and over HTTP through the real web app."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from garde.db import SessionFactory
from garde.domain import ShiftSource, Tier
from garde.errors import InvalidInput
from garde.models import Expert, Shift
from rosters.ical import roster_calendar
from rosters.importing import ImportReport, Window, import_shifts
from tests.conftest import Region
from tests.french import ENGLISH, in_french
from tests.phones import mobile

CALENDARS = Path(__file__).parent / "calendars"
WINDOW = Window(datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
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


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def ics(name: str) -> bytes:
    return (CALENDARS / name).read_bytes()


def run(
    sessions: SessionFactory,
    expert_id: int | None,
    body: bytes,
    *,
    kind: str = "text/calendar",
    dry_run: bool = False,
    tier: Tier | None = None,
) -> ImportReport:
    """One import in its own transaction, committed unless refused, as the API does."""
    with sessions() as s:
        report = import_shifts(
            s,
            expert=s.get_one(Expert, expert_id) if expert_id else None,
            tier=tier,
            content_type=kind,
            body=body,
            dry_run=dry_run,
            window=WINDOW,
        )
        if report.written:
            s.commit()
    return report


def shifts_of(sessions: SessionFactory, expert_id: int) -> list[tuple[datetime, datetime, str]]:
    with sessions() as s:
        return [
            (shift.start, shift.end, shift.tier)
            for shift in s.scalars(
                select(Shift).where(Shift.expert_id == expert_id).order_by(Shift.start)
            )
        ]


def new_expert(sessions: SessionFactory, zone: str = "Europe/Paris") -> int:
    with sessions.begin() as s:
        return add_expert(s, zone).id


def test_google_export_weekly_with_exdate_moved_instance_and_utc(
    sessions: SessionFactory,
) -> None:
    expert = new_expert(sessions)
    report = run(sessions, expert, ics("google.ics"))
    assert report.written and not report.refused
    assert len(report.created) == 5
    assert shifts_of(sessions, expert) == [
        (utc(2027, 3, 1, 19), utc(2027, 3, 2, 7), "primary"),  # Mondays 20:00–08:00 Paris
        (utc(2027, 3, 8, 19), utc(2027, 3, 9, 7), "primary"),
        # 15 March is an EXDATE; 22 March was moved to 21:00
        (utc(2027, 3, 22, 20), utc(2027, 3, 23, 7), "primary"),
        # Saturday in UTC (Z), the night clocks go forward: 11 hours
        (utc(2027, 3, 27, 19), utc(2027, 3, 28, 6), "primary"),
        # summer time from 28 March: 20:00 Paris is 18:00 UTC
        (utc(2027, 3, 29, 18), utc(2027, 3, 30, 6), "primary"),
    ]
    with sessions() as s:
        keys = set(s.scalars(select(Shift.import_uid).where(Shift.expert_id == expert)))
        sources = set(s.scalars(select(Shift.source).where(Shift.expert_id == expert)))
    assert sources == {ShiftSource.IMPORT.value}
    assert "0b8r5s2t7u1w3y9x6q4p2o0n8m@google.com" in keys
    # an instance of a recurring event: its UID and its original instant
    assert "4q1f2v9k3l8m7n6b5v4c3x2z1a@google.com#20270322T190000Z" in keys


def test_outlook_windows_zone_and_rdate(sessions: SessionFactory) -> None:
    expert = new_expert(sessions)
    report = run(sessions, expert, ics("outlook.ics"), tier=Tier.BACKUP)
    assert report.written and not report.refused
    assert shifts_of(sessions, expert) == [
        # "Romance Standard Time" read from its VTIMEZONE: the night clocks go back, 13 hours
        (utc(2027, 10, 30, 18), utc(2027, 10, 31, 7), "backup"),
        (utc(2027, 11, 6, 19), utc(2027, 11, 7, 7), "backup"),  # the RDATE
    ]


def test_thunderbird_zone_and_floating_times_in_the_experts_zone(
    sessions: SessionFactory,
) -> None:
    in_paris, in_martinique = new_expert(sessions), new_expert(sessions, "America/Martinique")
    for expert in (in_paris, in_martinique):
        report = run(sessions, expert, ics("thunderbird.ics"))
        assert report.written and not report.refused
    europe_paris = (utc(2027, 3, 27, 19), utc(2027, 3, 28, 6), "primary")
    assert shifts_of(sessions, in_paris) == [
        europe_paris,
        (utc(2027, 10, 30, 18), utc(2027, 10, 31, 7), "primary"),  # floating, Paris: 13 h
    ]
    assert shifts_of(sessions, in_martinique) == [
        europe_paris,  # its TZID holds whoever imports it
        (utc(2027, 10, 31, 0), utc(2027, 10, 31, 12), "primary"),  # floating, UTC−4: 12 h
    ]


def test_all_day_event_is_refused_and_nothing_is_written(sessions: SessionFactory) -> None:
    expert = new_expert(sessions)
    report = run(sessions, expert, ics("outlook_all_day.ics"))
    assert not report.written
    assert [(item.summary, item.reason) for item in report.refused] == [
        ("Congrès JFR", "is an all-day event: a shift needs a start and an end time")
    ]
    assert len(report.created) == 1  # the night would be fine on its own
    assert shifts_of(sessions, expert) == []


def calendar_with(*events: str) -> bytes:
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *events])
    return (body + "\r\nEND:VCALENDAR\r\n").encode()


def event(uid: str, *lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", f"SUMMARY:{uid}", *lines, "END:VEVENT"])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"Subject: not a calendar\r\n\r\nhello", "not an iCalendar file"),
        (ics("google.ics")[:1500], "not an iCalendar file"),  # cut off in the middle
        (calendar_with(), "the calendar has no event (VEVENT)"),
        (ics("thunderbird.ics").replace(b"VCALENDAR", b"VCALENDR"), "not an iCalendar file"),
        (b"", "not an iCalendar file"),
    ],
)
def test_broken_calendar_files_are_refused_and_nothing_changes(
    sessions: SessionFactory, body: bytes, reason: str
) -> None:
    expert = new_expert(sessions)
    assert run(sessions, expert, ics("thunderbird.ics")).written
    before = shifts_of(sessions, expert)
    with pytest.raises(InvalidInput) as refused:
        run(sessions, expert, body)
    assert refused.value.fields["body"].startswith(reason)
    assert shifts_of(sessions, expert) == before


def bad_events() -> tuple[str, ...]:
    """Events refused each for its own reason (their UIDs say which)."""
    return (
        event("backwards", "DTSTART:20270610T200000Z", "DTEND:20270610T080000Z"),
        event("too-long", "DTSTART:20270701T080000Z", "DTEND:20270703T090000Z"),
        event("mars", "DTSTART;TZID=Mars/Olympus:20270801T200000", "DTEND:20270802T080000"),
        event("no-end", "DTSTART:20270901T200000Z"),
        event("gap", "DTSTART:20270328T023000", "DTEND:20270328T080000"),
        event("twice", "DTSTART:20271031T023000", "DTEND:20271031T080000"),
        event("hourly", "DTSTART:20270501T080000Z", "DTEND:20270501T083000Z", "RRULE:FREQ=HOURLY"),
    )


def bad_lines(code: str) -> bytes:
    """A CSV of `code`'s shifts: line 2 good, 3 to 8 refused each for its reasons (6 blank)."""
    return (
        "expert,start,end,tier,timezone\n"
        f"{code},2027-05-01T20:00:00+02:00,2027-05-02T08:00:00+02:00,primary,\n"
        f"{code},2027-05-02 20:00,2027-05-03 08:00,primary,\n"
        f"DR-NOBODY,2027-05-03T20:00:00+02:00,2027-05-04T08:00:00+02:00,primary,\n"
        f"{code},2027-05-04T20:00:00+02:00,2027-05-04T08:00:00+02:00,chief,\n"
        "\n"
        f"{code},yesterday,2027-05-06T08:00:00+02:00,,Europe/Lutetia\n"
        f"{code},2027-05-01T22:00:00+02:00,2027-05-02T06:00:00+02:00,backup,\n"
    ).encode()


def test_a_windows_zone_without_its_vtimezone_is_known_by_name(sessions: SessionFactory) -> None:
    expert = new_expert(sessions)
    report = run(
        sessions,
        expert,
        calendar_with(
            event(
                "outlook-web",
                "DTSTART;TZID=W. Europe Standard Time:20270327T200000",
                "DTEND;TZID=W. Europe Standard Time:20270328T080000",
            )
        ),
    )
    assert report.written and not report.refused
    assert shifts_of(sessions, expert) == [(utc(2027, 3, 27, 19), utc(2027, 3, 28, 6), "primary")]


def test_bad_events_are_refused_each_with_its_reason(sessions: SessionFactory) -> None:
    expert = new_expert(sessions)
    good = event("good", "DTSTART:20270601T180000Z", "DTEND:20270602T060000Z")
    report = run(
        sessions,
        expert,
        calendar_with(
            good,
            event("bad-date", "DTSTART:20271345T200000", "DTEND:20271346T080000"),
            *bad_events(),
        ),
    )
    reasons = {item.uid: item.reason for item in report.refused}
    assert reasons == {
        "bad-date": "DTSTART: Wrong datetime format: 20271345T200000",
        "backwards": "ends before it starts",
        "too-long": "end: a shift lasts at most 48 hours",
        "mars": "DTSTART: unknown time zone Mars/Olympus (no VTIMEZONE for it)",
        "no-end": "has no end (DTEND or DURATION)",
        "gap": "2027-03-28 02:30 does not exist in Europe/Paris (clocks go forward)",
        "twice": "2027-10-31 02:30 happens twice in Europe/Paris (clocks go back): give the offset",
        "hourly": "repeats more often than daily",
    }
    assert [item.uid for item in report.created] == ["good"]
    assert not report.written and shifts_of(sessions, expert) == []


def test_dry_run_writes_nothing_then_import_then_again_changes_nothing(
    sessions: SessionFactory,
) -> None:
    expert = new_expert(sessions)
    dry = run(sessions, expert, ics("google.ics"), dry_run=True)
    assert len(dry.created) == 5 and not dry.written
    assert shifts_of(sessions, expert) == []
    done = run(sessions, expert, ics("google.ics"))
    assert [str(i) for i in done.created] == [str(i) for i in dry.created]
    after = shifts_of(sessions, expert)
    again = run(sessions, expert, ics("google.ics"))
    assert (len(again.unchanged), again.created, again.changed, again.refused) == (5, [], [], [])
    assert shifts_of(sessions, expert) == after

    # Google writes the moved instance again, moved one more hour: that shift moves.
    moved = ics("google.ics").replace(
        b"DTSTART;TZID=Europe/Paris:20270322T210000", b"DTSTART;TZID=Europe/Paris:20270322T220000"
    )
    changed = run(sessions, expert, moved)
    assert len(changed.changed) == 1 and len(changed.unchanged) == 4 and not changed.created
    assert changed.changed[0].start == utc(2027, 3, 22, 21)
    assert len(shifts_of(sessions, expert)) == 5
    assert (utc(2027, 3, 22, 21), utc(2027, 3, 23, 7), "primary") in shifts_of(sessions, expert)


def test_an_event_over_an_existing_shift_is_refused(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        expert = add_expert(s)
        s.add(
            Shift(expert=expert, start=utc(2027, 3, 8, 20), end=utc(2027, 3, 9, 8), tier="backup")
        )
    report = run(sessions, expert.id, ics("google.ics"))
    assert not report.written
    [refused] = report.refused
    assert refused.start == utc(2027, 3, 8, 19)
    assert refused.reason.startswith(f"{expert.code} already has a shift from 2027-03-08T21:00")
    assert len(shifts_of(sessions, expert.id)) == 1


CSV_OK = (
    "expert,start,end,tier,timezone\n"
    "{code},2027-03-27T20:00:00+01:00,2027-03-28T08:00:00+02:00,primary,\n"
    "{code},2027-10-30 20:00,2027-10-31 08:00,backup,Europe/Paris\n"
    "{code},2027-11-02T07:00:00Z,2027-11-02T19:00:00Z,,\n"
)


def test_csv_with_offsets_or_local_times(sessions: SessionFactory) -> None:
    expert = new_expert(sessions)
    with sessions() as s:
        code = s.get_one(Expert, expert).code
    body = CSV_OK.format(code=code).encode("utf-8-sig")  # with the BOM spreadsheets write
    report = run(sessions, None, body, kind="text/csv; charset=utf-8")
    assert report.written and len(report.created) == 3
    assert shifts_of(sessions, expert) == [
        (utc(2027, 3, 27, 19), utc(2027, 3, 28, 6), "primary"),
        (utc(2027, 10, 30, 18), utc(2027, 10, 31, 7), "backup"),
        (utc(2027, 11, 2, 7), utc(2027, 11, 2, 19), "primary"),
    ]
    # A French spreadsheet: semicolons, no expert column, the import names the expert.
    semicolons = "start;end;tier;timezone\n2027-10-30 20:00;2027-10-31 08:00;backup;Europe/Paris\n"
    again = run(sessions, expert, semicolons.encode(), kind="text/csv")
    assert len(again.unchanged) == 1 and not (again.created or again.changed or again.refused)


def test_csv_bad_lines_are_refused_with_their_line_numbers(sessions: SessionFactory) -> None:
    expert = new_expert(sessions)
    with sessions() as s:
        code = s.get_one(Expert, expert).code
    report = run(sessions, None, bad_lines(code), kind="text/csv")
    assert {item.line: item.reason for item in report.refused} == {
        3: "start: 2027-05-02 20:00 needs a UTC offset, or a zone in the timezone column; "
        "end: 2027-05-03 08:00 needs a UTC offset, or a zone in the timezone column",
        4: "expert: no expert has the code DR-NOBODY",
        5: "tier: must be primary or backup; end: must be after start",
        7: "timezone: Europe/Lutetia is not a known IANA time zone; "
        "start: yesterday is not an ISO 8601 date and time",
        8: "overlaps line 2 of this file",
    }
    assert [item.line for item in report.created] == [2]
    assert not report.written and shifts_of(sessions, expert) == []


def test_every_refusal_of_an_import_reads_in_french(sessions: SessionFactory) -> None:
    """A French coordinator previewing an import reads why each event or line is refused in
    French (the import page passes them through web/reasons.py), values kept."""
    expert = new_expert(sessions)
    with sessions() as s:
        code = s.get_one(Expert, expert).code
    english = [item.reason for item in run(sessions, expert, calendar_with(*bad_events())).refused]
    csv = run(sessions, None, bad_lines(code), kind="text/csv")
    english += [item.reason for item in csv.refused]
    for body in (b"start,end\n", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"):
        with pytest.raises(InvalidInput) as refused:
            run(sessions, expert, body, kind="text/csv" if b"," in body else "text/calendar")
        english.append(refused.value.fields["body"])
    french = in_french(english)

    assert len(french) == 14, english
    assert "end\u00a0: un créneau dure au plus 48 heures" in french
    assert "2027-03-28 02:30 n'existe pas en Europe/Paris (passage à l'heure d'été)" in french
    assert (
        "tier\u00a0: doit être primary ou backup\u00a0; end\u00a0: doit être après le début"
        in french
    ), french
    assert "chevauche la ligne 2 de ce fichier" in french
    left_in_english = [f for f in french if ENGLISH.search(f)]
    assert not left_in_english, "\n".join(left_in_english)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"begin,finish\n2027-05-01T20:00:00Z,2027-05-02T08:00:00Z\n", "the CSV has no column"),
        (b"start,end\n", "the CSV has no shift under its header line"),
        ("start,end\n2027-05-01 20:00,é".encode("latin-1"), "the CSV must be UTF-8 text"),
    ],
)
def test_broken_csv_files_are_refused(sessions: SessionFactory, body: bytes, reason: str) -> None:
    expert = new_expert(sessions)
    with pytest.raises(InvalidInput) as refused:
        run(sessions, expert, body, kind="text/csv")
    assert refused.value.fields["body"].startswith(reason)
    assert shifts_of(sessions, expert) == []


def test_round_trip_export_then_import_gives_the_same_shifts(sessions: SessionFactory) -> None:
    def paris(day: datetime, hour: int) -> datetime:
        return day.replace(hour=hour, tzinfo=PARIS).astimezone(UTC)

    with sessions.begin() as s:
        source = add_expert(s)
        for day, tier in [
            (datetime(2027, 3, 26), "backup"),
            (datetime(2027, 3, 27), "primary"),  # clocks go forward: 11 hours
            (datetime(2027, 10, 30), "backup"),  # clocks go back: 13 hours
            (datetime(2027, 10, 31), "primary"),
        ]:
            start = paris(day, 20)
            end = paris(day + timedelta(days=1), 8)
            s.add(Shift(expert=source, start=start, end=end, tier=tier))
    with sessions() as s:
        exported = roster_calendar(s, s.get_one(Expert, source.id), now=utc(2027, 3, 1, 0))
    target = new_expert(sessions, "America/Martinique")
    report = run(sessions, target, exported)
    assert report.written and len(report.created) == 4
    assert shifts_of(sessions, target) == shifts_of(sessions, source.id)
    hours = [(end - start) / timedelta(hours=1) for start, end, _ in shifts_of(sessions, target)]
    assert hours == [12, 11, 13, 12]
    again = run(sessions, target, exported)
    assert len(again.unchanged) == 4 and not again.created


# Over HTTP, through the real web app


def test_http_import_dry_run_then_all_or_nothing(region: Region) -> None:
    coordinator = region.stack.api(region.coordinator_token)
    alice = region.experts["alice"]
    window = {"from": "2027-01-01T00:00:00Z", "to": "2028-01-01T00:00:00Z"}

    def count() -> int:
        with region.stack.sessions() as s:
            return (
                s.scalar(select(func.count()).select_from(Shift).where(Shift.expert_id == alice.id))
                or 0
            )

    before = count()
    url = "/api/v1/shifts/import"
    headers = {"Content-Type": "text/calendar"}
    dry = coordinator.post(
        url,
        params={"expert": alice.code, "dry_run": "1", **window},
        data=ics("google.ics"),
        headers=headers,
    )
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and dry.json()["written"] is False
    assert len(dry.json()["created"]) == 5 and count() == before

    as_expert = region.stack.api(alice.token).post(
        url, params={"expert": alice.code, **window}, data=ics("google.ics"), headers=headers
    )
    assert as_expert.status_code == 403

    done = coordinator.post(
        url, params={"expert": alice.code, **window}, data=ics("google.ics"), headers=headers
    )
    assert done.status_code == 200, done.text
    assert done.json()["written"] is True and count() == before + 5
    again = coordinator.post(
        url, params={"expert": alice.code, **window}, data=ics("google.ics"), headers=headers
    )
    assert again.status_code == 200 and len(again.json()["unchanged"]) == 5
    assert count() == before + 5

    refused = coordinator.post(
        url,
        params={"expert": alice.code, **window},
        data=ics("outlook_all_day.ics"),
        headers=headers,
    )
    assert refused.status_code == 400
    [item] = refused.json()["detail"]["refused"]
    assert item["summary"] == "Congrès JFR" and "all-day" in item["reason"]
    assert count() == before + 5

    broken = coordinator.post(
        url,
        params={"expert": alice.code},
        data=b"expert,start\n",
        headers={"Content-Type": "text/csv"},
    )
    assert broken.status_code == 400
    assert broken.json()["detail"]["body"].startswith("the CSV has no column end")
    bad_window = coordinator.post(
        url,
        params={"expert": alice.code, "from": window["to"], "to": window["from"]},
        data=ics("google.ics"),
        headers=headers,
    )
    assert bad_window.status_code == 400 and "to" in bad_window.json()["detail"]
    assert count() == before + 5
