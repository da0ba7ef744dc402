"""Shifts imported from an expert's calendar file or a spreadsheet: dry run first, then all or
nothing, and importing the same file again changes nothing.

Calendar files (`text/calendar`) are read as Google Calendar, Outlook and Thunderbird write
them: times with a TZID and its VTIMEZONE (Outlook's Windows zone names included), in UTC,
or floating (read in the expert's zone); Google's X-WR-TIMEZONE; RRULE, RDATE, EXDATE and
moved instances expanded over the import window by `recurring-ical-events`. Each event
becomes a shift of the expert, at the import's tier, else the tier named in its CATEGORIES
(as Garde's own feeds write it), else primary. An event is identified by its UID, and an
instance of a recurring one by its UID and its recurrence instant: a shift imported before
is found again and left as is, or moved.

CSV files (`text/csv`, UTF-8, `,` or `;` between fields) have a header line naming columns:

- `start`, `end`: ISO 8601 with a UTC offset (`2027-03-27T20:00:00+01:00`, `…Z`), or local
  times (`2027-03-27 20:00`) of the zone in the `timezone` column;
- `timezone`: an IANA zone (`Europe/Paris`), needed only for local times;
- `expert`: the expert's code; may be left out when the import names the expert;
- `tier`: `primary` or `backup`; empty: the import's tier, else primary.

A CSV line is identified by its expert and start: importing it again finds the same shift.

Refused, with the event (UID, summary, start) or line number and the reason: all-day events,
local times the clocks skip or repeat, unknown zones, experts or tiers, bad dates, an end not
after the start, a shift over 48 hours, a shift overlapping another of the same expert.
A file that cannot be read at all (not iCalendar, no VEVENT, CSV without its columns) is
refused as a whole. With any refusal nothing is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import recurring_ical_events
from icalendar import Calendar, Component, Event, vDDDTypes
from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import ShiftSource, Tier
from garde.errors import InvalidInput
from garde.models import Expert, Shift, utcnow
from garde.validation import CONTROL, CONTROL_REASON
from rosters.shifts import MAX_SHIFT, describe, overlapping_shift

CALENDAR = "text/calendar"
CSV = "text/csv"
TOO_FREQUENT = {"SECONDLY", "MINUTELY", "HOURLY"}
NO_UID = "has no UID, so importing it again would add it twice"
# What icalendar, recurring-ical-events and zone lookups raise on a damaged file.
DAMAGED = (ValueError, TypeError, AttributeError, KeyError, OSError)


@dataclass(frozen=True)
class Window:
    """Recurring events are expanded over this interval; other events outside it are left."""

    start: datetime
    end: datetime

    @classmethod
    def default(cls, now: datetime | None = None) -> Window:
        now = now or utcnow()
        return cls(now - timedelta(days=1), now + timedelta(days=365))


@dataclass(frozen=True)
class ImportItem:
    """One event instance or CSV line, and what the import does with it."""

    uid: str | None = None
    summary: str = ""
    line: int | None = None
    expert: str = ""
    start: datetime | None = None
    end: datetime | None = None
    tier: str = ""
    reason: str = ""

    def __str__(self) -> str:
        what = (
            f"{self.expert} {self.tier} {self.start.isoformat()} → {self.end.isoformat()}"
            if self.start and self.end and not self.reason
            else ""
        )
        return f"{_where(self)}: {self.reason or what}"

    def as_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "summary": self.summary,
            "line": self.line,
            "expert": self.expert or None,
            "start": _utc_text(self.start),
            "end": _utc_text(self.end),
            "tier": self.tier or None,
            "reason": self.reason or None,
        }


def _utc_text(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


@dataclass
class ImportReport:
    created: list[ImportItem] = field(default_factory=list)
    changed: list[ImportItem] = field(default_factory=list)
    unchanged: list[ImportItem] = field(default_factory=list)
    refused: list[ImportItem] = field(default_factory=list)
    written: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "written": self.written,
            **{
                name: [item.as_json() for item in getattr(self, name)]
                for name in ("created", "changed", "unchanged", "refused")
            },
        }


@dataclass
class _Candidate:
    """A shift the file asks for; `key` finds it again on the next import."""

    item: ImportItem
    key: str
    expert: Expert
    start: datetime
    end: datetime
    tier: str


def import_shifts(
    session: Session,
    *,
    expert: Expert | None,
    tier: Tier | None,
    content_type: str,
    body: bytes,
    dry_run: bool,
    window: Window | None = None,
) -> ImportReport:
    """What importing `body` does; done (flushed, not committed) unless a dry run or refused."""
    kind = content_type.split(";")[0].strip().lower()
    if CONTROL.search(body.decode("utf-8", "replace")):  # its UIDs and codes are stored
        raise InvalidInput({"body": CONTROL_REASON})
    if kind == CALENDAR:
        if expert is None:
            raise InvalidInput({"expert": "is required to import a calendar file"})
        candidates, refused = _from_calendar(body, expert, tier, window or Window.default())
    elif kind == CSV:
        candidates, refused = _from_csv(session, body, expert, tier)
    else:
        raise InvalidInput({"Content-Type": f"must be {CALENDAR} or {CSV}"})
    report, to_create, to_change = _plan(session, candidates, refused)
    if not dry_run and not report.refused:
        _write(session, to_create, to_change)
        report.written = True
    return report


# Calendar files


def _from_calendar(
    body: bytes, expert: Expert, tier: Tier | None, window: Window
) -> tuple[list[_Candidate], list[ImportItem]]:
    try:
        calendar = Calendar.from_ical(body)
    except DAMAGED as e:
        raise InvalidInput({"body": f"not an iCalendar file ({_first_words(e)})"}) from None
    if not isinstance(calendar, Calendar):
        raise InvalidInput({"body": "not an iCalendar file (it must begin with BEGIN:VCALENDAR)"})
    components = calendar.events
    if not components:
        raise InvalidInput({"body": "the calendar has no event (VEVENT)"})
    refused: list[ImportItem] = []
    bad_uids: set[str] = set()
    for component in components:
        try:
            reason = _unreadable(component)
        except DAMAGED as e:
            reason = f"cannot be read ({_first_words(e)})"
        if reason:
            refused.append(_event_item(component, reason=reason))
            bad_uids.add(str(component.get("UID", "")))
    # A refused event leaves with all its instances; the rest is expanded.
    calendar.subcomponents = [
        c for c in calendar.subcomponents if str(c.get("UID", "")) not in bad_uids
    ]
    recurring = {
        str(c["UID"])
        for c in calendar.walk("VEVENT")
        if "RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c
    }
    zone = ZoneInfo(expert.timezone)
    try:
        occurrences = recurring_ical_events.of(calendar).between(window.start, window.end)
    except DAMAGED as e:
        reason = f"the calendar's recurrences cannot be read ({_first_words(e)})"
        raise InvalidInput({"body": reason}) from None
    candidates = []
    for occurrence in occurrences:
        if str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
            continue
        uid = str(occurrence.get("UID", ""))
        if not uid:  # an event nested where it should not be
            refused.append(_event_item(occurrence, reason=NO_UID))
            continue
        try:
            start = _instant(occurrence.decoded("DTSTART"), zone)
            end = _instant(occurrence.decoded("DTEND"), zone)
        except ValueError as e:
            refused.append(_event_item(occurrence, reason=str(e)))
            continue
        item_tier = tier or _tier_in_categories(occurrence) or Tier.PRIMARY
        item = _event_item(
            occurrence, expert=expert.code, start=start, end=end, tier=item_tier.value
        )
        reason = _bad_times(start, end)
        if reason:
            refused.append(replace(item, reason=reason))
            continue
        key = uid
        if uid in recurring:
            key += "#" + _instant_key(occurrence.decoded("RECURRENCE-ID"))
        candidates.append(_Candidate(item, _short(key), expert, start, end, item_tier.value))
    return candidates, refused


def _unreadable(event: Event) -> str | None:
    """Why an event cannot be imported at all, before expanding it; none when it can."""
    if event.errors:
        name, error = event.errors[0]
        return f"{name}: {error}"
    if "UID" not in event:
        return NO_UID
    if "DTSTART" not in event:
        return "has no start (DTSTART)"
    start = event.decoded("DTSTART")
    if not isinstance(start, datetime):
        return "is an all-day event: a shift needs a start and an end time"
    for name in ("DTSTART", "DTEND"):
        prop = event.get(name)
        if prop is not None and prop.params.get("TZID") and prop.dt.tzinfo is None:
            return f"{name}: unknown time zone {prop.params['TZID']} (no VTIMEZONE for it)"
    if "DTEND" not in event and "DURATION" not in event:
        return "has no end (DTEND or DURATION)"
    try:
        length = event.end - event.start
    except TypeError:
        return "one of start and end has a time zone and the other has not"
    if length <= timedelta(0):
        return "ends before it starts"
    rules = event.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules else []:
        if not rule.get("FREQ"):
            return "RRULE: has no FREQ"
        if set(rule["FREQ"]) & TOO_FREQUENT:
            return "repeats more often than daily"
    return None


def _first_words(error: Exception) -> str:
    """The parser's words, not the bytes of the file it quotes after them."""
    return str(error).split(":")[0][:200] or type(error).__name__


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError("is an all-day event: a shift needs a start and an end time")
    if value.tzinfo is None:
        return _local(value, zone)
    return value.astimezone(UTC)


