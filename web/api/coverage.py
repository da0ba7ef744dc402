"""Coverage gaps per site and modality, and fairness per expert, over a period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, g, jsonify, request
from sqlalchemy import select

from garde.domain import STAFF
from garde.models import Site
from garde.validation import Fields
from rosters.coverage import coverage
from rosters.fairness import fairness
from rosters.intervals import Interval
from web.access import roles
from web.api import bp
from web.case_views import iso

COVERAGE_LONGEST = timedelta(days=62)
FAIRNESS_LONGEST = timedelta(days=366)


@bp.get("/coverage")
@roles(*STAFF)
def coverage_gaps() -> Response:
    f = Fields(request.args)
    start, end = _period(f, COVERAGE_LONGEST)
    site = None
    if request.args.get("site"):
        code = f.text("site", max_len=32)
        site = g.db.scalar(select(Site).where(Site.code == code))
        if site is None:
            f.fail("site", f"no site has the code {code}")
    f.check()
    assert start is not None and end is not None
    return jsonify(
        [
            {
                "site": c.site.code,
                "site_name": c.site.name,
                "timezone": c.site.timezone,
                "modality": c.modality,
                "no_primary": [_interval(i, c.site.timezone) for i in c.no_primary],
                "backup_only": [_interval(i, c.site.timezone) for i in c.backup_only],
            }
            for c in coverage(g.db, start, end, site.id if site else None)
        ]
    )


@bp.get("/fairness")
@roles(*STAFF)
def fairness_table() -> Response:
    f = Fields(request.args)
    start, end = _period(f, FAIRNESS_LONGEST)
    f.check()
    assert start is not None and end is not None
    return jsonify(
        [
            {
                "expert": row.expert.code,
                "name": row.expert.name,
                "timezone": row.expert.timezone,
                "hours": round(row.hours, 2),
                "primary_hours": round(row.primary_hours, 2),
                "backup_hours": round(row.backup_hours, 2),
                "night_hours": round(row.night_hours, 2),
                "weekend_hours": round(row.weekend_hours, 2),
                "holiday_hours": round(row.holiday_hours, 2),
                "reads": row.reads,
                "hours_share": round(row.hours_share, 4),
                "reads_share": round(row.reads_share, 4),
            }
            for row in fairness(g.db, start, end)
        ]
    )


def _period(f: Fields, longest: timedelta) -> tuple[datetime | None, datetime | None]:
    """`from` and `to`, instants with an offset, `to` after `from`, at most `longest` apart."""
    start, end = f.instant("from"), f.instant("to")
    if start and end:
        if end <= start:
            f.fail("to", "must be after from")
        elif end - start > longest:
            f.fail("to", f"must be at most {longest.days} days after from")
    return start, end


def _interval(interval: Interval, timezone: str) -> dict[str, Any]:
    zone = ZoneInfo(timezone)
    return {
        "start": iso(interval.start),
        "end": iso(interval.end),
        "start_local": interval.start.astimezone(zone).isoformat(),
        "end_local": interval.end.astimezone(zone).isoformat(),
        "hours": round(interval.duration.total_seconds() / 3600, 2),
    }
