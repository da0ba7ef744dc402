"""Coverage of a period: per site and modality, when nobody primary is on duty.

"On duty" means here exactly what `rosters.eligibility.on_duty_experts` means, without the
concurrent-case limit (coverage is about the roster, not tonight's load): a shift covers
the instant, the expert is active, their credential for the site is valid on the site's
local date, they read the modality; not during their unavailability, nor while an override
has someone else replace them (the replacing expert's override shifts are ordinary shifts).

The modalities of a site are those its roster is built for: read by an active expert
credentialed there (at any date, so that an expired credential opens a gap rather than
hiding the modality). A modality nobody there reads is a recruiting question, not a gap.

`no_primary` holds every instant without a primary on duty, `backup_only` the part of those
where a backup is: what remains of `no_primary` has nobody at all. Computed from a few
queries with interval arithmetic, exact at the edges (half-open intervals).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import Tier
from garde.models import Expert, Override, Shift, Site, Unavailability, expert_sites
from garde.vocabulary import MODALITIES
from rosters.intervals import Interval, intersect, local_span, subtract
from rosters.shifts import MAX_SHIFT


@dataclass(frozen=True)
class Duty:
    """An expert's time on duty in a period: as primary, and as backup when not primary."""

    primary: list[Interval]
    backup: list[Interval]


@dataclass(frozen=True)
class SiteCoverage:
    site: Site
    modality: str
    no_primary: list[Interval]
    backup_only: list[Interval]


def duty(
    session: Session, start: datetime, end: datetime, expert_ids: Collection[int] | None = None
) -> dict[int, Duty]:
    """Each expert's time on duty within [start, end): their shifts, less their
    unavailability and the overrides replacing them. Three queries."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    period = [Interval(start, end)]
    shifts = select(Shift.expert_id, Shift.tier, Shift.start, Shift.end).where(
        Shift.start < end, Shift.end > start, Shift.start >= start - MAX_SHIFT
    )
    away = select(Unavailability.expert_id, Unavailability.start, Unavailability.end).where(
        Unavailability.start < end, Unavailability.end > start
    )
    replaced = select(Override.replaces_id, Override.start, Override.end).where(
        Override.start < end, Override.end > start
    )
    if expert_ids is not None:
        shifts = shifts.where(Shift.expert_id.in_(expert_ids))
        away = away.where(Unavailability.expert_id.in_(expert_ids))
        replaced = replaced.where(Override.replaces_id.in_(expert_ids))
    on: dict[int, dict[str, list[Interval]]] = defaultdict(lambda: defaultdict(list))
    for expert_id, tier, s, e in session.execute(shifts):
        on[expert_id][tier].append(Interval(s, e))
    off: dict[int, list[Interval]] = defaultdict(list)
    for expert_id, s, e in [*session.execute(away), *session.execute(replaced)]:
        off[expert_id].append(Interval(s, e))
    result = {}
    for expert_id, tiers in on.items():
        primary = intersect(subtract(tiers[Tier.PRIMARY], off[expert_id]), period)
        backup = intersect(subtract(tiers[Tier.BACKUP], [*off[expert_id], *primary]), period)
        result[expert_id] = Duty(primary, backup)
    return result


def coverage(
    session: Session, start: datetime, end: datetime, site_id: int | None = None
) -> list[SiteCoverage]:
    """Per site (one, or all) and modality, by site code then modality: the intervals of
    [start, end) with no primary on duty, and those among them with a backup only."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    sites_query = select(Site).order_by(Site.code)
    if site_id is not None:
        sites_query = sites_query.where(Site.id == site_id)
    sites = list(session.scalars(sites_query))
    credentials = session.execute(
        select(
            expert_sites.c.site_id,
            expert_sites.c.expert_id,
            expert_sites.c.valid_from,
            expert_sites.c.valid_until,
            Expert.modalities,
        )
        .join(Expert, Expert.id == expert_sites.c.expert_id)
        .where(Expert.active.is_(True), expert_sites.c.site_id.in_([s.id for s in sites]))
    ).all()
    on_duty = duty(session, start, end, {c.expert_id for c in credentials})
    by_site: dict[int, list[tuple[int, list[Interval], list[str]]]] = defaultdict(list)
    zones = {site.id: ZoneInfo(site.timezone) for site in sites}
    for site_id_, expert_id, valid_from, valid_until, modalities in credentials:
        valid = _credential_span(valid_from, valid_until, zones[site_id_], start, end)
        by_site[site_id_].append((expert_id, valid, modalities))
    period = [Interval(start, end)]
    result = []
    for site in sites:
        read = {m for _, _, modalities in by_site[site.id] for m in modalities}
        for modality in (m for m in MODALITIES if m in read):
            primary: list[Interval] = []
            anyone: list[Interval] = []
            for expert_id, valid, modalities in by_site[site.id]:
                hours = on_duty.get(expert_id)
                if modality not in modalities or hours is None:
                    continue
                primary += intersect(hours.primary, valid)
                anyone += intersect(hours.primary + hours.backup, valid)
            no_primary = subtract(period, primary)
            result.append(SiteCoverage(site, modality, no_primary, intersect(no_primary, anyone)))
    return result


def _credential_span(
    valid_from: date | None,
    valid_until: date | None,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """The instants of [start, end) on whose local date (site's zone) the credential holds."""
    first = valid_from or start.astimezone(zone).date()
    last = valid_until or end.astimezone(zone).date()
    if last < first:
        return []
    return intersect([local_span(first, last, zone)], [Interval(start, end)])