def _instant_key(value: date | datetime) -> str:
    """The recurrence instant as text: UTC, or the wall-clock time when floating."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%dT%H%M%S")


def _tier_in_categories(event: Component) -> Tier | None:
    value = event.get("CATEGORIES")
    for categories in value if isinstance(value, list) else [value] if value else []:
        for category in categories.cats:
            if str(category).lower() in Tier.__members__.values():
                return Tier(str(category).lower())
    return None


def _event_item(event: Component, **fields: Any) -> ImportItem:
    if "start" not in fields:
        prop = event.get("DTSTART")
        start = prop.dt if isinstance(prop, vDDDTypes) else None  # none when unreadable
        if isinstance(start, datetime) and start.tzinfo is not None:
            fields["start"] = start.astimezone(UTC)
    return ImportItem(
        uid=str(event.get("UID", "")) or None, summary=str(event.get("SUMMARY", "")), **fields
    )


# CSV files


def _from_csv(
    session: Session, body: bytes, expert: Expert | None, tier: Tier | None
) -> tuple[list[_Candidate], list[ImportItem]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput({"body": "the CSV must be UTF-8 text"}) from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = {(name or "").strip().lower() for name in reader.fieldnames or []}
    needed = ["start", "end"] + ([] if expert else ["expert"])
    missing = [name for name in needed if name not in columns]
    if missing:
        raise InvalidInput(
            {
                "body": f"the CSV has no column {', '.join(missing)} (its header line names "
                "expert, start, end, tier, timezone)"
            }
        )
    try:
        rows = [
            (reader.line_num, {str(k or "").strip().lower(): _cell(v) for k, v in row.items()})
            for row in reader
        ]
    except csv.Error as e:
        reason = f"the CSV cannot be read (line {reader.line_num}: {e})"
        raise InvalidInput({"body": reason}) from None
    rows = [(line, row) for line, row in rows if any(row.values())]
    if not rows:
        raise InvalidInput({"body": "the CSV has no shift under its header line"})
    codes = {row.get("expert") for _, row in rows} - {None, ""}
    experts = {e.code: e for e in session.scalars(select(Expert).where(Expert.code.in_(codes)))}
    if expert:
        experts[expert.code] = expert
    candidates, refused = [], []
    for line, row in rows:
        candidate = _csv_line(line, row, expert, tier, experts)
        if isinstance(candidate, _Candidate):
            candidates.append(candidate)
        else:
            refused.append(candidate)
    return candidates, refused


def _cell(value: str | list[str] | None) -> str:
    """A cell's text; cells beyond the header's columns (a list) are left out."""
    return value.strip() if isinstance(value, str) else ""


def _csv_line(
    line: int,
    row: dict[str, str],
    expert: Expert | None,
    tier: Tier | None,
    experts: dict[str, Expert],
) -> _Candidate | ImportItem:
    errors: list[str] = []
    code = row.get("expert") or (expert.code if expert else "")
    if expert and code != expert.code:
        errors.append(f"expert: this import is for {expert.code}")
    elif code not in experts:
        errors.append(f"expert: no expert has the code {code}" if code else "expert: is required")
    line_tier = tier
    if row.get("tier"):
        try:
            line_tier = Tier(row["tier"].lower())
        except ValueError:
            errors.append("tier: must be primary or backup")
    zone: ZoneInfo | None = None
    if row.get("timezone"):
        try:
            zone = ZoneInfo(row["timezone"])
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder
            errors.append(f"timezone: {row['timezone']} is not a known IANA time zone")
    times: dict[str, datetime] = {}
    for name in ("start", "end"):
        try:
            times[name] = _csv_time(row.get(name, ""), zone)
        except ValueError as e:
            errors.append(f"{name}: {e}")
    start, end = times.get("start"), times.get("end")
    if start and end:
        reason = _bad_times(start, end)
        if reason:
            errors.append(reason)
    item = ImportItem(
        line=line,
        expert=code,
        start=start,
        end=end,
        tier=(line_tier or Tier.PRIMARY).value,
        reason="; ".join(errors),
    )
    if errors:
        return item
    assert start and end
    key = f"csv#{start.strftime('%Y%m%dT%H%M%SZ')}"
    return _Candidate(item, key, experts[code], start, end, item.tier)


def _csv_time(raw: str, zone: ZoneInfo | None) -> datetime:
    if not raw:
        raise ValueError("is required")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{raw} is not an ISO 8601 date and time") from None
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    if zone is None:
        raise ValueError(f"{raw} needs a UTC offset, or a zone in the timezone column")
    return _local(value, zone)


# Both


def _local(wall: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time of `zone` as a UTC instant; refused where the clocks skip or repeat."""
    earlier, later = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier.astimezone(UTC)
    shown = f"{wall:%Y-%m-%d %H:%M}"
    if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        raise ValueError(f"{shown} happens twice in {zone.key} (clocks go back): give the offset")
    raise ValueError(f"{shown} does not exist in {zone.key} (clocks go forward)")


