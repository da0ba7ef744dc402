"""Fairness per expert: real hours on duty, nights, weekends and French public holidays on
the expert's own clock, reads (on SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from garde.db import SessionFactory
from garde.domain import Tier
from garde.models import BillingLine, Case, Expert, Override, Shift, Site, Unavailability
from rosters.fairness import ExpertFairness, fairness
from tests.phones import mobile


def local(when: str, zone: str = "Europe/Paris") -> datetime:
    return datetime.fromisoformat(when).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def expert(s: Session, timezone: str = "Europe/Paris") -> Expert:
    tag = secrets.token_hex(4).upper()
    made = Expert(
        code=f"DR-F-{tag}",
        name=f"Dr {tag}",
        phone=mobile(),
        modalities=["CT"],
        timezone=timezone,
    )
    s.add(made)
    s.flush()
    return made


def shift(s: Session, who: Expert, start: str, end: str, tier: Tier = Tier.PRIMARY) -> None:
    zone = who.timezone
    s.add(Shift(expert_id=who.id, start=local(start, zone), end=local(end, zone), tier=tier))
    s.flush()


def of(s: Session, who: Expert, start: str, end: str) -> ExpertFairness:
    rows = fairness(s, local(start), local(end))
    return next(r for r in rows if r.expert.id == who.id)


@pytest.mark.parametrize(
    ("night", "morning", "hours"),
    [("2026-03-28T20:00", "2026-03-29T08:00", 11), ("2026-10-24T20:00", "2026-10-25T08:00", 13)],
)
def test_a_dst_night_counts_its_real_hours(
    sessions: SessionFactory, night: str, morning: str, hours: int
) -> None:
    with sessions.begin() as s:
        alice = expert(s)
        shift(s, alice, night, morning)
        row = of(s, alice, night[:10] + "T00:00", morning[:10] + "T23:00")
        # A Saturday night: night hours and weekend hours alike.
        assert (row.hours, row.primary_hours, row.night_hours, row.weekend_hours) == (
            hours,
            hours,
            hours,
            hours,
        )
        assert row.holiday_hours == 0


def test_nights_weekends_and_holidays_on_the_experts_clock(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        alice = expert(s)
        shift(s, alice, "2026-07-13T20:00", "2026-07-14T08:00")  # into Bastille Day (Tuesday)
        shift(s, alice, "2026-07-15T08:00", "2026-07-15T20:00")  # an ordinary Wednesday
        shift(s, alice, "2026-11-01T08:00", "2026-11-01T20:00")  # All Saints', a Sunday
        row = of(s, alice, "2026-07-01T00:00", "2026-11-30T00:00")
        assert row.hours == 36
        assert row.night_hours == 12
        assert row.holiday_hours == 8 + 12
        assert row.weekend_hours == 12
        # The period cuts what it holds: from the 14th only, the night's last eight hours.
        cut = of(s, alice, "2026-07-14T00:00", "2026-07-15T00:00")
        assert (cut.hours, cut.night_hours, cut.holiday_hours) == (8, 8, 8)


def test_an_expert_abroad_is_counted_on_their_own_clock(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        dom = expert(s, "America/Martinique")  # UTC-4, no DST
        shift(s, dom, "2026-06-03T18:00", "2026-06-04T06:00")
        row = of(s, dom, "2026-06-01T00:00", "2026-06-10T00:00")
        assert (row.hours, row.night_hours, row.weekend_hours) == (12, 10, 0)


def test_tiers_overlap_once_and_time_away_does_not_count(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        alice, bruno = expert(s), expert(s)
        shift(s, alice, "2026-06-03T08:00", "2026-06-03T20:00")
        shift(s, alice, "2026-06-03T18:00", "2026-06-03T22:00", Tier.BACKUP)
        s.add(
            Unavailability(
                expert_id=alice.id,
                start=local("2026-06-03T10:00"),
                end=local("2026-06-03T11:00"),
            )
        )
        s.add(
            Override(
                expert_id=bruno.id,
                replaces_id=alice.id,
                start=local("2026-06-03T12:00"),
                end=local("2026-06-03T14:00"),
            )
        )
        s.add(
            Shift(
                expert_id=bruno.id,
                start=local("2026-06-03T12:00"),
                end=local("2026-06-03T14:00"),
                tier=Tier.PRIMARY,
                source="override",
            )
        )
        s.flush()
        a = of(s, alice, "2026-06-03T00:00", "2026-06-04T00:00")
        b = of(s, bruno, "2026-06-03T00:00", "2026-06-04T00:00")
        assert (a.primary_hours, a.backup_hours, a.night_hours) == (9, 2, 2)
        assert (b.primary_hours, b.backup_hours) == (2, 0)
        assert a.hours_share == pytest.approx(b.hours_share * 11 / 2)


def test_reads_are_the_reads_billed_in_the_period(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        alice, bruno = expert(s), expert(s)
        site = Site(code=f"FAIR-{secrets.token_hex(3)}", name="CH Fair")
        s.add(site)
        s.flush()
        for who, when in [
            (alice, "2026-06-03T09:00"),
            (alice, "2026-06-04T23:30"),
            (alice, "2026-06-20T09:00"),  # after the period
            (bruno, "2026-06-03T10:00"),
        ]:
            case = Case(
                site_id=site.id,
                accession_number="ACC-" + secrets.token_hex(5),
                modality="CT",
                body_part="HEAD",
                study_description="CT head",
                priority="urgent",
                clinical_question="",
                requesting_physician="",
                callback_phone="+33471000000",
                status="final",
                assigned_expert_id=who.id,
                offer_timeout_s=120,
                accept_within_s=900,
                report_within_s=3600,
            )
            s.add(case)
            s.flush()
            s.add(
                BillingLine(
                    case_id=case.id,
                    site_id=site.id,
                    expert_id=who.id,
                    modality="CT",
                    priority="urgent",
                    time_band="day",
                    amount_cents=9000,
                    expert_share_cents=6300,
                    currency="EUR",
                    priced_at=local(when),
                    read_at=local(when),
                )
            )
        s.flush()
        a = of(s, alice, "2026-06-01T00:00", "2026-06-10T00:00")
        b = of(s, bruno, "2026-06-01T00:00", "2026-06-10T00:00")
        assert (a.reads, b.reads) == (2, 1)
        assert a.reads_share == pytest.approx(2 * b.reads_share)
        assert a.hours == 0 and a.hours_share == 0
