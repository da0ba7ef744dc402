"""Coverage gaps per site and modality, and fairness per expert, over a period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

from flask import Response, g, jsonify, request
from pydantic import Field, RootModel, ValidationInfo, field_validator
from sqlalchemy import select

from garde.domain import STAFF
from garde.errors import InvalidInput
from garde.models import Site
from garde.validation import Input, instant, text, validated
from rosters.coverage import coverage
from rosters.fairness import fairness
from rosters.intervals import Interval
from web.access import roles
from web.api import bp
from web.api.describe import Answer, operation
from web.case_views import iso


class PeriodQuery(Input):
    """`from` and `to`, instants with an offset, `to` after `from`, at most LONGEST apart."""

    LONGEST: ClassVar[timedelta]

    start: Annotated[datetime, instant()] = Field(
        alias="from", description="the start of the period (ISO 8601, offset)"
    )
    end: Annotated[datetime, instant()] = Field(
        alias="to", description="the end of the period, excluded"
    )

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("must be after from")
        if start is not None and end - start > cls.LONGEST:
            raise ValueError(f"must be at most {cls.LONGEST.days} days after from")
        return end


class CoverageQuery(PeriodQuery):
    LONGEST = timedelta(days=62)

    site: Annotated[str | None, text(32, description="only this site's code")] = None


class FairnessQuery(PeriodQuery):
    LONGEST = timedelta(days=366)


class Gap(Answer):
    """An interval [start, end): UTC, and in the site's zone."""

    start: datetime
    end: datetime
    start_local: datetime
    end_local: datetime
    hours: float = Field(description="real elapsed hours")


class SiteCoverage(Answer):
    site: str
    site_name: str
    timezone: str
    modality: str
    no_primary: list[Gap]
    backup_only: list[Gap]


class Coverage(RootModel[list[SiteCoverage]]):
    """By site code, then modality."""


class ExpertFairness(Answer):
    expert: str
    name: str
    timezone: str
    hours: float
    primary_hours: float
    backup_hours: float
    night_hours: float
    weekend_hours: float
    holiday_hours: float
    reads: int
    hours_share: float
    reads_share: float


class Fairness(RootModel[list[ExpertFairness]]):
    """By expert code."""


@bp.get("/coverage")
@roles(*STAFF)
@operation(
    "rosters",
    "Gaps of the rosters per site and modality (coordinator, admin)",
    {200: ("by site code, then modality", Coverage)},
    query=CoverageQuery,
    description="""
        For each site (or the one asked) and each modality its credentialed experts read:
        the intervals of [from, to) with no primary on duty (`no_primary`), and among them
        those a backup covers (`backup_only`). On duty as for /oncall, the concurrent limit
        aside. At most 62 days.
    """,
)
def coverage_gaps() -> Response:
    given = validated(CoverageQuery, request.args)
    site = None
    if given.site:
        site = g.db.scalar(select(Site).where(Site.code == given.site))
        if site is None:
            raise InvalidInput({"site": f"no site has the code {given.site}"})
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
            for c in coverage(g.db, given.start, given.end, site.id if site else None)
        ]
    )


@bp.get("/fairness")
@roles(*STAFF)
@operation(
    "rosters",
    "How the roster fell on each expert over a period (coordinator, admin)",
    {200: ("by expert code", Fairness)},
    query=FairnessQuery,
    description="""
        Real hours on duty by tier; nights (20:00-08:00), weekends and French public
        holidays on the expert's clock (they overlap); reads billed; each expert's share of
        all hours and reads. At most 366 days.
    """,
)
def fairness_table() -> Response:
    given = validated(FairnessQuery, request.args)
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
            for row in fairness(g.db, given.start, given.end)
        ]
    )


def _interval(interval: Interval, timezone: str) -> dict[str, Any]:
    zone = ZoneInfo(timezone)
    return {
        "start": iso(interval.start),
        "end": iso(interval.end),
        "start_local": interval.start.astimezone(zone).isoformat(),
        "end_local": interval.end.astimezone(zone).isoformat(),
        "hours": round(interval.duration.total_seconds() / 3600, 2),
    }