def _bad_times(start: datetime, end: datetime) -> str | None:
    if end <= start:
        return "end: must be after start"
    if end - start > MAX_SHIFT:
        return "end: a shift lasts at most 48 hours"
    return None


def _short(key: str) -> str:
    """Keys fit the column; a longer one (UIDs have no limit) is kept as its digest."""
    return key if len(key) <= 255 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _plan(
    session: Session, candidates: list[_Candidate], refused: list[ImportItem]
) -> tuple[ImportReport, list[_Candidate], list[tuple[_Candidate, Shift]]]:
    """Sorts the candidates into created, changed, unchanged and refused: the report, the
    shifts to create and those to move."""
    report = ImportReport(refused=list(refused))
    if not candidates:
        return report, [], []
    existing = {
        (shift.expert_id, shift.import_uid): shift
        for shift in session.scalars(
            select(Shift).where(
                Shift.expert_id.in_({c.expert.id for c in candidates}),
                Shift.import_uid.in_({c.key for c in candidates}),
            )
        )
    }
    seen: set[tuple[int, str]] = set()
    kept: list[_Candidate] = []
    for candidate in candidates:
        ident = (candidate.expert.id, candidate.key)
        shift = existing.get(ident)
        if ident in seen:
            report.refused.append(replace(candidate.item, reason="appears twice in the file"))
        elif shift is not None and shift.edited:
            report.unchanged.append(
                replace(candidate.item, reason="edited by hand since: left as it is")
            )
        elif shift is not None and (shift.start, shift.end, shift.tier) == (
            candidate.start,
            candidate.end,
            candidate.tier,
        ):
            report.unchanged.append(candidate.item)
        else:
            kept.append(candidate)
        seen.add(ident)
    moving = {existing[(c.expert.id, c.key)].id for c in kept if (c.expert.id, c.key) in existing}
    overlapping = _overlaps(session, kept, moving)
    to_create, to_change = [], []
    for candidate in kept:
        shift = existing.get((candidate.expert.id, candidate.key))
        if id(candidate) in overlapping:
            report.refused.append(replace(candidate.item, reason=overlapping[id(candidate)]))
        elif shift is not None:
            report.changed.append(candidate.item)
            to_change.append((candidate, shift))
        else:
            report.created.append(candidate.item)
            to_create.append(candidate)
    return report, to_create, to_change


