"""Coverage per site and modality: exact at interval edges, across DST, and saying the same
as `on_duty_experts` at any instant (on SQLite and PostgreSQL)."""

from __future__ import annotations

import html
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from garde.db import SessionFactory
from garde.domain import AlertKind, ShiftSource, Tier
from garde.models import Alert, Expert, Override, Shift, Site, Unavailability, expert_sites
from rosters.coverage import SiteCoverage, coverage
from rosters.eligibility import on_duty_experts
from rosters.intervals import Interval
from tests.conftest import Region
from tests.phones import mobile
from tests.web.test_pages import coordinator

PARIS = ZoneInfo("Europe/Paris")


def paris(day: str, hour: int, minute: int = 0) -> datetime:
    """A Paris wall-clock time as the UTC instant it is."""
    return (
        datetime.fromisoformat(f"{day}T{hour:02}:{minute:02}").replace(tzinfo=PARIS).astimezone(UTC)
    )


@dataclass
class Roster:
    """One fresh site (its own experts), so each test reads only its own roster."""

    s: Session
    site: Site

    @classmethod
    def new(cls, s: Session, timezone: str = "Europe/Paris") -> Roster:
        tag = secrets.token_hex(4).upper()
        site = Site(code=f"COV-{tag}", name=f"CH {tag}", timezone=timezone)
        s.add(site)
        s.flush()
        return cls(s, site)

    def expert(
        self,
        modalities: tuple[str, ...] = ("CT",),
        valid_from: date | None = None,
        valid_until: date | None = None,
        active: bool = True,
        credentialed: bool = True,
    ) -> Expert:
        tag = secrets.token_hex(4).upper()
        expert = Expert(
            code=f"DR-{tag}",
            name=f"Dr {tag}",
            phone=mobile(),
            modalities=list(modalities),
            active=active,
        )
        self.s.add(expert)
        self.s.flush()
        if credentialed:
            self.s.execute(
                expert_sites.insert().values(
                    expert_id=expert.id,
                    site_id=self.site.id,
                    valid_from=valid_from,
                    valid_until=valid_until,
                )
            )
        return expert

    def shift(
        self,
        expert: Expert,
        start: datetime,
        end: datetime,
        tier: Tier = Tier.PRIMARY,
        source: ShiftSource = ShiftSource.MANUAL,
    ) -> None:
        self.s.add(Shift(expert_id=expert.id, start=start, end=end, tier=tier, source=source))
        self.s.flush()

    def away(self, expert: Expert, start: datetime, end: datetime) -> None:
        self.s.add(Unavailability(expert_id=expert.id, start=start, end=end, reason="leave"))
        self.s.flush()

    def override(self, expert: Expert, replaces: Expert, start: datetime, end: datetime) -> None:
        """`expert` takes over from `replaces`, with the override's shift, as the API does."""
        override = Override(expert_id=expert.id, replaces_id=replaces.id, start=start, end=end)
        self.s.add(override)
        self.s.flush()
        self.s.add(
            Shift(
                expert_id=expert.id,
                start=start,
                end=end,
                tier=Tier.PRIMARY,
                source=ShiftSource.OVERRIDE,
                override_id=override.id,
            )
        )
        self.s.flush()

    def coverage(self, start: datetime, end: datetime) -> dict[str, SiteCoverage]:
        return {c.modality: c for c in coverage(self.s, start, end, self.site.id)}


def spans(intervals: list[Interval]) -> list[tuple[datetime, datetime]]:
    return [(i.start, i.end) for i in intervals]


