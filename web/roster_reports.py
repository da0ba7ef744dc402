"""What the roster gives the region: coverage (per site and modality, the hours without a
primary, drawn on a time bar and listed) and fairness (how the burden fell on each expert)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from flask import Blueprint, g, render_template, request
from sqlalchemy import select

from garde.domain import STAFF
from garde.errors import InvalidInput
from garde.models import Site, utcnow
from rosters.coverage import coverage
from rosters.fairness import ExpertFairness, fairness
from web import display
from web.access import roles
from web.roster_grid import Grid, Period, Row, day_ticks, gap_marks, gap_spans, period
from web.roster_pages import region_zone

bp = Blueprint("roster_reports", __name__, url_prefix="/coordinator")
display.install(bp)


@bp.get("/coverage")
@roles(*STAFF)
def coverage_page() -> str:
    """Per site and modality, the hours without a primary, drawn and listed."""
    zone = region_zone()
    today = utcnow().astimezone(zone).date()
    errors: dict[str, str] = {}
    first = _day_arg("from", today, errors)
    last = _day_arg("to", first + timedelta(days=6), errors)
    if last < first:
        errors["to"] = "must be on or after from"
    elif (last - first).days >= MAX_COVERAGE_DAYS:
        errors["to"] = f"the period lasts at most {MAX_COVERAGE_DAYS} days"
    site = None
    if request.args.get("site"):
        site = g.db.scalar(select(Site).where(Site.code == request.args["site"]))
        if site is None:
            errors["site"] = f"no site has the code {request.args['site']}"
    if errors:
        raise InvalidInput(errors)
    shown = Period("range", first, (last - first).days + 1, zone)
    found = coverage(g.db, shown.start, shown.end, site.id if site else None)
    rows = [Row(c.site.code, c.modality, gap_marks(c, shown)) for c in found]
    return render_template(
        "coordinator/coverage.html",
        grid=Grid(shown, day_ticks(shown, today), [], rows),
        found=found,
        sites=g.db.scalars(select(Site).order_by(Site.code)).all(),
        site=site,
        first=first,
        last=last,
        zone=zone,
        spans=gap_spans,
    )


MAX_COVERAGE_DAYS = 62


def _day_arg(name: str, default: date, errors: dict[str, str]) -> date:
    raw = request.args.get(name, "")
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = "must be a date, e.g. 2026-03-30"
        return default


@bp.get("/fairness")
@roles(*STAFF)
def fairness_page() -> str:
    """How the burden fell on each expert over a period: a table and a bar chart."""
    zone = region_zone()
    today = utcnow().astimezone(zone).date()
    errors: dict[str, str] = {}
    first = _day_arg("from", today.replace(day=1), errors)
    last = _day_arg("to", period("month", first, zone).last, errors)
    if last < first:
        errors["to"] = "must be on or after from"
    if errors:
        raise InvalidInput(errors)
    shown = Period("range", first, (last - first).days + 1, zone)
    rows = fairness(g.db, shown.start, shown.end)
    return render_template(
        "coordinator/fairness.html",
        rows=rows,
        first=first,
        last=last,
        chart=fairness_chart(rows),
    )


# What the chart compares, each scaled to the largest value among the experts.
METRICS = (
    ("hours", "Hours on duty", "h"),
    ("night_hours", "Night hours (20:00–08:00)", "h"),
    ("weekend_hours", "Weekend hours", "h"),
    ("holiday_hours", "Public holiday hours", "h"),
    ("reads", "Reads", ""),
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
                f"{round(v, 1):g}{' ' + unit if unit else ''}",
                round(100 * v / top, 1),
            )
            for r, v in zip(rows, values, strict=True)
        ]
        chart.append((key, title, bars))
    return chart
