"""Fairness over a period: how the burden of the roster fell on each expert.

Hours on duty are those `rosters.coverage.duty` counts (shifts less unavailability and the
overrides replacing the expert), real elapsed hours: a Europe/Paris 20:00–08:00 night is 11 h
in March and 13 h in October. An instant on duty as primary and backup counts once, as
primary. Nights (20:00–08:00), weekends (Saturday and Sunday) and French public holidays
(the `holidays` package, national days) are read on the expert's own clock
(`Expert.timezone`); they overlap (a Saturday night counts in both).

Reads are the reads billed to the expert in the period (one `BillingLine` per case, written
when its final report is filed, at `read_at`): a case given back or reassigned counts for
whoever reported it, once.

Listed: every active expert, and any other with hours or reads in the period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from garde.models import BillingLine, Expert
from rosters.coverage import duty
from rosters.intervals import Interval, intersect, local_days, local_instant, total, union

NIGHT_START = time(20, 0)
NIGHT_END = time(8, 0)
WEEKEND = (5, 6)  # Saturday, Sunday


@dataclass(frozen=True)
class ExpertFairness:
    expert: Expert
    primary_hours: float
    backup_hours: float
    night_hours: float
    weekend_hours: float
    holiday_hours: float
    reads: int
    hours_share: float  # of all experts' hours on duty, 0 to 1
    reads_share: float  # of all reads, 0 to 1

    @property
    def hours(self) -> float:
        return self.primary_hours + self.backup_hours


def fairness(session: Session, start: datetime, end: datetime) -> list[ExpertFairness]:
    """Per expert, by code: hours on duty by tier, nights, weekends, holidays and reads."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    on_duty = duty(session, start, end)
    reads: dict[int, int] = dict(
        session.execute(
            select(BillingLine.expert_id, func.count())
            .where(BillingLine.read_at >= start, BillingLine.read_at < end)
            .group_by(BillingLine.expert_id)
        ).all()
    )
    experts = session.scalars(
        select(Expert)
        .where(or_(Expert.active.is_(True), Expert.id.in_([*on_duty, *reads])))
        .order_by(Expert.code)
    ).all()
    all_hours = sum((total(d.primary) + total(d.backup) for d in on_duty.values()), timedelta(0))
    all_reads = sum(reads.values())
    rows = []
    for expert in experts:
        hours = on_duty.get(expert.id)
        primary = hours.primary if hours else []
        backup = hours.backup if hours else []
        worked = union(primary + backup)
        special = _special_times(ZoneInfo(expert.timezone), start, end)
        done = reads.get(expert.id, 0)
        rows.append(
            ExpertFairness(
                expert=expert,
                primary_hours=_hours(total(primary)),
                backup_hours=_hours(total(backup)),
                night_hours=_hours(total(intersect(worked, special["night"]))),
                weekend_hours=_hours(total(intersect(worked, special["weekend"]))),
                holiday_hours=_hours(total(intersect(worked, special["holiday"]))),
                reads=done,
                hours_share=total(worked) / all_hours if all_hours else 0.0,
                reads_share=done / all_reads if all_reads else 0.0,
            )
        )
    return rows


def _special_times(zone: ZoneInfo, start: datetime, end: datetime) -> dict[str, list[Interval]]:
    """Nights, weekend days and public holidays of the period, on this zone's clock."""
    days = list(local_days(start, end, zone))
    public = holidays.France(years=range(days[0].year, days[-1].year + 1))
    night, weekend, holiday = [], [], []
    for day in days:
        following = day + timedelta(days=1)
        night.append(
            Interval(
                local_instant(day, NIGHT_START, zone), local_instant(following, NIGHT_END, zone)
            )
        )
        whole = Interval(local_instant(day, time(0), zone), local_instant(following, time(0), zone))
        if day.weekday() in WEEKEND:
            weekend.append(whole)
        if day in public:
            holiday.append(whole)
    return {"night": night, "weekend": weekend, "holiday": holiday}


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600
