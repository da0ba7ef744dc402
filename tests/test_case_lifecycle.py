"""One urgent case through every room: request, SMS offer, signed SMS reply, report, billing."""

from __future__ import annotations

from sqlalchemy import func, select

from garde.models import BillingLine, Offer, SmsMessage
from garde.texts import render
from tests.conftest import Region, case_request, wait_for


def test_urgent_case_goes_from_request_to_billing_line(region: Region) -> None:
    stack = region.stack
    alice = region.experts["alice"]
    case = region.submit(priority="urgent")
    assert case["status"] in ("requested", "offered")
    assert case["site"] == region.site

    # The best-ranked expert (primary tier) gets an offer SMS with a code and no patient data.
    code = region.offer_sms("alice")
    assert stack.twilio is not None
    sms = stack.twilio.to(alice.phone)[-1]
    assert region.site.split("-")[0] in sms.body and "CT" in sms.body and "URGENT" in sms.body
    for private in ("anticoagulants", "Urgences", case["accession_number"], "HEAD"):
        assert private not in sms.body
    assert sms.status_callback and sms.status_callback.endswith("/sms/status")
    region.wait_status(case["id"], "offered")
    offered = stack.api(alice.token).get("/api/v1/worklist").json()["offered"]
    assert [(o["case"]["id"], o["code"]) for o in offered] == [(case["id"], code)]

    # The expert answers by SMS, signed by "Twilio".
    reply = stack.sms_reply(alice.phone, f"yes {code}")
    assert reply.status_code == 200
    assert render("reply_accepted", "fr", case=case["id"]) in reply.text
    accepted = region.wait_status(case["id"], "accepted")
    assert accepted["assigned_expert"] == alice.code
    wait_for(
        lambda: [m for m in stack.twilio.to(alice.phone) if "est à vous" in m.body],  # type: ignore[union-attr]
        what="the confirmation SMS",
    )

    # It shows on the expert's worklist as held.
    worklist = stack.api(alice.token).get("/api/v1/worklist").json()
    assert case["id"] in [c["id"] for c in worklist["held"]]

    # Preliminary, then final report.
    api = stack.api(alice.token)
    r = api.post(
        f"/api/v1/cases/{case['id']}/report",
        json={"kind": "preliminary", "findings": "No bleed seen.", "impression": "Prelim"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "preliminary"
    r = api.post(
        f"/api/v1/cases/{case['id']}/report",
        json={"kind": "final", "findings": "No intracranial bleed.", "impression": "Normal CT."},
    )
    assert r.status_code == 201, r.text
    final = r.json()
    assert final["status"] == "final"

    # The site reads it, with the whole timeline in UTC.
    seen = stack.api(region.site_token).get(f"/api/v1/cases/{case['id']}").json()
    assert seen["status"] == "final"
    assert seen["report"]["impression"] == "Normal CT."
    statuses = [e["status"] for e in seen["timeline"] if e["status"]]
    assert statuses[:2] == ["requested", "offered"]
    assert statuses[-3:] == ["accepted", "preliminary", "final"]
    assert all(e["at"].endswith("Z") for e in seen["timeline"])
    assert seen["sla"]["accept"]["met"] is True and seen["sla"]["report"]["met"] is True

    # One billing line at the site's flat CT price, with the expert's share.
    def billed() -> list[BillingLine]:
        with stack.sessions() as s:
            return list(s.scalars(select(BillingLine).where(BillingLine.case_id == case["id"])))

    lines = wait_for(billed, what="the billing line")
    assert len(lines) == 1
    assert lines[0].amount_cents == 9000 and lines[0].expert_share_cents == 6300
    listed = stack.api(region.coordinator_token).get(
        "/api/v1/billing/lines", params={"site": region.site}
    )
    assert [line["case_id"] for line in listed.json()] == [case["id"]]
    csv = stack.api(region.coordinator_token).get(
        "/api/v1/billing/lines", params={"site": region.site}, headers={"Accept": "text/csv"}
    )
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.splitlines()[1].startswith(f"{case['id']},{region.site},{alice.code},CT")

    # The offer was answered once, and the SMS record has Twilio's SID for the offer message.
    with stack.sessions() as s:
        offer = s.scalars(select(Offer).where(Offer.case_id == case["id"])).one()
        assert offer.status == "accepted"
        sent = s.scalar(select(SmsMessage).where(SmsMessage.idempotency_key == f"offer:{offer.id}"))
        assert sent is not None and sent.provider_sid == sms.sid
        inbound = s.scalar(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.offer_id == offer.id)
        )
        assert inbound == 1


def test_same_accession_from_same_site_is_the_same_case(region: Region) -> None:
    api = region.stack.api(region.site_token)
    request = case_request()
    first = api.post("/api/v1/cases", json=request)
    again = api.post("/api/v1/cases", json=request)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def test_cancel_by_site_withdraws_the_offer(region: Region) -> None:
    case = region.submit()
    region.offer_sms("alice")
    r = region.stack.api(region.site_token).post(f"/api/v1/cases/{case['id']}/cancel")
    assert r.status_code == 200
    region.wait_status(case["id"], "cancelled")

    def offer_status() -> str | None:
        with region.stack.sessions() as s:
            status = s.scalar(select(Offer.status).where(Offer.case_id == case["id"]))
            return status if status != "open" else None

    assert wait_for(offer_status, what="the offer to close") == "withdrawn"
    # A late YES to a cancelled case changes nothing.
    alice = region.experts["alice"]
    code = region.offer_sms("alice")
    region.stack.sms_reply(alice.phone, f"YES {code}")
    assert region.case(case["id"])["status"] == "cancelled"
