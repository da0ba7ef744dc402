"""Issue 13: a coordinator sets a site's tariff through the API, lists its versions, and asks
what a read would cost on a night and on a holiday."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from billing.calendar import public_holidays
from billing.tariffs import in_force_at, local_today
from billing.terms import Calendar
from garde.models import Site
from tests.conftest import Region

PARIS = ZoneInfo("Europe/Paris")


def test_bad_tariff_is_refused_naming_each_field(shared_region: Region) -> None:
    api = shared_region.stack.api(shared_region.coordinator_token)
    url = f"/api/v1/sites/{shared_region.site}/tariff"
    yesterday = local_today("Europe/Paris") - timedelta(days=1)
    r = api.put(
        url,
        json={
            "valid_from": yesterday.isoformat(),
            "currency": "euro",
            "base_cents": {"CT": -1, "XYZ": 100},
            "surcharge_cents": {"dusk": 100},
            "surcharge_percent": {"night": 501},
            "expert_share_percent": 101,
            "holidays": "DE",
            "night_start": "24:00",
            "priced_at": "booking",
            "cancellation_cents": 9.5,
            "discount": 10,
        },
    )
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert set(detail) == {
        "currency",
        "base_cents",
        "surcharge_cents",
        "surcharge_percent",
        "expert_share_percent",
        "holidays",
        "night_start",
        "priced_at",
        "cancellation_cents",
        "discount",
    }
    assert "XYZ" in detail["base_cents"] and "CT" in detail["base_cents"]
    assert "dusk" in detail["surcharge_cents"]
    # The rest right, the day past and the night of no length are named.
    r = api.put(
        url,
        json={
            "valid_from": yesterday.isoformat(),
            "base_cents": {"CT": 9000},
            "night_start": "22:00",
            "night_end": "22:00",
        },
    )
    assert r.status_code == 400 and set(r.json()["detail"]) == {"valid_from", "night_end"}
    r = api.put(url, json={"base_cents": {}})
    assert set(r.json()["detail"]) == {"valid_from", "base_cents"}
    assert api.put("/api/v1/sites/NOWHERE/tariff", json={}).status_code == 404
    site = shared_region.stack.api(shared_region.site_token)
    today = local_today("Europe/Paris").isoformat()
    assert site.get(url).status_code == 403
    assert site.put(url, json={"valid_from": today, "base_cents": {"CT": 1}}).status_code == 403
    versions = api.get(url).json()
    assert [v["version"] for v in versions] == [1]  # nothing was added


def _next(day: date, wanted: date) -> date:
    """`wanted`'s month and day, this year or next, not before `day`."""
    this_year = wanted.replace(year=day.year)
    return this_year if this_year >= day else wanted.replace(year=day.year + 1)


