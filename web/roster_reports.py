"""What the roster gives the region: coverage (per site and modality, the hours without a
primary, drawn on a time bar and listed) and fairness (how the burden fell on each expert)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from flask import Blueprint, g, render_template, request
from flask_babel import lazy_gettext
from pydantic import Field
from sqlalchemy import select

from garde.domain import STAFF
from garde.errors import InvalidInput
from garde.models import Site, utcnow
from garde.validation import Input, day, validated
from rosters.coverage import coverage
from rosters.fairness import ExpertFairness, fairness
from web import display
from web.access import roles
from web.roster_grid import (
    Grid,
    Period,
    Row,
    day_ticks,
    gap_marks,
    gap_spans,
    past_width,
    period,
)
from web.roster_pages import SITE_CODE, region_zone, site_arg

bp = Blueprint("roster_reports", __name__, url_prefix="/coordinator")
display.install(bp)


class PeriodQuery(Input):
    """Local days of the region, `from` to `to` included."""

    from_: Annotated[date | None, day(description="the first day")] = Field(None, alias="from")
    to: Annotated[date | None, day(description="the last day")] = None


class SitePeriodQuery(PeriodQuery):
    site: Annotated[str | None, SITE_CODE] = None


@bp.get("/coverage")
@roles(*STAFF)
def coverage_page() -> str:
    """Per site and modality, the hours without a primary, drawn and listed."""
    zone = region_zone()
    now = utcnow()
    today = now.astimezone(zone).date()
    query = validated(SitePeriodQuery, request.args)
    shown = local_days(query, today, lambda first: first + timedelta(days=6), COVERAGE_LONGEST)
    site = site_arg(query.site)
    found = coverage(g.db, shown.start, shown.end, site.id if site else None)
    # Gaps already over are hidden, unless the whole period is past.
    since = now if shown.end > now else None
    rows = [Row(c.site.code, c.modality, gap_marks(c, shown, since)) for c in found]
    return render_template(
        "coordinator/coverage.html",
        grid=Grid(shown, day_ticks(shown, today), [], rows, past_width(shown, now)),
        since=since,
        found=found,
        sites=g.db.scalars(select(Site).order_by(Site.code)).all(),
        site=site,
        first=shown.first,
        last=shown.last,
        zone=zone,
        spans=lambda c: gap_spans(c, since),
    )


@bp.get("/fairness")
@roles(*STAFF)
def fairness_page() -> str:
    """How the burden fell on each expert over a period: a table and a bar chart."""
    zone = region_zone()
    month = period("month", utcnow().astimezone(zone).date(), zone)
    shown = local_days(
        validated(PeriodQuery, request.args),
        month.first,
        lambda first: period("month", first, zone).last,
        FAIRNESS_LONGEST,
    )
    rows = fairness(g.db, shown.start, shown.end)
    return render_template(
        "coordinator/fairness.html",
        rows=rows,
        first=shown.first,
        last=shown.last,
        chart=fairness_chart(rows),
    )


COVERAGE_LONGEST = 62  # days, as GET /api/v1/coverage
FAIRNESS_LONGEST = 366


def local_days(
    query: PeriodQuery, first: date, last: Callable[[date], date], longest: int
) -> Period:
    """The local days `from`–`to` (inclusive) of the region; by default `first` to
    `last(from)`."""
    start = query.from_ or first
    end = query.to or last(start)
    if end < start:
        raise InvalidInput({"to": "must be on or after from"})
    if (end - start).days >= longest:
        raise InvalidInput({"to": f"the period lasts at most {longest} days"})
    return Period("range", start, (end - start).days + 1, region_zone())


# What the chart compares, each scaled to the largest value among the experts.
METRICS = (
    ("hours", lazy_gettext("Hours on duty"), "h"),
    ("night_hours", lazy_gettext("Night hours (20:00–08:00)"), "h"),
    ("weekend_hours", lazy_gettext("Weekend hours"), "h"),
    ("holiday_hours", lazy_gettext("Public holiday hours"), "h"),
    ("reads", lazy_gettext("Reads"), ""),
)


@dataclass(frozen=True)
class Bar:
    who: str
    shown: str
    percent: float


def fairness_chart(rows: Sequence[ExpertFairness]) -> list[tuple[str, str, list[Bar]]]:
    """Per metric (its key, its title), one bar per expert."""
    chart = []
    for key, title, unit in METRICS:
        values = [float(getattr(r, key)) for r in rows]
        top = max(values, default=0.0) or 1.0
        bars = [
            Bar(
                r.expert.name,
                display.number(v, 1, fixed=False) + (f" {unit}" if unit else ""),
                round(100 * v / top, 1),
            )
            for r, v in zip(rows, values, strict=True)
        ]
        chart.append((key, str(title), bars))
    return chart