def test_shifts_meeting_at_an_instant_leave_no_gap(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        r = Roster.new(s)
        alice, bruno = r.expert(), r.expert()
        r.shift(alice, paris("2026-06-01", 8), paris("2026-06-01", 20))
        r.shift(bruno, paris("2026-06-01", 20), paris("2026-06-02", 8))
        ct = r.coverage(paris("2026-06-01", 6), paris("2026-06-02", 10))["CT"]
        assert spans(ct.no_primary) == [
            (paris("2026-06-01", 6), paris("2026-06-01", 8)),
            (paris("2026-06-02", 8), paris("2026-06-02", 10)),
        ]
        assert ct.backup_only == []
        # A period inside the shifts has no gap; one ending as a shift starts neither.
        assert r.coverage(paris("2026-06-01", 8), paris("2026-06-02", 8))["CT"].no_primary == []
        assert spans(
            r.coverage(paris("2026-06-01", 7), paris("2026-06-01", 8))["CT"].no_primary
        ) == [(paris("2026-06-01", 7), paris("2026-06-01", 8))]


def test_backup_only_is_the_part_of_no_primary_a_backup_covers(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        r = Roster.new(s)
        alice, bruno = r.expert(), r.expert(("CT", "MR"))
        r.shift(alice, paris("2026-06-01", 8), paris("2026-06-01", 12))
        r.shift(bruno, paris("2026-06-01", 10), paris("2026-06-01", 14), Tier.BACKUP)
        both = r.coverage(paris("2026-06-01", 8), paris("2026-06-01", 16))
        assert spans(both["CT"].no_primary) == [(paris("2026-06-01", 12), paris("2026-06-01", 16))]
        assert spans(both["CT"].backup_only) == [(paris("2026-06-01", 12), paris("2026-06-01", 14))]
        # Only bruno reads MR: no primary all along, his backup hours only.
        assert spans(both["MR"].no_primary) == [(paris("2026-06-01", 8), paris("2026-06-01", 16))]
        assert spans(both["MR"].backup_only) == [(paris("2026-06-01", 10), paris("2026-06-01", 14))]
        # Nobody here reads US: not a gap of this site's roster.
        assert set(both) == {"CT", "MR"}


def test_unavailability_opens_a_gap_and_an_override_closes_it(sessions: SessionFactory) -> None:
    day = (paris("2026-06-01", 8), paris("2026-06-01", 20))
    with sessions.begin() as s:
        r = Roster.new(s)
        alice, chloe = r.expert(), r.expert()
        r.shift(alice, *day)
        r.away(alice, paris("2026-06-01", 12), paris("2026-06-01", 13))
        assert spans(r.coverage(*day)["CT"].no_primary) == [
            (paris("2026-06-01", 12), paris("2026-06-01", 13))
        ]
        r.override(chloe, alice, paris("2026-06-01", 14), paris("2026-06-01", 16))
        assert spans(r.coverage(*day)["CT"].no_primary) == [
            (paris("2026-06-01", 12), paris("2026-06-01", 13))
        ]
        r.override(chloe, alice, paris("2026-06-01", 12), paris("2026-06-01", 13))
        assert r.coverage(*day)["CT"].no_primary == []


def test_an_override_alone_takes_the_replaced_expert_off_duty(sessions: SessionFactory) -> None:
    day = (paris("2026-06-01", 8), paris("2026-06-01", 20))
    with sessions.begin() as s:
        r = Roster.new(s)
        alice, chloe = r.expert(), r.expert()
        r.shift(alice, *day)
        s.add(
            Override(
                expert_id=chloe.id,
                replaces_id=alice.id,
                start=paris("2026-06-01", 9),
                end=paris("2026-06-01", 10),
            )
        )
        s.flush()
        assert spans(r.coverage(*day)["CT"].no_primary) == [
            (paris("2026-06-01", 9), paris("2026-06-01", 10))
        ]


def test_credentials_count_on_the_sites_local_dates(sessions: SessionFactory) -> None:
    night = (paris("2026-03-10", 20), paris("2026-03-11", 8))
    with sessions.begin() as s:
        r = Roster.new(s)
        expiring = r.expert(valid_until=date(2026, 3, 10))
        r.shift(expiring, *night)
        # Expired at midnight, site time: from then on nobody.
        assert spans(r.coverage(*night)["CT"].no_primary) == [
            (paris("2026-03-11", 0), paris("2026-03-11", 8))
        ]
        starting = r.expert(valid_from=date(2026, 3, 11))
        r.shift(starting, *night)
        assert r.coverage(*night)["CT"].no_primary == []
        # Credentialed elsewhere only, or inactive: never on duty here.
        r.shift(r.expert(credentialed=False), paris("2026-03-11", 8), paris("2026-03-11", 9))
        r.shift(r.expert(active=False), paris("2026-03-11", 8), paris("2026-03-11", 9))
        assert spans(
            r.coverage(paris("2026-03-11", 7), paris("2026-03-11", 9))["CT"].no_primary
        ) == [(paris("2026-03-11", 8), paris("2026-03-11", 9))]


@pytest.mark.parametrize(("night", "hours"), [("2026-03-28", 11), ("2026-10-24", 13)])
def test_dst_nights_are_covered_edge_to_edge(
    sessions: SessionFactory, night: str, hours: int
) -> None:
    evening = paris(night, 20)
    next_day = (date.fromisoformat(night) + timedelta(days=1)).isoformat()
    morning = paris(next_day, 8)
    assert morning - evening == timedelta(hours=hours)
    with sessions.begin() as s:
        r = Roster.new(s)
        day, nights = r.expert(), r.expert()
        r.shift(day, paris(night, 8), evening)
        r.shift(day, morning, paris(next_day, 20))
        # Before the night is rostered, it is one gap of its real length.
        gap = r.coverage(paris(night, 8), paris(next_day, 20))["CT"].no_primary
        assert spans(gap) == [(evening, morning)] and gap[0].duration == timedelta(hours=hours)
        r.shift(nights, evening, morning)
        assert r.coverage(paris(night, 8), paris(next_day, 20))["CT"].no_primary == []


def test_a_site_without_dst_beside_one_with_it(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        r = Roster.new(s, "Indian/Reunion")
        expert = r.expert(valid_until=date(2026, 3, 29))
        r.shift(expert, datetime(2026, 3, 29, 12, tzinfo=UTC), datetime(2026, 3, 30, 0, tzinfo=UTC))
        # Midnight of 30 March in Réunion (UTC+4) is 20:00 UTC.
        assert spans(
            r.coverage(datetime(2026, 3, 29, 12, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))[
                "CT"
            ].no_primary
        ) == [(datetime(2026, 3, 29, 20, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC))]


def test_coverage_agrees_with_on_duty_experts_at_random_instants(
    sessions: SessionFactory,
) -> None:
    """No primary per coverage exactly when `on_duty_experts` names no primary; backup only
    exactly when it names a backup and no primary: at random instants and at every edge."""
    rng = random.Random(6)
    start = paris("2026-10-23", 0)  # the week of the October change
    end = start + timedelta(days=5)

    def instant() -> datetime:
        return start + timedelta(
            minutes=15 * rng.randrange(int((end - start) / timedelta(minutes=15)))
        )

    def span() -> tuple[datetime, datetime]:
        """At most 48 hours, as every shift is (and so an override's shift)."""
        a = instant()
        return a, a + timedelta(minutes=15 * rng.randint(1, 48 * 4))

    with sessions.begin() as s:
        r = Roster.new(s)
        experts = [
            r.expert(
                rng.choice([("CT",), ("CT", "MR"), ("MR",)]),
                valid_from=rng.choice([None, date(2026, 10, 24)]),
                valid_until=rng.choice([None, date(2026, 10, 26)]),
            )
            for _ in range(6)
        ]
        edges: set[datetime] = set()
        for _ in range(25):
            a, b = span()
            r.shift(rng.choice(experts), a, b, rng.choice([Tier.PRIMARY, Tier.BACKUP]))
            edges |= {a, b}
        for _ in range(4):
            a, b = span()
            r.away(rng.choice(experts), a, b)
            edges |= {a, b}
        for _ in range(4):
            a, b = span()
            one, other = rng.sample(experts, 2)
            r.override(one, other, a, b)
            edges |= {a, b}
        found = r.coverage(start, end)
        instants = sorted({instant() for _ in range(150)} | {e for e in edges if start <= e < end})
        for modality, cover in found.items():
            for at in instants:
                tiers = {
                    c.tier for c in on_duty_experts(s, site_id=r.site.id, modality=modality, at=at)
                }
                no_primary = any(i.start <= at < i.end for i in cover.no_primary)
                backup_only = any(i.start <= at < i.end for i in cover.backup_only)
                assert no_primary == (Tier.PRIMARY not in tiers), (modality, at, tiers)
                assert backup_only == (no_primary and Tier.BACKUP in tiers), (modality, at, tiers)


# --- over HTTP ------------------------------------------------------------------------------


def test_coverage_and_fairness_over_http(region: Region) -> None:
    api = region.stack.api(region.coordinator_token)
    alice, bruno = region.experts["alice"], region.experts["bruno"]
    [shift] = api.get("/api/v1/shifts", params={"expert": alice.code}).json()
    end_of_shift = datetime.fromisoformat(shift["end"])
    now = datetime.now(UTC).replace(microsecond=0)
    period = {"from": now.isoformat(), "to": (now + timedelta(hours=24)).isoformat()}

    r = api.get("/api/v1/coverage", params={**period, "site": region.site})
    assert r.status_code == 200, r.text
    rows = {row["modality"]: row for row in r.json()}
    assert set(rows) == {"CT", "MR"} and {row["site"] for row in r.json()} == {region.site}
    [gap] = rows["CT"]["no_primary"]
    assert datetime.fromisoformat(gap["start"]) == end_of_shift
    assert datetime.fromisoformat(gap["end"]) == now + timedelta(hours=24)
    local = datetime.fromisoformat(gap["start_local"])
    assert local == end_of_shift and local.utcoffset() == end_of_shift.astimezone(PARIS).utcoffset()
    assert rows["CT"]["backup_only"] == []  # bruno's backup shift ends with alice's

    r = api.get(
        "/api/v1/fairness",
        params={"from": now.isoformat(), "to": (now + timedelta(hours=1)).isoformat()},
    )
    assert r.status_code == 200, r.text
    rows = {row["expert"]: row for row in r.json()}
    assert (rows[alice.code]["primary_hours"], rows[alice.code]["backup_hours"]) == (1, 0)
    assert (rows[bruno.code]["primary_hours"], rows[bruno.code]["backup_hours"]) == (0, 1)

    for params, field in [
        ({"to": period["to"]}, "from"),
        ({"from": period["from"], "to": "tomorrow"}, "to"),
        ({"from": period["to"], "to": period["from"]}, "to"),
        ({"from": period["from"], "to": (now + timedelta(days=63)).isoformat()}, "to"),
        ({**period, "site": "NO-SUCH-SITE"}, "site"),
        ({"from": "2026-06-01T00:00:00", "to": period["to"]}, "from"),
    ]:
        r = api.get("/api/v1/coverage", params=params)
        assert r.status_code == 400 and field in r.json()["detail"], (params, r.text)
    r = api.get(
        "/api/v1/fairness",
        params={"from": period["from"], "to": (now + timedelta(days=400)).isoformat()},
    )
    assert r.status_code == 400 and "to" in r.json()["detail"]
    expert = region.stack.api(alice.token)
    assert expert.get("/api/v1/coverage", params=period).status_code == 403
    assert expert.get("/api/v1/fairness", params=period).status_code == 403


def test_a_coverage_alert_shows_its_detail_on_the_board(region: Region) -> None:
    detail = f"No primary for CT at {region.site}, Mon 30 Nov 20:00-Tue 01 Dec 08:00 (Europe/Paris), 12 h: nobody on duty."
    with region.stack.sessions.begin() as s:
        alert = Alert(
            key=f"coverage:test:{secrets.token_hex(6)}",
            kind=AlertKind.COVERAGE_GAP,
            raised_at=datetime.now(UTC),
            detail=detail,
        )
        s.add(alert)
        s.flush()
        alert_id = alert.id
    try:
        page = coordinator(region.stack).get("/coordinator/").text
        assert html.escape(detail) in page
    finally:
        with region.stack.sessions.begin() as s:
            s.get_one(Alert, alert_id).resolved_at = datetime.now(UTC)
