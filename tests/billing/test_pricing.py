"""Issue 13: what a read costs, priced by pure functions at any instant, in the site's zone:
French holidays (Alsace-Moselle's too), both DST nights, the night's edges, the French rule
of the highest surcharge with stat adding, percentages and shares rounded half up, the
version in force by the local date, and months cut on the site's clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from billing.months import month_of, month_window
from billing.pricing import NoPrice, Quote, percent_of, quote
from billing.tariffs import in_force_on
from billing.terms import Band, Calendar, Surcharge, Terms
from garde.models import Tariff

PARIS = "Europe/Paris"
TERMS = Terms(
    version=3,
    valid_from=date(2026, 1, 1),
    base_cents={"CT": 9000, "MR": 12000},
    surcharges={
        Band.NIGHT: Surcharge(cents=2500),
        Band.SUNDAY: Surcharge(cents=3000),
        Band.HOLIDAY: Surcharge(cents=4000),
        Band.STAT: Surcharge(cents=1000),
    },
)


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(PARIS))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def priced(at: datetime, terms: Terms = TERMS, priority: str = "urgent", **kw: str) -> Quote:
    return quote(terms, modality="CT", priority=priority, at=at, timezone=PARIS, **kw)


def parts(q: Quote) -> list[tuple[str, int]]:
    return [(p.what, p.cents) for p in q.parts]


def test_holiday_night_is_one_surcharge_the_highest() -> None:
    q = priced(paris("2026-07-14T23:30"))
    assert q.bands == ("holiday", "night")
    assert parts(q) == [("base", 9000), ("holiday", 4000)]
    assert (q.amount_cents, q.time_band, q.tariff_version) == (13000, "holiday", 3)
    # The night's surcharge wins when it is the higher one.
    dearer_nights = Terms(
        version=1,
        valid_from=date(2026, 1, 1),
        base_cents={"CT": 9000},
        surcharges={Band.NIGHT: Surcharge(cents=5000), Band.HOLIDAY: Surcharge(cents=4000)},
    )
    q = priced(paris("2026-07-14T23:30"), dearer_nights)
    assert parts(q) == [("base", 9000), ("night", 5000)] and q.time_band == "night"


@pytest.mark.parametrize(
    "day",
    ["2026-04-06", "2026-05-14", "2026-05-25", "2027-03-29", "2027-05-06", "2027-05-17"],
    ids=[
        "easter-monday",
        "ascension",
        "whit-monday",
        "easter-monday-2027",
        "ascension-2027",
        "whit-monday-2027",
    ],
)
def test_movable_feasts_are_holidays(day: str) -> None:
    q = priced(paris(f"{day}T10:00"))
    assert q.bands == ("holiday",) and parts(q) == [("base", 9000), ("holiday", 4000)]


@pytest.mark.parametrize("day", ["2026-12-26", "2026-04-03"], ids=["st-stephen", "good-friday"])
def test_alsace_moselle_days_are_holidays_there_only(day: str) -> None:
    at = paris(f"{day}T10:00")
    assert priced(at).bands == () and priced(at).amount_cents == 9000
    there = replace(TERMS, holidays=Calendar.FR_ALSACE_MOSELLE)
    assert priced(at, there).bands == ("holiday",)
    assert priced(at, there).amount_cents == 13000


@pytest.mark.parametrize(
    ("at", "local", "night"),
    [
        # Spring, 29 March 2026 (a Sunday): 02:00 CET is 03:00 CEST.
        ("2026-03-29T00:30", "01:30", True),
        ("2026-03-29T01:30", "03:30", True),
        ("2026-03-28T06:30", "07:30", True),  # the day before: still winter
        ("2026-03-29T06:30", "08:30", False),
        ("2026-03-28T18:30", "19:30", False),
        ("2026-03-29T18:30", "20:30", True),
        # Autumn, 25 October 2026 (a Sunday): 03:00 CEST is 02:00 CET; 02:30 happens twice.
        ("2026-10-25T00:30", "02:30", True),
        ("2026-10-25T01:30", "02:30", True),
        ("2026-10-24T06:30", "08:30", False),
        ("2026-10-25T06:30", "07:30", True),
        ("2026-10-24T18:30", "20:30", True),
        ("2026-10-25T18:30", "19:30", False),
    ],
)
def test_night_band_across_both_dst_nights(at: str, local: str, night: bool) -> None:
    instant = utc(at)
    assert instant.astimezone(ZoneInfo(PARIS)).strftime("%H:%M") == local
    q = priced(instant)
    assert ("night" in q.bands) is night
    # Both days are Sundays in Paris, whatever the UTC date says at 00:30.
    assert ("sunday" in q.bands) is (instant.astimezone(ZoneInfo(PARIS)).weekday() == 6)


@pytest.mark.parametrize(
    ("local", "band"),
    [("07:59", "night"), ("08:00", "day"), ("19:59", "day"), ("20:00", "night")],
)
def test_the_nights_edges(local: str, band: str) -> None:
    # Tuesday 1 December 2026: neither a Sunday nor a holiday.
    assert priced(paris(f"2026-12-01T{local}")).time_band == band


def test_night_bounds_are_the_tariffs() -> None:
    late = replace(TERMS, night_start=time(22), night_end=time(6, 30))
    assert priced(paris("2026-12-01T21:00"), late).time_band == "day"
    assert priced(paris("2026-12-01T06:29"), late).time_band == "night"
    assert priced(paris("2026-12-01T06:30"), late).time_band == "day"


def test_stat_adds_on_top_of_a_night() -> None:
    q = priced(paris("2026-12-01T23:00"), priority="stat")
    assert q.bands == ("night", "stat")
    assert parts(q) == [("base", 9000), ("night", 2500), ("stat", 1000)]
    assert q.amount_cents == 12500 and q.time_band == "night"
    # And on a holiday night, to the one highest.
    q = priced(paris("2026-07-14T23:30"), priority="stat")
    assert parts(q) == [("base", 9000), ("holiday", 4000), ("stat", 1000)]


def test_cumulative_adds_every_band() -> None:
    both = replace(TERMS, cumulative=True)
    # All Saints' Day 2026 is a Sunday: holiday, Sunday and night at 22:00.
    q = priced(paris("2026-11-01T22:00"), both, priority="stat")
    assert q.bands == ("holiday", "sunday", "night", "stat")
    assert q.amount_cents == 9000 + 4000 + 3000 + 2500 + 1000
    assert priced(paris("2026-11-01T22:00"), priority="stat").amount_cents == 9000 + 4000 + 1000


def test_percent_surcharges_round_half_up() -> None:
    assert percent_of(9001, 15) == 1350  # 1350.15
    assert percent_of(9030, 15) == 1355  # 1354.5: half up, not to even
    assert percent_of(9010, 15) == 1352  # 1351.5
    by_percent = Terms(
        version=1,
        valid_from=date(2026, 1, 1),
        base_cents={"default": 9030},
        surcharges={Band.NIGHT: Surcharge(percent=15), Band.STAT: Surcharge(cents=100, percent=10)},
    )
    q = priced(paris("2026-12-01T23:00"), by_percent, priority="stat")
    # 903 + 100 for stat: an amount and a percentage of the same band add.
    assert parts(q) == [("base", 9030), ("night", 1355), ("stat", 1003)]


def test_expert_share_rounds_half_up() -> None:
    odd = Terms(version=1, valid_from=date(2026, 1, 1), base_cents={"CT": 9035})
    q = priced(paris("2026-12-01T10:00"), odd)  # 70% of 9035 is 6324.5
    assert (q.amount_cents, q.expert_share_cents) == (9035, 6325)
    half = replace(odd, expert_share_percent=50, base_cents={"CT": 9001})
    assert priced(paris("2026-12-01T10:00"), half).expert_share_cents == 4501


def test_exam_price_over_the_modality_and_default_for_others() -> None:
    exams = Terms(
        version=1,
        valid_from=date(2026, 1, 1),
        base_cents={"CT": 9000, "default": 5000},
        exam_cents={"TDMCRANE": 8500},
    )
    at = paris("2026-12-01T10:00")
    assert priced(at, exams, exam_code="TDMCRANE").amount_cents == 8500
    assert priced(at, exams, exam_code="OTHER").amount_cents == 9000
    assert quote(exams, modality="US", priority="routine", at=at, timezone=PARIS).amount_cents == (
        5000
    )
    with pytest.raises(NoPrice):
        quote(TERMS, modality="US", priority="routine", at=at, timezone=PARIS)


def test_tariff_change_in_the_middle_of_a_month_prices_by_the_local_date() -> None:
    versions = [
        Tariff(version=1, valid_from=date(2000, 1, 1)),
        Tariff(version=2, valid_from=date(2026, 3, 15)),
        Tariff(version=3, valid_from=date(2026, 3, 15)),  # the same day: the later version
        Tariff(version=4, valid_from=date(2026, 4, 1)),
    ]

    def version_at(at: datetime) -> int:
        found = in_force_on(versions, at.astimezone(ZoneInfo(PARIS)).date())
        assert found is not None
        return found.version

    assert version_at(utc("2026-03-14T22:30")) == 1  # 23:30 on the 14th in Paris
    assert version_at(utc("2026-03-14T23:30")) == 3  # 00:30 on the 15th in Paris
    assert version_at(utc("2026-03-31T21:59")) == 3
    assert version_at(utc("2026-03-31T22:00")) == 4  # midnight, summer time
    assert in_force_on(versions, date(1999, 12, 31)) is None


def test_a_read_before_midnight_utc_on_a_months_last_day_is_the_next_months_in_paris() -> None:
    assert month_of(utc("2026-01-31T23:30"), PARIS) == "2026-02"
    assert month_of(utc("2026-01-31T22:59"), PARIS) == "2026-01"
    assert month_of(utc("2026-07-31T22:30"), PARIS) == "2026-08"  # summer: UTC+2
    assert month_of(utc("2026-12-31T23:30"), PARIS) == "2027-01"
    assert month_of(utc("2026-02-01T03:00"), "America/New_York") == "2026-01"


@pytest.mark.parametrize(
    ("month", "start", "end"),
    [
        ("2026-02", "2026-01-31T23:00", "2026-02-28T23:00"),
        ("2026-03", "2026-02-28T23:00", "2026-03-31T22:00"),  # ends in summer time
        ("2026-10", "2026-09-30T22:00", "2026-10-31T23:00"),  # ends in winter time
        ("2026-12", "2026-11-30T23:00", "2026-12-31T23:00"),
    ],
)
def test_month_window_is_the_sites_month(month: str, start: str, end: str) -> None:
    assert month_window(month, PARIS) == (utc(start), utc(end))
