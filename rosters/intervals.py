"""Half-open intervals of instants, [start, end), and the few operations rosters need.

Half-open so that a shift ending at 08:00 and the next starting at 08:00 leave no gap and
do not overlap. Lists are kept sorted and disjoint (`union` makes them so); times are aware and in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, order=True)
class Interval:
    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        """Real elapsed time: aware datetimes subtract in UTC, so DST nights come out 11 h
        or 13 h."""
        return self.end - self.start


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, touching intervals merged; empty ones dropped."""
    merged: list[Interval] = []
    for i in sorted(i for i in intervals if i.end > i.start):
        if merged and i.start <= merged[-1].end:
            if i.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, i.end)
        else:
            merged.append(i)
    return merged


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The instants in both."""
    left, right = union(a), union(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i].start, right[j].start)
        end = min(left[i].end, right[j].end)
        if start < end:
            out.append(Interval(start, end))
        if left[i].end < right[j].end:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The instants of `a` not in `b`."""
    out: list[Interval] = []
    holes = union(b)
    for piece in union(a):
        start = piece.start
        for hole in holes:
            if hole.end <= start or hole.start >= piece.end:
                continue
            if hole.start > start:
                out.append(Interval(start, hole.start))
            start = max(start, hole.end)
        if start < piece.end:
            out.append(Interval(start, piece.end))
    return out


def total(intervals: Iterable[Interval]) -> timedelta:
    return sum((i.duration for i in union(intervals)), timedelta(0))


def local_days(start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[date]:
    """Every local date of `zone` that [start, end) touches, and the day before (a night
    starting then may reach into the period)."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time of a local date as a UTC instant (the first of a repeated hour; a
    skipped hour's time is read with the offset before the change, as zoneinfo does).

    In UTC because Python compares and subtracts two datetimes of the same zone by their
    wall clocks, which would make every DST night 12 hours long."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_span(first: date, last: date, zone: ZoneInfo) -> Interval:
    """From the start of local date `first` to the end of local date `last` (inclusive)."""
    return Interval(
        local_instant(first, time(0), zone), local_instant(last + timedelta(days=1), time(0), zone)
    )
