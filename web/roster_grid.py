"""The roster grid a coordinator reads: experts as rows, the period's local days as columns,
each shift a bar placed by its real instants, so that the 23-hour day of a spring change is
narrower than the 25-hour day of an autumn one and a bar sits at its true local hour."""

from __future__ import annotations

import calendar
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask_babel import get_locale, gettext, lazy_gettext
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from garde.models import Expert, Override, Shift, Unavailability, expert_sites
from rosters.coverage import SiteCoverage
from rosters.intervals import local_instant, subtract
from web.display import number, word, zoned

VIEWS = ("week", "month")
WEEK_HOURS = (6, 12, 18)


@dataclass(frozen=True)
class Period:
    """The local days shown, from midnight of `first` to midnight after the last day."""

    view: str
    first: date
    days: int
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        return midnight(self.first + timedelta(days=self.days), self.zone)

    @property
    def previous(self) -> date:
        if self.view == "month":
            return (self.first - timedelta(days=1)).replace(day=1)
        return self.first - timedelta(days=self.days)

    @property
    def next(self) -> date:
        return self.first + timedelta(days=self.days)

    @property
    def last(self) -> date:
        return self.first + timedelta(days=self.days - 1)

    def place(self, start: datetime, end: datetime) -> tuple[float, float]:
        """Left edge and width, in percent of the period, clipped to it."""
        total = (self.end - self.start).total_seconds()
        left = max(0.0, (start - self.start).total_seconds() / total)
        right = min(1.0, (end - self.start).total_seconds() / total)
        return round(left * 100, 3), round(max(0.0, right - left) * 100, 3)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day begins (a day may last 23, 24 or 25 hours)."""
    return local_instant(day, time(0), zone)


def period(view: str, day: date, zone: ZoneInfo) -> Period:
    """The week (from Monday) or the month holding `day`."""
    if view == "month":
        first = day.replace(day=1)
        return Period(view, first, calendar.monthrange(first.year, first.month)[1], zone)
    return Period("week", day - timedelta(days=day.weekday()), 7, zone)


@dataclass(frozen=True)
class Tick:
    """A day or an hour on the time axis."""

    left: float
    width: float
    label: str
    css: str = ""


@dataclass(frozen=True)
class Mark:
    """A bar on a row: a shift (with its id, for its edit link), time off, or a gap."""

    left: float
    width: float
    css: str
    label: str
    title: str
    start: datetime
    end: datetime
    shift_id: int | None = None
    lane: int = 0


@dataclass(frozen=True)
class Row:
    label: str
    detail: str
    marks: list[Mark] = field(default_factory=list)
    # Spans drawn across the whole row, under its bars: time off, being replaced.
    backdrops: list[Mark] = field(default_factory=list)

    @property
    def lanes(self) -> int:
        return max((m.lane for m in self.marks), default=0) + 1


@dataclass(frozen=True)
class Span:
    """A span to draw on a coverage row, with the words of its kind."""

    start: datetime
    end: datetime
    css: str
    label: str


@dataclass(frozen=True)
class Grid:
    period: Period
    days: list[Tick]
    hours: list[Tick]
    experts: list[Row]
    # The width, in percent from the left, of the period already past: shaded.
    past: float = 0.0


def clock(value: datetime, zone: ZoneInfo) -> str:
    """'20' on the hour, '20:30' otherwise: bars are narrow."""
    local = value.astimezone(zone)
    return local.strftime("%H" if local.minute == 0 else "%H:%M")


def span_title(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """'Sat 28 Mar 20:00 CET – Sun 29 Mar 08:00 CEST (11 h)': both ends in the zone, in the
    reader's language."""
    hours = (end - start).total_seconds() / 3600
    pattern = "EEE dd MMM HH:mm"
    length = number(hours, 2, fixed=False)
    return f"{zoned(start, zone, pattern)} – {zoned(end, zone, pattern)} ({length} h)"


