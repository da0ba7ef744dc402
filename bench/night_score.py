"""The night's score, read from the database after the run, and the table printed for it."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from bench.night_world import Region
from bench.results import percentile
from garde.db import SessionFactory
from garde.domain import Priority, ReportKind, Tier
from garde.models import Alert, Case, Offer, Report

STAT_ACCEPT_WITHIN = timedelta(minutes=10)


@dataclass(frozen=True)
class NightScore:
    policy: str
    studies: int
    stat: int
    stat_accepted_in_time: int
    accept_minutes: list[float]  # per accepted case, from the request to the first acceptance
    never_accepted: int
    reported: int
    reported_in_time: int
    alerts: dict[str, int]  # rows in `alerts`, by kind
    reads: dict[str, int]  # final reports per expert code, every expert on duty
    reachable: list[str]  # the experts whose phone rings: the Gini counts these
    primaries: list[str]  # the reachable experts of the primary tier
    offers: int
    wall_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def stat_share(self) -> float:
        return self.stat_accepted_in_time / self.stat if self.stat else math.nan

    @property
    def on_time_share(self) -> float:
        return self.reported_in_time / self.studies if self.studies else math.nan

    @property
    def gini(self) -> float:
        return gini([self.reads[code] for code in self.reachable])


def gini(values: list[int]) -> float:
    """0 when everyone has the same, towards 1 when one has everything (mean absolute
    difference over twice the mean)."""
    n = len(values)
    total = sum(values)
    if n == 0 or total == 0:
        return math.nan
    differences = sum(abs(a - b) for a in values for b in values)
    return differences / (2 * n * total)


def score(
    sessions: SessionFactory, region: Region, policy: str, wall_s: float, notes: list[str]
) -> NightScore:
    with sessions() as s:
        cases = list(s.scalars(select(Case).order_by(Case.id)))
        alerts = dict(Counter(str(kind) for kind in s.scalars(select(Alert.kind))))
        finals = Counter(
            expert_id
            for expert_id in s.scalars(
                select(Report.expert_id).where(Report.kind == ReportKind.FINAL)
            )
        )
        offers = int(s.scalar(select(func.count(Offer.id))) or 0)
    accept_minutes = [
        (c.accepted_at - c.requested_at).total_seconds() / 60
        for c in cases
        if c.accepted_at is not None
    ]
    stat = [c for c in cases if c.priority == Priority.STAT]
    return NightScore(
        policy=policy,
        studies=len(cases),
        stat=len(stat),
        stat_accepted_in_time=sum(
            1
            for c in stat
            if c.accepted_at is not None and c.accepted_at - c.requested_at <= STAT_ACCEPT_WITHIN
        ),
        accept_minutes=accept_minutes,
        never_accepted=len(cases) - len(accept_minutes),
        reported=sum(1 for c in cases if c.reported_at is not None),
        reported_in_time=sum(
            1
            for c in cases
            if c.reported_at is not None
            and c.reported_at <= c.requested_at + timedelta(seconds=c.report_within_s)
        ),
        alerts=alerts,
        reads={e.spec.code: finals.get(e.expert_id, 0) for e in region.experts.values()},
        reachable=[e.spec.code for e in region.experts.values() if e.spec.habit.reachable],
        primaries=[
            e.spec.code
            for e in region.experts.values()
            if e.spec.habit.reachable and e.spec.tier is Tier.PRIMARY
        ],
        offers=offers,
        wall_s=wall_s,
        notes=notes,
    )


def table(scores: list[NightScore], heading: str) -> str:
    header = (
        f"{'policy':<18}{'stat<=10min':>12}{'accept p50':>12}{'accept p95':>12}"
        f"{'reports on time':>17}{'alerts':>8}{'Gini':>7}"
    )
    lines = [heading, header, "-" * len(header)]
    for sc in scores:
        lines.append(
            f"{sc.policy:<18}{_percent(sc.stat_share):>12}"
            f"{_minutes(percentile(sc.accept_minutes, 50)):>12}"
            f"{_minutes(percentile(sc.accept_minutes, 95)):>12}"
            f"{_percent(sc.on_time_share):>17}{sum(sc.alerts.values()):>8}{sc.gini:>7.2f}"
        )
    lines.append(
        f"{'aim (Garde)':<18}{'>= 99%':>12}{'< 2 min':>12}{'':>12}{'':>17}{'':>8}{'< 0.15':>7}"
    )
    lines.append("")
    for sc in scores:
        reads = ", ".join(
            f"{code.removeprefix('DR-').title()} {n}{'' if code in sc.reachable else ' (unreachable)'}"
            for code, n in sc.reads.items()
        )
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(sc.alerts.items())) or "none"
        primary_gini = gini([sc.reads[code] for code in sc.primaries])
        lines.append(
            f"{sc.policy}: reads per expert: {reads} (Gini of the primary tier {primary_gini:.2f})"
        )
        lines.append(
            f"{'':<{len(sc.policy)}}  {sc.offers} offers, {sc.reported}/{sc.studies} reported, "
            f"{sc.never_accepted} never accepted; alerts: {kinds}; {sc.wall_s:.0f} s wall time"
        )
        for note in sc.notes:
            lines.append(f"{'':<{len(sc.policy)}}  {note}")
    return "\n".join(lines)


def _percent(share: float) -> str:
    return "-" if math.isnan(share) else f"{share * 100:.1f}%"


def _minutes(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f} min"