def _overlaps(session: Session, kept: list[_Candidate], moving: set[int]) -> dict[int, str]:
    """Why each candidate overlapping another shift of its expert is refused (by id of the
    candidate): a roster shift (those this import moves are compared at their new times, as
    candidates), or an earlier candidate of the file."""
    reasons = {}
    for candidate in kept:
        other = overlapping_shift(
            session, candidate.expert.id, candidate.start, candidate.end, moving
        )
        if other is not None:
            reasons[id(candidate)] = describe(other, candidate.expert)
    latest: _Candidate | None = None
    for candidate in sorted(kept, key=lambda c: (c.expert.id, c.start, c.end)):
        if latest and latest.expert.id == candidate.expert.id and candidate.start < latest.end:
            reasons.setdefault(id(candidate), f"overlaps {_where(latest.item)} of this file")
        if latest is None or latest.expert.id != candidate.expert.id or candidate.end > latest.end:
            latest = candidate
    return reasons


def _where(item: ImportItem) -> str:
    if item.line is not None:
        return f"line {item.line}"
    start = item.start.isoformat() if item.start else ""
    return f"event {item.summary or item.uid} at {start}"


def _write(
    session: Session, to_create: list[_Candidate], to_change: list[tuple[_Candidate, Shift]]
) -> None:
    for candidate in to_create:
        session.add(
            Shift(
                expert_id=candidate.expert.id,
                start=candidate.start,
                end=candidate.end,
                tier=candidate.tier,
                source=ShiftSource.IMPORT.value,
                import_uid=candidate.key,
            )
        )
    for candidate, shift in to_change:
        shift.start, shift.end, shift.tier = candidate.start, candidate.end, candidate.tier
    session.flush()
