"""The daily coverage check's activities, one side effect each: find the gaps ahead (reads
only), keep one board alert per gap (writes), text a coordinator one summary (an SMS).

A gap is an interval with no primary on duty for a site and modality (`rosters.coverage`).
Coverage is read a week beyond both ends of the horizon, so that a gap keeps the same
interval, and so the same alert key, from one day's check to the next. No patient data: a
gap names a site, a modality and times. The board shows a gap's `detail`; the SMS is
worded from the gap itself, in each coordinator's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from temporalio import activity

from activities.alerts import coordinators_to_text
from activities.errors import rows_must_exist, undeliverable
from activities.links import Links
from activities.sms import Sms, SmsPort, Undeliverable
from garde.db import SessionFactory
from garde.domain import AlertKind
from garde.models import Alert, Coordinator
from garde.texts import language_of, local_time, render
from rosters.coverage import coverage
from rosters.intervals import Interval, intersect, total

CONTEXT = timedelta(days=7)
# What a check resolves itself (the gap was filled); a coordinator's dismissal stays.
RESOLVER = "coverage check"
GAPS_PER_SMS = 2  # the summary fits two SMS segments


@dataclass(frozen=True)
class GapSearch:
    at: datetime
    horizon_hours: int = 72


@dataclass(frozen=True)
class Gap:
    site_id: int
    site_code: str
    timezone: str
    modality: str
    start: datetime
    end: datetime
    backup_hours: float = 0.0

    @property
    def key(self) -> str:
        """One per site, modality and interval: the same gap found again is the same alert."""
        return (
            f"coverage:{self.site_id}:{self.modality}:"
            f"{int(self.start.timestamp())}-{int(self.end.timestamp())}"
        )

    def words(self) -> dict[str, Any]:
        """What the coverage SMS says of the gap, in any language: times on the site's clock."""
        hours = (self.end - self.start).total_seconds() / 3600
        return {
            "site": self.site_code,
            "modality": self.modality,
            "start": local_time(self.start, self.timezone),
            "end": local_time(self.end, self.timezone, self.start),
            "backup": f"{round(self.backup_hours, 1):g}" if self.backup_hours else "",
            "backup_all": self.backup_hours >= hours,
        }

    @property
    def detail(self) -> str:
        zone = ZoneInfo(self.timezone)
        start, end = self.start.astimezone(zone), self.end.astimezone(zone)
        until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %d %b %H:%M}"
        hours = (self.end - self.start).total_seconds() / 3600
        backup = (
            "nobody on duty"
            if not self.backup_hours
            else "backup only"
            if self.backup_hours >= hours
            else f"backup only for {round(self.backup_hours, 1):g} h of it"
        )
        return (
            f"No primary for {self.modality} at {self.site_code}, "
            f"{start:%a %d %b %H:%M}-{until} ({self.timezone}), {round(hours, 1):g} h: {backup}."
        )


@dataclass(frozen=True)
class Gaps:
    at: datetime
    gaps: list[Gap] = field(default_factory=list)


@dataclass(frozen=True)
class CoverageAlerts:
    """What a check changed on the board, and whom to tell."""

    raised: list[Gap]  # the gaps of the alerts this check raised, by start
    resolved: int
    still_open: int
    coordinator_ids: list[int]


@dataclass(frozen=True)
class CoverageSummary:
    coordinator_id: int
    at: datetime
    raised: list[Gap]
    still_open: int


class CoverageChecks:
    def __init__(self, sessions: SessionFactory, sms: SmsPort, links: Links) -> None:
        self._sessions = sessions
        self._sms = sms
        self._links = links

    @activity.defn
    def find_coverage_gaps(self, search: GapSearch) -> Gaps:
        """The intervals without a primary that touch the next `horizon_hours`."""
        horizon = Interval(search.at, search.at + timedelta(hours=search.horizon_hours))
        with self._sessions() as s:
            found = coverage(s, horizon.start - CONTEXT, horizon.end + CONTEXT)
            gaps = [
                Gap(
                    site_id=c.site.id,
                    site_code=c.site.code,
                    timezone=c.site.timezone,
                    modality=c.modality,
                    start=gap.start,
                    end=gap.end,
                    backup_hours=total(intersect([gap], c.backup_only)).total_seconds() / 3600,
                )
                for c in found
                for gap in c.no_primary
                if intersect([gap], [horizon])
            ]
        return Gaps(search.at, gaps)

    @activity.defn
    def raise_coverage_alerts(self, found: Gaps) -> CoverageAlerts:
        """One alert per gap (once per key; a gap a check had seen filled and that opens
        again is raised again), and the alerts of gaps no longer there resolved."""
        gaps = {gap.key: gap for gap in found.gaps}
        with self._sessions.begin() as s:
            known = {
                a.key: a
                for a in s.scalars(
                    select(Alert).where(
                        Alert.kind == AlertKind.COVERAGE_GAP,
                        or_(Alert.resolved_at.is_(None), Alert.key.in_(gaps)),
                    )
                )
            }
            resolved = 0
            for key, alert in known.items():
                if key not in gaps and alert.resolved_at is None:
                    alert.resolved_at, alert.resolved_by = found.at, RESOLVER
                    resolved += 1
                elif key in gaps and alert.resolved_by == RESOLVER:
                    alert.resolved_at, alert.resolved_by = None, None
                    alert.raised_at = found.at
            for key, gap in gaps.items():
                if key not in known:
                    s.add(
                        Alert(
                            key=key,
                            kind=AlertKind.COVERAGE_GAP,
                            raised_at=found.at,
                            detail=gap.detail,
                        )
                    )
            s.flush()
            # Raised by this check: also those of an earlier attempt of it.
            raised = [
                gaps[key]
                for key in sorted(gaps, key=lambda k: (gaps[k].start, k))
                if key not in known
                or (known[key].raised_at == found.at and known[key].resolved_at is None)
            ]
            still_open = sum(
                1 for key in gaps if key not in known or known[key].resolved_at is None
            )
            return CoverageAlerts(raised, resolved, still_open, coordinators_to_text(s))

    @activity.defn
    def text_coverage_summary(self, summary: CoverageSummary) -> None:
        """One SMS per coordinator per check, whatever the number of gaps: the first few,
        how many more, and the coverage page."""
        with rows_must_exist(f"coordinator {summary.coordinator_id}"), self._sessions() as s:
            coordinator = s.get_one(Coordinator, summary.coordinator_id)
            phone, language = coordinator.phone, language_of(coordinator.language)
        shown = summary.raised[:GAPS_PER_SMS]
        text = render(
            "alert_coverage_gap",
            language,
            gaps=[gap.words() for gap in shown],
            more=len(summary.raised) - len(shown),
            still_open=summary.still_open,
            link=self._links.coverage(),
        )
        key = f"coverage:{summary.at:%Y%m%dT%H%M%S%f}:to:{summary.coordinator_id}"
        try:
            self._sms.send(Sms(phone, text, key, "alert_coverage_gap", language))
        except Undeliverable as e:
            raise undeliverable(str(e)) from e
