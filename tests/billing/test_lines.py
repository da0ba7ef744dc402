"""Issue 13: the lines the case workflow bills, through the whole stack: a read priced by the
tariff version a coordinator set (a night surcharge, an exam's price), a cancellation after
acceptance billed only when the contract says, and the lines API's months cut on each site's
clock."""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from billing.tariffs import local_today
from garde.models import BillingLine, Case, Site
from garde.temporal import case_workflow_id
from tests.conftest import Region, wait_for

PARIS = ZoneInfo("Europe/Paris")


def put_tariff(region: Region, **fields: Any) -> dict[str, Any]:
    r = region.stack.api(region.coordinator_token).put(
        f"/api/v1/sites/{region.site}/tariff",
        json={"valid_from": local_today("Europe/Paris").isoformat(), **fields},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def accepted_case(region: Region, **request: Any) -> dict[str, Any]:
    case = region.submit(**request)
    alice = region.experts["alice"]
    r = region.stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/accept")
    assert r.status_code == 200, r.text
    return region.wait_status(case["id"], "accepted")


def billed(region: Region, case_id: int) -> list[BillingLine]:
    with region.stack.sessions() as s:
        return list(s.scalars(select(BillingLine).where(BillingLine.case_id == case_id)))


def workflow_over(region: Region, case_id: int) -> None:
    async def result() -> None:
        client = await region.stack.client()
        await asyncio.wait_for(client.get_workflow_handle(case_workflow_id(case_id)).result(), 30)

    asyncio.run(result())


def test_read_is_billed_by_the_tariff_set_with_its_night_surcharge(region: Region) -> None:
    # Night is the two hours either side of now on the site's clock: this read is a night's.
    now = datetime.now(PARIS)
    tariff = put_tariff(
        region,
        base_cents={"CT": 9000},
        exam_cents={"TDMCRANE": 8500},
        surcharge_cents={"night": 2500},
        night_start=(now - timedelta(hours=2)).strftime("%H:%M"),
        night_end=(now + timedelta(hours=2)).strftime("%H:%M"),
        expert_share_percent=60,
    )
    assert tariff["version"] == 2 and tariff["in_force"] is True
    case = accepted_case(region, exam_code="TDMCRANE")
    assert case["exam_code"] == "TDMCRANE"
    r = region.stack.api(region.experts["alice"].token).post(
        f"/api/v1/cases/{case['id']}/report",
        json={"kind": "final", "findings": "No bleed.", "impression": "Normal CT."},
    )
    assert r.status_code == 201, r.text

    [line] = wait_for(lambda: billed(region, case["id"]), what="the billing line")
    assert (line.kind, line.tariff_version, line.time_band) == ("read", 2, "night")
    assert line.parts == [{"what": "base", "cents": 8500}, {"what": "night", "cents": 2500}]
    assert (line.amount_cents, line.expert_share_cents) == (11000, 6600)
    assert "night" in line.bands and line.priced_at <= line.read_at  # priced at acceptance

    api = region.stack.api(region.coordinator_token)
    month = line.priced_at.astimezone(PARIS).strftime("%Y-%m")
    [listed] = api.get("/api/v1/billing/lines", params={"site": region.site, "month": month}).json()
    assert listed["case_id"] == case["id"] and listed["kind"] == "read"
    assert listed["breakdown"] == line.parts and listed["tariff_version"] == 2
    assert listed["time_band"] == "night" and listed["amount_cents"] == 11000
    assert listed["priced_at"].endswith("Z") and listed["read_at"].endswith("Z")
    got = api.get(
        "/api/v1/billing/lines", params={"site": region.site}, headers={"Accept": "text/csv"}
    )
    [row] = list(csv.DictReader(io.StringIO(got.text)))
    assert row["breakdown"] == "base:8500 night:2500" and row["tariff_version"] == "2"
    assert row["kind"] == "read" and "night" in row["bands"].split()


def test_cancellation_after_acceptance_is_billed_only_with_a_fee(region: Region) -> None:
    put_tariff(region, base_cents={"default": 9000}, cancellation_cents=3000)
    fee = accepted_case(region)
    r = region.stack.api(region.site_token).post(f"/api/v1/cases/{fee['id']}/cancel")
    assert r.status_code == 200, r.text
    workflow_over(region, fee["id"])
    [line] = billed(region, fee["id"])
    assert (line.kind, line.tariff_version, line.amount_cents) == ("cancellation", 2, 3000)
    assert (line.expert_share_cents, line.time_band) == (2100, "day")
    assert line.parts == [{"what": "cancellation", "cents": 3000}]

    # The same day's later version bills no cancellation.
    assert put_tariff(region, base_cents={"default": 9000})["version"] == 3
    free = accepted_case(region)
    r = region.stack.api(region.site_token).post(f"/api/v1/cases/{free['id']}/cancel")
    assert r.status_code == 200, r.text
    workflow_over(region, free["id"])
    assert billed(region, free["id"]) == []


def test_lines_of_a_month_are_cut_on_each_sites_clock(region: Region) -> None:
    """Just before midnight UTC on 31 January is February in Paris; 03:00 UTC on 1 February
    is still January in New York."""
    with region.stack.sessions.begin() as s:
        paris = s.scalars(select(Site).where(Site.code == region.site)).one()
        york = Site(code=f"NY-{secrets.token_hex(3)}", name="NY", timezone="America/New_York")
        s.add(york)
        s.flush()
        made = {}
        for name, site, at in (
            ("paris-february", paris, "2026-01-31T23:30"),
            ("paris-january", paris, "2026-01-31T22:30"),
            ("york-january", york, "2026-02-01T03:00"),
        ):
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
                assigned_expert_id=region.experts["alice"].id,
                offer_timeout_s=120,
                accept_within_s=900,
                report_within_s=3600,
                workflow_started_at=datetime.now(UTC),  # no workflow for the reconciler to start
            )
            s.add(case)
            s.flush()
            priced = datetime.fromisoformat(at).replace(tzinfo=UTC)
            s.add(
                BillingLine(
                    case_id=case.id,
                    site_id=site.id,
                    expert_id=region.experts["alice"].id,
                    modality="CT",
                    priority="urgent",
                    time_band="day",
                    amount_cents=9000,
                    expert_share_cents=6300,
                    currency="EUR",
                    priced_at=priced,
                    read_at=priced,
                )
            )
            made[name] = case.id
    api = region.stack.api(region.coordinator_token)

    def listed(**params: str) -> set[int]:
        r = api.get("/api/v1/billing/lines", params=params)
        assert r.status_code == 200, r.text
        return {line["case_id"] for line in r.json()} & set(made.values())

    assert listed(site=region.site, month="2026-02") == {made["paris-february"]}
    assert listed(site=region.site, month="2026-01") == {made["paris-january"]}
    assert listed(month="2026-01") == {made["paris-january"], made["york-january"]}
    assert listed(month="2026-02") == {made["paris-february"]}