def day_ticks(p: Period, today: date) -> list[Tick]:
    ticks = []
    for n in range(p.days):
        day = p.first + timedelta(days=n)
        left, width = p.place(midnight(day, p.zone), midnight(day + timedelta(days=1), p.zone))
        label = format_date(day, "EEE dd" if p.view == "week" else "EEEEE d", get_locale())
        css = " ".join(
            c for c, on in (("weekend", day.weekday() >= 5), ("today", day == today)) if on
        )
        ticks.append(Tick(left, width, label, css))
    return ticks


def hour_ticks(p: Period) -> list[Tick]:
    """Local 06, 12 and 18 o'clock of each day of a week, where they really fall."""
    if p.view != "week":
        return []
    ticks = []
    for n in range(p.days):
        day = p.first + timedelta(days=n)
        for hour in WEEK_HOURS:
            at = local_instant(day, time(hour), p.zone)
            left, _ = p.place(at, at)
            ticks.append(Tick(left, 0, f"{hour:02d}"))
    return ticks


def laid_out(marks: Iterable[Mark]) -> list[Mark]:
    """Overlapping bars of one row go to separate lanes, so none hides another."""
    lanes: list[datetime] = []
    placed = []
    for m in sorted(marks, key=lambda m: (m.start, m.end)):
        lane = next((i for i, busy_until in enumerate(lanes) if busy_until <= m.start), None)
        if lane is None:
            lane = len(lanes)
            lanes.append(m.end)
        else:
            lanes[lane] = m.end
        placed.append(_with_lane(m, lane))
    return placed


def _with_lane(m: Mark, lane: int) -> Mark:
    return Mark(m.left, m.width, m.css, m.label, m.title, m.start, m.end, m.shift_id, lane)


def shift_mark(shift: Shift, p: Period) -> Mark:
    left, width = p.place(shift.start, shift.end)
    css = [f"tier-{shift.tier}", f"source-{shift.source}"]
    if shift.edited:
        css.append("edited")
    if shift.start < p.start:
        css.append("from-before")
    if shift.end > p.end:
        css.append("goes-on")
    source = word(shift.source, "source") + (gettext(", edited by hand") if shift.edited else "")
    title = f"{shift.expert.name}, {word(shift.tier, 'tier')} ({source}): " + span_title(
        shift.start, shift.end, p.zone
    )
    label = f"{clock(shift.start, p.zone)}–{clock(shift.end, p.zone)}"
    return Mark(left, width, " ".join(css), label, title, shift.start, shift.end, shift.id)


def interval_marks(intervals: Iterable[Span], p: Period, who: str = "") -> list[Mark]:
    marks = []
    for i in intervals:
        left, width = p.place(i.start, i.end)
        title = f"{who}{i.label}: {span_title(i.start, i.end, p.zone)}"
        marks.append(Mark(left, width, i.css, i.label, title, i.start, i.end))
    return marks


def past_width(p: Period, now: datetime) -> float:
    """How much of the period, from its left edge, lies before `now`."""
    return p.place(p.start, now)[1] if now > p.start else 0.0