def test_versions_listed_and_quotes_for_a_night_and_a_holiday(region: Region) -> None:
    api = region.stack.api(region.coordinator_token)
    url = f"/api/v1/sites/{region.site}/tariff"
    today = local_today("Europe/Paris")
    later = today + timedelta(days=400)
    r = api.put(
        url,
        json={
            "valid_from": today.isoformat(),
            "currency": "eur",
            "base_cents": {"ct": 9000, "default": 5000},
            "exam_cents": {"TDMCRANE": 8500},
            "surcharge_cents": {"night": 2500, "stat": 1000},
            "surcharge_percent": {"holiday": 50, "sunday": 25},
            "cumulative": False,
            "expert_share_percent": 60,
            "holidays": "FR-Alsace-Moselle",
            "priced_at": "final",
            "cancellation_cents": 3000,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json() | {"created_at": None} == {
        "version": 2,
        "valid_from": today.isoformat(),
        "currency": "EUR",
        "base_cents": {"CT": 9000, "default": 5000},
        "exam_cents": {"TDMCRANE": 8500},
        "surcharge_cents": {"night": 2500, "stat": 1000},
        "surcharge_percent": {"holiday": 50, "sunday": 25},
        "cumulative": False,
        "expert_share_percent": 60,
        "holidays": "FR-Alsace-Moselle",
        "night_start": "20:00",
        "night_end": "08:00",
        "priced_at": "final",
        "cancellation_cents": 3000,
        "created_at": None,
        "created_by": f"coord-{region.site.removeprefix('SITE-')}",
        "in_force": True,
    }
    # A version from a later day: whole, its left-out fields the defaults.
    r = api.put(url, json={"valid_from": later.isoformat(), "base_cents": {"CT": 9900}})
    assert r.status_code == 201, r.text
    versions = api.get(url).json()
    assert [(v["version"], v["in_force"]) for v in versions] == [(1, False), (2, True), (3, False)]
    assert versions[2]["surcharge_cents"] == {} and versions[2]["holidays"] == "FR"
    assert versions[2]["priced_at"] == "acceptance" and versions[2]["cancellation_cents"] is None

    def quote(**params: str) -> dict[str, object]:
        r = api.get("/api/v1/billing/quote", params={"site": region.site, **params})
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        return body

    # 14 July at 23:30 in Paris: a holiday night, one surcharge, the higher (50% of 9000).
    july = _next(today, date(2000, 7, 14))
    holiday = quote(modality="CT", priority="urgent", at=f"{july}T23:30:00+02:00")
    assert holiday["breakdown"] == [
        {"what": "base", "cents": 9000},
        {"what": "holiday", "cents": 4500},
    ]
    assert (holiday["amount_cents"], holiday["expert_share_cents"]) == (13500, 8100)
    assert holiday["bands"] == ["holiday", "night"] and holiday["time_band"] == "holiday"
    assert holiday["tariff_version"] == 2 and holiday["currency"] == "EUR"
    assert holiday["at"] == f"{july}T21:30:00Z"
    assert holiday["local_time"] == f"{july}T23:30:00+02:00"

    # A weeknight that is no holiday, stat: the night's amount, and stat's on top.
    night = today + timedelta(days=1)
    while night.weekday() >= 5 or night in public_holidays(Calendar.FR_ALSACE_MOSELLE, night.year):
        night += timedelta(days=1)
    at = datetime.combine(night, datetime.min.time().replace(hour=2), PARIS)
    stat = quote(modality="CT", priority="stat", at=at.isoformat())
    assert stat["breakdown"] == [
        {"what": "base", "cents": 9000},
        {"what": "night", "cents": 2500},
        {"what": "stat", "cents": 1000},
    ]
    assert stat["bands"] == ["night", "stat"] and stat["time_band"] == "night"
    # The exam's price over the modality's; the default for an unpriced modality.
    exam = quote(modality="CT", exam_code="TDMCRANE", at=at.replace(hour=12).isoformat())
    assert exam["amount_cents"] == 8500 and exam["time_band"] == "day"
    assert quote(modality="US", at=at.replace(hour=12).isoformat())["amount_cents"] == 5000
    # The later version prices the reads of its days.
    assert quote(modality="CT", at=f"{later}T12:00:00Z")["tariff_version"] == 3

    # The priced instant's local date picks the version: 23:30 UTC the day before is `later`.
    eve = datetime.combine(later - timedelta(days=1), datetime.min.time(), ZoneInfo("UTC"))
    with region.stack.sessions() as s:
        site = s.scalars(select(Site).where(Site.code == region.site)).one()
        assert in_force_at(s, site, eve.replace(hour=21, minute=30)).version == 2
        assert in_force_at(s, site, eve.replace(hour=23, minute=30)).version == 3

    def refused(**params: str) -> dict[str, str]:
        r = api.get("/api/v1/billing/quote", params={"site": region.site, **params})
        assert r.status_code == 400, r.text
        detail: dict[str, str] = r.json()["detail"]
        return detail

    assert set(refused(modality="CT", at="2026-07-14T23:30:00")) == {"at"}  # no offset
    assert set(refused(modality="CT", at="tonight")) == {"at"}
    assert set(refused(modality="CT", at="1990-01-01T12:00:00Z")) == {"at"}  # before version 1
    assert set(refused(modality="CT")) == {"at"}
    assert set(refused(modality="XYZ", at=at.isoformat())) == {"modality"}
    api.put(url, json={"valid_from": later.isoformat(), "base_cents": {"MR": 1}})
    assert set(refused(modality="CT", at=f"{later}T12:00:00Z")) == {"modality"}

    # A site quotes its own prices only; an expert none.
    site_api = region.stack.api(region.site_token)
    params = {"modality": "CT", "at": at.isoformat()}
    assert site_api.get("/api/v1/billing/quote", params=params).json()["amount_cents"] == 11500
    mine = site_api.get("/api/v1/billing/quote", params={**params, "site": region.site})
    assert mine.status_code == 200
    other = site_api.get(
        "/api/v1/billing/quote",
        params={**params, "site": region.site.replace("SITE-", "ELSEWHERE-")},
    )
    assert other.status_code == 404
    expert = region.stack.api(region.experts["alice"].token)
    assert expert.get("/api/v1/billing/quote", params=params).status_code == 403
