"""What the record says about a period: how long cases waited to be accepted and reported,
when they came, how often the promises were kept, and who read them.

Every case requested in the period counts, by its request time in the region's zone (a
month is the region's month). Cancelled cases count in the volume only: they were never
meant to be read, so they keep no promise and take no time. One query reads the cases'
times (a few columns each, so tens of thousands cost little); one aggregate counts the reads.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from garde.domain import CaseStatus, Priority, ReportKind
from garde.models import Case, Expert, Report, Site, utcnow
from garde.service_levels import Deadline

MEASURES = ("accept", "report")  # time from the request to acceptance, to the final report
TIME_GROUPS = ("site", "priority", "month")
COMPLIANCE_GROUPS = ("site", "month")
# The histogram's buckets: a time falls in the first bucket whose bound (seconds) exceeds it.
BUCKET_BOUNDS = (5 * 60, 10 * 60, 20 * 60, 30 * 60, 3600, 2 * 3600, 6 * 3600, 24 * 3600)


@dataclass(frozen=True)
class Distribution:
    """Times of one group, in seconds: percentiles by `statistics.quantiles` (inclusive)."""

    count: int
    p50_s: float
    p90_s: float
    max_s: float
    buckets: tuple[int, ...]  # len(BUCKET_BOUNDS) + 1: the last counts a day or more


@dataclass(frozen=True)
class Compliance:
    """One deadline over a group of cases: kept, missed, or not yet known (still running)."""

    met: int = 0
    missed: int = 0
    open: int = 0

    @property
    def met_share(self) -> float | None:
        """Met among the known ones; None while none is known."""
        known = self.met + self.missed
        return self.met / known if known else None

    def add(self, met: bool | None) -> Compliance:
        return Compliance(
            self.met + (met is True), self.missed + (met is False), self.open + (met is None)
        )


@dataclass(frozen=True)
class ExpertReads:
    code: str
    name: str
    reads: int


@dataclass(frozen=True)
class Analytics:
    first: date
    last: date
    zone: str
    site: str | None  # the site's code when filtered
    cases: int
    # measure -> grouping -> key (site code, priority, "YYYY-MM") -> times
    times: dict[str, dict[str, dict[str, Distribution]]]
    # grouping -> key -> measure -> compliance
    compliance: dict[str, dict[str, dict[str, Compliance]]]
    # [weekday, Monday first][hour]: cases requested, in the region's local time
    volume: tuple[tuple[int, ...], ...]
    reads: list[ExpertReads]

    def as_json(self) -> dict[str, Any]:
        """Plain JSON: dates as ISO, each compliance with its share met (or null)."""
        found = asdict(self)
        found["first"], found["last"] = self.first.isoformat(), self.last.isoformat()
        for grouping, by_key in self.compliance.items():
            for key, measures in by_key.items():
                for measure, counts in measures.items():
                    found["compliance"][grouping][key][measure]["met_share"] = counts.met_share
        found["bucket_bounds_s"] = list(BUCKET_BOUNDS)
        return found


def period_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants the local days `first`–`last` (inclusive) start and end at."""
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return start, end


def analytics(
    s: Session,
    first: date,
    last: date,
    zone: ZoneInfo,
    site_id: int | None = None,
    now: datetime | None = None,
) -> Analytics:
    """The period's numbers, of every site or of one; `now` decides which deadlines still
    run."""
    now = now or utcnow()
    start, end = period_bounds(first, last, zone)
    query = (
        select(
            Site.code,
            Case.priority,
            Case.status,
            Case.requested_at,
            Case.accepted_at,
            Case.reported_at,
            Case.accept_within_s,
            Case.report_within_s,
        )
        .join(Site, Site.id == Case.site_id)
        .where(Case.requested_at >= start, Case.requested_at < end)
    )
    if site_id is not None:
        query = query.where(Case.site_id == site_id)

    taken: dict[str, dict[str, dict[str, list[float]]]] = {
        m: {g: defaultdict(list) for g in TIME_GROUPS} for m in MEASURES
    }
    kept: dict[str, dict[str, dict[str, Compliance]]] = {
        g: defaultdict(lambda: {m: Compliance() for m in MEASURES}) for g in COMPLIANCE_GROUPS
    }
    volume = [[0] * 24 for _ in range(7)]
    cases = 0
    for code, priority, status, requested, accepted, reported, accept_s, report_s in s.execute(
        query
    ):
        cases += 1
        local = requested.astimezone(zone)
        volume[local.weekday()][local.hour] += 1
        if status == CaseStatus.CANCELLED:
            continue
        keys = {"site": code, "priority": priority, "month": local.strftime("%Y-%m")}
        for measure, within, done in (
            ("accept", accept_s, accepted),
            ("report", report_s, reported),
        ):
            if done is not None:
                for grouping in TIME_GROUPS:
                    taken[measure][grouping][keys[grouping]].append(
                        (done - requested).total_seconds()
                    )
            due = Deadline(requested + timedelta(seconds=within), within, requested, done)
            for grouping in COMPLIANCE_GROUPS:
                counts = kept[grouping][keys[grouping]]
                counts[measure] = counts[measure].add(due.met(now))

    site_code = s.scalar(select(Site.code).where(Site.id == site_id)) if site_id else None
    return Analytics(
        first=first,
        last=last,
        zone=zone.key,
        site=site_code,
        cases=cases,
        times={
            m: {g: _ordered(g, {k: distribution(v) for k, v in by.items()}) for g, by in gs.items()}
            for m, gs in taken.items()
        },
        compliance={g: _ordered(g, dict(by)) for g, by in kept.items()},
        volume=tuple(tuple(row) for row in volume),
        reads=reads_per_expert(s, start, end, site_id),
    )


def reads_per_expert(
    s: Session, start: datetime, end: datetime, site_id: int | None = None
) -> list[ExpertReads]:
    """Final reports each expert signed between the two instants, most first."""
    reads = func.count(Report.id)
    query = (
        select(Expert.code, Expert.name, reads)
        .join(Report, Report.expert_id == Expert.id)
        .where(
            Report.kind == ReportKind.FINAL.value,
            Report.created_at >= start,
            Report.created_at < end,
        )
        .group_by(Expert.id, Expert.code, Expert.name)
        .order_by(reads.desc(), Expert.name)
    )
    if site_id is not None:
        query = query.join(Case, Case.id == Report.case_id).where(Case.site_id == site_id)
    return [ExpertReads(code, name, n) for code, name, n in s.execute(query)]


def distribution(seconds: Iterable[float]) -> Distribution:
    values = sorted(seconds)
    buckets = [0] * (len(BUCKET_BOUNDS) + 1)
    for v in values:
        buckets[next((i for i, b in enumerate(BUCKET_BOUNDS) if v < b), len(BUCKET_BOUNDS))] += 1
    if len(values) > 1:
        cuts = statistics.quantiles(values, n=10, method="inclusive")
        p50, p90 = cuts[4], cuts[8]
    else:
        p50 = p90 = values[0] if values else 0.0
    return Distribution(len(values), p50, p90, values[-1] if values else 0.0, tuple(buckets))


_T = TypeVar("_T")
_PRIORITY_ORDER = {p.value: i for i, p in enumerate(Priority)}


def _ordered(grouping: str, found: dict[str, _T]) -> dict[str, _T]:
    """Priorities from stat to routine; sites and months in order."""
    if grouping == "priority":
        return dict(sorted(found.items(), key=lambda kv: _PRIORITY_ORDER.get(kv[0], 99)))
    return dict(sorted(found.items()))