def roster_grid(session: Session, p: Period, now: datetime, site_id: int | None = None) -> Grid:
    """Every active expert (credentialed at the site, when one is given), and any other with
    a shift in the period, with their shifts, time off and the times another replaces them."""
    shifts_query = select(Shift).where(Shift.start < p.end, Shift.end > p.start)
    if site_id is not None:
        credentialed = select(expert_sites.c.expert_id).where(expert_sites.c.site_id == site_id)
        shifts_query = shifts_query.where(Shift.expert_id.in_(credentialed))
    shifts = session.scalars(shifts_query.order_by(Shift.start, Shift.id)).all()
    rostered = {s.expert_id for s in shifts}
    experts_query = select(Expert).where(or_(Expert.active.is_(True), Expert.id.in_(rostered)))
    if site_id is not None:
        experts_query = experts_query.where(Expert.id.in_(credentialed))
    experts = session.scalars(experts_query.order_by(Expert.name, Expert.code)).all()
    shown = [e.id for e in experts]
    off = session.scalars(
        select(Unavailability).where(
            Unavailability.expert_id.in_(shown),
            Unavailability.start < p.end,
            Unavailability.end > p.start,
        )
    ).all()
    replaced = session.scalars(
        select(Override).where(
            Override.replaces_id.in_(shown), Override.start < p.end, Override.end > p.start
        )
    ).all()
    marks: dict[int, list[Mark]] = {e.id: [] for e in experts}
    backdrops: dict[int, list[Span]] = {e.id: [] for e in experts}
    for s in shifts:
        marks[s.expert_id].append(shift_mark(s, p))
    for u in off:
        label = gettext("off: %(reason)s", reason=u.reason) if u.reason else gettext("off")
        backdrops.setdefault(u.expert_id, []).append(Span(u.start, u.end, "unavailable", label))
    for o in replaced:
        label = gettext("replaced by %(name)s", name=o.expert.name)
        backdrops.setdefault(o.replaces_id, []).append(Span(o.start, o.end, "replaced", label))
    rows = [
        Row(
            e.name, e.code, laid_out(marks[e.id]), interval_marks(backdrops[e.id], p, f"{e.name}: ")
        )
        for e in experts
    ]
    today = now.astimezone(p.zone).date()
    return Grid(p, day_ticks(p, today), hour_ticks(p), rows, past_width(p, now))


GAP_KINDS = (("gap-none", lazy_gettext("nobody")), ("gap-backup", lazy_gettext("backup only")))


def gap_spans(found: SiteCoverage, since: datetime | None = None) -> list[Span]:
    """Nobody on duty, and backup only: the two kinds of hole in a site's coverage; only
    from `since` on, when given (a gap already over is no longer actionable)."""
    nobody = subtract(found.no_primary, found.backup_only)
    kinds = zip(GAP_KINDS, (nobody, found.backup_only), strict=True)
    return [
        Span(max(i.start, since) if since else i.start, i.end, css, str(label))
        for (css, label), intervals in kinds
        for i in intervals
        if since is None or i.end > since
    ]


def gap_marks(found: SiteCoverage, p: Period, since: datetime | None = None) -> list[Mark]:
    return laid_out(
        interval_marks(gap_spans(found, since), p, f"{found.site.code} {found.modality}, ")
    )


def site_gap_spans(found: Sequence[SiteCoverage], since: datetime) -> list[Span]:
    """A site's gaps (its modalities' coverage in `found`) merged across modalities: each
    span says which modalities it concerns ("nobody: CT, MR"); where that set changes the
    span is split."""
    modalities = [c.modality for c in found]
    pieces = [(s, c.modality) for c in found for s in gap_spans(c, since)]
    edges = sorted({t for s, _ in pieces for t in (s.start, s.end)})
    segments = []
    for css, label in GAP_KINDS:
        for a, b in itertools.pairwise(edges):
            held = {m for s, m in pieces if s.css == css and s.start <= a and s.end >= b}
            if held:
                words = f"{label}: " + ", ".join(m for m in modalities if m in held)
                segments.append(Span(a, b, css, words))
    merged: list[Span] = []
    for s in segments:
        last = merged[-1] if merged else None
        if last and (last.css, last.end, last.label) == (s.css, s.start, s.label):
            merged[-1] = Span(last.start, s.end, s.css, s.label)
        else:
            merged.append(s)
    return merged


def gap_rows(found: Iterable[SiteCoverage], p: Period, since: datetime) -> list[Row]:
    """One row per site with a hole in the period from `since` on, its modalities named on
    each bar."""
    by_site: dict[int, list[SiteCoverage]] = {}
    for c in found:
        by_site.setdefault(c.site.id, []).append(c)
    rows = []
    for coverages in by_site.values():
        site = coverages[0].site
        spans = site_gap_spans(coverages, since)
        if spans:
            marks = laid_out(interval_marks(spans, p, f"{site.code}, "))
            rows.append(Row(site.code, gettext("gaps"), marks))
    return rows
